"""Where the genres sit in a model's own feature space: the penultimate features of each test track.

"Penultimate" is the input of the model's last linear layer (the one that makes the logits): for a network with
an MLP head, its last hidden layer; for `mel_linear`, the standardised band statistics. A forward pre-hook reads
it during the test pass the run makes anyway, so no architecture needs an extra method and no chunk is run twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn


def last_linear(model: nn.Module) -> nn.Linear:
    """The layer that makes the logits: the last `nn.Linear` registered in the model (heads come last)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no linear layer to read penultimate features from")
    return linears[-1]


@contextmanager
def penultimate(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """While open, every forward pass of `model` appends the input of its last linear layer (detached, on CPU)
    to the yielded list."""
    captured: list[torch.Tensor] = []

    def keep(_module: nn.Module, args: tuple) -> None:
        captured.append(args[0].detach().float().cpu())

    handle = last_linear(model).register_forward_pre_hook(keep)
    try:
        yield captured
    finally:
        handle.remove()


def track_means(chunk_features: np.ndarray, chunk_tracks: np.ndarray) -> np.ndarray:
    """Mean feature vector per track, rows in sorted track order (as `track_probabilities` orders them)."""
    _, inverse = np.unique(chunk_tracks, return_inverse=True)
    sums = np.zeros((inverse.max() + 1, chunk_features.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, chunk_features)
    return (sums / np.bincount(inverse)[:, None]).astype(np.float32)
