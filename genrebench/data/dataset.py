"""A torch Dataset over cached chunks: slices memory-mapped track mels on demand, never copies them all."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from genrebench.data.features import DB_FLOOR, Normalizer, create_normalizer, slice_chunk
from genrebench.data.prepare import PreparedData

# Open memmaps kept per process: each holds a file descriptor, and GTZAN-size sets would exhaust them.
_MAX_OPEN = 256


class ChunkItem(NamedTuple):
    """A training chunk as an augmenting sampler asks for it (`genrebench.train.augment`): fixed chunk `index`
    (its track and label), the `start` frame drawn for it this epoch, and a gain in dB."""

    index: int
    start: int
    gain_db: float = 0.0


class ChunkBatch(NamedTuple):
    """A batch as `ChunkDataset.__getitems__` builds it: what `default_collate` would make of its items."""

    x: torch.Tensor  # (batch, 1, n_mels, frames) float32
    labels: torch.Tensor  # (batch,) int64
    tracks: torch.Tensor  # (batch,) int64


class ChunkDataset(Dataset):
    """Chunks of one split as (1 x n_mels x frames float32 tensor, label index, track index)."""

    def __init__(self, prepared: PreparedData, split: str, normalizer: Normalizer) -> None:
        self.prepared = prepared
        self.split = split
        self.normalizer = normalizer
        self.index = prepared.chunk_index(split)
        self.frames = prepared.layout.frames
        self.track_labels = np.asarray([prepared.label_index(t) for t in prepared.tracks], dtype=np.int64)
        self._open: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.index)

    def _mel(self, track: int) -> np.ndarray:
        mel = self._open.pop(track, None)
        if mel is None:
            mel = self.prepared.entries[track].load(mmap=True)
            if len(self._open) >= _MAX_OPEN:
                self._open.popitem(last=False)
        self._open[track] = mel
        return mel

    def last_starts(self) -> np.ndarray:
        """The last valid start frame of each chunk's track: 0 for a track shorter than a chunk, which
        `slice_chunk` pads as it pads that track's one fixed window."""
        n_frames = np.asarray([e.n_frames for e in self.prepared.entries], dtype=np.int64)
        return np.maximum(n_frames[self.index[:, 0]] - self.frames, 0)

    def raw_chunk(self, i: int) -> np.ndarray:
        """Chunk `i` in dB, before normalization."""
        track, start = self.index[i]
        return slice_chunk(self._mel(int(track)), int(start), self.frames)

    def __getitem__(self, item: int | ChunkItem) -> tuple[torch.Tensor, int, int]:
        """Chunk `item` as fixed, or a `ChunkItem`: its chunk's track at the drawn start, with the drawn gain."""
        x, track = self._normalized(item)
        return torch.from_numpy(x).unsqueeze(0), int(self.track_labels[track]), track

    def __getitems__(self, items: list[int | ChunkItem]) -> ChunkBatch:
        """A whole batch at once (the DataLoader calls this instead of `__getitem__` per item, and `collate` passes
        it on): the same values as stacking `__getitem__`'s items, bit for bit, normalized as one array. For the
        small models a training step is shorter than preparing its batch, so this is what their loop waits for."""
        raw, tracks = zip(*(self._raw(item) for item in items), strict=True)
        x = self.normalizer.batch(np.stack(raw))
        tracks = np.asarray(tracks, dtype=np.int64)
        return ChunkBatch(torch.from_numpy(x).unsqueeze(1), torch.from_numpy(self.track_labels[tracks]),
                          torch.from_numpy(tracks))

    def _raw(self, item: int | ChunkItem) -> tuple[np.ndarray, int]:
        """The chunk in dB before normalization (at a `ChunkItem`'s start, with its gain) and its track index."""
        if isinstance(item, ChunkItem):
            return self._augmented(item)
        return self.raw_chunk(item), int(self.index[item][0])

    def _normalized(self, item: int | ChunkItem) -> tuple[np.ndarray, int]:
        """The normalized chunk (n_mels, frames) and its track index."""
        raw, track = self._raw(item)
        return self.normalizer(raw), track

    def _augmented(self, item: ChunkItem) -> tuple[np.ndarray, int]:
        track = int(self.index[item.index][0])
        raw = slice_chunk(self._mel(track), item.start, self.frames)
        if item.gain_db:
            raw = with_gain(raw, item.gain_db)
        return raw, track

    def __getstate__(self) -> dict:
        # Memmaps are reopened in each DataLoader worker rather than pickled across processes.
        return {**self.__dict__, "_open": OrderedDict()}


def with_gain(chunk: np.ndarray, gain_db: float) -> np.ndarray:
    """A chunk in dB as if its audio were `gain_db` louder (negative: quieter), for the normalizer to see as
    such: `global` and `per_band` pass it on scaled by their std, a per-chunk z-score removes it. Values at the
    silence floor stay there (digital silence, and the padding of a short clip, is silent at any gain); the rest
    is clipped at the floor as `mel_db` clips."""
    louder = np.maximum(chunk + np.float32(gain_db), np.float32(DB_FLOOR))
    return np.where(chunk > DB_FLOOR, louder, chunk)


def collate(batch: ChunkBatch | list) -> ChunkBatch | list:
    """The loaders' collate function: a `ChunkBatch` is already collated; anything else (a dataset without
    `__getitems__`) goes through torch's default."""
    return batch if isinstance(batch, ChunkBatch) else default_collate(batch)


def iter_raw_chunks(dataset: ChunkDataset) -> Iterator[np.ndarray]:
    """Every chunk of a dataset in dB, one at a time (for fitting normalizers without loading the split)."""
    for i in range(len(dataset)):
        yield dataset.raw_chunk(i)


def build_datasets(prepared: PreparedData, normalization: str) -> dict:
    """Train/val/test datasets sharing one normalizer fitted on the training split only."""
    normalizer = create_normalizer(normalization)
    train = ChunkDataset(prepared, "train", normalizer)
    normalizer.fit(iter_raw_chunks(train))
    return {"train": train, "val": ChunkDataset(prepared, "val", normalizer),
            "test": ChunkDataset(prepared, "test", normalizer), "normalizer": normalizer}
