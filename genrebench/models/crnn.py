"""CRNN: convolution blocks summarise local spectro-temporal shape, a GRU summarises their sequence over time.

Reference: K. Choi, G. Fazekas, M. Sandler and K. Cho, "Convolutional recurrent neural networks for music
classification", ICASSP 2017. As in the paper: input batch normalisation, four blocks of 3x3 conv (64-128-
128-128 channels), batch norm, ELU, max-pooling (2x2, 3x3, 4x4, 4x4) and dropout 0.1, which leave one
frequency bin for the paper's 96 mel bands; two stacked GRUs of 32 units read the remaining time steps and
the last hidden state, after dropout 0.3, is classified.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import nn

from genrebench.models._layers import GenreModel, build_with, dropouts, positive_int, positive_ints
from genrebench.models._registry import register_model

_OVERRIDABLE = frozenset({"channels", "hidden", "dropout", "in_channels", "pools"})
_QUICK = {"channels": [8, 16, 16, 16], "hidden": [8, 8]}
_PAPER = {"channels": (64, 128, 128, 128), "pools": (2, 3, 4, 4), "hidden": (32, 32), "dropout": 0.3}
_CONV_DROPOUT = 0.1


def _conv_block(in_ch: int, out_ch: int, pool: int) -> nn.Sequential:
    """3x3 conv -> BatchNorm -> ELU -> pool x pool max-pool (ceil mode: short chunks keep one step) -> dropout."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ELU(inplace=True),
                         nn.MaxPool2d(pool, ceil_mode=True), nn.Dropout(_CONV_DROPOUT))


class CRNN(GenreModel):
    """Choi et al. (ICASSP 2017) convolutional recurrent network.

    Args:
        channels: Output channels of each conv block.
        pools: Max-pool size of each block (one per entry of `channels`).
        hidden: Units of each stacked GRU layer.
        dropout: Dropout before the classifier.
        in_channels: Input channels (1 for a mono mel-spectrogram).
        num_classes: Number of output logits.
    """

    def __init__(self, channels: Sequence[int] = _PAPER["channels"], pools: Sequence[int] = _PAPER["pools"],
                 hidden: Sequence[int] = _PAPER["hidden"], dropout: float = 0.3, in_channels: int = 1,
                 num_classes: int = 10) -> None:
        super().__init__()
        self.channels = positive_ints("channels", channels)
        self.pools = positive_ints("pools", pools)
        if len(self.pools) != len(self.channels):
            raise ValueError(f"pools needs one size per conv block ({len(self.channels)}), got {list(self.pools)}")
        self.hidden = positive_ints("hidden", hidden)
        (self.dropout,) = dropouts(dropout, 1)
        self.in_channels = positive_int("in_channels", in_channels)
        self.num_classes = positive_int("num_classes", num_classes)
        self.num_features = self.hidden[-1]
        self.input_bn = nn.BatchNorm2d(self.in_channels)
        widths = (self.in_channels, *self.channels)
        self.features = nn.Sequential(*(_conv_block(a, b, p) for (a, b), p in zip(pairwise(widths), self.pools,
                                                                                  strict=True)))
        # One nn.GRU per layer: stacked layers may differ in width, which nn.GRU(num_layers=...) cannot.
        self.grus = nn.ModuleList(nn.GRU(a, b, batch_first=True) for a, b in pairwise((self.channels[-1],
                                                                                          *self.hidden)))
        self.head = nn.Sequential(nn.Dropout(self.dropout), nn.Linear(self.num_features, self.num_classes))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.features(self.input_bn(x))
        # Max over the frequency bins left (one for 96 mels, a few for more), then time steps as a sequence.
        sequence = maps.amax(dim=2).transpose(1, 2)  # (B, T', C)
        for gru in self.grus:
            # An explicit zero state sized by shape[0] keeps the batch symbolic under torch.export: the implicit one
            # (or len()) is specialised to the example's batch, and the logged MLflow model would take no other.
            sequence, _ = gru(sequence, sequence.new_zeros(1, sequence.shape[0], gru.hidden_size))
        return sequence[:, -1]


@register_model(quick=_QUICK)
def crnn(num_classes: int = 10, **overrides: Any) -> CRNN:
    """CRNN: 4 conv blocks (64-128-128-128, pools 2/3/4/4) then 2 GRUs of 32 units over time, dropout 0.3.

    Choi, Fazekas, Sandler & Cho 2017, "Convolutional recurrent neural networks for music classification".
    """
    return build_with(CRNN, dict(_PAPER), _OVERRIDABLE, num_classes, overrides)
