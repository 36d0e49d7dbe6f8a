"""VGG-style CNNs over log-mel chunks, after Simonyan & Zisserman (2015).

Reference: K. Simonyan and A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015. Stacks of 3x3 convolutions followed by pooling, then an MLP head.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import nn

from genrebench.models._registry import register_model

# What a builder lets a config or search override; anything else is a typo and is refused.
_OVERRIDABLE = frozenset({"channels", "hidden", "dropout", "in_channels"})


def _positive_ints(name: str, values: Sequence[int], allow_empty: bool = False) -> tuple[int, ...]:
    """Validate a sequence of positive integers, naming the argument on failure."""
    items = tuple(values)
    if not items and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items):
        raise ValueError(f"{name} must contain positive integers, got {list(items)}")
    return items


def _dropouts(dropout: float | Sequence[float], n_hidden: int) -> tuple[float, ...]:
    """Expand a scalar dropout to every hidden layer and check one probability per layer."""
    rates = (float(dropout),) * n_hidden if isinstance(dropout, numbers.Real) else tuple(dropout)
    if len(rates) != n_hidden:
        raise ValueError(f"dropout needs one rate per hidden layer ({n_hidden}), got {list(rates)}")
    if not all(0.0 <= p < 1.0 for p in rates):
        raise ValueError(f"dropout rates must be in [0, 1), got {list(rates)}")
    return rates


def _conv_block(in_ch: int, out_ch: int) -> nn.Sequential:
    """Two 3x3 convs with ReLU, BatchNorm, then 2x2 max-pool (the seed's block)."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(out_ch),
        # ceil_mode keeps a 1-pixel map at 1 instead of 0, so tiny inputs survive deep stacks.
        nn.MaxPool2d(2, ceil_mode=True),
    )


def _mlp_head(in_features: int, hidden: Sequence[int], dropout: Sequence[float], num_classes: int) -> nn.Sequential:
    """Linear -> ReLU -> Dropout per hidden width, then the classifier Linear."""
    layers: list[nn.Module] = []
    for width, p in zip(hidden, dropout, strict=True):
        layers += [nn.Linear(in_features, width), nn.ReLU(inplace=True), nn.Dropout(p)]
        in_features = width
    layers.append(nn.Linear(in_features, num_classes))
    return nn.Sequential(*layers)


class GenreVGG(nn.Module):
    """VGG-style genre classifier (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for
    Large-Scale Image Recognition").

    Input ``(B, in_channels, n_mels, frames)``; one conv block per entry of ``channels``, global
    average pooling (so any chunk length works), then an MLP head.

    Args:
        channels: Output channels of each conv block (one block per entry).
        hidden: Widths of the head's hidden layers (may be empty for a linear head).
        dropout: One rate per hidden layer, or a single rate for all of them.
        in_channels: Input channels (1 for a mono mel-spectrogram).
        num_classes: Number of output logits.
    """

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 128, 256, 256),
        hidden: Sequence[int] = (512, 128),
        dropout: float | Sequence[float] = (0.4, 0.3),
        in_channels: int = 1,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        self.channels = _positive_ints("channels", channels)
        self.hidden = _positive_ints("hidden", hidden, allow_empty=True)
        self.dropout = _dropouts(dropout, len(self.hidden))
        (self.in_channels,) = _positive_ints("in_channels", (in_channels,))
        (self.num_classes,) = _positive_ints("num_classes", (num_classes,))
        self.num_features = self.channels[-1]

        widths = (self.in_channels, *self.channels)
        self.features = nn.Sequential(*(_conv_block(a, b) for a, b in pairwise(widths)))
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head = _mlp_head(self.num_features, self.hidden, self.dropout, self.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Return pooled trunk features ``(B, channels[-1])``."""
        if x.ndim != 4:
            # Conv2d would accept an unbatched 3-D tensor and the flatten would then mix up axes.
            raise ValueError(f"expected input (B, {self.in_channels}, n_mels, frames), got {tuple(x.shape)}")
        return torch.flatten(self.global_pool(self.features(x)), 1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Map pooled features ``(B, C)`` to logits ``(B, num_classes)``."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``(B, num_classes)`` for a batch of mel chunks."""
        return self.forward_head(self.forward_features(x))


def _build(defaults: dict[str, Any], num_classes: int, overrides: dict[str, Any]) -> GenreVGG:
    """Apply config overrides on top of a variant's defaults, refusing unknown keys."""
    unknown = sorted(set(overrides) - _OVERRIDABLE)
    if unknown:
        raise ValueError(f"unknown override(s) {unknown}; allowed: {sorted(_OVERRIDABLE)}")
    return GenreVGG(num_classes=num_classes, **{**defaults, **overrides})


@register_model
def vgg_baseline(num_classes: int = 10, **overrides: Any) -> GenreVGG:
    """Design-doc VGG: 5 blocks 32-64-128-256-256, head 256-512-128, dropout 0.4/0.3.

    Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition".
    """
    defaults = {"channels": (32, 64, 128, 256, 256), "hidden": (512, 128), "dropout": (0.4, 0.3)}
    return _build(defaults, num_classes, overrides)


@register_model
def vgg_seed(num_classes: int = 10, **overrides: Any) -> GenreVGG:
    """Seed notebook's trained VGG: 4 blocks 32-64-128-256, head 256-512-128, dropout 0.4/0.3.

    The seed defined a fifth block but never called it, so this is what its results came from.
    Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition".
    """
    defaults = {"channels": (32, 64, 128, 256), "hidden": (512, 128), "dropout": (0.4, 0.3)}
    return _build(defaults, num_classes, overrides)


@register_model
def vgg_small(num_classes: int = 10, **overrides: Any) -> GenreVGG:
    """Tiny VGG for smoke tests: 3 blocks 8-16-32, head 32-64, dropout 0.3.

    Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition".
    """
    defaults = {"channels": (8, 16, 32), "hidden": (64,), "dropout": 0.3}
    return _build(defaults, num_classes, overrides)
