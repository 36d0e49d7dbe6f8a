"""Twins (one recording twice): injected copies, re-encodes, gain changes and shifted excerpts of synthetic tracks are
found with their kind and offset, distinct tracks never are, and runs keep twins in one split or report them."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrebench.config import DataConfig, FeatureConfig, SplitConfig
from genrebench.data import cache as cache_mod
from genrebench.data import duplicates, prepare_data
from genrebench.data.audit import audit_dataset
from genrebench.data.cache import FeatureCache
from genrebench.data.duplicates import COLUMNS, TWIN_ACROSS_SPLITS, cached_twins
from genrebench.data.prepare import extract_features
from genrebench.data.synth import write_synthetic_dataset

SR = 22050
FRAME = 512 / SR  # one mel hop: the offset's resolution
FEAT = FeatureConfig(chunk_seconds=2.0)  # default mels, as `data audit` uses them: one cache serves both
# (original, twin, kind, how, gain dB, shift s): each original has one twin at most, so the pairs are exactly these.
INJECTED = [
    ("blues/blues.00000.wav", "blues/blues.00000.ogg", "near", "OGG", 0.0, 0.0),
    ("blues/blues.00001.wav", "blues/blues.00001.quiet.wav", "near", "WAV", -6.0, 0.0),
    ("blues/blues.00002.wav", "blues/blues.00002.loud.flac", "near", "FLAC", 6.0, 0.0),  # clipped, as a re-master is
    ("classical/classical.00000.wav", "classical/classical.00000.cut.wav", "near", "WAV", 0.0, 2.5),
    ("country/country.00000.wav", "country/country.00000.live.ogg", "near", "OGG", 3.0, 4.2),
    ("country/country.00001.wav", "country/country.00001.flac", "exact", "FLAC", 0.0, 0.0),  # same samples, new bytes
    ("blues/blues.00003.wav", "country/misfiled.wav", "exact", "COPY", 0.0, 0.0),  # the same file under another label
]


def _write_twin(root: Path, orig: str, twin: str, how: str, gain: float, shift: float) -> None:
    if how == "COPY":
        shutil.copyfile(root / orig, root / twin)
        return
    y, sr = sf.read(root / orig, dtype="float32")
    y = np.clip(y[int(round(shift * sr)):] * np.float32(10 ** (gain / 20)), -1.0, 1.0)
    sf.write(root / twin, y, sr, format=how, subtype="VORBIS" if how == "OGG" else "PCM_16")


@pytest.fixture(scope="module")
def twinset(tmp_path_factory) -> dict:
    """3 genres x 5 synthetic tracks of 10 s, plus one twin of each kind; its own warm cache."""
    base = tmp_path_factory.mktemp("twins")
    root = base / "data"
    write_synthetic_dataset(root, genres=3, tracks_per_genre=5, seconds=10.0, seed=0)
    for orig, twin, _, how, gain, shift in INJECTED:
        _write_twin(root, orig, twin, how, gain, shift)
    cache = base / "cache"
    res = audit_dataset(DataConfig(source=str(root), cache_dir=str(cache), workers=1), FEAT, progress=False)
    return {"root": root, "cache": cache, "audit": res}


def _data(twinset: dict, **kw) -> DataConfig:
    return DataConfig(source=str(kw.pop("source", twinset["root"])), cache_dir=str(twinset["cache"]), workers=1, **kw)


def test_every_injected_twin_is_found_with_its_kind_and_offset(twinset):
    pairs = {frozenset((p["a"], p["b"])): p for p in twinset["audit"]["pairs"]}
    assert set(pairs) == {frozenset((orig, twin)) for orig, twin, *_ in INJECTED}  # and no pair of distinct tracks
    for orig, twin, kind, _, _, shift in INJECTED:
        p = pairs[frozenset((orig, twin))]
        assert p["kind"] == kind, p
        assert p["similarity"] >= (1.0 if kind == "exact" else 0.9), p
        # offset_seconds: where b starts inside a, so an excerpt listed first starts before its original
        expected = shift if p["a"] == orig else -shift
        assert abs(p["offset_seconds"] - expected) <= 1.5 * FRAME, p
        assert p["label_conflict"] == (orig.split("/")[0] != twin.split("/")[0]), p


def test_distinct_synthetic_tracks_are_never_twins(tmp_path):
    root = tmp_path / "synth"
    write_synthetic_dataset(root, genres=10, tracks_per_genre=3, seconds=8.0, seed=1)
    res = audit_dataset(DataConfig(source=str(root), workers=1), FEAT, progress=False)
    assert res["tracks"] == 30 and res["pairs"] == []


@pytest.mark.slow
def test_the_builtin_set_has_no_twins(tmp_path):
    """The built-in 10 genres x 20 tracks x 30 s, as `source: synthetic` generates it."""
    res = audit_dataset(DataConfig(source="synthetic", cache_dir=str(tmp_path / "cache")), FeatureConfig(),
                        progress=False)
    assert res["tracks"] == 200 and res["pairs"] == []


def test_steady_tones_sharing_a_noise_bed_are_not_twins_but_a_copy_is(tmp_path):
    """A steady tone has nothing to align, so only an exact copy of one counts."""
    root = tmp_path / "tones"
    t = np.arange(4 * SR) / SR
    noise = 0.01 * np.random.default_rng(0).standard_normal(len(t))
    for label, freq in (("a", 220.0), ("b", 330.0)):
        (root / label).mkdir(parents=True)
        for i, amp in enumerate((0.3, 0.5)):
            y = amp * np.sin(2 * np.pi * freq * (1 + i / 50) * t) + noise
            sf.write(root / label / f"{i}.wav", y.astype(np.float32), SR)
    shutil.copyfile(root / "a" / "0.wav", root / "b" / "copy.wav")
    res = audit_dataset(DataConfig(source=str(root), workers=1), FEAT, out=tmp_path / "d.csv", progress=False)
    assert [(p["a"], p["b"], p["kind"], p["label_conflict"]) for p in res["pairs"]] == [
        ("a/0.wav", "b/copy.wav", "exact", True)]


def test_a_warm_audit_decodes_nothing_and_reads_back_the_search(twinset, monkeypatch):
    def no_decoding(*args):
        raise AssertionError("decoded audio on a warm cache")

    def no_search(*args, **kwargs):
        raise AssertionError("searched the same files again")

    monkeypatch.setattr(cache_mod, "load_checked", no_decoding)
    monkeypatch.setattr(duplicates, "find_twins", no_search)
    res = audit_dataset(_data(twinset), FEAT, progress=False)
    assert res["decoded"] == 0 and res["cached"] == 22 and res["pairs"] == twinset["audit"]["pairs"]


def test_a_remembered_search_serves_only_the_same_files_in_the_same_order(twinset, tmp_path, monkeypatch):
    paths = sorted(twinset["root"].glob("*/*.*"))
    cache = FeatureCache(twinset["cache"], DataConfig().audio, FEAT)
    entries = extract_features(paths, cache, workers=1, progress=False)["entries"]
    real, calls = duplicates.find_twins, []
    monkeypatch.setattr(duplicates, "find_twins", lambda *a, **kw: calls.append(len(a[0])) or real(*a, **kw))
    first = cached_twins(entries, tmp_path, FEAT, SR)
    assert cached_twins(entries, tmp_path, FEAT, SR) == first and calls == [22]
    assert len(cached_twins(entries[1:], tmp_path, FEAT, SR)) == len(first) - 1 and calls == [22, 21]
    cached_twins(entries[::-1], tmp_path, FEAT, SR)  # the same files in another order: indices differ
    for saved in (tmp_path / "twins").glob("*.json"):
        saved.write_text("[[0, 99, ")  # damaged: searched again and rewritten
    assert cached_twins(entries, tmp_path, FEAT, SR) == first and calls == [22, 21, 22, 22]


def test_cli_json_has_exactly_the_documented_keys_and_writes_the_csv(twinset, tmp_path):
    cmd = [sys.executable, "-m", "genrebench", "data", "audit", str(twinset["root"]), "--cache-dir",
           str(twinset["cache"])]
    res = subprocess.run([*cmd, "--json"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert len(rows) == len(INJECTED) and all(list(r) == list(COLUMNS) for r in rows)
    assert "wrote 7 pair(s) to duplicates.csv" in res.stderr
    with (tmp_path / "duplicates.csv").open(newline="") as fh:
        written = list(csv.DictReader(fh))
    assert [(r["a"], r["b"], r["kind"]) for r in written] == [(r["a"], r["b"], r["kind"]) for r in rows]
    table = subprocess.run([*cmd, "--out", str(tmp_path / "t.csv")], capture_output=True, text=True, timeout=300)
    text = " ".join(table.stdout.split())
    assert table.returncode == 0 and "7 twin pair(s) among 22 tracks" in text and "country/misfiled.wav" in text
    assert f"decoded 0, reused 22; wrote {tmp_path / 't.csv'}" in text  # warm: nothing decoded
    nowhere = tmp_path / "nowhere"
    missing = subprocess.run([*cmd[:5], str(nowhere)], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and missing.stderr.strip() == f"error: dataset root not found: {nowhere}"


def _split_of(prepared) -> dict[str, str | None]:
    return {prepared.tracklist.relpath(t): s for t, s in zip(prepared.tracks, prepared.splits, strict=True)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_keeps_twins_in_one_split_and_warn_only_reports(twinset, seed):
    split = SplitConfig(method="stratified", seed=seed)
    grouped = prepare_data(_data(twinset, split=split), FEAT, progress=False)
    where = _split_of(grouped)
    assert all(where[orig] == where[twin] for orig, twin, *_ in INJECTED)
    assert grouped.twin_report == [] and grouped.stats["twin_pairs"] == len(INJECTED)
    off = prepare_data(_data(twinset, split=split, duplicates="off"), FEAT, progress=False)
    assert "twin_pairs" not in off.stats
    apart = [(orig, twin) for orig, twin, *_ in INJECTED if _split_of(off)[orig] != _split_of(off)[twin]]
    assert apart  # left alone, the stratified split separates some twins (3 to 5 of 7 with these seeds)
    with pytest.warns(UserWarning, match=rf"^{len(apart)} twin pair\(s\)"):
        warned = prepare_data(_data(twinset, split=split, duplicates="warn"), FEAT, progress=False)
    assert warned.splits == off.splits  # warn never changes a split
    assert {frozenset((r["path"], r["detail"].split(" twin of ")[1].split(" (")[0])) for r in warned.twin_report} == {
        frozenset(p) for p in apart}


def test_a_written_split_keeps_its_twins_apart_and_reports_them(twinset):
    root = twinset["root"]
    files = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.*"))
    split = {rel: "train" if i % 4 < 2 else "val" if i % 4 == 2 else "test" for i, rel in enumerate(files)}
    split.update({twin: split[orig] for orig, twin, *_ in INJECTED})  # twins together...
    placed = {"blues/blues.00000.wav": "train", "blues/blues.00000.ogg": "test",  # ...but for these three pairs
              "classical/classical.00000.wav": "train", "classical/classical.00000.cut.wav": "test",
              "country/country.00001.wav": "val", "country/country.00001.flac": "test"}
    split.update(placed)
    rows = ["path,label,split", *(f"{rel},{rel.split('/')[0]},{split[rel]}" for rel in files)]
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    try:
        with pytest.warns(UserWarning, match=r"3 twin pair\(s\) .* sit in different splits, 2 test track\(s\) with "
                                             r"a twin in train"):
            prepared = prepare_data(_data(twinset, source=root / "manifest.csv"), FEAT, progress=False)
    finally:
        (root / "manifest.csv").unlink()
    where = _split_of(prepared)
    assert all(where[p] == s for p, s in placed.items())  # the split is used as written
    assert prepared.stats["test_twins_in_train"] == 2
    report = {r["path"]: r for r in prepared.twin_report}
    assert set(report) == {"blues/blues.00000.ogg", "classical/classical.00000.cut.wav", "country/country.00001.flac"}
    assert all(r["reason"] == TWIN_ACROSS_SPLITS for r in report.values())
    assert "near twin of blues/blues.00000.wav (blues) in train, this one in test" in report[
        "blues/blues.00000.ogg"]["detail"]
    assert prepared.report == [] and prepared.summary()["skipped"] == 0  # twins are not skipped files
