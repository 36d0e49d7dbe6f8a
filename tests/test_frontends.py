"""Front-ends (`features.frontend`): SPEC errors, the built-in embedders checked against numpy, the HEAR adapter
with the tiny test module (rates, windows, timestamps, model files), the embedding cache key, the `standard`
normalizer, the config and loader checks around probes, and model selection on validation (`select:`)."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_folder, tone, write_audio
from pydantic import ValidationError

from genrebench.config import AudioConfig, ExperimentConfig, FeatureConfig, at_point, grid_points
from genrebench.data import prepare_data
from genrebench.data.embed import _clips, embed_chunks, embed_prepared, embedding_key, track_vectors, windows
from genrebench.data.features import Standard, chunk_layout, create_normalizer
from genrebench.data.frontends import Frontend, check_frontend, create_frontend, parse_spec
from genrebench.data.perturb import parse_spec as parse_perturbation
from genrebench.errors import UserError
from genrebench.loader import load_experiment
from genrebench.train import select

HEAR_DIR = Path(__file__).resolve().parent / "hear_modules"
N_MELS, FRAMES = 16, 40


@pytest.fixture
def tinyhear(monkeypatch):
    monkeypatch.syspath_prepend(str(HEAR_DIR))
    return importlib.import_module("tinyhear")


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Writes `<name>.py` into tmp_path (on sys.path); the modules are forgotten again after the test."""
    written: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def mel_chunks(n: int = 3, seed: int = 0) -> np.ndarray:
    """Chunks shaped like log-mels in dB: (n, N_MELS, FRAMES)."""
    rng = np.random.default_rng(seed)
    return (-40 + 10 * rng.standard_normal((n, N_MELS, FRAMES))).astype(np.float32)


# ---- 1. SPEC and creation errors -------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["embedding:", "foo:bar", "embedding", "hear:", "mel:x", ""])
def test_a_malformed_spec_is_one_error_naming_it(spec):
    for call in (parse_spec, check_frontend, create_frontend):
        with pytest.raises(UserError, match="expected mel, embedding:<name> or hear:<module>") as err:
            call(spec)
        assert repr(spec) in str(err.value)


def test_mel_parses_and_creates_no_frontend():
    assert parse_spec("mel").is_mel and parse_spec(" mel ").is_mel
    assert create_frontend("mel") is None
    check_frontend("mel")
    parsed = parse_spec("embedding:random_cnn?seed=3&width=2")
    assert (parsed.kind, parsed.name, parsed.params) == ("embedding", "random_cnn", {"seed": "3", "width": "2"})


def test_an_unknown_embedder_suggests_the_close_name():
    for call in (check_frontend, create_frontend):
        with pytest.raises(UserError) as err:
            call("embedding:random_cn")
        msg = str(err.value)
        assert "'random_cn'" in msg and "did you mean random_cnn" in msg


@pytest.mark.parametrize(("spec", "named"), [
    ("embedding:random_cnn?sed=1", "sed"),
    ("embedding:random_cnn?seed=x", "seed='x'"),
    ("embedding:random_cnn?width=99", "width"),
    ("embedding:random_cnn?width=0", "width"),
    ("embedding:random_cnn?seed=1.5", "seed='1.5'"),
    ("embedding:mel_stats?seed=1", "seed"),
])
def test_a_bad_embedder_parameter_is_named(spec, named):
    for call in (check_frontend, create_frontend):
        with pytest.raises(UserError) as err:
            call(spec)
        assert named in str(err.value) and spec in str(err.value)


def test_the_unknown_parameter_error_lists_the_allowed_ones():
    with pytest.raises(UserError, match=r"unknown parameter\(s\) sed \(allowed: seed, width\)"):
        create_frontend("embedding:random_cnn?sed=1")
    with pytest.raises(UserError, match="must be int"):
        create_frontend("embedding:random_cnn?seed=x")
    with pytest.raises(UserError, match="width must be 1..8.*got 99"):
        create_frontend("embedding:random_cnn?width=99")


def test_a_missing_hear_module_is_named_by_check_and_create():
    for call in (check_frontend, create_frontend):
        with pytest.raises(UserError, match="no module named 'no_such_module_xyz'"):
            call("hear:no_such_module_xyz")
    with pytest.raises(UserError, match="no_such_package_xyz"):
        check_frontend("hear:no_such_package_xyz.sub")


def test_a_module_without_the_hear_api_is_named(user_module):
    name = user_module("nohear_api_mod", "def foo():\n    return 1\n")
    check_frontend(f"hear:{name}")  # found; whether it has the API is only known once imported
    with pytest.raises(UserError) as err:
        create_frontend(f"hear:{name}")
    msg = str(err.value)
    assert f"'{name}'" in msg and "does not implement the HEAR API" in msg and "load_model" in msg
    assert "get_scene_embeddings" in msg


