"""musicnn: musically motivated filters, a residual 1-D mid-end and a mean+max pooled back-end.

Reference: J. Pons, O. Nieto, M. Prockup, E. M. Schmidt, A. F. Ehmann and X. Serra, "End-to-end learning for
music audio tagging at scale", ISMIR 2018 (and the `musicnn` library, Pons & Serra 2019). The front-end's
filter shapes encode musical priors: tall "timbral" filters (38% and 67% of the mel bands, 7 frames wide)
max-pooled over frequency, and long "temporal" filters (128, 64 and 32 frames) over the frequency-averaged
spectrogram. Sizes below are the paper's MTT model: 204 timbral and 51 temporal filters of each shape, a
mid-end of three 64-filter layers with residual connections, and a back-end of 200 units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from genrebench.models._layers import (
    GenreModel,
    build_with,
    mlp_head,
    positive_int,
    same_pad_1d,
)
from genrebench.models._registry import register_model

_OVERRIDABLE = frozenset({"hidden", "dropout", "in_channels", "timbral_filters", "temporal_filters",
                          "midend_filters"})
_QUICK = {"hidden": [16], "args": {"timbral_filters": 8, "temporal_filters": 4, "midend_filters": 8}}
# Timbral filter heights as fractions of the mel bands, and the width they share (frames).
_TIMBRAL_HEIGHTS = (0.4, 0.7)
_TIMBRAL_WIDTH = 7
# Temporal filter lengths (frames); the paper's 128/64/32 at its 16 kHz, hop-256 frames.
_TEMPORAL_WIDTHS = (128, 64, 32)
_MIDEND_LAYERS = 3


class _Timbral(nn.Module):
    """A tall filter over the mel bands, BatchNorm, ReLU, then max over what is left of frequency."""

    def __init__(self, in_ch: int, filters: int, height: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, filters, (height, _TIMBRAL_WIDTH), padding=(0, _TIMBRAL_WIDTH // 2))
        self.bn = nn.BatchNorm2d(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x))).amax(dim=2)


class _Temporal(nn.Module):
    """A long 1-D filter over time of the frequency-averaged input, BatchNorm, ReLU."""

    def __init__(self, in_ch: int, filters: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.conv = nn.Conv1d(in_ch, filters, width)
        self.bn = nn.BatchNorm1d(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(same_pad_1d(x, self.width))))


class _MidEnd(nn.Module):
    """1-D conv layers of width 7 (BatchNorm after ReLU, as in musicnn); every layer after the first adds its
    input back. Returns the front-end and every layer's output stacked along channels."""

    def __init__(self, in_ch: int, filters: int) -> None:
        super().__init__()
        widths = (in_ch, *([filters] * _MIDEND_LAYERS))
        self.convs = nn.ModuleList(nn.Conv1d(a, filters, 7, padding=3) for a in widths[:-1])
        self.bns = nn.ModuleList(nn.BatchNorm1d(filters) for _ in widths[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, h = [x], x
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            y = bn(torch.relu(conv(h)))
            h = y + h if i > 0 else y
            outputs.append(h)
        return torch.cat(outputs, dim=1)


class Musicnn(GenreModel):
    """Pons et al. (ISMIR 2018) musicnn.

    Args:
        n_mels: Mel bands of the input (timbral filter heights are fractions of it).
        timbral_filters: Filters of each timbral shape.
        temporal_filters: Filters of each temporal length.
        midend_filters: Filters of each mid-end layer.
        hidden: Dense layers of the back-end (BatchNorm, ReLU, dropout each).
        dropout: One rate per dense layer, or a single rate; the pooled features get the first rate too.
        in_channels: Input channels (1 for a mono mel-spectrogram).
        num_classes: Number of output logits.
    """

    def __init__(self, n_mels: int = 96, timbral_filters: int = 204, temporal_filters: int = 51,
                 midend_filters: int = 64, hidden: Sequence[int] = (200,), dropout: float | Sequence[float] = 0.5,
                 in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.n_mels = positive_int("n_mels", n_mels)
        timbral, temporal = positive_int("timbral_filters", timbral_filters), positive_int("temporal_filters",
                                                                                           temporal_filters)
        midend = positive_int("midend_filters", midend_filters)
        self.check_sizes(hidden, dropout, in_channels, num_classes)
        self.heights = tuple(max(1, int(f * self.n_mels)) for f in _TIMBRAL_HEIGHTS)
        self.input_bn = nn.BatchNorm2d(self.in_channels)
        self.timbral = nn.ModuleList(_Timbral(self.in_channels, timbral, h) for h in self.heights)
        self.temporal = nn.ModuleList(_Temporal(self.in_channels, temporal, w) for w in _TEMPORAL_WIDTHS)
        front = timbral * len(self.heights) + temporal * len(_TEMPORAL_WIDTHS)
        self.midend = _MidEnd(front, midend)
        self.num_features = 2 * (front + midend * _MIDEND_LAYERS)
        # musicnn's back-end: BatchNorm and dropout on the pooled features, then the dense layers.
        first = self.dropout[0] if self.dropout else 0.0
        self.head = nn.Sequential(nn.BatchNorm1d(self.num_features), nn.Dropout(first),
                                  mlp_head(self.num_features, self.hidden, self.dropout, self.num_classes,
                                           batch_norm=True))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] < max(self.heights):
            raise ValueError(f"model built for {self.n_mels} mel bands (filters {max(self.heights)} tall), "
                             f"got input {tuple(x.shape)}")
        x = self.input_bn(x)
        averaged = x.mean(dim=2)  # (B, C, T): the temporal filters see the spectrogram's energy over time
        front = torch.cat([f(x) for f in self.timbral] + [f(averaged) for f in self.temporal], dim=1)
        mid = self.midend(front)
        return torch.cat([mid.amax(dim=2), mid.mean(dim=2)], dim=1)


@register_model(quick=_QUICK)
def musicnn(num_classes: int = 10, n_mels: int = 96, **overrides: Any) -> Musicnn:
    """musicnn: timbral (tall) + temporal (long) front-end, residual 1-D mid-end, mean+max pool, dense 200.

    Pons, Nieto, Prockup, Schmidt, Ehmann & Serra 2018, "End-to-end learning for music audio tagging at scale".
    """
    return build_with(Musicnn, {"n_mels": n_mels}, _OVERRIDABLE, num_classes, overrides)
