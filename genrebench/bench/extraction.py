"""Feature extraction and the feature cache: x real time per worker and for all workers, cold vs warm builds."""

from __future__ import annotations

import time
from pathlib import Path

from genrebench.config import DataConfig, FeatureConfig
from genrebench.data.cache import extract_one
from genrebench.data.prepare import PreparedData, prepare_data


def spread(paths: list[Path], n: int) -> list[Path]:
    """`n` of `paths` taken evenly through the sorted list, so a subset covers every genre."""
    if n >= len(paths):
        return list(paths)
    step = len(paths) / n
    return [paths[int(i * step)] for i in range(n)]


def measure_one_worker(paths: list[Path], cache_root: Path, data: DataConfig, feat: FeatureConfig) -> dict:
    """Seconds of audio per wall second through `extract_one` in this process, into a fresh cache.

    Timed per call over the whole file (hash, decode, log-mel, cache write): what one pool worker does. The
    first call of a process also imports librosa and compiles its kernels (more than a second, against tens
    of milliseconds per 30 s file): it is timed apart, into a cache of its own, so it does not swamp the rate.
    """
    args = (str(cache_root), data.audio.model_dump(), feat.model_dump())
    start = time.perf_counter()
    extract_one(str(paths[0]), str(cache_root / "first-call"), *args[1:])
    first = time.perf_counter() - start
    samples, start = 0, time.perf_counter()
    for p in paths:
        res = extract_one(str(p), *args)
        if not res["decoded"]:
            raise RuntimeError(f"bench: {p} was not decoded; the per-worker cache {cache_root} is not fresh")
        samples += res["entry"].n_samples
    seconds = time.perf_counter() - start
    return {"extract_per_worker_x_realtime": samples / data.audio.sample_rate / seconds,
            "extract_first_call_s": first}


def measure_cache(data: DataConfig, feat: FeatureConfig) -> tuple[dict, PreparedData]:
    """`prepare_data` on a fresh cache (cold: every worker extracting), then again on the warm cache.

    Returns the figures and the warm `PreparedData` (the later stages train and predict from it).
    """
    start = time.perf_counter()
    cold = prepare_data(data, feat, progress=False)
    cold_seconds = time.perf_counter() - start
    if cold.stats["cached"]:
        raise RuntimeError(f"bench: the cold pass found {cold.stats['cached']} cached entries; its cache is not fresh")
    start = time.perf_counter()
    warm = prepare_data(data, feat, progress=False)
    warm_seconds = time.perf_counter() - start
    audio_seconds = sum(e.n_samples for e in cold.entries) / data.audio.sample_rate
    figures = {"extract_all_workers_x_realtime": audio_seconds / cold_seconds,
               "extract_workers": float(cold.stats["workers"]),
               "cache_cold_seconds": cold_seconds, "cache_warm_seconds": warm_seconds,
               "cache_warm_fraction": warm_seconds / cold_seconds,
               "cache_warm_decoded": float(warm.stats["decoded"])}
    return figures, warm
