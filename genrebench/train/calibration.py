"""Whether a model's confidence can be trusted: ECE, NLL and Brier of track probabilities, and temperature scaling.

Everything is at track level, on the probabilities the benchmark scores (the mean chunk softmax of a track), so a
calibration number describes the same predictions as the accuracy next to it.

Temperature scaling (Guo, Pleiss, Sun & Weinberger, "On calibration of modern neural networks", ICML 2017)
divides every chunk's logits by one T > 0 before the softmax: T > 1 softens an over-confident model, the argmax of
a chunk never changes. T is fitted on validation only, by minimising the track-level NLL.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import softmax

ECE_BINS = 15
# Where the search for T looks: 1/20 to 20 (log-uniform bounds), wide enough for any model trained here.
_LOG_T_BOUNDS = (-3.0, 3.0)
# Probabilities are clipped here before a log: a float32 softmax underflows to exactly 0.
_TINY = 1e-12


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """Predictions in `n_bins` equal-width bins of confidence over [0, 1]: the bin `edges`, and per bin its
    `count`, mean `confidence` and `accuracy` (NaN for an empty bin). A confidence on an inner edge belongs to the
    lower bin, 0 to the first and 1 to the last. One rule for the runs' ECE, their diagrams and the reports'."""
    conf = np.asarray(confidence, dtype=np.float64)
    hits = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(which, weights=hits, minlength=n_bins) / count
    return {"edges": edges, "count": count, "confidence": mean_conf, "accuracy": accuracy}


def binned_ece(bins: dict[str, np.ndarray]) -> float:
    """ECE (Naeini et al. 2015) of `reliability_bins` output: the gap |accuracy - confidence| of each bin,
    weighted by its share of the predictions (NaN when there are none)."""
    total = bins["count"].sum()
    if total == 0:
        return float("nan")
    used = bins["count"] > 0
    return float(np.sum(bins["count"][used] * np.abs(bins["accuracy"][used] - bins["confidence"][used])) / total)


def confidence_bins(probs: np.ndarray, true: np.ndarray, n_bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """`reliability_bins` of class probabilities: confidence is the largest probability, correct its argmax."""
    return reliability_bins(probs.max(axis=1), probs.argmax(axis=1) == true, n_bins)


def expected_calibration_error(probs: np.ndarray, true: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """ECE of class probabilities over `n_bins` bins; 0 for no tracks (nothing is miscalibrated)."""
    return binned_ece(confidence_bins(probs, true, n_bins)) if len(true) else 0.0


def negative_log_likelihood(probs: np.ndarray, true: np.ndarray) -> float:
    """Mean -ln p(true label); a probability of 0 counts as 1e-12 rather than infinity."""
    if len(true) == 0:
        return 0.0
    # + 0.0: a certain, right model would otherwise score -0.0.
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(true)), true], _TINY, None)))) + 0.0


def brier_score(probs: np.ndarray, true: np.ndarray) -> float:
    """Multi-class Brier score (Brier 1950): mean over tracks of the squared distance to the one-hot label."""
    if len(true) == 0:
        return 0.0
    onehot = np.eye(probs.shape[1])[true]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def calibration_scores(probs: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """`ece`, `nll` and `brier` of track probabilities, keyed as a split's metrics are."""
    return {"ece": expected_calibration_error(probs, true), "nll": negative_log_likelihood(probs, true),
            "brier": brier_score(probs, true)}


def scaled_chunk_probs(chunk_logits: np.ndarray, temperature: float) -> np.ndarray:
    """Chunk softmax at temperature T, in float64 (the logits divided by T)."""
    return softmax(chunk_logits.astype(np.float64) / temperature, axis=1)


def _track_nll(log_t: float, chunk_logits: np.ndarray, inverse: np.ndarray, counts: np.ndarray,
               true: np.ndarray) -> float:
    probs = scaled_chunk_probs(chunk_logits, float(np.exp(log_t)))
    sums = np.zeros((len(counts), probs.shape[1]))
    np.add.at(sums, inverse, probs)
    return negative_log_likelihood(sums / counts[:, None], true)


def fit_temperature(chunk_logits: np.ndarray, chunk_tracks: np.ndarray, track_labels: np.ndarray) -> float:
    """The T that minimises the track-level NLL of the mean chunk softmax (bounded 1/20..20), fitted on the chunks
    given (validation's, never test's). T = 1 is kept unless the search finds a lower NLL."""
    ids, inverse = np.unique(chunk_tracks, return_inverse=True)
    counts = np.bincount(inverse).astype(np.float64)
    true = track_labels[ids]
    found = minimize_scalar(_track_nll, bounds=_LOG_T_BOUNDS, method="bounded",
                            args=(chunk_logits, inverse, counts, true), options={"xatol": 1e-4})
    if not found.success or found.fun >= _track_nll(0.0, chunk_logits, inverse, counts, true):
        return 1.0
    return float(np.exp(found.x))
