"""Augmentation of training batches (the `augment` section): random crops, gains, mixup and SpecAugment.

Only the training loader and step see it; validation and test never do. Two places draw:

- per chunk, `ChunkSampler` in the main process: the epoch's order (the very order a plain shuffle draws from
  the train loader's generator), then each chunk's start (`random_crop`) and gain (`gain_db`), which the
  dataset applies to the dB values before normalization;
- per batch, the transforms of `BATCH_TRANSFORMS` on the training device (mixup, then SpecAugment's masks).

Every augmentation draw comes from one CPU generator, `Augmentation.generator`, which the loop keeps as
`generators["augment"]`: a checkpoint saves it with the others, so on CPU a resumed run equals an uninterrupted
one bit for bit. With everything off `build_augmentation` returns None and the loop runs exactly as without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch
from torch.utils.data import RandomSampler, Sampler

from genrebench.config import AugmentConfig, ExperimentConfig, SpecAugmentConfig
from genrebench.data.dataset import ChunkDataset, ChunkItem

# Uniform integers below a bound drawn as (a 62-bit integer) mod bound: exact enough (bias < 1e-12 for any
# track length), and one vectorised draw for bounds that differ per chunk, which torch.randint cannot take.
_WIDE = 2**62


@dataclass(frozen=True)
class Batch:
    """A training batch on the device, as the transforms pass it along."""

    x: torch.Tensor  # (batch, 1, n_mels, frames)
    target: torch.Tensor  # class indices (batch,), or probabilities (batch, classes) once mixed
    label: torch.Tensor  # what train accuracy counts as right: the class, or the dominant class of a mix


Transform = Callable[[Batch, torch.Generator], Batch]


def _below(bounds: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One uniform integer in [0, bound) per element of `bounds` (int64, CPU)."""
    return torch.randint(0, _WIDE, bounds.shape, generator=gen) % bounds


