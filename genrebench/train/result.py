"""What a finished `fit()` hands back: everything a tracker, a report or `predict` needs, no mlflow types."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class SplitEval:
    """Evaluation of one split with the model's best checkpoint.

    Track-level numbers average the softmax of a track's chunks (the seed's inference rule); chunk-level
    numbers score every chunk on its own and are always named `chunk_*`.
    """

    metrics: dict[str, float]            # loss, chunk_acc, chunk_macro_f1, track_acc, track_macro_f1
    track_ids: list[int]                 # indices into PreparedData.tracks, row order of the arrays below
    track_true: np.ndarray               # (n_tracks,) int label indices
    track_probs: np.ndarray              # (n_tracks, n_classes) mean chunk softmax
    confusion: np.ndarray                # (n_classes, n_classes) track-level counts, rows = true
    per_class: list[dict]                # {"label", "precision", "recall", "f1", "support"} (track level)
    chunk_confusion: np.ndarray | None = None
    # (n_tracks, n_features) mean penultimate features per track (`train.embeddings`); the test split only.
    embeddings: np.ndarray | None = None

    @property
    def track_pred(self) -> np.ndarray:
        return self.track_probs.argmax(axis=1)


@dataclass
class Result:
    """The outcome of one training run."""

    config: dict                         # the resolved ExperimentConfig as a plain dict
    labels: list[str]
    history: list[dict[str, float]]      # one dict per epoch: epoch, train_loss, train_chunk_acc, val_loss, ...
    best_epoch: int
    val: SplitEval
    test: SplitEval | None               # None when fit(evaluate_test=False), as in search
    final: dict[str, float]              # names of genrebench.metrics: test_track_acc, val_best_track_acc, ...
    model: torch.nn.Module               # holds the BEST checkpoint's weights
    bundle: dict                         # self-contained model bundle for predict (see genrebench.train.bundle)
    device: str
    wall_seconds: float
    extra: dict = field(default_factory=dict)
