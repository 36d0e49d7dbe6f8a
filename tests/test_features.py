import librosa
import numpy as np
import pytest
from conftest import SR, tone

from genrebench.config import AudioConfig, FeatureConfig
from genrebench.data.features import (
    DB_FLOOR,
    chunk_layout,
    create_normalizer,
    list_normalizers,
    mel_db,
    min_samples,
    slice_chunk,
)
from genrebench.errors import UserError


def test_seed_layout_gives_431_frames_and_five_chunks_per_30s_track():
    lay = chunk_layout(FeatureConfig(), SR)
    assert lay.frames == 431  # the seed's (1, 128, 431) input
    starts = lay.starts(30 * SR, min_samples(AudioConfig(), FeatureConfig()))
    assert len(starts) == 5 and starts[1] - starts[0] == lay.stride == 215


def test_sliced_track_mel_matches_per_chunk_librosa():
    """Tolerance: frames more than n_fft/(2*hop) from a chunk edge match to 1e-3 dB; the few edge frames,
    where librosa's centred STFT pads the chunk on its own, differ."""
    feat = FeatureConfig(chunk_seconds=2.0, overlap=0.5, n_mels=64)
    rng = np.random.default_rng(0)
    y = (tone(7.0, 220.0) + 0.1 * rng.standard_normal(7 * SR)).astype(np.float32)
    lay = chunk_layout(feat, SR)
    full = mel_db(y, SR, feat)
    edge = feat.n_fft // (2 * feat.hop_length)
    starts = lay.starts(len(y), 0)
    assert len(starts) == 6
    for start in starts:
        s0 = start * feat.hop_length
        ref = librosa.power_to_db(librosa.feature.melspectrogram(
            y=y[s0:s0 + lay.chunk_samples], sr=SR, n_fft=feat.n_fft, hop_length=feat.hop_length, n_mels=64),
            ref=1.0, amin=1e-10, top_db=None)
        got = slice_chunk(full, start, lay.frames)
        assert got.shape == ref.shape == (64, lay.frames)
        np.testing.assert_allclose(got[:, edge:-edge], ref[:, edge:-edge], atol=1e-3)


def test_short_clip_is_padded_to_one_window_and_too_short_gives_no_chunk():
    feat = FeatureConfig(chunk_seconds=4.0)
    lay = chunk_layout(feat, SR)
    shortest = min_samples(AudioConfig(min_seconds=2.0), feat)
    assert lay.starts(3 * SR, shortest) == [0]
    assert lay.starts(1 * SR, shortest) == []
    mel = mel_db(tone(3.0, 300), SR, feat)
    chunk = slice_chunk(mel, 0, lay.frames)
    assert chunk.shape[1] == lay.frames
    assert np.all(chunk[:, mel.shape[1]:] == DB_FLOOR)


def test_silence_maps_to_floor_and_no_normalizer_makes_nan():
    silent = mel_db(np.zeros(2 * SR, dtype=np.float32), SR, FeatureConfig(n_mels=32))
    assert np.all(silent == pytest.approx(DB_FLOOR))
    for name in list_normalizers():
        norm = create_normalizer(name).fit([silent, silent])
        assert np.isfinite(norm(silent)).all(), name


def test_per_chunk_zscores_each_chunk():
    x = np.random.default_rng(1).normal(-30, 7, size=(16, 50)).astype(np.float32)
    z = create_normalizer("per_chunk")(x)
    assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-4


def test_per_band_and_global_use_the_fitted_statistics_only():
    rng = np.random.default_rng(2)
    train = [rng.normal(np.arange(8)[:, None] * 10, 2.0, size=(8, 100)).astype(np.float32) for _ in range(5)]
    band = create_normalizer("per_band").fit(train)
    stacked = np.concatenate(train, axis=1)
    np.testing.assert_allclose(band.mean, stacked.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(band.std, stacked.std(axis=1), rtol=1e-4)
    other = np.full((8, 10), 100.0, dtype=np.float32)  # unseen data must not move the statistics
    out = band(other)
    np.testing.assert_allclose(out[:, 0], (100 - band.mean) / band.std, rtol=1e-5)
    glob = create_normalizer("global").fit(train)
    allv = np.concatenate([t.ravel() for t in train])
    assert glob.mean == pytest.approx(allv.mean(), rel=1e-5) and glob.std == pytest.approx(allv.std(), rel=1e-4)
    restored = create_normalizer("per_band", band.state())
    np.testing.assert_array_equal(restored(other), out)
    assert create_normalizer("none")(other) is other


def test_unknown_normalizer_lists_close_matches():
    with pytest.raises(UserError, match="did you mean per_band"):
        create_normalizer("per_bnd")
