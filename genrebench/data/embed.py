"""Embeddings per chunk from a front-end (`data.frontends`), cached per track like mels.

`embed_prepared` runs after the mel stage of `prepare_data` (which still decides usable tracks, twins and splits):
each kept track's chunk windows become one vector each, and the prepared data then holds, per track, an array
(dim, windows) in place of its mel, with chunk starts that index windows. A chunk of it is one column, so the
Dataset, the normalizers (per_band: each dimension standardised over the training split, as probes do) and
`fit()` need nothing new.

Cache: `<cache>/embeddings/<key>/<hh>/<content-hash>.npy`, written by `FeatureCache`'s atomic store, keyed by the
front-end's `key()` (name, parameters, a model file's stamp), the chunk layout, and what the input depends on:
the mel parameters for a front-end that reads mels, the audio settings for one that reads audio, and any
perturbation. A second run over the same front-end computes nothing (`stats["embedded"]` counts what was).

Where: misses are computed in worker processes on CPU (threads split between them, as extraction does), or in
this process on the training device when that is a GPU (one model on the GPU rather than one per worker).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from genrebench.children import worker_pool
from genrebench.config import AudioConfig, DataConfig, FeatureConfig
from genrebench.data.audio import load_checked
from genrebench.data.cache import Entry, FeatureCache, default_cache_dir, params_key
from genrebench.data.features import ChunkLayout, chunk_layout, slice_chunk
from genrebench.data.frontends import Frontend, create_frontend
from genrebench.data.perturb import Perturbation
from genrebench.errors import UserError
from genrebench.progress import counted, line

EMBED_VERSION = 1
# Chunks per forward pass: bounds memory for long tracks (a 10 min track is ~120 windows of 10 s).
_BATCH = 32


def embedding_key(audio: AudioConfig, feat: FeatureConfig, frontend: Frontend,
                  perturbation: Perturbation | None) -> str:
    layout = chunk_layout(feat, audio.sample_rate)
    params: dict = {"version": EMBED_VERSION, "frontend": frontend.key(),
                    "layout": [layout.frames, layout.stride, layout.chunk_samples, layout.hop, audio.sample_rate]}
    if frontend.reads == "mel":
        params["mel"] = params_key(audio, feat, perturbation)
    else:
        params["audio"] = {"silence_db": audio.silence_db,
                           "perturbation": perturbation.key() if perturbation and not perturbation.is_identity
                           else None}
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


class EmbeddingCache(FeatureCache):
    """Entries of one front-end (and perturbation): arrays (dim, windows), stored and checked as mels are."""

    def __init__(self, root: Path | str, audio: AudioConfig, feat: FeatureConfig, frontend: Frontend,
                 perturbation: Perturbation | None = None) -> None:
        super().__init__(root, audio, feat, perturbation)
        if self.perturbation is not None and frontend.reads == "audio":
            self.perturbation.check_rate(frontend.sample_rate)  # type: ignore[attr-defined]
        self.frontend = frontend
        self.dir = self.root / "embeddings" / embedding_key(audio, feat, frontend, self.perturbation)


def vector_layout(layout: ChunkLayout) -> ChunkLayout:
    """The layout of embedded tracks: a chunk is one column, a new one every column."""
    return ChunkLayout(frames=1, stride=1, chunk_samples=layout.chunk_samples, hop=layout.hop)


def windows(layout: ChunkLayout, n_samples: int) -> list[int]:
    """Start frames of every window of a track (what its array has a column for); a short clip has one."""
    return layout.starts(n_samples, 1)


def embed_chunks(frontend: Frontend, layout: ChunkLayout, sample_rate: int, starts: list[int],
                 mel: np.ndarray | None = None, audio: np.ndarray | None = None) -> np.ndarray:
    """(dim, len(starts)) float32: one vector per window, from the track's mel or its audio at the front-end's
    rate (a window past the end is zero-padded, as a short clip's mel is padded at the silence floor)."""
    vectors = []
    for first in range(0, len(starts), _BATCH):
        part = starts[first:first + _BATCH]
        if frontend.reads == "mel":
            chunks = np.stack([slice_chunk(mel, s, layout.frames) for s in part])
        else:
            chunks = _clips(audio, part, layout, sample_rate, frontend.sample_rate)  # type: ignore[attr-defined]
        vectors.append(frontend.embed(chunks))
    return np.ascontiguousarray(np.concatenate(vectors).T, dtype=np.float32)


def _clips(y: np.ndarray, starts: list[int], layout: ChunkLayout, sample_rate: int, rate: int) -> np.ndarray:
    """The windows' samples at the front-end's `rate`: the same seconds as the mel's windows at `sample_rate`."""
    length = int(round(layout.chunk_samples * rate / sample_rate))
    out = np.zeros((len(starts), length), dtype=np.float32)
    for i, s in enumerate(starts):
        first = int(round(s * layout.hop * rate / sample_rate))
        piece = y[first:first + length]
        out[i, :len(piece)] = piece
    return out


# ---- workers ------------------------------------------------------------------------------------

_LOADED: dict[str, Frontend] = {}


def loaded_frontend(spec: str, device: str = "cpu") -> Frontend:
    """One front-end per process and SPEC (a HEAR model is loaded once per worker, not once per track)."""
    key = f"{spec}@{device}"
    if key not in _LOADED:
        _LOADED[key] = create_frontend(spec).to(device)
    return _LOADED[key]


def _init_worker(threads: int, path: list[str]) -> None:
    import torch

    torch.set_num_threads(threads)
    # The user's HEAR package may sit on a path added after the worker server started (a test, a notebook).
    sys.path[:0] = [p for p in path if p not in sys.path]


def embed_one(job: dict, device: str = "cpu") -> dict:
    """Worker: one track's cached vectors, computed on a miss. `job` holds plain values (it pickles to workers)."""
    frontend = loaded_frontend(job["spec"], device)
    audio, feat = AudioConfig(**job["audio"]), FeatureConfig(**job["feat"])
    chosen = Perturbation.from_key(job["perturbation"]) if job["perturbation"] is not None else None
    cache = EmbeddingCache(job["root"], audio, feat, frontend, chosen)
    entry = cache.lookup(job["digest"])
    if entry is not None:
        return {"entry": entry, "computed": False}
    layout = chunk_layout(feat, audio.sample_rate)
    arr = track_vectors(frontend, layout, audio, windows(layout, job["n_samples"]), Path(job["path"]),
                        mel=np.load(job["mel"], mmap_mode="r") if frontend.reads == "mel" else None,
                        perturbation=chosen, seed_material=job["digest"])
    entry = cache.store(job["digest"], arr, job["n_samples"], None, {"frontend": job["spec"]})
    return {"entry": entry, "computed": True}


def track_vectors(frontend: Frontend, layout: ChunkLayout, audio: AudioConfig, starts: list[int], path: Path,
                  mel: np.ndarray | None = None, perturbation: Perturbation | None = None,
                  seed_material: str = "") -> np.ndarray:
    """(dim, len(starts)) for one track: from its mel, or from its audio decoded again at the front-end's rate
    (and degraded there by `perturbation`, seeded by `seed_material` as the mel cache seeds it)."""
    if frontend.reads == "mel":
        return embed_chunks(frontend, layout, audio.sample_rate, starts, mel=mel)
    rate = frontend.sample_rate  # type: ignore[attr-defined]
    y, problem = load_checked(path, rate, audio.silence_db)
    if problem is not None:
        # The mel stage found this file usable; decoded again at another rate it should still be.
        raise UserError(f"{path}: {problem.reason} ({problem.detail}) when decoded at {rate} Hz for {frontend.spec}")
    if perturbation is not None:
        y = perturbation.apply(y, rate, seed_material)
    return embed_chunks(frontend, layout, audio.sample_rate, starts, audio=y)


# ---- the stage ----------------------------------------------------------------------------------

def embed_device(name: str) -> str:
    """Where to embed: the training device when it is a GPU, else CPU worker processes (`auto` as training)."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name if name.startswith(("cuda", "mps")) else "cpu"


def embed_entries(paths: list[Path], entries: list[Entry], data: DataConfig, feat: FeatureConfig, device: str,
                  progress: bool, perturbation: Perturbation | None = None) -> tuple[list[Entry], dict]:
    """Cached vectors for tracks whose mel `entries` are usable (same order), computing only misses; and counts."""
    frontend = loaded_frontend(feat.frontend)
    cache = EmbeddingCache(default_cache_dir(data.cache_dir), data.audio, feat, frontend, perturbation)
    out: list[Entry | None] = [cache.lookup(e.digest) for e in entries]
    todo = [i for i, e in enumerate(out) if e is None]
    where = embed_device(device)
    jobs = [{"spec": feat.frontend, "root": str(cache.root), "audio": data.audio.model_dump(),
             "feat": feat.model_dump(), "perturbation": cache.perturbation.key() if cache.perturbation else None,
             "path": str(paths[i]), "digest": entries[i].digest, "n_samples": entries[i].n_samples,
             "mel": str(entries[i].npy)} for i in todo]
    n_workers = 1 if where != "cpu" else max(1, min(data.workers or (os.cpu_count() or 1), len(jobs)))
    for i, res in zip(todo, _run(jobs, where, n_workers, feat.frontend, progress), strict=True):
        out[i] = res["entry"]
    stats = {"embedded": len(todo), "embeddings_cached": len(entries) - len(todo), "embed_workers": n_workers,
             "embedding_dim": frontend.dim(feat.n_mels)}
    if progress and not todo:
        line(f"embed {feat.frontend}: {len(entries)} track(s) cached, none computed")
    return out, stats  # type: ignore[return-value]


def _run(jobs: list[dict], device: str, n_workers: int, spec: str, progress: bool) -> list[dict]:
    if not jobs:
        return []
    results: list[dict] = []
    label = f"embed {spec} ({device if device != 'cpu' else f'{n_workers} worker' + 's' * (n_workers > 1)})"
    with counted(label, len(jobs), "tracks", progress) as task:
        if n_workers == 1:
            for job in jobs:
                results.append(embed_one(job, device))
                task.advance()
            return results
        threads = max(1, (os.cpu_count() or 1) // n_workers)
        with worker_pool(n_workers, initializer=_init_worker, initargs=(threads, list(sys.path))) as pool:
            for res in pool.map(embed_one, jobs, chunksize=max(1, len(jobs) // (8 * n_workers))):
                results.append(res)
                task.advance()
    return results


def embed_prepared(prepared, data: DataConfig, feat: FeatureConfig, device: str, progress: bool):
    """`prepared` (mels) with each track's mel replaced by its vectors and chunk starts by window columns."""
    # A leaky chunk split lists a track once per split it reaches; embed each file once.
    first: dict[str, int] = {}
    for i, e in enumerate(prepared.entries):
        first.setdefault(e.digest, i)
    unique = list(first.values())
    vectors, stats = embed_entries([prepared.tracks[i].path for i in unique], [prepared.entries[i] for i in unique],
                                   data, feat, device, progress)
    by_digest = {prepared.entries[i].digest: v for i, v in zip(unique, vectors, strict=True)}
    stride = prepared.layout.stride
    return replace(prepared, entries=[by_digest[e.digest] for e in prepared.entries],
                   starts=[[s // stride for s in starts] for starts in prepared.starts],
                   layout=vector_layout(prepared.layout), input_rows=stats["embedding_dim"],
                   stats={**prepared.stats, **stats})


def frontend_macs(feat: FeatureConfig, audio: AudioConfig) -> int:
    """Multiply-accumulates the front-end spends on one chunk, counted by torch's FlopCounterMode on a silent chunk
    (convolutions and matrix products; 0 for `mel_stats`, whose means are not MACs). A probe's own MACs are tiny,
    so without these a probe on a large pretrained model would look cheaper than a small CNN. Counted once per
    front-end and chunk shape in a process: every grid point of a `select:` run asks again."""
    layout = chunk_layout(feat, audio.sample_rate)
    key = (feat.frontend, feat.n_mels, layout.frames, layout.chunk_samples, audio.sample_rate)
    if key not in _MACS:
        _MACS[key] = _count_macs(loaded_frontend(feat.frontend), feat, audio, layout)
    return _MACS[key]


_MACS: dict[tuple, int] = {}


def _count_macs(frontend: Frontend, feat: FeatureConfig, audio: AudioConfig, layout: ChunkLayout) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    if frontend.reads == "mel":
        chunk = np.zeros((1, feat.n_mels, layout.frames), dtype=np.float32)
    else:
        chunk = _clips(np.zeros(0, dtype=np.float32), [0], layout, audio.sample_rate,
                       frontend.sample_rate)  # type: ignore[attr-defined]
    with FlopCounterMode(display=False) as counter:
        frontend.embed(chunk)
    return counter.get_total_flops() // 2
