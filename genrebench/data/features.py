"""Log-mel features computed once per track, chunk layout in frames, and the normalizer registry.

The mel is computed over the whole track and chunks are frame slices of it. Chunk starts are whole
multiples of the hop, so a slice equals the mel of the chunk's own samples except for the couple of
frames at each edge where librosa's centred STFT pads (tests/test_features.py states the tolerance).
Decibels use a fixed reference (1.0) rather than the seed's per-chunk maximum, so slicing is exact and
loudness survives for the `global` and `none` normalizers.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from genrebench.config import AudioConfig, FeatureConfig
from genrebench.errors import UserError

AMIN = 1e-10  # power floor: silence maps to -100 dB instead of -inf
DB_FLOOR = float(10.0 * np.log10(AMIN))
_EPS = 1e-6


def mel_db(y: np.ndarray, sample_rate: int, feat: FeatureConfig) -> np.ndarray:
    """Mel power spectrogram in dB (ref 1.0, no top_db clipping), float32, shape (n_mels, frames)."""
    import librosa

    power = librosa.feature.melspectrogram(
        y=y, sr=sample_rate, n_fft=feat.n_fft, hop_length=feat.hop_length, n_mels=feat.n_mels,
        fmin=feat.fmin, fmax=feat.fmax, power=2.0,
    )
    return librosa.power_to_db(power, ref=1.0, amin=AMIN, top_db=None).astype(np.float32)


@dataclass(frozen=True)
class ChunkLayout:
    """Where chunks sit, in frames: `frames` per chunk, a new chunk every `stride` frames."""

    frames: int
    stride: int
    chunk_samples: int
    hop: int

    def starts(self, n_samples: int, min_samples: int) -> list[int]:
        """Start frames of the full windows that fit in `n_samples`; one padded window for a short clip."""
        if n_samples < min_samples:
            return []
        if n_samples < self.chunk_samples:
            return [0]
        return [i * self.stride for i in range(1 + (n_samples - self.chunk_samples) // (self.stride * self.hop))]


def chunk_layout(feat: FeatureConfig, sample_rate: int) -> ChunkLayout:
    """Frames per chunk as librosa counts them for one chunk's samples (1 + samples // hop, centred)."""
    chunk_samples = int(round(feat.chunk_seconds * sample_rate))
    frames = 1 + chunk_samples // feat.hop_length
    stride_samples = chunk_samples * (1.0 - feat.overlap)
    stride = max(1, int(round(stride_samples / feat.hop_length)))
    return ChunkLayout(frames=frames, stride=stride, chunk_samples=chunk_samples, hop=feat.hop_length)


def min_samples(audio: AudioConfig, feat: FeatureConfig) -> int:
    """Shortest usable clip: `min_seconds`, but never more than one window."""
    return int(round(min(audio.min_seconds, feat.chunk_seconds) * audio.sample_rate))


def slice_chunk(mel: np.ndarray, start: int, frames: int) -> np.ndarray:
    """Frames [start, start+frames) of a track's mel; a short clip is padded with the silence floor."""
    chunk = np.asarray(mel[:, start:start + frames], dtype=np.float32)
    if chunk.shape[1] < frames:
        pad = np.full((chunk.shape[0], frames - chunk.shape[1]), DB_FLOOR, dtype=np.float32)
        chunk = np.concatenate([chunk, pad], axis=1)
    return chunk


# ---- normalizers -------------------------------------------------------------------------------

class Normalizer:
    """Maps a chunk (n_mels, frames) in dB to the network's input scale; `fit` sees training chunks only."""

    name = "none"

    def fit(self, chunks: Iterable[np.ndarray]) -> Normalizer:
        return self

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        return chunk

    def batch(self, chunks: np.ndarray) -> np.ndarray:
        """Chunks (batch, n_mels, frames) normalized each as `__call__` would, with the same values bit for bit.
        Normalizers whose statistics broadcast over a batch (or that have none) take the batch whole."""
        return self(chunks)

    def state(self) -> dict:
        """JSON-able statistics, so a logged model normalizes new audio exactly as in training."""
        return {"name": self.name}

    def load_state(self, state: dict) -> None:
        """Restore what `state()` wrote; stateless normalizers have nothing to restore."""


_NORMALIZERS: dict[str, Callable[[], Normalizer]] = {}


def register_normalizer(cls: type[Normalizer]) -> type[Normalizer]:
    """Class decorator: make a normalizer selectable by its `name` from configs."""
    if cls.name in _NORMALIZERS:
        raise ValueError(f"normalizer {cls.name!r} is already registered")
    _NORMALIZERS[cls.name] = cls
    return cls


def list_normalizers() -> list[str]:
    return sorted(_NORMALIZERS)


