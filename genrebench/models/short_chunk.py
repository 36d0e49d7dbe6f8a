"""Short-chunk CNNs of Won et al. (2020): seven 3x3 convolution layers over ~3.7 s mel chunks.

Reference: M. Won, A. Ferraro, D. Bogdanov and X. Serra, "Evaluation of CNN-based automatic music tagging
models", SMC 2020. Their comparison found these plain models (and the residual variant) as good as or better
than the more elaborate designs on short chunks; genre is one of the tags they cover. As in the paper: batch
normalisation of the input, seven layers (128-128-256-256-256-256-512 channels) each halving both axes, a
global max pool, a dense layer of 512 with batch norm and dropout 0.5, then the classifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import nn

from genrebench.models._layers import GenreModel, build_with, mlp_head, positive_ints
from genrebench.models._registry import register_model

_OVERRIDABLE = frozenset({"channels", "hidden", "dropout", "in_channels"})
_QUICK = {"channels": [8, 16, 32], "hidden": [32]}
_PAPER = {"channels": (128, 128, 256, 256, 256, 256, 512), "hidden": (512,), "dropout": 0.5}


def _plain_layer(in_ch: int, out_ch: int) -> nn.Sequential:
    """3x3 conv -> BatchNorm -> ReLU -> 2x2 max-pool (ceil mode, so a 1-pixel map survives)."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True),
                         nn.MaxPool2d(2, ceil_mode=True))


class _ResidualLayer(nn.Module):
    """Two 3x3 convs, the first with stride 2, plus a strided 3x3 projection shortcut (Won et al.'s Res_2d)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1), nn.BatchNorm2d(out_ch),
                                  nn.ReLU(inplace=True), nn.Conv2d(out_ch, out_ch, 3, padding=1),
                                  nn.BatchNorm2d(out_ch))
        # Every layer halves the map, so the identity never fits: the shortcut is always a projection.
        self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1), nn.BatchNorm2d(out_ch))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ShortChunkCNN(GenreModel):
    """Won et al. (SMC 2020) short-chunk CNN, plain or residual.

    Args:
        channels: Output channels per layer; each layer halves frequency and time.
        hidden: Widths of the dense layers before the classifier (each with BatchNorm, ReLU, dropout).
        dropout: One rate per dense layer, or a single rate for all of them.
        residual: Residual layers (Short-chunk ResNet) instead of conv + max-pool.
        in_channels: Input channels (1 for a mono mel-spectrogram).
        num_classes: Number of output logits.
    """

    def __init__(self, channels: Sequence[int] = _PAPER["channels"], hidden: Sequence[int] = _PAPER["hidden"],
                 dropout: float | Sequence[float] = 0.5, residual: bool = False, in_channels: int = 1,
                 num_classes: int = 10) -> None:
        super().__init__()
        self.channels = positive_ints("channels", channels)
        self.check_sizes(hidden, dropout, in_channels, num_classes)
        self.num_features = self.channels[-1]
        layer = _ResidualLayer if residual else _plain_layer
        self.input_bn = nn.BatchNorm2d(self.in_channels)
        self.features = nn.Sequential(*(layer(a, b) for a, b in pairwise((self.in_channels, *self.channels))))
        self.head = mlp_head(self.num_features, self.hidden, self.dropout, self.num_classes, batch_norm=True)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        # Global max over what is left of frequency and time: any mel count and chunk length.
        return torch.amax(self.features(self.input_bn(x)), dim=(2, 3))


@register_model(quick=_QUICK)
def short_chunk_cnn(num_classes: int = 10, **overrides: Any) -> ShortChunkCNN:
    """Short-chunk CNN: 7 layers of 3x3 conv + max-pool (128..512 ch), global max, dense 512, dropout 0.5.

    Won, Ferraro, Bogdanov & Serra 2020, "Evaluation of CNN-based automatic music tagging models" (SMC).
    """
    return build_with(ShortChunkCNN, {**_PAPER, "residual": False}, _OVERRIDABLE, num_classes, overrides)


@register_model(quick=_QUICK)
def short_chunk_resnet(num_classes: int = 10, **overrides: Any) -> ShortChunkCNN:
    """Short-chunk ResNet: 7 residual layers of two 3x3 convs (stride 2), global max, dense 512, dropout 0.5.

    Won, Ferraro, Bogdanov & Serra 2020, "Evaluation of CNN-based automatic music tagging models" (SMC).
    """
    return build_with(ShortChunkCNN, {**_PAPER, "residual": True}, _OVERRIDABLE, num_classes, overrides)
