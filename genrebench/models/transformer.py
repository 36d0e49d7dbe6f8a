"""A small Audio Spectrogram Transformer, trained from scratch.

Reference: Y. Gong, Y.-A. Chung and J. Glass, "AST: Audio Spectrogram Transformer", Interspeech 2021. As in
AST: 16x16 patches cut with stride 10 (so neighbours overlap by 6), a linear patch embedding, a [CLS] token,
learned positional embeddings, pre-norm transformer layers, and the [CLS] output classified. Unlike AST it is
small (width 192, 4 layers, 3 heads: DeiT-Tiny's width) and starts from random weights, since no weights can
be downloaded and a base-size transformer does not train from scratch on a genre dataset's size.

Positional embeddings are kept separately for the frequency and the time axis and interpolated to the grid
of the input, so any mel count and chunk length is accepted. Attention is written as matrix products rather
than a fused kernel so that torch's FlopCounterMode counts its cost.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genrebench.models._layers import GenreModel, build_with, dropouts, pad_to, positive_int
from genrebench.models._registry import register_model

_OVERRIDABLE = frozenset({"dropout", "in_channels", "dim", "depth", "heads", "mlp_ratio", "patch", "stride",
                          "ref_frames"})
_QUICK = {"args": {"dim": 32, "depth": 1, "heads": 2}}


class _Attention(nn.Module):
    """Multi-head self-attention as explicit matrix products (counted by FlopCounterMode)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = self.drop(torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1))
        return self.drop(self.proj((weights @ v).transpose(1, 2).reshape(b, n, d)))


class _Block(nn.Module):
    """Pre-norm transformer layer: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = _Attention(dim, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(mlp_ratio * dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class SpecTransformer(GenreModel):
    """AST-style transformer (Gong, Chung & Glass, Interspeech 2021) over overlapping mel patches.

    Args:
        n_mels: Mel bands the frequency embedding is learned for (others are interpolated).
        patch: Patch side (frequency and time).
        stride: Patch stride on both axes (< patch: overlapping patches).
        dim: Token width.
        depth: Transformer layers.
        heads: Attention heads (must divide `dim`).
        mlp_ratio: Hidden width of each layer's MLP, as a multiple of `dim`.
        dropout: Dropout in attention and MLPs.
        ref_frames: Chunk length (frames) the time embedding is learned for (others are interpolated).
        in_channels: Input channels (1 for a mono mel-spectrogram).
        num_classes: Number of output logits.
    """

    def __init__(self, n_mels: int = 128, patch: int = 16, stride: int = 10, dim: int = 192, depth: int = 4,
                 heads: int = 3, mlp_ratio: int = 4, dropout: float = 0.1, ref_frames: int = 431,
                 in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.patch, self.stride = positive_int("patch", patch), positive_int("stride", stride)
        dim, depth, heads = positive_int("dim", dim), positive_int("depth", depth), positive_int("heads", heads)
        if dim % heads:
            raise ValueError(f"heads ({heads}) must divide dim ({dim})")
        (self.dropout,) = dropouts(dropout, 1)
        self.in_channels = positive_int("in_channels", in_channels)
        self.num_classes = positive_int("num_classes", num_classes)
        self.num_features = dim
        self.embed = nn.Conv2d(self.in_channels, dim, self.patch, stride=self.stride)
        grid = [self._patches(positive_int(name, size)) for name, size in (("n_mels", n_mels),
                                                                             ("ref_frames", ref_frames))]
        self.freq_pos = nn.Parameter(torch.zeros(1, dim, grid[0]))
        self.time_pos = nn.Parameter(torch.zeros(1, dim, grid[1]))
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        for p in (self.freq_pos, self.time_pos, self.cls):
            nn.init.trunc_normal_(p, std=0.02)
        self.blocks = nn.Sequential(*(_Block(dim, heads, positive_int("mlp_ratio", mlp_ratio), self.dropout)
                                      for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, self.num_classes)

    def _patches(self, size: int) -> int:
        """Patches along an axis of `size` bins (a shorter axis is padded to one patch)."""
        return (max(size, self.patch) - self.patch) // self.stride + 1

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(pad_to(x, self.patch, self.patch))  # (B, dim, F', T')
        freq = F.interpolate(self.freq_pos, size=tokens.shape[2], mode="linear", align_corners=False)
        time = F.interpolate(self.time_pos, size=tokens.shape[3], mode="linear", align_corners=False)
        tokens = tokens + freq.unsqueeze(3) + time.unsqueeze(2)
        tokens = torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens.flatten(2).transpose(1, 2)], dim=1)
        return self.norm(self.blocks(tokens))[:, 0]


@register_model(quick=_QUICK)
def spec_transformer(num_classes: int = 10, n_mels: int = 128, **overrides: Any) -> SpecTransformer:
    """AST-style transformer: 16x16 patches, stride 10, width 192, 4 layers, 3 heads, from scratch.

    Gong, Chung & Glass 2021, "AST: Audio Spectrogram Transformer" (Interspeech).
    """
    return build_with(SpecTransformer, {"n_mels": n_mels}, _OVERRIDABLE, num_classes, overrides)
