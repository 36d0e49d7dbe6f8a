"""A tiny module implementing the HEAR 2021 common API, for tests: no download, no training.

Its "model" is a fixed random projection (seeded) of each frame's log-magnitude spectrum at 16 kHz, so it is
deterministic, discriminates spectra (the synthetic genres differ there) and runs at another rate than the
data's 22050 Hz, which exercises the adapter's resampling. `load_model(path)` reads the seed from a file.
"""

from __future__ import annotations

from pathlib import Path

import torch

__version__ = "0.1"
_FRAME, _HOP, _SIZE = 512, 256, 24
# Every clip this process was asked to embed (n_sounds, n_samples): what the tests read the rate from.
CALLS: list[tuple[int, ...]] = []


class TinyModel(torch.nn.Module):
    sample_rate = 16000
    scene_embedding_size = _SIZE
    timestamp_embedding_size = _SIZE

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("projection", torch.randn(_FRAME // 2 + 1, _SIZE, generator=gen) / 16)


def load_model(model_file_path: str = "") -> TinyModel:
    seed = int(Path(model_file_path).read_text().strip()) if model_file_path else 0
    return TinyModel(seed)


def get_timestamp_embeddings(audio: torch.Tensor, model: TinyModel) -> tuple[torch.Tensor, torch.Tensor]:
    CALLS.append(tuple(audio.shape))
    frames = audio.unfold(1, _FRAME, _HOP)  # (n, T, frame)
    spectrum = torch.log1p(torch.fft.rfft(frames * torch.hann_window(_FRAME), dim=-1).abs())
    embeddings = spectrum @ model.projection
    timestamps = (torch.arange(frames.shape[1]) * _HOP + _FRAME / 2) / model.sample_rate * 1000
    return embeddings, timestamps.expand(audio.shape[0], -1)


def get_scene_embeddings(audio: torch.Tensor, model: TinyModel) -> torch.Tensor:
    embeddings, _ = get_timestamp_embeddings(audio, model)
    return embeddings.mean(dim=1)
