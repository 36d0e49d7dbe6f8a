"""What a trained model costs to use: MACs per chunk and per 30 s track, and its time for one track.

Logged with every run so that reports can set accuracy against cost (and a search can minimise it) without a
separate benchmark. Decoding and feature extraction are left out: they are the same for every model of an
experiment, and `genrebench bench` measures them.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from genrebench.config import ExperimentConfig
from genrebench.data.features import chunk_layout
from genrebench.models import forward_macs

TRACK_SECONDS = 30.0  # a GTZAN clip: what "a track" means in these figures
_REPEATS = 5


def chunks_per_track(cfg: ExperimentConfig, seconds: float = TRACK_SECONDS) -> int:
    """How many chunks `predict` cuts from a track of `seconds` with this experiment's features."""
    layout = chunk_layout(cfg.features, cfg.data.audio.sample_rate)
    return max(1, len(layout.starts(int(round(seconds * cfg.data.audio.sample_rate)), 0)))


def model_cost(model: nn.Module, cfg: ExperimentConfig, device: torch.device, rows: int,
               frames: int) -> dict[str, float]:
    """`model_macs` (one chunk of `rows` x `frames`), `track_macs` (every chunk of a 30 s track) and `predict_ms`
    (median of 5 forward passes over those chunks as one batch, after a warm-up pass, on `device`).

    With an embedding front-end a chunk is its vector (frames 1); the front-end's MACs per chunk are added to
    `model_macs` and `track_macs` and given alone as `frontend_macs`, so a probe is costed with what it stands on.
    `predict_ms` stays the model's time on its inputs, for every model alike."""
    shape = (getattr(model, "in_channels", 1), rows, frames)
    n = chunks_per_track(cfg)
    macs = forward_macs(model, (1, *shape))
    was_training = model.training
    model.eval()
    # A fixed input: the cost does not depend on the values, and the global RNG stays untouched.
    batch = torch.zeros((n, *shape), device=device)
    seconds = []
    try:
        with torch.no_grad():
            for _ in range(_REPEATS + 1):
                start = time.perf_counter()
                model(batch)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                seconds.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    extra = {}
    if cfg.features.embeds:
        from genrebench.data.embed import frontend_macs

        extra = {"frontend_macs": float(frontend_macs(cfg.features, cfg.data.audio))}
        macs += int(extra["frontend_macs"])
    return {"model_macs": float(macs), "track_macs": float(macs * n),
            "predict_ms": 1000 * statistics.median(seconds[1:]), **extra}
