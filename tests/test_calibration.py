"""Calibration: ECE, NLL and Brier against hand computations and scikit-learn, temperature scaling against a brute-force
search, and a run that calibrates, stores its temperature and predicts with it."""

import numpy as np
import pytest
from conftest import make_folder
from scipy.special import softmax
from sklearn.metrics import brier_score_loss, log_loss

from genrebench.data import prepare_data
from genrebench.loader import load_experiment
from genrebench.predict import predict_file
from genrebench.train import fit
from genrebench.train.bundle import model_from_bundle
from genrebench.train.calibration import (
    binned_ece,
    brier_score,
    confidence_bins,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)

# Five tracks, three classes. Confidences 0.90 and 0.88 share the bin [13/15, 14/15); 0.82, 0.42 and 0.52 have a
# bin each. Right, wrong, right, wrong, wrong.
PROBS = np.array([[0.90, 0.05, 0.05], [0.82, 0.10, 0.08], [0.42, 0.33, 0.25], [0.20, 0.52, 0.28],
                  [0.88, 0.06, 0.06]])
TRUE = np.array([0, 1, 0, 2, 1])


def test_ece_is_the_count_weighted_gap_per_bin_by_hand():
    # bin 13: accuracy 1/2, confidence 0.89, two tracks; the others one track each with accuracy 0 or 1.
    by_hand = (2 * abs(0.5 - 0.89) + abs(0 - 0.82) + abs(1 - 0.42) + abs(0 - 0.52)) / 5
    assert expected_calibration_error(PROBS, TRUE) == pytest.approx(by_hand)  # 0.54
    b = confidence_bins(PROBS, TRUE)
    assert b["count"].sum() == 5 and b["count"][13] == 2 and b["accuracy"][13] == 0.5
    assert np.isnan(b["accuracy"][0])  # an empty bin has no accuracy, and weighs nothing in the ECE


def test_reliability_bins_by_hand():
    # 15 bins of width 1/15: 0.05 -> bin 0; 0.2 = 3/15 sits on an edge and goes to the lower bin 2; 0.21 -> 3;
    # 0.5 (7.5/15) -> 7; 0.55 (8.25/15) -> 8; 0.95 and 1.0 -> 14, the last bin holding 1 itself.
    confidence = [0.05, 0.2, 0.21, 0.5, 0.55, 0.95, 1.0]
    correct = [True, False, True, True, False, True, True]
    bins = reliability_bins(confidence, correct)
    count = np.zeros(15)
    count[[0, 2, 3, 7, 8, 14]] = [1, 1, 1, 1, 1, 2]
    assert bins["count"].tolist() == count.tolist()
    used = count > 0
    assert bins["accuracy"][used].tolist() == [1, 0, 1, 1, 0, 1]
    assert bins["confidence"][used] == pytest.approx([0.05, 0.2, 0.21, 0.5, 0.55, 0.975])
    assert np.isnan(bins["accuracy"][~used]).all() and bins["edges"] == pytest.approx(np.arange(16) / 15)
    # ECE: the tracks' share times |accuracy - confidence|, bin by bin
    gaps = 0.95 + 0.2 + 0.79 + 0.5 + 0.55 + 2 * 0.025
    assert binned_ece(bins) == pytest.approx(gaps / 7)
    assert np.isnan(binned_ece(reliability_bins([], [])))


def test_nll_and_brier_equal_scikit_learn():
    assert negative_log_likelihood(PROBS, TRUE) == pytest.approx(log_loss(TRUE, PROBS, labels=[0, 1, 2]))
    assert brier_score(PROBS, TRUE) == pytest.approx(brier_score_loss(TRUE, PROBS, labels=[0, 1, 2]))
    # A perfect, certain model scores 0 on all three.
    certain = np.eye(3)[TRUE]
    assert (expected_calibration_error(certain, TRUE), brier_score(certain, TRUE)) == (0.0, 0.0)
    assert negative_log_likelihood(certain, TRUE) == pytest.approx(0.0, abs=1e-9)


