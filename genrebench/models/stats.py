"""The non-deep floor: per-band statistics of the log-mel over time, then a linear or small MLP classifier.

A benchmark needs a floor to say how much the deep models add. Summarising each mel band by its mean and
standard deviation over the chunk and fitting a multinomial logistic regression is the classic genre
baseline (the "bag of frames" of Tzanetakis & Cook, "Musical genre classification of audio signals", IEEE
TSAP 2002, and Aucouturier & Pachet, "Music similarity measures: what's the use?", ISMIR 2002). Here it is
trained by the same `fit()` as every network, so the comparison differs only in the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from genrebench.models._layers import GenreModel, build_with, mlp_head, positive_int
from genrebench.models._registry import register_model

_OVERRIDABLE = frozenset({"hidden", "dropout", "in_channels", "n_mels"})


class MelStats(GenreModel):
    """Mean and standard deviation of every mel band over time, standardised, then an (optional) MLP.

    The statistics pass through a BatchNorm without learned scale or shift: a per-feature standardisation
    (running statistics at evaluation), so with no hidden layer the model stays a linear classifier.

    Args:
        n_mels: Mel bands of the input (the classifier's input size depends on it).
        hidden: Widths of hidden layers; empty for multinomial logistic regression.
        dropout: One rate per hidden layer, or a single rate for all of them.
        in_channels: Input channels (1 for a mono mel-spectrogram).
        num_classes: Number of output logits.
    """

    def __init__(self, n_mels: int = 128, hidden: Sequence[int] = (), dropout: float | Sequence[float] = 0.0,
                 in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.n_mels = positive_int("n_mels", n_mels)
        self.check_sizes(hidden, dropout, in_channels, num_classes)
        self.num_features = 2 * self.in_channels * self.n_mels
        self.standardize = nn.BatchNorm1d(self.num_features, affine=False)
        self.head = mlp_head(self.num_features, self.hidden, self.dropout, self.num_classes)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] != self.n_mels:
            raise ValueError(f"model built for {self.n_mels} mel bands, got input {tuple(x.shape)}")
        # Population std (correction 0): a one-frame chunk gives 0, not NaN.
        stats = torch.cat([x.mean(dim=3), x.std(dim=3, correction=0)], dim=1)
        return self.standardize(torch.flatten(stats, 1))


@register_model
def mel_linear(num_classes: int = 10, n_mels: int = 128, **overrides: Any) -> MelStats:
    """Per-band mean and std of the log-mel -> one linear layer: the non-deep floor (logistic regression).

    Tzanetakis & Cook 2002, "Musical genre classification of audio signals" (frame statistics as features).
    """
    return build_with(MelStats, {"n_mels": n_mels, "hidden": ()}, _OVERRIDABLE, num_classes, overrides)


@register_model(quick={"hidden": [32]})
def mel_mlp(num_classes: int = 10, n_mels: int = 128, **overrides: Any) -> MelStats:
    """Per-band mean and std of the log-mel -> MLP 256, dropout 0.3: the floor with one hidden layer.

    Tzanetakis & Cook 2002, "Musical genre classification of audio signals" (frame statistics as features).
    """
    return build_with(MelStats, {"n_mels": n_mels, "hidden": (256,), "dropout": 0.3}, _OVERRIDABLE, num_classes,
                      overrides)