def create_normalizer(name: str, state: dict | None = None) -> Normalizer:
    """A normalizer by registered name, optionally restored from `state()`; unknown names list close matches."""
    if name not in _NORMALIZERS:
        close = difflib.get_close_matches(name, list(_NORMALIZERS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"unknown normalization {name!r}{hint} (choose from {', '.join(list_normalizers())})")
    norm = _NORMALIZERS[name]()
    if state:
        norm.load_state(state)
    return norm


register_normalizer(Normalizer)


@register_normalizer
class PerChunk(Normalizer):
    """z-score each chunk on its own (the seed's choice); a constant chunk becomes zeros, never NaN."""

    name = "per_chunk"

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        std = float(chunk.std())
        return ((chunk - chunk.mean()) / max(std, _EPS)).astype(np.float32)

    def batch(self, chunks: np.ndarray) -> np.ndarray:
        # One row per chunk: numpy reduces each contiguous row as it reduces a whole chunk (the same pairwise
        # sums), so the statistics, and the values, equal `__call__`'s; a quarter faster than chunk by chunk.
        rows = np.ascontiguousarray(chunks, dtype=np.float32).reshape(len(chunks), -1)
        mean, std = rows.mean(axis=1), np.maximum(rows.std(axis=1), np.float32(_EPS))
        return (chunks - mean[:, None, None]) / std[:, None, None]


class _Running:
    """Streaming per-row sums so statistics of a large training split never need it all in memory."""

    def __init__(self) -> None:
        self.n = 0
        self.s: np.ndarray | float = 0.0
        self.ss: np.ndarray | float = 0.0

    def add(self, x: np.ndarray) -> None:
        x64 = x.astype(np.float64)
        self.n += x.shape[1]
        self.s = self.s + x64.sum(axis=1)
        self.ss = self.ss + np.square(x64).sum(axis=1)

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n == 0:
            raise UserError("cannot fit normalization statistics: the training split has no chunks")
        mean = np.asarray(self.s) / self.n
        var = np.maximum(np.asarray(self.ss) / self.n - np.square(mean), 0.0)
        return mean, np.sqrt(var)


@register_normalizer
class PerBand(Normalizer):
    """z-score each mel band with the mean/std of that band over the training split."""

    name = "per_band"

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, chunks: Iterable[np.ndarray]) -> PerBand:
        acc = _Running()
        for chunk in chunks:
            acc.add(chunk)
        mean, std = acc.mean_std()
        self.mean, self.std = mean.astype(np.float32), np.maximum(std, _EPS).astype(np.float32)
        return self

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        if self.mean is None or self.std is None:
            raise RuntimeError("per_band normalizer used before fit()")
        return ((chunk - self.mean[:, None]) / self.std[:, None]).astype(np.float32, copy=False)

    def state(self) -> dict:
        return {"name": self.name, "mean": self.mean.tolist(), "std": self.std.tolist()}

    def load_state(self, state: dict) -> None:
        self.mean = np.asarray(state["mean"], dtype=np.float32)
        self.std = np.asarray(state["std"], dtype=np.float32)


@register_normalizer
class Global(Normalizer):
    """z-score with one mean/std over every value of the training split."""

    name = "global"

    def __init__(self) -> None:
        self.mean: float | None = None
        self.std: float | None = None

    def fit(self, chunks: Iterable[np.ndarray]) -> Global:
        acc = _Running()
        for chunk in chunks:
            acc.add(chunk.reshape(1, -1))
        mean, std = acc.mean_std()
        self.mean, self.std = float(mean[0]), max(float(std[0]), _EPS)
        return self

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        if self.mean is None or self.std is None:
            raise RuntimeError("global normalizer used before fit()")
        return ((chunk - self.mean) / self.std).astype(np.float32, copy=False)

    def state(self) -> dict:
        return {"name": self.name, "mean": self.mean, "std": self.std}

    def load_state(self, state: dict) -> None:
        self.mean, self.std = float(state["mean"]), float(state["std"])


@register_normalizer
class Standard(Normalizer):
    """Each row (mel band or embedding dimension) standardised over the training split by scikit-learn's
    `StandardScaler`: per_band's statistics, but a row that is constant in training is centred and left unscaled,
    as scikit-learn does, instead of divided by a tiny std. Embeddings have such rows (a random CNN's dead channel
    is 0 on every training chunk and 0.3 on one test chunk, which per_band would turn into 300,000)."""

    name = "standard"

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, chunks: Iterable[np.ndarray]) -> Standard:
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler()
        seen = False
        for chunk in chunks:
            scaler.partial_fit(np.asarray(chunk, dtype=np.float64).T)  # samples are the chunk's columns
            seen = True
        if not seen:
            raise UserError("cannot fit normalization statistics: the training split has no chunks")
        self.mean, self.scale = scaler.mean_.astype(np.float32), scaler.scale_.astype(np.float32)
        return self

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        if self.mean is None or self.scale is None:
            raise RuntimeError("standard normalizer used before fit()")
        return ((chunk - self.mean[:, None]) / self.scale[:, None]).astype(np.float32, copy=False)

    def state(self) -> dict:
        return {"name": self.name, "mean": self.mean.tolist(), "scale": self.scale.tolist()}

    def load_state(self, state: dict) -> None:
        self.mean = np.asarray(state["mean"], dtype=np.float32)
        self.scale = np.asarray(state["scale"], dtype=np.float32)
