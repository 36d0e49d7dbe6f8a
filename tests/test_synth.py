"""The built-in synthetic dataset: layout, determinism, sane audio, learnable classes, and argument errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from genrebench.data.synth import (
    CHORDS,
    GENRES,
    RECIPES,
    SCALES,
    STEPS,
    TIMBRES,
    render_track,
    track_seed,
    write_synthetic_dataset,
)
from genrebench.data.synth.manifest import MANIFEST
from genrebench.errors import UserError

SR = 22050

# sha256 of `<genre>.00000.wav` written with genres=10, tracks_per_genre=1, seconds=2.0, seed=0, as produced by
# the single-module synth.py before it was split into a package (numpy 2.4.6, scipy 1.17.1, soundfile 0.14.0)
PINNED_SHA256 = {
    "blues": "51186f3722b86741bbb7f1b8a82fc2ae60263ef40ce8036c55ea03eb15144a0f",
    "classical": "2b7ce4da2ce45c8e3611d3572ebab6805f60e6628bba7a513174f209bc507150",
    "country": "c4fe470222dcf349c8d65fbbbef8410b6f7a92e955654d0d47aa8951981b4eae",
    "disco": "1ad433e00cf0fad0b37a2757265e2385dae0883b5dba28775a7ea4689025294b",
    "hiphop": "8632c6fd88ae6785da2ca16551144296c9376fdcda73395b2ccc40d9bf7e6f6d",
    "jazz": "d7d8736711f54a674bc06586da9cb73abe0ded1a10b6c542e53d91113615975a",
    "metal": "566b6096fa90e31923209bd058802efc606a9ca24512ab693476d4242947d0d0",
    "pop": "3cca1769df79a3469e7f2975a0d98e6677fbaff0a261877960b84781dae15d2e",
    "reggae": "e9c4e7435e7a57ec3138e9abc5a3fa94026f64718d4f1f71520237aa60ab8524",
    "rock": "26a9f0f9b9f959b70211fdd2e35f26490014a8fb0fd4bd4a120ed12c15199c90",
}


def _bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` but the manifest (which records the settings, see test_cli_safety.py)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def test_genres_are_gtzans_names_in_order():
    assert GENRES == ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae",
                      "rock")
    assert set(RECIPES) == set(GENRES)


def test_layout_names_rate_length_and_format(tmp_path):
    res = write_synthetic_dataset(tmp_path / "out", genres=3, tracks_per_genre=2, seconds=1.5, seed=7, sr=SR)

    root = tmp_path / "out"
    assert res["root"] == str(root)
    assert res["genres"] == ["blues", "classical", "country"]
    assert res["tracks"] == 6
    assert res["seconds"] == 1.5 and res["seed"] == 7
    expected = [f"{g}/{g}.{i:05d}.wav" for g in ("blues", "classical", "country") for i in range(2)]
    assert res["files"] == expected
    # nothing else on disk: no leftover temp files, no extra folders, only the manifest beside the genres
    assert sorted(_bytes(root)) == sorted(expected)
    assert sorted(p.name for p in root.iterdir()) == [MANIFEST, "blues", "classical", "country"]
    for rel in expected:
        info = sf.info(root / rel)
        assert info.samplerate == SR
        assert info.frames == round(1.5 * SR) == 33075
        assert info.channels == 1
        assert info.format == "WAV"
        assert info.subtype == "PCM_16"


def test_other_sample_rate_and_odd_length(tmp_path):
    res = write_synthetic_dataset(tmp_path, genres=2, tracks_per_genre=1, seconds=0.7, sr=16000)
    info = sf.info(tmp_path / res["files"][0])
    assert (info.samplerate, info.frames) == (16000, 11200)


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = write_synthetic_dataset(tmp_path / "a", genres=10, tracks_per_genre=1, seconds=1.0, seed=3)
    b = write_synthetic_dataset(tmp_path / "b", genres=10, tracks_per_genre=1, seconds=1.0, seed=3)
    bytes_a, bytes_b = _bytes(tmp_path / "a"), _bytes(tmp_path / "b")
    assert a["files"] == b["files"] and len(bytes_a) == 10
    assert bytes_a == bytes_b


def test_different_seed_gives_different_files(tmp_path):
    write_synthetic_dataset(tmp_path / "a", genres=10, tracks_per_genre=1, seconds=1.0, seed=0)
    write_synthetic_dataset(tmp_path / "b", genres=10, tracks_per_genre=1, seconds=1.0, seed=1)
    bytes_a, bytes_b = _bytes(tmp_path / "a"), _bytes(tmp_path / "b")
    assert bytes_a.keys() == bytes_b.keys()
    assert all(bytes_a[k] != bytes_b[k] for k in bytes_a)


def test_output_is_pinned_byte_for_byte(tmp_path):
    # a refactor must not move a sample: any change to the DSP, the recipes, the seeding or the order of the
    # random draws changes these files. A change meant to alter the sound updates PINNED_SHA256 on purpose; so
    # may a numpy/scipy upgrade that moves a rounding step (check the audio, then re-pin).
    res = write_synthetic_dataset(tmp_path, genres=10, tracks_per_genre=1, seconds=2.0, seed=0)
    got = {rel.split("/")[0]: hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest() for rel in res["files"]}
    assert got == PINNED_SHA256


def test_tracks_within_a_dataset_differ(tmp_path):
    res = write_synthetic_dataset(tmp_path, genres=2, tracks_per_genre=3, seconds=1.0)
    contents = [(tmp_path / f).read_bytes() for f in res["files"]]
    assert len(set(contents)) == 6


def test_a_smaller_dataset_is_a_subset_of_a_larger_one(tmp_path):
    big = write_synthetic_dataset(tmp_path / "big", genres=4, tracks_per_genre=3, seconds=1.0, seed=5)
    small = write_synthetic_dataset(tmp_path / "small", genres=2, tracks_per_genre=2, seconds=1.0, seed=5)
    bytes_big, bytes_small = _bytes(tmp_path / "big"), _bytes(tmp_path / "small")
    assert set(small["files"]) < set(big["files"])
    assert len(bytes_small) == 4
    for rel, data in bytes_small.items():
        assert bytes_big[rel] == data, rel


def test_rewriting_replaces_files_in_place(tmp_path):
    write_synthetic_dataset(tmp_path, genres=2, tracks_per_genre=1, seconds=0.5, seed=0)
    first = _bytes(tmp_path)
    write_synthetic_dataset(tmp_path, genres=2, tracks_per_genre=1, seconds=0.5, seed=0, progress=True)
    assert _bytes(tmp_path) == first


def test_file_matches_render_track_with_its_track_seed(tmp_path):
    res = write_synthetic_dataset(tmp_path, genres=2, tracks_per_genre=2, seconds=1.0, seed=11)
    on_disk, _ = sf.read(tmp_path / res["files"][3], dtype="float32")
    y = render_track("classical", track_seed(11, "classical", 1), seconds=1.0)
    assert on_disk.shape == y.shape
    np.testing.assert_allclose(on_disk, y, atol=1.5 / 32768)  # only 16-bit rounding apart


def test_render_track_is_deterministic_and_seed_sensitive():
    a = render_track("jazz", 42, seconds=2.0)
    assert a.dtype == np.float32 and a.shape == (2 * SR,)
    np.testing.assert_array_equal(a, render_track("jazz", 42, seconds=2.0))
    assert not np.array_equal(a, render_track("jazz", 43, seconds=2.0))


@pytest.mark.parametrize("genre", GENRES)
def test_audio_is_finite_peak_normalised_and_not_silent(genre):
    for seed in range(3):
        y = render_track(genre, seed, seconds=3.0)
        assert np.isfinite(y).all()
        peak = float(np.abs(y).max())
        assert 0.79 <= peak <= 0.91, (genre, seed, peak)
        rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        assert rms > 0.03, (genre, seed, rms)
    # even a clip shorter than one drum hit is audible
    tiny = render_track(genre, 0, seconds=0.01)
    assert len(tiny) == round(0.01 * SR) and float(np.abs(tiny).max()) > 0.5


def test_recipes_are_well_formed():
    for genre, r in RECIPES.items():
        lo, hi = r.tempo
        assert 40 <= lo < hi <= 220, genre
        for patterns in (r.kick, r.snare, r.hat, r.open_hat, r.ride, r.bass, r.comp, r.arp, r.lead):
            for p in patterns:
                assert p == "" or len(p) == STEPS, (genre, p)
        assert all(set(p) <= set("Xxo.") for p in r.kick + r.snare + r.hat + r.open_hat + r.ride), genre
        assert all(set(p) <= set("R3567OWA-.") for p in r.bass), genre
        timbres = r.comp_timbre + r.bass_timbre + r.arp_timbre + r.lead_timbre + (r.pad_timbre or "strings",)
        assert timbres and set(timbres) <= set(TIMBRES), genre
        assert r.lead_scale in SCALES
        assert all(kind in CHORDS for prog in r.progressions for _, kind in prog), genre
    # classical is the one genre played without drums
    assert [g for g, r in RECIPES.items() if not (r.kick or r.snare or r.hat or r.ride)] == ["classical"]


def _features(y: np.ndarray) -> np.ndarray:
    logmel = np.log(librosa.feature.melspectrogram(y=y, sr=SR, n_mels=32) + 1e-6)
    return np.concatenate([logmel.mean(axis=1), logmel.std(axis=1)])


@pytest.mark.slow  # renders and fits the whole set (18 s here): kept out of make test, run by CI
def test_classes_are_learnable_by_a_simple_classifier():
    per_genre = 8
    x = np.stack([_features(render_track(g, track_seed(0, g, i), seconds=4.0))
                  for g in GENRES for i in range(per_genre)])
    y = np.repeat(np.arange(len(GENRES)), per_genre)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    acc = cross_val_score(model, x, y, cv=StratifiedKFold(4, shuffle=True, random_state=0)).mean()
    # chance is 0.1; 0.70 when written (mean/std log-mel sees timbre and level, not rhythm)
    assert acc > 0.35, acc


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"genres": 1}, "--genres must be between 2 and 10, got 1"),
    ({"genres": 11}, "--genres must be between 2 and 10, got 11"),
    ({"genres": 2.5}, "--genres must be a whole number"),
    ({"tracks_per_genre": 0}, "--tracks-per-genre must be >= 1, got 0"),
    ({"seconds": 0}, "--seconds must be a number > 0, got 0"),
    ({"seconds": -3.0}, "--seconds must be a number > 0"),
    ({"seconds": float("nan")}, "--seconds must be a number > 0"),
    ({"seed": -1}, "--seed must be >= 0, got -1"),
    ({"sr": 100}, "--sample-rate must be between 8000 and 192000, got 100"),
])
def test_invalid_arguments_name_the_option(tmp_path, kwargs, message):
    with pytest.raises(UserError) as info:
        write_synthetic_dataset(tmp_path / "out", **kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()  # nothing is written when an argument is rejected


def test_unwritable_output_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="cannot write"):
        write_synthetic_dataset(blocker / "out", genres=2, tracks_per_genre=1, seconds=0.2)


def test_render_track_rejects_unknown_genre():
    with pytest.raises(UserError, match="unknown genre 'polka'; choose one of blues, classical"):
        render_track("polka", 0, seconds=1.0)
