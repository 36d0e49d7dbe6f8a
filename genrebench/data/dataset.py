"""A torch Dataset over cached chunks: slices memory-mapped track mels on demand, never copies them all."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from genrebench.data.features import Normalizer, create_normalizer, slice_chunk
from genrebench.data.prepare import PreparedData

# Open memmaps kept per process: each holds a file descriptor, and GTZAN-size sets would exhaust them.
_MAX_OPEN = 256


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

    def raw_chunk(self, i: int) -> np.ndarray:
        """Chunk `i` in dB, before normalization."""
        track, start = self.index[i]
        return slice_chunk(self._mel(int(track)), int(start), self.frames)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        track = int(self.index[i][0])
        x = self.normalizer(self.raw_chunk(i))
        return torch.from_numpy(x).unsqueeze(0), int(self.track_labels[track]), track

    def __getstate__(self) -> dict:
        # Memmaps are reopened in each DataLoader worker rather than pickled across processes.
        return {**self.__dict__, "_open": OrderedDict()}


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
