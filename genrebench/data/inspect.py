"""`genrebench data inspect`: what a dataset holds and which files cannot be used, decoding each file once."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from genrebench.children import worker_pool
from genrebench.config import AudioConfig
from genrebench.data.audio import TOO_SHORT, load_checked, probe
from genrebench.data.sources import TrackList
from genrebench.progress import counted


def inspect_file(path: str, audio: dict) -> dict:
    """Container facts plus the decode-and-check verdict for one file."""
    cfg = AudioConfig(**audio)
    p = Path(path)
    y, problem = load_checked(p, cfg.sample_rate, cfg.silence_db)
    row = {**probe(p), "seconds": None if y is None else len(y) / cfg.sample_rate, "reason": None, "detail": ""}
    if problem is not None:
        row.update(reason=problem.reason, detail=problem.detail)
    elif row["seconds"] < cfg.min_seconds:
        row.update(reason=TOO_SHORT, detail=f"{row['seconds']:.2f} s is shorter than min_seconds {cfg.min_seconds:g} s")
    return row


def inspect_dataset(tracklist: TrackList, audio: AudioConfig, workers: int = 1, progress: bool = True) -> dict:
    """Per-file rows and per-label totals: {"files": [...], "labels": {label: {...}}, "problems": [...]}."""
    paths = [str(t.path) for t in tracklist.tracks]
    cfg = audio.model_dump()
    with counted("inspect", len(paths), "files", progress) as task:
        if workers <= 1 or len(paths) < 2:
            rows = []
            for p in paths:
                rows.append(inspect_file(p, cfg))
                task.advance()
        else:
            with worker_pool(min(workers, len(paths))) as pool:
                rows = []
                for row in pool.map(inspect_file, paths, [cfg] * len(paths), chunksize=4):
                    rows.append(row)
                    task.advance()
    files = [{"path": tracklist.relpath(t), "label": t.label, **row}
             for t, row in zip(tracklist.tracks, rows, strict=True)]
    return {"root": str(tracklist.root), "files": files, "labels": _per_label(files, tracklist.labels),
            "problems": [f for f in files if f["reason"]], "ignored": tracklist.ignored}


def _per_label(files: list[dict], labels: list[str]) -> dict[str, dict]:
    acc: dict[str, dict] = {label: {"files": 0, "usable": 0, "seconds": 0.0, "sample_rates": set(),
                                    "channels": set()} for label in labels}
    for f in files:
        a = acc[f["label"]]
        a["files"] += 1
        if not f["reason"]:
            a["usable"] += 1
            a["seconds"] += f["seconds"] or 0.0
        if f["native_sr"]:
            a["sample_rates"].add(f["native_sr"])
        if f["channels"]:
            a["channels"].add(f["channels"])
    out: dict[str, dict] = defaultdict(dict)
    for label, a in acc.items():
        out[label] = {"files": a["files"], "usable": a["usable"], "minutes": a["seconds"] / 60,
                      "mean_seconds": a["seconds"] / a["usable"] if a["usable"] else 0.0,
                      "sample_rates": sorted(a["sample_rates"]), "channels": sorted(a["channels"])}
    return dict(out)