def test_a_module_that_fails_to_import_is_one_line(user_module):
    name = user_module("badhear_import_err", "raise RuntimeError('broken wheel')\n")
    with pytest.raises(UserError, match=f"importing '{name}' failed: RuntimeError: broken wheel"):
        create_frontend(f"hear:{name}")


_BAD_OUTPUT = """
import numpy as np

class Model:
    sample_rate = 16000
    scene_embedding_size = 4

def load_model(model_file_path=""):
    return Model()

def get_scene_embeddings(audio, model):
    n = audio.shape[0]
    return {body}
"""


@pytest.mark.parametrize(("suffix", "body", "expected"), [
    ("wide", "np.zeros((n, 5), dtype=np.float32)", "shape (2, 5) for 2 clip(s); expected (2, 4)"),
    ("flat", "np.zeros(n, dtype=np.float32)", "shape (2,) for 2 clip(s)"),
    ("rows", "np.zeros((n + 1, 4), dtype=np.float32)", "shape (3, 4) for 2 clip(s)"),
    ("nan", "np.full((n, 4), np.nan, dtype=np.float32)", "NaN or inf"),
    ("inf", "np.full((n, 4), np.inf, dtype=np.float32)", "NaN or inf"),
])
def test_a_module_output_that_breaks_the_api_is_named(user_module, suffix, body, expected):
    name = user_module(f"badhear_out_{suffix}", _BAD_OUTPUT.format(body=body))
    frontend = create_frontend(f"hear:{name}")
    assert frontend.dim(N_MELS) == 4
    with pytest.raises(UserError) as err:
        frontend.embed(np.zeros((2, 1600), dtype=np.float32))
    assert f"hear:{name}" in str(err.value) and expected in str(err.value)


@pytest.mark.parametrize(("suffix", "attrs", "missing"), [
    ("nosr", "scene_embedding_size = 4", "sample_rate"),
    ("zerosr", "sample_rate = 0\n    scene_embedding_size = 4", "sample_rate"),
    ("boolsr", "sample_rate = True\n    scene_embedding_size = 4", "sample_rate"),
    ("nosize", "sample_rate = 16000", "scene_embedding_size"),
])
def test_a_model_without_its_attributes_is_named(user_module, suffix, attrs, missing):
    source = f"""
class Model:
    {attrs}

def load_model(model_file_path=""):
    return Model()

def get_scene_embeddings(audio, model):
    return None
"""
    name = user_module(f"badhear_model_{suffix}", source)
    with pytest.raises(UserError, match=f"hear:{name}.*positive integer {missing}"):
        create_frontend(f"hear:{name}")


def test_a_failing_load_model_is_one_line(user_module, tmp_path):
    name = user_module("badhear_load_fail", """
def load_model(model_file_path=""):
    raise ValueError("not a checkpoint: " + model_file_path)

def get_scene_embeddings(audio, model):
    return None
""")
    weights = tmp_path / "weights.pt"
    weights.write_text("garbage")
    with pytest.raises(UserError, match=f"hear:{name}.*load_model.*failed: ValueError: not a checkpoint"):
        create_frontend(f"hear:{name}?model_file={weights}")
    # A model file that is not there is named before the module is asked to load it.
    with pytest.raises(UserError, match=f"hear:{name}.*model_file .*nope.pt: No such file"):
        create_frontend(f"hear:{name}?model_file={tmp_path / 'nope.pt'}")


def test_hear_parameters_are_checked(tinyhear):
    for call in (check_frontend, create_frontend):
        with pytest.raises(UserError, match=r"unknown parameter\(s\) foo \(allowed: model_file, embedding\)"):
            call("hear:tinyhear?foo=1")
    for call in (check_frontend, create_frontend):
        with pytest.raises(UserError, match="embedding='bogus' must be scene or timestamp"):
            call("hear:tinyhear?embedding=bogus")
    check_frontend("hear:tinyhear")


# ---- 2. mel_stats -----------------------------------------------------------------------------------------


def test_mel_stats_is_each_bands_mean_then_population_std():
    frontend = create_frontend("embedding:mel_stats")
    chunks = mel_chunks(4, seed=1)
    out = frontend.embed(chunks)
    assert out.shape == (4, 2 * N_MELS) and out.dtype == np.float32
    assert frontend.dim(N_MELS) == 2 * N_MELS and frontend.dim(128) == 256
    for i, chunk in enumerate(chunks.astype(np.float64)):
        for band in range(N_MELS):
            row = chunk[band]
            mean = row.sum() / row.size
            std = np.sqrt(((row - mean) ** 2).sum() / row.size)  # population std, computed by hand
            assert out[i, band] == pytest.approx(mean, rel=1e-6)
            assert out[i, N_MELS + band] == pytest.approx(std, rel=1e-5)


