import json

import numpy as np
import pytest
import torch
from conftest import make_folder, tone, write_audio

from genrebench.config import AudioConfig, DataConfig, FeatureConfig
from genrebench.data import cache as cache_mod
from genrebench.data import prepare_data
from genrebench.data.cache import FeatureCache, content_hash, default_cache_dir, params_key
from genrebench.data.dataset import build_datasets

FEAT = FeatureConfig(chunk_seconds=1.0, n_mels=16)


def _prep(root, **kw):
    return prepare_data(DataConfig(source=str(root), workers=kw.pop("workers", 1), **kw), FEAT, progress=False)


def test_second_pass_decodes_no_audio(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "d")
    decodes = []
    real = cache_mod.load_checked
    monkeypatch.setattr(cache_mod, "load_checked", lambda *a: decodes.append(a[0]) or real(*a))
    first = _prep(root)
    assert len(decodes) == 12 and first.stats["decoded"] == 12
    second = _prep(root)
    # A warm pass answers from the stat index: no worker process is even started.
    assert len(decodes) == 12 and second.stats == {"decoded": 0, "cached": 12, "workers": 0, "excluded": 0,
                                                    "twin_pairs": 0, "test_twins_in_train": 0}
    # chunk-length and normalization ablations reuse the same entries
    prepare_data(DataConfig(source=str(root), workers=1), FEAT.model_copy(update={"chunk_seconds": 2.0}),
                 progress=False)
    assert len(decodes) == 12
    np.testing.assert_array_equal(first.entries[0].load(), second.entries[0].load())


def test_key_depends_on_content_and_every_mel_parameter(tmp_path):
    a = params_key(AudioConfig(), FeatureConfig())
    assert a != params_key(AudioConfig(), FeatureConfig(n_mels=64))
    assert a != params_key(AudioConfig(), FeatureConfig(hop_length=256))
    assert a != params_key(AudioConfig(sample_rate=16000), FeatureConfig())
    assert a == params_key(AudioConfig(), FeatureConfig(chunk_seconds=3, normalization="global"))
    f1, f2 = tmp_path / "x", tmp_path / "y"
    f1.write_bytes(b"abc")
    f2.write_bytes(b"abd")
    assert content_hash(f1) != content_hash(f2)


@pytest.mark.parametrize("damage", ["flip", "truncate", "no_meta", "bad_json"])
def test_damaged_entry_is_detected_and_rebuilt(tmp_path, damage):
    root = make_folder(tmp_path / "d", per_label=3)
    good = _prep(root)
    entry = good.entries[0]
    npy, meta = entry.npy, entry.npy.with_suffix(".json")
    raw = bytearray(npy.read_bytes())
    if damage == "flip":
        raw[-5] ^= 0xFF
        npy.write_bytes(bytes(raw))
    elif damage == "truncate":
        npy.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "no_meta":
        meta.unlink()  # as if extraction was killed between the two renames
    else:
        meta.write_text("{not json")
    if damage in ("flip", "truncate", "bad_json"):
        with pytest.warns(UserWarning, match="damaged"):
            again = _prep(root)
    else:
        again = _prep(root)
    assert again.stats["decoded"] == 1
    np.testing.assert_array_equal(again.entries[0].load(), entry.load())
    assert json.loads(meta.read_text())["crc32"] != 0


def test_no_temp_files_left_and_parallel_matches_serial(tmp_path):
    root = make_folder(tmp_path / "d", per_label=3)
    serial = _prep(root, cache_dir=str(tmp_path / "c1"))
    parallel = _prep(root, cache_dir=str(tmp_path / "c2"), workers=2)
    assert parallel.stats["workers"] == 2 and parallel.stats["decoded"] == 9
    for a, b in zip(serial.entries, parallel.entries, strict=True):
        np.testing.assert_array_equal(a.load(), b.load())
    assert not [p for p in (tmp_path / "c2").rglob("*") if p.name.endswith(".tmp")]
    assert serial.fingerprint == parallel.fingerprint


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("GENREBENCH_CACHE", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    assert default_cache_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("GENREBENCH_CACHE")
    assert "genrebench" in str(default_cache_dir())


def test_entries_are_memory_mapped_and_store_is_atomic(tmp_path):
    cache = FeatureCache(tmp_path / "c", AudioConfig(), FEAT)
    mel = np.arange(32, dtype=np.float32).reshape(16, 2)
    entry = cache.store("ab" * 20, mel, 100, None, {})
    loaded = entry.load()
    assert isinstance(loaded, np.memmap)
    assert cache.lookup("ab" * 20).n_frames == 2


def test_dataset_yields_normalized_chunks_labels_and_tracks(tmp_path):
    root = make_folder(tmp_path / "d", per_label=5, seconds=3.0)
    prep = _prep(root)
    ds = build_datasets(prep, "per_chunk")
    x, y, t = ds["train"][0]
    assert x.shape == (1, 16, prep.layout.frames) and x.dtype == torch.float32
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std(unbiased=False)) - 1) < 1e-3
    assert prep.tracks[t].label == prep.labels[y]
    assert prep.splits[t] == "train"
    assert len(ds["train"]) == len(prep.chunk_index("train")) == 9 * 4  # 3 train tracks/label, 4 windows of 1 s in 3 s
    raw = ds["val"].raw_chunk(0)
    tr, start = ds["val"].index[0]
    np.testing.assert_array_equal(raw, prep.entries[tr].load()[:, start:start + prep.layout.frames])


def test_warm_pass_trusts_the_stat_index_only_while_files_are_unchanged(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "d", per_label=3)
    _prep(root)
    hashed = []
    real = cache_mod.content_hash
    monkeypatch.setattr(cache_mod, "content_hash", lambda p: hashed.append(p) or real(p))
    assert _prep(root).stats["decoded"] == 0 and hashed == []  # nothing read at all
    victim = root / "b" / "b.01.wav"
    write_audio(victim, tone(3.0, 999.0, seed=7))  # new content under the same name
    again = _prep(root)
    assert again.stats["decoded"] == 1 and hashed == [victim]
    fresh = next(e for t, e in zip(again.tracks, again.entries, strict=True) if t.path == victim)
    assert fresh.digest == real(victim)
