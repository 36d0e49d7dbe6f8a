"""Metric values from predictions: chunk-level and track-level (mean softmax over a track's chunks).

The score functions live here (numpy, scikit-learn); what each logged name means, which way is better and
how it is shown lives in the registry `genrebench.metrics`. A split's values are keyed `<level>_<score>`
(`track_acc`, `chunk_macro_f1`), so `<split>_<key>` is the registry name; the track-level calibration scores
(`train.calibration`) are keyed `ece`, `nll` and `brier` (`test_ece`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from genrebench.train.calibration import calibration_scores
from genrebench.train.result import SplitEval


def _accuracy(true: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    return float(np.mean(true == pred)) if len(true) else 0.0


def _macro_f1(true: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    # sklearn is imported where used: it costs seconds, and a command that fails its checks never needs it
    from sklearn.metrics import f1_score

    # Over all classes, so a class the model never predicts counts as F1 = 0 rather than vanishing.
    return float(f1_score(true, pred, labels=list(range(n_classes)), average="macro", zero_division=0))


SCORES: dict[str, Callable[[np.ndarray, np.ndarray, int], float]] = {"acc": _accuracy, "macro_f1": _macro_f1}


def track_probabilities(chunk_probs: np.ndarray, chunk_tracks: np.ndarray,
                        track_labels: np.ndarray) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Mean chunk softmax per track: (track ids in first-seen order, true labels, probabilities)."""
    ids, inverse = np.unique(chunk_tracks, return_inverse=True)
    sums = np.zeros((len(ids), chunk_probs.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, chunk_probs)
    counts = np.bincount(inverse, minlength=len(ids))[:, None]
    return [int(i) for i in ids], track_labels[ids], (sums / counts).astype(np.float32)


def per_class_table(true: np.ndarray, pred: np.ndarray, labels: list[str]) -> list[dict]:
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(true, pred, labels=list(range(len(labels))), zero_division=0)
    return [{"label": lab, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)]


def split_eval(chunk_probs: np.ndarray, chunk_labels: np.ndarray, chunk_tracks: np.ndarray,
               track_labels: np.ndarray, labels: list[str], loss: float) -> SplitEval:
    """All metrics of one split from its chunk softmax outputs."""
    from sklearn.metrics import confusion_matrix

    n = len(labels)
    chunk_pred = chunk_probs.argmax(axis=1)
    ids, t_true, t_probs = track_probabilities(chunk_probs, chunk_tracks, track_labels)
    t_pred = t_probs.argmax(axis=1)
    metrics = {"loss": loss, **{f"chunk_{k}": fn(chunk_labels, chunk_pred, n) for k, fn in SCORES.items()},
               **{f"track_{k}": fn(t_true, t_pred, n) for k, fn in SCORES.items()},
               **calibration_scores(t_probs, t_true)}
    return SplitEval(metrics=metrics, track_ids=ids, track_true=t_true, track_probs=t_probs,
                     confusion=confusion_matrix(t_true, t_pred, labels=list(range(n))),
                     per_class=per_class_table(t_true, t_pred, labels),
                     chunk_confusion=confusion_matrix(chunk_labels, chunk_pred, labels=list(range(n))))