def test_mel_stats_of_a_constant_band_has_zero_std():
    chunks = np.full((1, 3, 5), -30.0, dtype=np.float32)
    out = create_frontend("embedding:mel_stats").embed(chunks)
    np.testing.assert_array_equal(out, [[-30, -30, -30, 0, 0, 0]])


# ---- 3. random_cnn ----------------------------------------------------------------------------------------


def test_random_cnn_is_deterministic_per_seed():
    chunks = mel_chunks(3)
    a = create_frontend("embedding:random_cnn?seed=7").embed(chunks)
    b = create_frontend("embedding:random_cnn?seed=7").embed(chunks)
    other = create_frontend("embedding:random_cnn?seed=8").embed(chunks)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, other)
    default = create_frontend("embedding:random_cnn")
    assert default.key() == create_frontend("embedding:random_cnn?seed=0&width=1").key()


def test_random_cnn_shape_dim_and_width():
    chunks = mel_chunks(3)
    one = create_frontend("embedding:random_cnn")
    two = create_frontend("embedding:random_cnn?width=2")
    assert one.dim(N_MELS) == 2 * (32 + 64 + 64 + 128 + 128) == 832
    assert two.dim(N_MELS) == 2 * one.dim(N_MELS)
    assert one.dim(N_MELS) == one.dim(128)  # the CNN pools its channels: the length does not depend on the bands
    out1, out2 = one.embed(chunks), two.embed(chunks)
    assert out1.shape == (3, one.dim(N_MELS)) and out2.shape == (3, two.dim(N_MELS))
    assert out1.dtype == np.float32
    assert np.all(np.isfinite(out1)) and np.all(np.isfinite(out2))
    assert np.any(out1 != 0)


def test_random_cnn_ignores_a_constant_db_offset_and_batch_neighbours():
    frontend = create_frontend("embedding:random_cnn?seed=3")
    chunks = mel_chunks(3, seed=2)
    shifted = chunks.copy()
    shifted[1] += 20.0  # one chunk 20 dB louder
    base, moved = frontend.embed(chunks), frontend.embed(shifted)
    np.testing.assert_allclose(moved, base, rtol=1e-5, atol=1e-5)
    # Each chunk is embedded on its own: alone it gives what it gives in a batch.
    np.testing.assert_allclose(frontend.embed(chunks[1:2]), base[1:2], rtol=1e-5, atol=1e-5)


def test_random_cnn_of_a_constant_chunk_is_finite():
    out = create_frontend("embedding:random_cnn").embed(np.full((2, N_MELS, FRAMES), -100.0, dtype=np.float32))
    assert np.all(np.isfinite(out))


# ---- 4. the HEAR adapter with tinyhear --------------------------------------------------------------------

LAYOUT = chunk_layout(FeatureConfig(chunk_seconds=2, overlap=0.5), 22050)


def test_tinyhear_frontend_reads_audio_at_its_own_rate(tinyhear):
    frontend = create_frontend("hear:tinyhear")
    assert frontend.reads == "audio" and frontend.sample_rate == 16000
    assert frontend.dim(N_MELS) == 24 and frontend.dim(128) == 24
    assert frontend.spec == "hear:tinyhear" and frontend.embedding == "scene"
    clips = np.random.default_rng(0).uniform(-0.5, 0.5, (3, 16000)).astype(np.float32)
    out = frontend.embed(clips)
    assert out.shape == (3, 24) and out.dtype == np.float32 and np.all(np.isfinite(out))
    key = frontend.key()
    assert key["module"] == "tinyhear" and key["version"] == "0.1" and key["sample_rate"] == 16000


def test_clips_cut_the_mels_seconds_at_the_frontends_rate():
    # 2 s windows every 43 frames of 512 samples at 22050 Hz; the audio is at 16 kHz, each sample its own index.
    assert (LAYOUT.chunk_samples, LAYOUT.hop, LAYOUT.stride) == (44100, 512, 43)
    length = round(44100 * 16000 / 22050)
    assert length == 32000
    y = np.arange(4 * 16000, dtype=np.float32)
    starts = [0, 43, 86, 129, 172]
    clips = _clips(y, starts, LAYOUT, 22050, 16000)
    assert clips.shape == (len(starts), length) and clips.dtype == np.float32
    for i, start in enumerate(starts):
        first = round(start * 512 * 16000 / 22050)  # 43 frames = 22016 samples at 22050 Hz = 15975.3 at 16 kHz
        expected = np.zeros(length, dtype=np.float32)
        real = np.arange(first, min(first + length, y.size), dtype=np.float32)
        expected[:real.size] = real
        np.testing.assert_array_equal(clips[i], expected)
    assert round(43 * 512 * 16000 / 22050) == 15975 and clips[1, 0] == 15975
    # The last two windows run past the 64000 samples and end in zeros; the one before ends inside.
    assert clips[2, -1] == 31951 + 31999 and clips[3, -1] == 0 and clips[4, -1] == 0
    assert clips[4, 98] == 63999 and clips[4, 99] == 0  # 172 frames: sample 63901 on


