"""VGG-style CNNs over log-mel chunks, after Simonyan & Zisserman (2015).

Reference: K. Simonyan and A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015. Stacks of 3x3 convolutions followed by pooling, then an MLP head.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import nn

from genrebench.models._layers import GenreModel, build_with, mlp_head, positive_ints
from genrebench.models._registry import register_model

# What a builder lets a config or search override; anything else is a typo and is refused.
_OVERRIDABLE = frozenset({"channels", "hidden", "dropout", "in_channels"})
# `--quick`: three thin blocks and a small head.
_QUICK = {"channels": [8, 16, 32], "hidden": [32, 16]}


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


class GenreVGG(GenreModel):
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
        self.channels = positive_ints("channels", channels)
        self.check_sizes(hidden, dropout, in_channels, num_classes)
        self.num_features = self.channels[-1]

        widths = (self.in_channels, *self.channels)
        self.features = nn.Sequential(*(_conv_block(a, b) for a, b in pairwise(widths)))
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head = mlp_head(self.num_features, self.hidden, self.dropout, self.num_classes)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.global_pool(self.features(x)), 1)


def _build(defaults: dict[str, Any], num_classes: int, overrides: dict[str, Any]) -> GenreVGG:
    """Apply config overrides on top of a variant's defaults, refusing unknown keys."""
    return build_with(GenreVGG, defaults, _OVERRIDABLE, num_classes, overrides)


@register_model(quick=_QUICK)
def vgg_baseline(num_classes: int = 10, **overrides: Any) -> GenreVGG:
    """Design-doc VGG: 5 blocks 32-64-128-256-256, head 256-512-128, dropout 0.4/0.3.

    Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition".
    """
    defaults = {"channels": (32, 64, 128, 256, 256), "hidden": (512, 128), "dropout": (0.4, 0.3)}
    return _build(defaults, num_classes, overrides)


@register_model(quick=_QUICK)
def vgg_seed(num_classes: int = 10, **overrides: Any) -> GenreVGG:
    """Seed notebook's trained VGG: 4 blocks 32-64-128-256, head 256-512-128, dropout 0.4/0.3.

    The seed defined a fifth block but never called it, so this is what its results came from.
    Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition".
    """
    defaults = {"channels": (32, 64, 128, 256), "hidden": (512, 128), "dropout": (0.4, 0.3)}
    return _build(defaults, num_classes, overrides)


@register_model(quick=_QUICK)
def vgg_small(num_classes: int = 10, **overrides: Any) -> GenreVGG:
    """Tiny VGG for smoke tests: 3 blocks 8-16-32, head 32-64, dropout 0.3.

    Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition".
    """
    defaults = {"channels": (8, 16, 32), "hidden": (64,), "dropout": 0.3}
    return _build(defaults, num_classes, overrides)