def _to(drawn: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A few values drawn on the CPU, on the device. non_blocking: a blocking copy to CUDA waits for every step
    already queued, and the loop would lose its overlap of CPU and GPU (the values are staged at once anyway)."""
    return drawn.to(device, non_blocking=True)


# ---- per chunk: the sampler ------------------------------------------------------------------------------

class ChunkSampler(Sampler[ChunkItem]):
    """A plain shuffle's order over the fixed training chunks, each with a start and a gain drawn anew every
    epoch: the epoch still holds one item per fixed chunk, and each keeps its track (and label)."""

    def __init__(self, dataset: ChunkDataset, order: torch.Generator, draws: torch.Generator,
                 random_crop: bool, gain_db: float) -> None:
        # The same sampler a DataLoader builds for shuffle=True, on the same generator: the order of batches
        # does not depend on what is augmented.
        self.shuffle = RandomSampler(range(len(dataset)), generator=order)
        self.fixed = torch.from_numpy(dataset.index[:, 1].copy())
        self.last = torch.from_numpy(dataset.last_starts()) if random_crop else None
        self.draws, self.gain_db = draws, gain_db

    def __len__(self) -> int:
        return len(self.fixed)

    def __iter__(self) -> Iterator[ChunkItem]:
        # The whole epoch is drawn here, when the loader starts it and before any batch transform draws from
        # the same generator, so the sequence of draws never depends on worker prefetching.
        order = torch.tensor(list(self.shuffle), dtype=torch.long)
        starts = self.fixed[order] if self.last is None else _below(self.last[order] + 1, self.draws)
        gains = torch.zeros(len(order), dtype=torch.float64)
        if self.gain_db:
            gains = (torch.rand(len(order), generator=self.draws, dtype=torch.float64) * 2 - 1) * self.gain_db
        return map(ChunkItem, order.tolist(), starts.tolist(), gains.tolist())


# ---- per batch: the transforms --------------------------------------------------------------------------

def beta_draws(alpha: float, n: int, gen: torch.Generator) -> torch.Tensor:
    """`n` draws of Beta(alpha, alpha) from `gen`, by the inverse CDF (torch's Beta cannot take a generator)."""
    from scipy.special import betaincinv

    u = torch.rand(n, generator=gen, dtype=torch.float64).numpy()
    return torch.from_numpy(betaincinv(alpha, alpha, u).astype(np.float32))


def mixup(batch: Batch, gen: torch.Generator, alpha: float, classes: int) -> Batch:
    """Mixup (Zhang et al., ICLR 2018): each chunk mixed with a permuted partner of the batch, and so its target.

    One weight per chunk rather than per batch: every step sees the whole Beta distribution of mixes, not one
    strength shared by its chunks, at the same cost. The weight is the chunk's own share, so the dominant
    label (accuracy's) is its own at >= 0.5 and the partner's below.
    """
    partner = _to(torch.randperm(len(batch.label), generator=gen), batch.x.device)
    lam = _to(beta_draws(alpha, len(batch.label), gen), batch.x.device)
    target = batch.target
    probs = torch.nn.functional.one_hot(target, classes).float() if target.dtype == torch.long else target
    # index_select rather than x[partner]: the same rows, several times faster on CPU.
    x = torch.lerp(batch.x.index_select(0, partner), batch.x, lam.view(-1, 1, 1, 1))
    mixed = torch.lerp(probs.index_select(0, partner), probs, lam.view(-1, 1))
    return Batch(x, mixed, torch.where(lam >= 0.5, batch.label, batch.label.index_select(0, partner)))


def band_mask(n: int, size: int, count: int, width: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n, size) bool: per row, `count` bands of a width uniform in [0, width] at a uniform position (Park et al.:
    the band [t0, t0 + w) with t0 uniform in [0, size - w]). Built by comparing positions with the drawn bounds."""
    widths = torch.randint(0, min(width, size) + 1, (n, count), generator=gen)
    starts = _below(size - widths + 1, gen)
    bounds = _to(torch.stack([starts, starts + widths]), device)
    pos = torch.arange(size, device=device)
    return ((pos >= bounds[0, ..., None]) & (pos < bounds[1, ..., None])).any(dim=1)


def spec_masks(batch: Batch, gen: torch.Generator, spec: SpecAugmentConfig) -> Batch:
    """SpecAugment's time and frequency masks (Park et al., Interspeech 2019), drawn per chunk.

    Masked values become the chunk's mean. Under the per-chunk z-score (the default) that is 0, the paper's own
    fill for normalized input; under per_band, global and none it is a level the chunk has, where 0 may lie far
    from it (under `none`, 0 dB is a loud band).
    """
    x = batch.x
    n, _, mels, frames = x.shape
    masked = torch.zeros((n, 1, mels, frames), dtype=torch.bool, device=x.device)
    if spec.freq_masks and spec.freq_width:
        masked = masked | band_mask(n, mels, spec.freq_masks, spec.freq_width, gen, x.device)[:, None, :, None]
    if spec.time_masks and spec.time_width:
        masked = masked | band_mask(n, frames, spec.time_masks, spec.time_width, gen, x.device)[:, None, None, :]
    return replace(batch, x=torch.where(masked, x.mean(dim=(1, 2, 3), keepdim=True), x))


def _mixup_from(cfg: AugmentConfig, classes: int) -> Transform | None:
    return partial(mixup, alpha=cfg.mixup_alpha, classes=classes) if cfg.mixup_alpha > 0 else None


def _masks_from(cfg: AugmentConfig, classes: int) -> Transform | None:
    s = cfg.specaugment
    on = (s.time_masks and s.time_width) or (s.freq_masks and s.freq_width)
    return partial(spec_masks, spec=s) if on else None


# The batch transforms in the order they run, each built from the config (None: off). Mixup first, so the
# masks cover the mixture as they would a clip recorded that way.
BATCH_TRANSFORMS: tuple[Callable[[AugmentConfig, int], Transform | None], ...] = (_mixup_from, _masks_from)


class BatchAugment:
    """The configured batch transforms and the generator they draw from: `(x, y) -> (x, target, label)`."""

    def __init__(self, transforms: list[Transform], gen: torch.Generator) -> None:
        self.transforms, self.gen = transforms, gen

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch = Batch(x, y, y)
        for transform in self.transforms:
            batch = transform(batch, self.gen)
        return batch.x, batch.target, batch.label


# ---- set-up ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Augmentation:
    """What the loop adds when something is augmented: the generator, the training sampler, the batch step."""

    generator: torch.Generator
    sampler: ChunkSampler | None
    batch: BatchAugment | None


def augment_seed(seed: int) -> int:
    """The augmentation generator's seed: derived from `train.seed`, yet a stream apart from the loaders'."""
    return int(np.random.SeedSequence([seed, 0xA06]).generate_state(1)[0])


def _batch_transforms(a: AugmentConfig, classes: int) -> list[Transform]:
    return [t for t in (build(a, classes) for build in BATCH_TRANSFORMS) if t is not None]


def augments(a: AugmentConfig) -> bool:
    """Whether `a` turns anything on; when not, `build_augmentation` adds nothing to the loop (a mask width with
    no masks, say, is off)."""
    return bool(a.random_crop or a.gain_db or _batch_transforms(a, classes=2))


def build_augmentation(cfg: ExperimentConfig, train: ChunkDataset, order: torch.Generator,
                       classes: int) -> Augmentation | None:
    """The training set's augmentation from `cfg.augment`, drawing the order from `order` (the train loader's
    generator); None when nothing is augmented, so the loop does no extra work at all."""
    a = cfg.augment
    if not augments(a):
        return None
    transforms = _batch_transforms(a, classes)
    gen = torch.Generator().manual_seed(augment_seed(cfg.train.seed))
    sampler = ChunkSampler(train, order, gen, a.random_crop, a.gain_db) if a.random_crop or a.gain_db else None
    return Augmentation(gen, sampler, BatchAugment(transforms, gen) if transforms else None)