class _Recorder(Frontend):
    """An audio front-end that keeps what it was given and embeds a clip as (first sample, length)."""

    reads = "audio"
    sample_rate = 16000

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def key(self) -> dict:
        return {"name": "recorder"}

    def dim(self, n_mels: int) -> int:
        return 2

    def embed(self, chunks: np.ndarray) -> np.ndarray:
        self.batches.append(chunks.copy())
        return np.stack([chunks[:, 0], np.full(len(chunks), chunks.shape[1])], axis=1).astype(np.float32)


def test_embed_chunks_gives_one_column_per_window_in_order_across_batches():
    rec = _Recorder()
    y = np.arange(30 * 16000, dtype=np.float32)
    starts = [43 * i for i in range(40)]  # more than one batch of 32
    out = embed_chunks(rec, LAYOUT, 22050, starts, audio=y)
    assert out.shape == (2, 40) and out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    assert [len(b) for b in rec.batches] == [32, 8]
    firsts = [round(s * 512 * 16000 / 22050) for s in starts]
    np.testing.assert_array_equal(out[0], [f if f < y.size else 0 for f in firsts])
    np.testing.assert_array_equal(out[1], [32000] * 40)


def test_embed_chunks_from_mels_pads_at_the_silence_floor():
    frontend = create_frontend("embedding:mel_stats")
    mel = mel_chunks(1)[0]  # (16, 40)
    layout = chunk_layout(FeatureConfig(chunk_seconds=0.5, overlap=0.5, hop_length=512), 22050)
    assert layout.frames == 22
    out = embed_chunks(frontend, layout, 22050, [0, 10, 30], mel=mel)
    assert out.shape == (2 * N_MELS, 3)
    np.testing.assert_allclose(out[:N_MELS, 0], mel[:, :22].mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(out[:N_MELS, 1], mel[:, 10:32].mean(axis=1), rtol=1e-6)
    padded = np.concatenate([mel[:, 30:], np.full((N_MELS, 12), -100.0, dtype=np.float32)], axis=1)
    np.testing.assert_allclose(out[:N_MELS, 2], padded.mean(axis=1), rtol=1e-5)


def test_timestamp_embeddings_are_mean_pooled(tinyhear):
    clips = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 8000)).astype(np.float32)
    scene = create_frontend("hear:tinyhear").embed(clips)
    timestamp = create_frontend("hear:tinyhear?embedding=timestamp")
    assert timestamp.embedding == "timestamp" and timestamp.dim(N_MELS) == 24
    pooled = timestamp.embed(clips)
    np.testing.assert_allclose(pooled, scene, rtol=0, atol=1e-6)
    # Independently: tinyhear's own timestamp embeddings averaged over time.
    import torch

    frames, _ = tinyhear.get_timestamp_embeddings(torch.as_tensor(clips), tinyhear.load_model())
    np.testing.assert_allclose(pooled, frames.numpy().mean(axis=1), rtol=0, atol=1e-6)
    assert timestamp.key() != create_frontend("hear:tinyhear").key()


def test_a_module_with_timestamp_embeddings_only_is_mean_pooled(user_module):
    name = user_module("tshear_only_mod", """
import torch

class Model:
    sample_rate = 8000
    timestamp_embedding_size = 2

def load_model(model_file_path=""):
    return Model()

def get_timestamp_embeddings(audio, model):
    # three frames: the clip's first sample, its last, and 1, 2, 3 in the second dimension
    frames = torch.stack([audio[:, :3], torch.arange(1.0, 4.0).expand(audio.shape[0], 3)], dim=2)
    return frames, torch.zeros(audio.shape[0], 3)
""")
    frontend = create_frontend(f"hear:{name}")
    assert frontend.embedding == "timestamp" and frontend.sample_rate == 8000 and frontend.dim(N_MELS) == 2
    clips = np.array([[3.0, 6.0, 0.0, 9.0], [1.0, 1.0, 1.0, 5.0]], dtype=np.float32)
    np.testing.assert_allclose(frontend.embed(clips), [[3.0, 2.0], [1.0, 2.0]], rtol=1e-6)
    with pytest.raises(UserError, match=f"module '{name}' has no get_scene_embeddings"):
        create_frontend(f"hear:{name}?embedding=scene")


