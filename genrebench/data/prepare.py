"""From a data spec to training-ready chunks: source -> checked, cached features -> splits -> chunk index.

`prepare_data` is the one entry point `run`, `study`, `data cache` and the tests share.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genrebench.children import worker_pool
from genrebench.config import DataConfig, FeatureConfig, SplitConfig, SynthConfig
from genrebench.data.audio import TOO_SHORT
from genrebench.data.cache import Entry, FeatureCache, StatIndex, default_cache_dir, extract_one
from genrebench.data.duplicates import TWIN_ACROSS_SPLITS, Twin, across_splits, cached_twins, merge_groups
from genrebench.data.features import ChunkLayout, chunk_layout, min_samples
from genrebench.data.protocols import get_protocol, list_protocols
from genrebench.data.sources import SPLIT_NAMES, Track, TrackList, open_source
from genrebench.data.splits import assign_splits, deal_chunks, split_counts
from genrebench.errors import UserError
from genrebench.progress import VERBOSE, counted

# How many problem files a --strict error names before it says "and N more".
STRICT_LISTED = 5


@dataclass
class PreparedData:
    """Usable tracks with their cached features, splits and chunk starts; plus what was skipped and why."""

    tracklist: TrackList
    tracks: list[Track]
    entries: list[Entry]
    splits: list[str | None]
    starts: list[list[int]]
    layout: ChunkLayout
    report: list[dict]
    fingerprint: str
    # Rows of a chunk as the model reads it: n_mels for mel chunks, the vector length for an embedding front-end.
    input_rows: int
    stats: dict = field(default_factory=dict)
    # Twin pairs the split put apart (reason `twin_across_splits`): written to the data report after the skipped
    # files, but kept apart from `report` so counts of skipped files stay counts of skipped files.
    twin_report: list[dict] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return self.tracklist.labels

    def label_index(self, track: Track) -> int:
        return self.tracklist.labels.index(track.label)

    def track_ids(self, split: str) -> list[int]:
        """Indices (into `tracks`) of the tracks in one split."""
        return [i for i, s in enumerate(self.splits) if s == split]

    def chunk_index(self, split: str) -> np.ndarray:
        """(n_chunks, 2) int64 array of (track index, start frame) for one split, in track order."""
        rows = [(i, s) for i in self.track_ids(split) for s in self.starts[i]]
        return np.asarray(rows, dtype=np.int64).reshape(-1, 2)

    def chunks_per_label(self, split: str) -> dict[str, int]:
        """Chunks of one split per label (every label listed, zero when it has none)."""
        counts = dict.fromkeys(self.labels, 0)
        for i in self.track_ids(split):
            counts[self.tracks[i].label] += len(self.starts[i])
        return counts

    def summary(self) -> dict:
        """Counts a user (and a run's tags) want: tracks, chunks and skipped files per split and label."""
        return {"tracks": len(self.tracks), "skipped": len(self.report), "fingerprint": self.fingerprint,
                "chunks": {s: int(len(self.chunk_index(s))) for s in SPLIT_NAMES},
                "per_label": split_counts(self.tracks, self.splits, self.labels), **self.stats}


def synthetic_root(cfg: SynthConfig, cache_dir: Path, sample_rate: int, progress: bool = True) -> Path:
    """The built-in dataset for these settings, generated on first use and reused afterwards."""
    from genrebench.data.synth import write_synthetic_dataset

    name = f"g{cfg.genres}-n{cfg.tracks_per_genre}-s{cfg.seconds:g}-seed{cfg.seed}-sr{sample_rate}"
    root = cache_dir / "synthetic" / name
    marker = root / ".complete"
    if not marker.exists():
        write_synthetic_dataset(root, genres=cfg.genres, tracks_per_genre=cfg.tracks_per_genre,
                                seconds=cfg.seconds, seed=cfg.seed, sr=sample_rate, progress=progress)
        marker.write_text("ok\n")
    return root


def resolve_source(data: DataConfig, cache_dir: Path, progress: bool = True) -> TrackList:
    """`synthetic` -> the built-in set (generated with progress on first use); otherwise a folder or a manifest CSV.
    A split protocol (`data.split.method`) reads the root its own way, every track with its published split."""
    protocol = get_protocol(data.split.method)
    if data.source == "synthetic":
        root = synthetic_root(data.synthetic, cache_dir, data.audio.sample_rate, progress)
        return protocol.load(root, data.strict) if protocol else open_source(root)
    return protocol.load(Path(data.source), data.strict) if protocol else open_source(data.source)


def _worker_count(requested: int, jobs: int) -> int:
    n = requested or (os.cpu_count() or 1)
    return max(1, min(n, jobs))


def extract_features(paths: list[Path], cache: FeatureCache, workers: int = 0, progress: bool = True) -> dict:
    """Cached entries for `paths` (in order), decoding misses in parallel worker processes.

    Files the stat index vouches for are answered in this process without reading them; only the rest
    go through `extract_one` (hash, look up, decode on a miss), and worker processes are started only
    when there is more than one such file. A cache made with a perturbation degrades each decoded file
    before its mel (see `extract_one`); the progress label names it (`extract noise_snr10 (2 workers)`).
    """
    index = StatIndex(cache)
    entries: list[Entry | None] = [index.get(p) for p in paths]
    todo = [i for i, e in enumerate(entries) if e is None]
    results = _extract_misses([paths[i] for i in todo], cache, workers, progress)
    for i, res in zip(todo, results, strict=True):
        entries[i] = res["entry"]
        index.put(paths[i], res["entry"])
    index.save()
    decoded = sum(r["decoded"] for r in results)
    return {"entries": entries, "decoded": decoded, "cached": len(paths) - decoded,
            "workers": _worker_count(workers, len(todo)) if todo else 0}


def _extract_misses(paths: list[Path], cache: FeatureCache, workers: int, progress: bool) -> list[dict]:
    if not paths:
        return []
    perturbation = cache.perturbation
    args = (str(cache.root), cache.audio.model_dump(), cache.feat.model_dump(),
            perturbation.key() if perturbation is not None else None)
    n_workers = _worker_count(workers, len(paths))
    what = f"extract {perturbation.slug}" if perturbation is not None else "extract"
    results: list[dict] = []
    with counted(f"{what} ({n_workers} worker{'s' * (n_workers > 1)})", len(paths), "files", progress) as task:
        if n_workers == 1:
            for p in paths:
                results.append(extract_one(str(p), *args))
                task.advance()
        else:
            with worker_pool(n_workers) as pool:
                for res in pool.map(extract_one, [str(p) for p in paths], *[[a] * len(paths) for a in args],
                                    chunksize=max(1, len(paths) // (8 * n_workers))):
                    results.append(res)
                    task.advance()
    return results


def _problem_row(tracklist: TrackList, track: Track, reason: str, detail: str) -> dict:
    return {"path": tracklist.relpath(track), "label": track.label, "reason": reason, "detail": detail}


def _fingerprint(tracklist: TrackList, entries: list[Entry]) -> str:
    """Digest of (relative path, label, content) of every file: same data -> same fingerprint."""
    h = hashlib.sha256()
    for track, entry in sorted(zip(tracklist.tracks, entries, strict=True), key=lambda te: tracklist.relpath(te[0])):
        h.update(f"{tracklist.relpath(track)}\t{track.label}\t{entry.digest}\n".encode())
    return h.hexdigest()[:16]


def cached_features(data: DataConfig, feat: FeatureConfig,
                    progress: bool = True) -> tuple[TrackList, FeatureCache, dict]:
    """The source's tracks, the feature cache, and `extract_features` over every file (decoding only misses)."""
    cache_dir = default_cache_dir(data.cache_dir)
    ensure_cache_dir(cache_dir)
    tracklist = resolve_source(data, cache_dir, progress)
    cache = FeatureCache(cache_dir, data.audio, feat)
    return tracklist, cache, extract_features([t.path for t in tracklist.tracks], cache, data.workers, progress)


def prepare_data(data: DataConfig, feat: FeatureConfig, progress: bool = True, device: str = "cpu") -> PreparedData:
    """Resolve, check, cache, split and chunk a dataset; problem files are skipped and reported
    (or, with `data.strict`, raised as one UserError). With an embedding front-end (`features.frontend`), every
    chunk then becomes its vector (`data.embed`), computed on `device` when that is a GPU."""
    tracklist, cache, extracted = cached_features(data, feat, progress)
    layout = chunk_layout(feat, data.audio.sample_rate)
    shortest = min_samples(data.audio, feat)
    keep: list[tuple[Track, Entry, list[int]]] = []
    report: list[dict] = []
    for track, entry in zip(tracklist.tracks, extracted["entries"], strict=True):
        if entry.problem is not None:
            report.append(_problem_row(tracklist, track, entry.problem.reason, entry.problem.detail))
            continue
        starts = layout.starts(entry.n_samples, shortest)
        if not starts:
            sr = data.audio.sample_rate
            detail = f"{entry.n_samples / sr:.2f} s is shorter than min_seconds {shortest / sr:g} s"
            report.append(_problem_row(tracklist, track, TOO_SHORT, detail))
            continue
        keep.append((track, entry, starts))
    _handle_problems(report, tracklist, data.strict)
    tracks = [k[0] for k in keep]
    # A protocol's tracks carry their published split, which is what the `manifest` method reads.
    split_cfg = data.split
    if split_cfg.method in list_protocols():
        split_cfg = split_cfg.model_copy(update={"method": "manifest"})
    twins = _search_twins(data, cache, keep, split_cfg, progress)
    if split_cfg.unit == "chunk":
        keep, splits = _by_chunk(keep, split_cfg)
        tracks = [k[0] for k in keep]
    else:
        splits = assign_splits(tracklist, _twins_grouped(tracks, twins, data.duplicates, split_cfg), split_cfg)
    prepared = PreparedData(tracklist=tracklist, tracks=tracks, entries=[k[1] for k in keep], splits=splits,
                            starts=[k[2] for k in keep], layout=layout, report=report,
                            fingerprint=_fingerprint(tracklist, extracted["entries"]), input_rows=feat.n_mels,
                            stats={"decoded": extracted["decoded"], "cached": extracted["cached"],
                                   "workers": extracted["workers"], "excluded": len(tracklist.excluded)})
    _report_twins(prepared, twins, feat.hop_length / data.audio.sample_rate)
    _check_splits(prepared)
    if feat.embeds:
        from genrebench.data.embed import embed_prepared

        prepared = embed_prepared(prepared, data, feat, device, progress)
    return prepared


def _search_twins(data: DataConfig, cache: FeatureCache, keep: list[tuple[Track, Entry, list[int]]],
                  split_cfg: SplitConfig, progress: bool) -> list[Twin] | None:
    """Twins among the usable tracks, from their cached mels (a warm pass reads back the last search's pairs);
    None when not searched: `data.duplicates: off`, or a split by chunk, whose leak is deliberate and larger."""
    if data.duplicates == "off" or split_cfg.unit == "chunk":
        return None
    # A run's log keeps to extraction and epochs (seconds here against minutes there); -v shows this search too.
    return cached_twins([k[1] for k in keep], cache.dir, cache.feat, data.audio.sample_rate, progress,
                        log_from=VERBOSE)


def _fixed_split(tracks: list[Track], cfg: SplitConfig) -> bool:
    """Whether the split is written down (manifest column, lists, protocol) rather than decided here."""
    return cfg.method in ("manifest", "lists") or (cfg.method == "auto" and bool(tracks)
                                                   and all(t.split for t in tracks))


def _twins_grouped(tracks: list[Track], twins: list[Twin] | None, mode: str, cfg: SplitConfig) -> list[Track]:
    """The tracks as the split sees them: under `group`, twins merged into one group when the split is decided
    here (a written split is never changed); otherwise as they are."""
    if not twins or mode != "group" or _fixed_split(tracks, cfg):
        return tracks
    return merge_groups(tracks, twins)


def _report_twins(prepared: PreparedData, twins: list[Twin] | None, hop_seconds: float) -> None:
    """Twins the split put apart (a written split, or `warn`) go to the data report with one warning; the
    counts go to `stats`, which runs log."""
    if twins is None:
        return
    rows, test_in_train = across_splits(prepared.tracklist, prepared.tracks, prepared.splits, twins, hop_seconds)
    prepared.twin_report = rows
    prepared.stats.update(twin_pairs=len(twins), test_twins_in_train=test_in_train)
    if rows:
        warnings.warn(f"{len(rows)} twin pair(s) (one recording twice) sit in different splits, {test_in_train} test "
                      f"track(s) with a twin in train; listed in the data report as {TWIN_ACROSS_SPLITS} "
                      "(data.duplicates=group keeps twins together in a split genrebench decides)", stacklevel=3)


def _by_chunk(keep: list[tuple[Track, Entry, list[int]]],
              cfg: SplitConfig) -> tuple[list[tuple[Track, Entry, list[int]]], list[str | None]]:
    """The leaky chunk-level split as per-split parts of tracks: a track whose chunks were dealt to train and
    test appears once in each, with its chunks of that split, so test predictions still average per track."""
    dealt = deal_chunks([k[0] for k in keep], [k[2] for k in keep], cfg)
    parts, splits = [], []
    for (track, entry, starts), chunk_splits in zip(keep, dealt, strict=True):
        for split in SPLIT_NAMES:
            mine = [s for s, where in zip(starts, chunk_splits, strict=True) if where == split]
            if mine:
                parts.append((track, entry, mine))
                splits.append(split)
    return parts, splits


def ensure_cache_dir(cache_dir: Path) -> None:
    """Create the cache folder up front: a path that cannot be a folder is one line naming it, not an OSError
    from deep inside a worker process. (A folder without write permission still fails at its first write,
    with that file's name: a warm read-only cache is legitimate.)"""
    hint = "pass --cache-dir or set GENREBENCH_CACHE"
    if cache_dir.exists() and not cache_dir.is_dir():
        raise UserError(f"cache folder {cache_dir} is a file, not a folder ({hint})")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        at = f" at {exc.filename}" if exc.filename and str(exc.filename) != str(cache_dir) else ""
        raise UserError(f"cannot create cache folder {cache_dir}: {exc.strerror or exc}{at} ({hint})") from exc


def strict_problems_message(problems: list[dict], root: Path | str) -> str:
    """One line naming the first few problem files with their reasons: enough to fix a handful at once
    without scrolling a long list (`data inspect` shows them all)."""
    shown = "; ".join(f"{p['path']}: {p['reason']} ({p['detail']})" for p in problems[:STRICT_LISTED])
    more = len(problems) - STRICT_LISTED
    rest = f"; and {more} more (genrebench data inspect {root} lists them all)" if more > 0 else ""
    return f"{len(problems)} problem file(s) in {root} (--strict): {shown}{rest}"


def _handle_problems(report: list[dict], tracklist: TrackList, strict: bool) -> None:
    if not report:
        return
    if strict:
        raise UserError(strict_problems_message(report, tracklist.root))
    for row in report:
        warnings.warn(f"skipping {row['path']}: {row['reason']} ({row['detail']})", stacklevel=3)


def _check_splits(prepared: PreparedData) -> None:
    """Every split needs chunks, and training needs every label, or the run would mean nothing."""
    counts = split_counts(prepared.tracks, prepared.splits, prepared.labels)
    for label, per_split in counts.items():
        if per_split["train"] == 0:
            raise UserError(f"label {label!r} has no usable training tracks after skipping problem files")
    for split in SPLIT_NAMES:
        if not prepared.track_ids(split):
            raise UserError(f"the {split} split is empty: add tracks or change data.split")
