"""What every model family shares: the model contract, argument checks, and the classifier head.

A genre model maps mel chunks ``(B, in_channels, n_mels, frames)`` to logits ``(B, num_classes)`` and splits
into ``forward_features`` (a pooled ``(B, num_features)`` vector; what embedding maps and probes read) and
``forward_head``. The families differ only in their trunk.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def positive_ints(name: str, values: Sequence[int], allow_empty: bool = False) -> tuple[int, ...]:
    """Validate a sequence of positive integers, naming the argument on failure."""
    items = tuple(values)
    if not items and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items):
        raise ValueError(f"{name} must contain positive integers, got {list(items)}")
    return items


def positive_int(name: str, value: int) -> int:
    """One positive integer, named on failure."""
    return positive_ints(name, (value,))[0]


def dropouts(dropout: float | Sequence[float], n_layers: int) -> tuple[float, ...]:
    """Expand a scalar dropout to every layer and check one probability per layer."""
    rates = (float(dropout),) * n_layers if isinstance(dropout, numbers.Real) else tuple(dropout)
    if len(rates) != n_layers:
        raise ValueError(f"dropout needs one rate per hidden layer ({n_layers}), got {list(rates)}")
    if not all(0.0 <= p < 1.0 for p in rates):
        raise ValueError(f"dropout rates must be in [0, 1), got {list(rates)}")
    return rates


def build_with(cls: type[nn.Module], defaults: dict[str, Any], allowed: frozenset[str], num_classes: int,
               overrides: dict[str, Any]) -> nn.Module:
    """A family's model with config overrides on top of a variant's defaults, refusing keys the family does
    not have (a typo in `model.args` would otherwise be silently ignored)."""
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown}; allowed: {sorted(allowed)}")
    return cls(num_classes=num_classes, **{**defaults, **overrides})


def mlp_head(in_features: int, hidden: Sequence[int], dropout: Sequence[float], num_classes: int,
             batch_norm: bool = False) -> nn.Sequential:
    """Linear (-> BatchNorm) -> ReLU -> Dropout per hidden width, then the classifier Linear."""
    layers: list[nn.Module] = []
    for width, p in zip(hidden, dropout, strict=True):
        layers += [nn.Linear(in_features, width), *([nn.BatchNorm1d(width)] if batch_norm else []),
                   nn.ReLU(inplace=True), nn.Dropout(p)]
        in_features = width
    layers.append(nn.Linear(in_features, num_classes))
    return nn.Sequential(*layers)


def pad_to(x: torch.Tensor, min_freq: int, min_time: int) -> torch.Tensor:
    """Zero-pad a chunk batch up to a minimum size (a filter taller or a patch longer than the input)."""
    freq, time = max(0, min_freq - x.shape[2]), max(0, min_time - x.shape[3])
    return F.pad(x, (0, time, 0, freq)) if freq or time else x


def same_pad_1d(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Pad the last axis so a stride-1 convolution of width `kernel` keeps its length, even widths included
    (`padding="same"` warns on every call for those)."""
    left = (kernel - 1) // 2
    return F.pad(x, (left, kernel - 1 - left))


class GenreModel(nn.Module, ABC):
    """The model contract: ``forward = forward_head(forward_features(x))`` with a checked 4-D input.

    Subclasses set ``in_channels``, ``num_classes``, ``num_features``, build ``head``, and implement ``trunk``.
    """

    in_channels: int
    num_classes: int
    num_features: int
    head: nn.Module

    def check_sizes(self, hidden: Sequence[int], dropout: float | Sequence[float], in_channels: int,
                    num_classes: int) -> None:
        """Validate and keep the arguments every family with a dense head shares (``hidden`` may be empty)."""
        self.hidden = positive_ints("hidden", hidden, allow_empty=True)
        self.dropout = dropouts(dropout, len(self.hidden))
        self.in_channels = positive_int("in_channels", in_channels)
        self.num_classes = positive_int("num_classes", num_classes)

    @abstractmethod
    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features ``(B, num_features)`` of a checked input."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Return pooled trunk features ``(B, num_features)``."""
        if x.ndim != 4:
            # Convolutions accept an unbatched 3-D tensor and a later flatten would then mix up axes.
            raise ValueError(f"expected input (B, {self.in_channels}, n_mels, frames), got {tuple(x.shape)}")
        return self.trunk(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Map pooled features ``(B, num_features)`` to logits ``(B, num_classes)``."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``(B, num_classes)`` for a batch of mel chunks."""
        return self.forward_head(self.forward_features(x))