def test_track_vectors_decode_the_file_again_at_the_models_rate(tinyhear, tmp_path):
    path = write_audio(tmp_path / "a.wav", tone(3.0, 220.0))  # 22050 Hz
    audio = AudioConfig()
    starts = windows(LAYOUT, 3 * 22050)
    assert starts == [0, 43]
    frontend = create_frontend("hear:tinyhear")
    tinyhear.CALLS.clear()
    arr = track_vectors(frontend, LAYOUT, audio, starts, path)
    assert arr.shape == (24, 2) and arr.dtype == np.float32 and np.all(np.isfinite(arr))
    assert tinyhear.CALLS == [(2, 32000)]  # 2 s clips at 16 kHz, not at the file's 22050 Hz
    assert not np.allclose(arr[:, 0], arr[:, 1])  # the second window is zero-padded past the 3 s


def test_a_model_file_changes_vectors_and_key(tinyhear, tmp_path):
    clips = np.random.default_rng(2).uniform(-0.5, 0.5, (2, 8000)).astype(np.float32)
    model_file = tmp_path / "tiny.seed"
    model_file.write_text("3")
    default = create_frontend("hear:tinyhear")
    seeded = create_frontend(f"hear:tinyhear?model_file={model_file}")
    assert not np.allclose(seeded.embed(clips), default.embed(clips))
    # The same seed as the default gives the default's vectors: the file is what changed them.
    zero = tmp_path / "zero.seed"
    zero.write_text("0")
    np.testing.assert_array_equal(create_frontend(f"hear:tinyhear?model_file={zero}").embed(clips),
                                  default.embed(clips))
    key = seeded.key()
    assert key["model_file"] == str(model_file) and default.key()["model_file_stamp"] is None
    model_file.write_text("12\n")  # another size
    # The loaded front-end keeps describing the model it loaded; one loaded from the rewritten file differs.
    assert seeded.key() == key
    resized = create_frontend(f"hear:tinyhear?model_file={model_file}").key()
    assert resized != key
    model_file.write_text("45\n")  # same size; a later modification time
    st = os.stat(model_file)
    os.utime(model_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert create_frontend(f"hear:tinyhear?model_file={model_file}").key() != resized


# ---- 5. the embedding cache key ---------------------------------------------------------------------------


def test_embedding_key_follows_what_the_vectors_depend_on(tinyhear):
    audio = AudioConfig()
    feat = FeatureConfig(chunk_seconds=2, n_mels=32)
    cnn0, cnn1 = create_frontend("embedding:random_cnn?seed=0"), create_frontend("embedding:random_cnn?seed=1")
    hear = create_frontend("hear:tinyhear")
    base = embedding_key(audio, feat, cnn0, None)
    assert base == embedding_key(audio, feat, create_frontend("embedding:random_cnn"), None)
    assert embedding_key(audio, feat, cnn1, None) != base
    assert embedding_key(audio, feat, create_frontend("embedding:random_cnn?width=2"), None) != base
    assert embedding_key(audio, feat, create_frontend("embedding:mel_stats"), None) != base
    assert embedding_key(audio, feat.model_copy(update={"chunk_seconds": 3.0}), cnn0, None) != base
    assert embedding_key(audio, feat.model_copy(update={"n_mels": 64}), cnn0, None) != base
    # Normalization is applied when reading: it never changes what is cached.
    assert embedding_key(audio, feat.model_copy(update={"normalization": "standard"}), cnn0, None) == base

    hear_key = embedding_key(audio, feat, hear, None)
    assert embedding_key(audio, feat.model_copy(update={"n_mels": 64}), hear, None) == hear_key
    assert embedding_key(audio, feat.model_copy(update={"chunk_seconds": 3.0}), hear, None) != hear_key
    assert embedding_key(audio.model_copy(update={"silence_db": -50.0}), feat, hear, None) != hear_key

    gain = parse_perturbation("gain:db=-6")
    identity = parse_perturbation("identity")
    for frontend, key in ((cnn0, base), (hear, hear_key)):
        assert embedding_key(audio, feat, frontend, gain) != key
        assert embedding_key(audio, feat, frontend, identity) == key
    assert embedding_key(audio, feat, cnn0, parse_perturbation("gain:db=-12")) != embedding_key(
        audio, feat, cnn0, gain)


# ---- 6. the standard normalizer ---------------------------------------------------------------------------


def test_standard_centres_a_constant_row_and_scales_the_others():
    rng = np.random.default_rng(3)
    train = [rng.normal(5.0, 3.0, (4, n)).astype(np.float32) for n in (6, 9, 1)]
    for chunk in train:
        chunk[2] = 7.5  # constant across the whole training set
    norm = create_normalizer("standard").fit(iter(train))
    assert isinstance(norm, Standard)
    columns = np.concatenate(train, axis=1).astype(np.float64)  # every training column is one sample
    mean = columns.mean(axis=1)
    std = np.sqrt(((columns - mean[:, None]) ** 2).mean(axis=1))  # population std over all columns

    new = rng.normal(5.0, 3.0, (4, 5)).astype(np.float32)
    new[2] = [7.5, 7.8, 0.0, 7.5, 100.0]
    out = norm(new)
    assert out.dtype == np.float32 and out.shape == new.shape
    np.testing.assert_allclose(out[2], new[2] - 7.5, rtol=1e-6, atol=1e-5)  # centred, never divided by ~0
    for row in (0, 1, 3):
        np.testing.assert_allclose(out[row], (new[row] - mean[row]) / std[row], rtol=1e-5, atol=1e-5)
    # The training set itself comes out with zero mean and unit std in every varying row.
    z = np.concatenate([norm(c) for c in train], axis=1).astype(np.float64)
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=1)[[0, 1, 3]], 1, atol=1e-5)

    state = norm.state()
    assert state["name"] == "standard"
    restored = create_normalizer("standard", state)
    np.testing.assert_array_equal(restored(new), out)
    batch = np.stack([new, train[0][:, :5]])
    np.testing.assert_array_equal(restored.batch(batch)[0], out)


