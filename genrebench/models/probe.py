"""Probes: the small classifiers that the HEAR and MARBLE benchmarks train on a frozen model's embeddings.

A probe reads one vector per chunk (an embedding front-end's output, `features.frontend`), shaped as a
one-column chunk ``(B, 1, dim, 1)``; it averages any columns it is given, so it also runs on mel chunks (then
it is a linear model of each band's mean). HEAR's protocol (Turian et al., "HEAR: Holistic Evaluation of Audio
Representations", PMLR 2022) trains an MLP of 0 to 2 hidden layers of 1024 units with dropout 0.1 and picks
its settings on validation; `experiments/probe.yaml` runs that grid through `select:`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from genrebench.models._layers import GenreModel, build_with, mlp_head, positive_int
from genrebench.models._registry import register_model

_OVERRIDABLE = frozenset({"hidden", "dropout", "in_channels", "n_mels"})


class Probe(GenreModel):
    """Mean over the chunk's columns, then an MLP (no hidden layer: a linear classifier).

    Args:
        n_mels: Rows of the input: the embedding's length (or mel bands).
        hidden: Widths of hidden layers; empty for a linear probe.
        dropout: One rate per hidden layer, or a single rate for all of them.
        in_channels: Input channels (1).
        num_classes: Number of output logits.
    """

    def __init__(self, n_mels: int = 512, hidden: Sequence[int] = (), dropout: float | Sequence[float] = 0.0,
                 in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.n_mels = positive_int("n_mels", n_mels)
        self.check_sizes(hidden, dropout, in_channels, num_classes)
        self.num_features = self.in_channels * self.n_mels
        self.head = mlp_head(self.num_features, self.hidden, self.dropout, self.num_classes)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] != self.n_mels:
            raise ValueError(f"probe built for inputs of {self.n_mels} rows, got input {tuple(x.shape)}")
        return torch.flatten(x.mean(dim=3), 1)


@register_model(vectors=True)
def linear_probe(num_classes: int = 10, n_mels: int = 512, **overrides: Any) -> Probe:
    """One linear layer on the chunk's vector: the linear probe of HEAR, MARBLE and JukeMIR.

    Turian et al. 2022, "HEAR: Holistic Evaluation of Audio Representations" (frozen embeddings, trained probe).
    """
    return build_with(Probe, {"n_mels": n_mels, "hidden": ()}, _OVERRIDABLE, num_classes, overrides)


@register_model(quick={"hidden": [64]}, vectors=True)
def mlp_probe(num_classes: int = 10, n_mels: int = 512, **overrides: Any) -> Probe:
    """MLP 1024, dropout 0.1 on the chunk's vector: HEAR's probe (0-2 hidden layers chosen on validation).

    Turian et al. 2022, "HEAR: Holistic Evaluation of Audio Representations" (frozen embeddings, trained probe).
    """
    return build_with(Probe, {"n_mels": n_mels, "hidden": (1024,), "dropout": 0.1}, _OVERRIDABLE, num_classes,
                      overrides)
