"""Named split protocols: the registry, GTZAN's fault-filtered lists, FMA's own split, and unknown names."""

import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf
from conftest import make_folder, tone, write_audio

from genrebench.config import DataConfig, FeatureConfig
from genrebench.data import prepare_data
from genrebench.data.protocols import LISTS_DIR, get_protocol, list_protocols, protocol_table
from genrebench.data.splits import read_split_lists
from genrebench.errors import UserError
from genrebench.loader import load_experiment

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
# Per-genre test counts, as the lists' README states them.
GTZAN_FF_TEST = {"blues": 31, "classical": 31, "country": 30, "disco": 29, "hiphop": 27, "jazz": 27, "metal": 27,
                 "pop": 30, "reggae": 26, "rock": 32}


def test_registry_lists_every_protocol_with_its_description():
    assert {"gtzan-ff", "fma-small", "fma-medium"} <= set(list_protocols())
    for row in protocol_table():
        assert set(row) == {"name", "dataset", "fixes", "source"} and all(row.values()), row
    assert get_protocol("stratified") is None and get_protocol("gtzan-ff").dataset == "GTZAN"


def test_gtzan_ff_lists_are_shipped_and_counted():
    folder = LISTS_DIR / "gtzan_ff"
    assert "Kereliuk" in (folder / "README.md").read_text()
    where = read_split_lists(folder)
    assert Counter(where.values()) == {"train": 443, "val": 197, "test": 290}
    assert Counter(p.split("/")[0] for p, s in where.items() if s == "test") == GTZAN_FF_TEST
    assert where["jazz/jazz.00054.wav"] == "train"


def _gtzan_like(root: Path, listed: dict[str, str], skip: int = 0) -> None:
    """Tiny silent-free stand-ins for the listed files (all but the first `skip`), plus one unlisted file."""
    for i, rel in enumerate(sorted(listed)[skip:]):
        write_audio(root / rel, tone(0.2, 200 + i))
    write_audio(root / "blues" / "blues.99999.wav", tone(0.2, 300))


def test_gtzan_ff_missing_files_warn_or_fail_under_strict(tmp_path):
    where = read_split_lists(LISTS_DIR / "gtzan_ff")
    _gtzan_like(tmp_path, where, skip=7)
    with pytest.warns(UserWarning) as caught:
        tl = get_protocol("gtzan-ff").load(tmp_path, False)
    messages = [str(w.message) for w in caught]
    assert any("7 file(s) of split protocol gtzan-ff are missing" in m and "and 2 more" in m for m in messages)
    assert any("1 audio file(s)" in m and "blues/blues.99999.wav" in m for m in messages)
    assert len(tl.tracks) == 930 - 7 and tl.excluded == ["blues/blues.99999.wav"]
    assert all(t.split == where[tl.relpath(t)] for t in tl.tracks)
    with pytest.raises(UserError, match=r"^7 file\(s\) of split protocol gtzan-ff are missing from .*: "
                                        r"blues/blues\.00000\.wav, .* and 2 more \(--strict\)$"):
        get_protocol("gtzan-ff").load(tmp_path, True)


FMA_ROWS = [  # track id, split, subset, top genre
    (2, "training", "small", "Hip-Hop"), (3, "training", "small", "Pop"), (5, "validation", "small", "Hip-Hop"),
    (10, "validation", "small", "Pop"), (20, "test", "small", "Hip-Hop"), (26, "test", "small", "Pop"),
    (1000, "training", "medium", "Rock"), (1001, "validation", "medium", "Rock"), (1002, "test", "medium", "Rock"),
    (1003, "training", "medium", "Hip-Hop"), (2000, "training", "large", "Rock"), (2001, "test", "large", ""),
]


def _fma_tree(root: Path) -> Path:
    """FMA's layout: fma_metadata/tracks.csv (3 header rows) and fma_<subset>/<000>/<000002>.mp3 per subset."""
    meta = root / "fma_metadata"
    meta.mkdir(parents=True)
    with (meta / "tracks.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerows([["", "album", "set", "set", "track", "track"], ["", "title", "split", "subset", "genre_top",
                                                                      "title"], ["track_id", "", "", "", "", ""]])
        w.writerows([tid, "an album", split, sub, genre, f"song {tid}"] for tid, split, sub, genre in FMA_ROWS)
    mp3 = "MP3" in sf.available_formats()
    for folder, subsets in (("fma_small", {"small"}), ("fma_medium", {"small", "medium"})):
        for tid, _, sub, _ in FMA_ROWS:
            if sub in subsets:
                path = root / folder / f"{tid:06d}"[:3] / f"{tid:06d}.mp3"
                # Without an MP3 encoder, WAV content under the .mp3 name: libsndfile sniffs the content.
                write_audio(path, tone(3.5, 150 + tid % 700), subtype=None if mp3 else "PCM_16",
                            fmt="MP3" if mp3 else "WAV")
    return root