def test_standard_refuses_an_empty_training_set_and_use_before_fit():
    with pytest.raises(UserError, match="no chunks"):
        create_normalizer("standard").fit(iter([]))
    with pytest.raises(RuntimeError, match="before fit"):
        create_normalizer("standard")(np.zeros((2, 3), dtype=np.float32))


# ---- 7. config and loader checks ----------------------------------------------------------------------------

CNN = {"frontend": "embedding:random_cnn", "normalization": "standard"}


@pytest.mark.parametrize(("augment", "key"), [
    ({"random_crop": True}, "augment.random_crop"),
    ({"gain_db": 6.0}, "augment.gain_db"),
    ({"specaugment": {"time_masks": 2, "time_width": 4}}, "augment.specaugment"),
    ({"specaugment": {"freq_masks": 1, "freq_width": 2}}, "augment.specaugment"),
])
def test_augmentations_of_the_mel_are_refused_with_an_embedding(augment, key):
    with pytest.raises(ValidationError) as err:
        ExperimentConfig(features=CNN, augment=augment)
    assert key in str(err.value) and "embedding:random_cnn" in str(err.value)
    ExperimentConfig(features={"normalization": "standard"}, augment=augment)  # fine on mels


def test_mixup_works_with_an_embedding():
    cfg = ExperimentConfig(features=CNN, augment={"mixup_alpha": 0.4}, model={"name": "mlp_probe"})
    assert cfg.features.embeds and cfg.augment.mixup_alpha == 0.4
    assert not ExperimentConfig().features.embeds


def test_a_mel_model_on_vectors_is_refused_naming_the_probes():
    with pytest.raises(UserError) as err:
        load_experiment("baseline", sets=["features.frontend=embedding:random_cnn"])
    msg = str(err.value)
    assert "model.name" in msg and "'vgg_baseline'" in msg and "linear_probe" in msg and "mlp_probe" in msg
    (variant,) = load_experiment("baseline", sets=["features.frontend=embedding:random_cnn", "model.name=mlp_probe"])
    assert variant.config.features.frontend == "embedding:random_cnn" and variant.config.model.name == "mlp_probe"


def test_a_bad_frontend_fails_at_load_naming_the_flag():
    with pytest.raises(UserError) as err:
        load_experiment("baseline", sets=["features.frontend=embedding:random_cn", "model.name=linear_probe"])
    assert "--set features.frontend" in str(err.value) and "did you mean random_cnn" in str(err.value)


@pytest.mark.parametrize("key", ["data.source", "features.n_mels", "select.metric", "name"])
def test_a_grid_over_data_or_features_is_refused(key):
    with pytest.raises(ValidationError) as err:
        ExperimentConfig(select={"grid": {key: ["a"]}})
    assert key in str(err.value)


def test_an_empty_grid_list_and_a_test_metric_are_refused():
    with pytest.raises(ValidationError, match="train.lr"):
        ExperimentConfig(select={"grid": {"train.lr": []}})
    with pytest.raises(ValidationError) as err:
        ExperimentConfig(select={"metric": "test_track_acc"})
    assert "test_track_acc" in str(err.value)
    assert ExperimentConfig(select={"metric": "val_best_track_acc"}).select.metric == "val_best_track_acc"