def _overconfident(seed: int, scale: float, tracks: int = 300, chunks: int = 3, classes: int = 4):
    """Chunk logits of a model whose honest logits are `true_logits`, multiplied by `scale` (> 1: over-confident)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(classes, size=tracks)
    honest = rng.normal(0, 1.0, size=(tracks * chunks, classes))
    honest[np.arange(tracks * chunks), np.repeat(labels, chunks)] += 1.2
    return scale * honest, np.repeat(np.arange(tracks), chunks), labels


def _track_nll(logits, chunk_tracks, labels, t):
    """The track NLL at temperature t, from scratch: mean chunk softmax per track, then scikit-learn's log loss."""
    probs = softmax(logits / t, axis=1)
    tracks = np.stack([probs[chunk_tracks == i].mean(axis=0) for i in range(len(labels))])
    return log_loss(labels, tracks, labels=list(range(probs.shape[1])))


def test_temperature_finds_the_grid_minimum_of_validation_nll_on_an_overconfident_model():
    # Logits x 10: averaging a track's chunks tempers some of it; at track level the best T is about 2.7.
    logits, chunk_tracks, labels = _overconfident(0, scale=10.0)
    t = fit_temperature(logits, chunk_tracks, labels)
    grid = np.exp(np.linspace(np.log(0.05), np.log(20), 801))
    nll = [_track_nll(logits, chunk_tracks, labels, g) for g in grid]
    assert t > 2  # it softens the over-confident model
    assert abs(np.log(t) - np.log(grid[int(np.argmin(nll))])) < 0.02
    before, after = _track_nll(logits, chunk_tracks, labels, 1.0), _track_nll(logits, chunk_tracks, labels, t)
    assert after < 0.9 * before  # values: 0.777 -> 0.684, a clear drop, not a rounding one
    # An under-confident model (logits shrunk) is sharpened instead.
    small, chunk_tracks, labels = _overconfident(1, scale=0.3)
    assert fit_temperature(small, chunk_tracks, labels) < 1


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("calib") / "data", labels=("low", "mid", "high"), per_label=8,
                       seconds=4.0)


def test_a_calibrated_run_logs_before_and_after_and_predict_uses_its_temperature(tones):
    cfg = load_experiment("baseline", quick=True, epochs=6, sets=[
        f"data.source={tones}", "data.workers=1", "features.chunk_seconds=1", "train.lr=0.01",
        "train.batch_size=8", "train.calibrate=temperature"])[0].config
    res = fit(cfg, prepare_data(cfg.data, cfg.features, progress=False), progress=False)
    f = res.final
    t = f["temperature"]
    assert t > 0 and t != 1.0 and res.bundle["temperature"] == t
    assert f["val_nll"] <= f["val_nll_uncalibrated"] + 1e-12  # fitted to lower exactly this
    assert {"val_ece", "test_ece", "test_nll", "test_brier", "val_ece_uncalibrated", "test_ece_uncalibrated"} <= set(f)
    # The test scores are those of the calibrated probabilities the split evaluation holds.
    assert f["test_ece"] == pytest.approx(expected_calibration_error(res.test.track_probs, res.test.track_true))

    # predict divides the logits by the bundle's temperature: compared with the same model at T = 1, its chunk
    # probabilities are softmax(log p / T) (a softmax ignores the constant log p differs from the logits by).
    # T = 8 here, so the difference shows even where these easy tones leave the model certain.
    wav = next(tones.rglob("*.wav"))
    model = model_from_bundle(res.bundle)
    plain = predict_file({**res.bundle, "temperature": 1.0}, model, wav)
    scaled = predict_file({**res.bundle, "temperature": 8.0}, model, wav)
    p1 = np.array([[c["probabilities"][lab] for lab in res.labels] for c in plain["chunks"]])
    expected = softmax(np.log(np.clip(p1, 1e-300, None)) / 8.0, axis=1).mean(axis=0)
    got = np.array([scaled["probabilities"][lab] for lab in res.labels])
    assert got == pytest.approx(expected, abs=1e-4) and not np.allclose(got, p1.mean(axis=0), atol=1e-3)


def test_an_uncalibrated_run_scores_calibration_and_keeps_temperature_one(tones):
    cfg = load_experiment("baseline", quick=True, epochs=1, sets=[
        f"data.source={tones}", "data.workers=1", "features.chunk_seconds=1"])[0].config
    res = fit(cfg, prepare_data(cfg.data, cfg.features, progress=False), progress=False)
    assert "temperature" not in res.final and res.bundle["temperature"] == 1.0
    assert 0 <= res.final["test_ece"] <= 1 and res.final["test_brier"] <= 2
    assert res.final["test_nll"] == pytest.approx(negative_log_likelihood(res.test.track_probs, res.test.track_true))