@pytest.mark.parametrize(("protocol", "ids"), [("fma-small", {2, 3, 5, 10, 20, 26}),
                                               ("fma-medium", {2, 3, 5, 10, 20, 26, 1000, 1001, 1002, 1003})])
def test_fma_protocols_read_tracks_labels_and_splits(tmp_path, protocol, ids):
    root = _fma_tree(tmp_path)
    tl = get_protocol(protocol).load(root, True)
    subset = protocol.split("-")[1]
    ours = {"training": "train", "validation": "val", "test": "test"}
    expected = {f"fma_{subset}/{tid:06d}"[:-3] + f"/{tid:06d}.mp3": (genre, ours[split])
                for tid, split, _, genre in FMA_ROWS if tid in ids}
    assert {tl.relpath(t): (t.label, t.split) for t in tl.tracks} == expected
    assert tl.labels == sorted({g for g, _ in expected.values()})


def test_fma_missing_audio_and_prepared_splits(tmp_path):
    root = _fma_tree(tmp_path)
    (root / "fma_small" / "000" / "000026.mp3").unlink()
    with pytest.raises(UserError, match=r"1 file\(s\) of split protocol fma-small are missing .*000026\.mp3"):
        get_protocol("fma-small").load(root, True)
    (root / "fma_medium" / "000" / "000026.mp3").unlink()
    cfg = DataConfig(source=str(root), workers=1, split={"method": "fma-medium"})
    with pytest.warns(UserWarning, match="missing"):
        prep = prepare_data(cfg, FeatureConfig(chunk_seconds=2.0), progress=False)
    assert prep.report == [] and len(prep.tracks) == 9
    assert {prep.tracklist.relpath(t): s for t, s in zip(prep.tracks, prep.splits, strict=True)}[
        "fma_medium/001/001002.mp3"] == "test"


def test_unknown_split_method_is_one_line_with_hints(tmp_path):
    with pytest.raises(UserError) as err:
        load_experiment("baseline", sets=["data.split.method=gtzan_ff"])
    msg = str(err.value)
    assert "\n" not in msg and "--set data.split.method: unknown split method 'gtzan_ff'; did you mean gtzan-ff" in msg
    assert "methods: auto, stratified, kfold, lists, manifest; protocols: fma-medium, fma-small, gtzan-ff" in msg
    assert load_experiment("baseline", sets=["data.split.method=fma-small"])[0].config.data.split.method == "fma-small"


@pytest.mark.slow
def test_gtzan_ff_run_on_synthetic_gtzan_logs_443_197_290(tmp_path):
    """The done-when check (issue: 1000 x 3 s tracks) with 1 s tracks and 1 s chunks to keep CI short: a full
    synthetic GTZAN run under gtzan-ff."""
    from mlflow import MlflowClient

    cli = [sys.executable, "-m", "genrebench"]
    subprocess.run([*cli, "data", "synth", "--out", str(tmp_path / "G"), "--tracks-per-genre", "100",
                    "--seconds", "1"], check=True, capture_output=True, timeout=600)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    subprocess.run([*cli, "run", "baseline", "--data", str(tmp_path / "G"), "--quick", "--epochs", "1",
                    "--set", "data.split.method=gtzan-ff", "--set", "data.audio.min_seconds=1", "--set",
                    "features.chunk_seconds=1", "--tracking-uri", uri], check=True, capture_output=True,
                   cwd=tmp_path, timeout=1200)
    client = MlflowClient(uri)
    run = client.search_runs([client.get_experiment_by_name("baseline").experiment_id])[0]
    with open(client.download_artifacts(run.info.run_id, "splits.csv", str(tmp_path))) as fh:
        rows = list(csv.DictReader(fh))
    assert Counter(r["split"] for r in rows) == {"train": 443, "val": 197, "test": 290}
    assert run.data.tags["genrebench.protocol"] == "gtzan-ff"  # what reports group runs by


def test_make_folder_is_not_a_protocol_source(tmp_path):
    """A plain folder with none of the listed files: every track excluded, so too few labels is one clear error."""
    root = make_folder(tmp_path / "d")
    with pytest.warns(UserWarning), pytest.raises(UserError, match="gtzan-ff: .* 0 label"):
        get_protocol("gtzan-ff").load(root, False)


def test_protocols_command_lists_them_as_a_table_and_as_json(tmp_path):
    import json

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "genrebench", "protocols", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    table, listed = cli(), cli("--json")
    assert table.returncode == listed.returncode == 0, table.stderr + listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == [r["name"] for r in protocol_table()]
    gtzan = next(r for r in rows if r["name"] == "gtzan-ff")
    assert "443/197/290" in gtzan["fixes"] and "Kereliuk" in gtzan["source"]
    for row in rows:  # every protocol on its own line of the piped table, name uncut
        assert any(line.split("│")[1].strip() == row["name"] for line in table.stdout.splitlines() if "│" in line)