def test_grid_points_and_at_point():
    cfg = ExperimentConfig(select={"grid": {"model.hidden": [[], [8]], "train.lr": [0.1, 0.01, 0.001]}})
    points = grid_points(cfg)
    assert points == [{"model.hidden": [], "train.lr": 0.1}, {"model.hidden": [], "train.lr": 0.01},
                      {"model.hidden": [], "train.lr": 0.001}, {"model.hidden": [8], "train.lr": 0.1},
                      {"model.hidden": [8], "train.lr": 0.01}, {"model.hidden": [8], "train.lr": 0.001}]
    assert grid_points(ExperimentConfig()) == []
    at = at_point(cfg, points[4])
    assert at.model.hidden == (8,) and at.train.lr == 0.01
    assert at.select.grid == {} and at.select.metric == cfg.select.metric
    assert at.model_dump(exclude={"model", "train", "select"}) == cfg.model_dump(exclude={"model", "train", "select"})
    with pytest.raises(UserError, match=r"select.grid train.lr=-1.*train.lr"):
        at_point(cfg, {"train.lr": -1})


def test_the_shipped_probe_experiment():
    variants = load_experiment("probe")
    assert [v.name for v in variants] == ["frontend=embedding:random_cnn", "frontend=embedding:mel_stats"]
    for v in variants:
        cfg = v.config
        assert cfg.model.name == "mlp_probe" and cfg.features.normalization == "standard"
        assert len(grid_points(cfg)) == 3 * 2 * 2 == 12
        assert cfg.train.epochs == 200
    quick = load_experiment("probe", quick=True)
    for v in quick:
        cfg = v.config
        assert (cfg.train.epochs, cfg.train.batch_size) == (40, 16)
        assert grid_points(cfg) == [{"model.hidden": [], "train.lr": 0.01}, {"model.hidden": [], "train.lr": 0.001},
                                    {"model.hidden": [64], "train.lr": 0.01},
                                    {"model.hidden": [64], "train.lr": 0.001}]
    # The flags still win over the file's quick section.
    (first, _) = load_experiment("probe", quick=True, epochs=3)
    assert first.config.train.epochs == 3


def test_a_frontend_flag_collapses_the_probe_sweep_into_one_variant(tinyhear):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        variants = load_experiment("probe", sets=["features.frontend=hear:tinyhear"])
    # Both sweep points become the same run: it trains once, not twice as two 'seeds'. (A note that they collapsed
    # may be printed as a UserWarning; nothing else may be.)
    assert all(issubclass(w.category, UserWarning) and "sweep point" in str(w.message) for w in caught)
    (variant,) = variants
    assert variant.name == "frontend=hear:tinyhear"
    assert variant.config.features.frontend == "hear:tinyhear"
    assert len(grid_points(variant.config)) == 12


# ---- 8. selection on validation -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_selection(tmp_path_factory):
    """A prepared tiny dataset (3 labels of tones) and a probe config with a grid of two learning rates."""
    root = tmp_path_factory.mktemp("select")
    data = make_folder(root / "data", labels=("low", "mid", "high"), per_label=6, seconds=3.0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENREBENCH_CACHE", str(root / "cache"))
        (variant,) = load_experiment("baseline", quick=True, epochs=3, sets=[
            f"data.source={data}", "data.workers=1", "features.chunk_seconds=1", "features.normalization=per_band",
            "model.name=linear_probe", "train.batch_size=8", "train.device=cpu",
            "select.grid={train.lr: [0.0001, 0.05]}"])
        prepared = prepare_data(variant.config.data, variant.config.features, progress=False)
    return variant.config, prepared


def test_embed_prepared_replaces_each_mel_by_its_windows_vectors(tiny_selection):
    cfg, prepared = tiny_selection
    feat = cfg.features.model_copy(update={"frontend": "embedding:mel_stats"})
    embedded = embed_prepared(prepared, cfg.data, feat, "cpu", progress=False)
    n_mels, frames = feat.n_mels, prepared.layout.frames
    assert embedded.input_rows == 2 * n_mels
    assert (embedded.layout.frames, embedded.layout.stride) == (1, 1)
    assert embedded.stats["embedded"] == len({e.digest for e in prepared.entries})
    assert embedded.splits == prepared.splits and embedded.tracks == prepared.tracks
    for i, entry in enumerate(embedded.entries):
        arr, mel = entry.load(), prepared.entries[i].load()
        assert arr.shape[0] == 2 * n_mels
        assert len(embedded.starts[i]) == len(prepared.starts[i])
        for col, start in zip(embedded.starts[i], prepared.starts[i], strict=True):
            chunk = np.asarray(mel[:, start:start + frames], dtype=np.float64)
            assert chunk.shape[1] == frames  # 3 s tracks, 1 s windows: all full
            np.testing.assert_allclose(arr[:n_mels, col], chunk.mean(axis=1), rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(arr[n_mels:, col], chunk.std(axis=1), rtol=1e-5, atol=1e-4)
    again = embed_prepared(prepared, cfg.data, feat, "cpu", progress=False)
    assert again.stats["embedded"] == 0 and again.stats["embeddings_cached"] == embedded.stats["embedded"]
    assert [e.npy for e in again.entries] == [e.npy for e in embedded.entries]


def _recording_fit(monkeypatch):
    calls: list[dict] = []
    real = select.fit

    def wrapper(cfg, prepared, tracker=None, *args, evaluate_test=True, **kwargs):
        res = real(cfg, prepared, tracker, *args, evaluate_test=evaluate_test, **kwargs)
        calls.append({"cfg": cfg, "evaluate_test": evaluate_test, "result": res})
        return res

    monkeypatch.setattr(select, "fit", wrapper)
    return calls


def test_selection_never_scores_test_and_trains_the_best_point_once_more(tiny_selection, monkeypatch):
    cfg, prepared = tiny_selection
    calls = _recording_fit(monkeypatch)
    result, selection = select.fit_selected(cfg, prepared, progress=False)

    points = grid_points(cfg)
    assert len(calls) == len(points) + 1
    assert [c["evaluate_test"] for c in calls] == [False] * len(points) + [True]
    assert [c["cfg"] for c in calls[:-1]] == [at_point(cfg, p) for p in points]
    for c in calls[:-1]:
        assert c["result"].test is None and not any(k.startswith("test_") for k in c["result"].final)

    metric = "val_best_track_acc"
    assert selection.metric == metric and selection.keys == ["train.lr"]
    scores = [row[metric] for row in selection.rows]
    assert scores == [c["result"].final[metric] for c in calls[:-1]]
    best = scores.index(max(scores))  # the first of equals
    assert selection.chosen == points[best]
    assert calls[-1]["cfg"] == at_point(cfg, points[best]) and calls[-1]["cfg"].select.grid == {}
    assert result is calls[-1]["result"] and result.test is not None and "test_track_acc" in result.final
    assert result.final[metric] == scores[best]  # same seed, same data, same settings

    header, rows = selection.table()
    assert header == ["train.lr", metric, "best_epoch", "seconds", "chosen"]
    assert [r[0] for r in rows] == [0.0001, 0.05]
    assert [r[-1] for r in rows].count(True) == 1 and rows[best][-1] is True


def test_choose_takes_the_first_of_equal_scores_and_fit_selected_without_grid_fits_once(tiny_selection, monkeypatch):
    cfg, prepared = tiny_selection
    cfg = cfg.model_copy(update={"select": cfg.select.model_copy(update={"grid": {"train.lr": [0.1, 0.2, 0.3, 0.4]}})})
    scripted = {0.1: 0.5, 0.2: 0.75, 0.3: 0.75, 0.4: 0.25, cfg.train.lr: 0.0}
    calls: list[tuple[float, bool]] = []

    def fake(point_cfg, data, tracker=None, *args, evaluate_test=True, **kwargs):
        calls.append((point_cfg.train.lr, evaluate_test))
        return SimpleNamespace(final={"val_best_track_acc": scripted[point_cfg.train.lr]}, best_epoch=1,
                               wall_seconds=0.0, test=None)

    monkeypatch.setattr(select, "fit", fake)
    _, selection = select.fit_selected(cfg, prepared, progress=False)
    assert selection.chosen == {"train.lr": 0.2}
    assert calls == [(0.1, False), (0.2, False), (0.3, False), (0.4, False), (0.2, True)]
    assert [r[-1] for r in selection.table()[1]] == [False, True, False, False]

    calls.clear()
    plain = cfg.model_copy(update={"select": cfg.select.model_copy(update={"grid": {}})})
    assert select.choose(plain, prepared, progress=False) is None
    _, none = select.fit_selected(plain, prepared, progress=False)
    assert none is None and calls == [(plain.train.lr, True)]


def test_a_grid_that_picks_a_mel_model_with_an_embedding_is_refused_at_load():
    with pytest.raises(UserError, match="model 'vgg_baseline' reads mel chunks"):
        load_experiment("baseline", sets=["features.frontend=embedding:mel_stats", "model.name=mlp_probe",
                                          "features.normalization=standard",
                                          "select.grid={model.name: [mlp_probe, vgg_baseline]}"])


def test_a_grid_value_listed_twice_is_refused():
    with pytest.raises(UserError, match="lists a value twice"):
        load_experiment("probe", sets=["select.grid={train.lr: [0.1, 0.1]}"])
