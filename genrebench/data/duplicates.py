"""Twins in a dataset, found from the cached log-mels with a small fingerprint per track: no second decode.

A twin pair is one recording twice: `exact` when both files decode to the same audio (identical mels, which
byte-identical files always are), `near` when one is the other re-encoded (ogg, flac), at another gain, or an
excerpt of it shifted in time. GTZAN holds both kinds; a twin on each side of a split lets a model recognise a
recording instead of a genre, so runs merge twins into one group before a split they decide themselves.

The fingerprint is the log-mel pooled into coarse bands (power-averaged, so the loud parts of a band speak) at a
few frames per second. A gain change is a constant dB offset, and every comparison removes each band's mean over
the compared stretch, so it cancels; so does a fixed EQ change such as a codec's. The search has two stages, so
no pair is compared at full resolution unless its fingerprints already agree:

1. candidates: each track's nearest neighbours by a global, shift-invariant descriptor (band levels relative
   to the loudest band, band fluctuations): n x `NEIGHBOURS` pairs, not n^2 (the descriptors are 64 numbers, so
   computing their distances costs little next to one correlation);
2. verification: the normalized cross-correlation of two coarse fingerprints at every time offset that leaves
   enough overlap (one FFT per pair), then, around its best offsets, the same with finer bands at the mel's
   own frame rate, which gives `similarity` and `offset_seconds`.

A track without temporal structure (a steady tone, a drone) has nothing to align: it can only be an exact twin,
never a near one, so test tones that share a noise bed are not called copies.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from genrebench.config import FeatureConfig
from genrebench.data.cache import Entry
from genrebench.data.sources import SPLIT_NAMES, Track, TrackList
from genrebench.progress import NORMAL, display

EXACT, NEAR = "exact", "near"
COLUMNS = ("a", "b", "kind", "similarity", "offset_seconds", "label_conflict")
TWIN_ACROSS_SPLITS = "twin_across_splits"  # the data report's reason for a twin pair a fixed split separates
COARSE_BANDS = 32  # bands of the search fingerprint: a codec's or an EQ's detail averages out, a song's shape stays
FINE_BANDS = 64  # bands of the verification: enough pitch detail to tell apart two songs built on one loop
RATE_HZ = 8.0  # coarse frames per second; each averages two steps, so a shift between cells blurs little
FINE_SMOOTH = 3  # mel frames averaged in the verification: a shift by a fraction of a hop moves transients
NEIGHBOURS = 10  # candidates per track from the descriptor search
DYNAMIC_RANGE_DB = 40.0  # bands this far below a track's loudest band carry no weight (noise beds, codec floors)
MIN_STRUCTURE_DB = 1.0  # weighted temporal std below this: nothing to align (steady tones)
MIN_OVERLAP_SECONDS = 3.0  # and at least half the shorter track: short overlaps correlate by chance
# Measured on the synthetic set (1000 tracks x 30 s, 240 injected twins; docs/datasets.md): every twin reaches
# 0.84 coarse and 0.96 verified; distinct tracks of one genre stay below 0.82 coarse and 0.8 verified.
COARSE_GATE = 0.7  # coarse correlation a candidate needs before the full-rate check
NEAR_SIMILARITY = 0.9  # verified correlation from which a pair is a near twin, with FINE_BANDS bands (see _threshold)
REFINED_PEAKS = 8  # coarse offsets refined per pair: on a loop, a bar away can rank above the true offset
# Everything a search's result depends on besides the mels: part of the key of a remembered result (bump the
# first number when the code changes what it finds).
_SETTINGS = (1, COARSE_BANDS, FINE_BANDS, RATE_HZ, FINE_SMOOTH, NEIGHBOURS, DYNAMIC_RANGE_DB, MIN_STRUCTURE_DB,
             MIN_OVERLAP_SECONDS, COARSE_GATE, NEAR_SIMILARITY, REFINED_PEAKS)


@dataclass(frozen=True)
class Twin:
    """Two entries (indices into the searched list, a < b) holding one recording.

    `offset_frames`: where b's audio starts inside a's, in mel frames (negative: a starts inside b).
    """

    a: int
    b: int
    kind: str
    similarity: float
    offset_frames: int


@dataclass(frozen=True)
class _Print:
    """One track's fingerprint: weighted, centred coarse rows (bands x cells), descriptor, whether it can be
    aligned, and a digest of the rows that exact twins share."""

    rows: np.ndarray
    descriptor: np.ndarray
    structured: bool
    digest: str


def _bands(n_mels: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Start index and size of `count` contiguous groups of mel bands (one per mel when there are fewer)."""
    edges = np.unique(np.linspace(0, n_mels, min(count, n_mels) + 1).round().astype(int))
    return edges[:-1], np.diff(edges).astype(np.float32)[:, None]


class _Geometry:
    """Band groups, dropped edge frames and coarse cells for one feature setting, shared by every track."""

    def __init__(self, feat: FeatureConfig, sample_rate: int) -> None:
        self.coarse_bands = _bands(feat.n_mels, COARSE_BANDS)
        self.fine_bands = _bands(feat.n_mels, FINE_BANDS)
        # librosa's centred STFT pads the first and last frames: they dip alike in every file, so they are dropped.
        self.edge = math.ceil(feat.n_fft / (2 * feat.hop_length))
        self.frame_rate = sample_rate / feat.hop_length
        self.cell = max(1, round(self.frame_rate / RATE_HZ))

    def _power(self, mel: np.ndarray, bands: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """(bands, frames) mean power of each band group."""
        core = np.asarray(mel[:, self.edge:max(self.edge, mel.shape[1] - self.edge)], dtype=np.float32)
        starts, sizes = bands
        return np.add.reduceat(np.exp(core * np.float32(math.log(10.0) / 10.0)), starts, axis=0) / sizes

    def coarse(self, mel: np.ndarray) -> np.ndarray:
        """dB rows at `RATE_HZ`: cell i averages frames [i * cell, i * cell + 2 * cell)."""
        return _db(_moving_mean(self._power(mel, self.coarse_bands), 2 * self.cell)[:, ::self.cell])

    def fine(self, mel: np.ndarray) -> np.ndarray:
        """dB rows at the mel's frame rate, lightly smoothed."""
        return _db(_moving_mean(self._power(mel, self.fine_bands), FINE_SMOOTH))


def _moving_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Mean over each window of `width` columns (none when there are fewer columns)."""
    c = np.cumsum(np.pad(x, ((0, 0), (1, 0))), axis=1, dtype=np.float64)
    return (c[:, width:] - c[:, :-width]) / width


def _db(power: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(power, 1e-10))


def _band_weight(level: np.ndarray) -> np.ndarray:
    """Bands near the loudest count fully, bands `DYNAMIC_RANGE_DB` below not at all. Relative levels, so a gain
    change leaves the weights alone."""
    return np.clip(1.0 - (level.max() - level) / DYNAMIC_RANGE_DB, 0.0, 1.0)


def _weighted(rows: np.ndarray) -> np.ndarray:
    """Rows centred per band and scaled by their weight."""
    level = rows.mean(axis=1, keepdims=True)
    return ((rows - level) * np.sqrt(_band_weight(level))).astype(np.float32)


def _fingerprint(mel: np.ndarray, geo: _Geometry) -> _Print:
    rows = geo.coarse(mel)
    digest = hashlib.blake2b(rows.tobytes(), digest_size=16).hexdigest()
    if rows.shape[1] < 2:
        return _Print(rows.astype(np.float32), np.zeros(2 * rows.shape[0]), False, digest)
    level = rows.mean(axis=1)
    weight = _band_weight(level)
    std = rows.std(axis=1)
    structured = bool(np.sqrt(np.sum(weight * std ** 2) / max(weight.sum(), 1e-9)) >= MIN_STRUCTURE_DB)
    descriptor = np.concatenate([(level - level.max()) * weight, std * weight])
    return _Print(_weighted(rows), descriptor, structured, digest)


def _sliding_ncc(a: np.ndarray, b: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Correlation of b placed at each offset in a (b[t] against a[t + k]), each band's mean over the overlap
    removed, the bands pooled: 1 for one recording whatever its gain, near 0 for unrelated ones. One FFT serves
    every offset."""
    n = 1 << int(a.shape[1] + b.shape[1] - 1).bit_length()
    cross = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)[:, offsets % n]
    return _ncc(a, b, offsets, cross)


def _ncc_at(a: np.ndarray, b: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """`_sliding_ncc` at a few offsets, by direct sums: cheaper than the FFT of long full-rate rows."""
    lo, hi = np.maximum(0, -offsets), np.minimum(b.shape[1], a.shape[1] - offsets)
    cross = np.stack([np.einsum("ij,ij->i", a[:, s + k:e + k], b[:, s:e])
                      for k, s, e in zip(offsets, lo, hi, strict=True)], axis=1)
    return _ncc(a, b, offsets, cross)


def _ncc(a: np.ndarray, b: np.ndarray, offsets: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """Pooled correlation from the per-band cross sums (bands x offsets) and the overlaps' own sums."""
    lo, hi = np.maximum(0, -offsets), np.minimum(b.shape[1], a.shape[1] - offsets)
    length = (hi - lo).astype(np.float64)
    ca, ca2, cb, cb2 = _prefix(a), _prefix(a * a), _prefix(b), _prefix(b * b)
    sa, saa = ca[:, hi + offsets] - ca[:, lo + offsets], ca2[:, hi + offsets] - ca2[:, lo + offsets]
    sb, sbb = cb[:, hi] - cb[:, lo], cb2[:, hi] - cb2[:, lo]
    cov = (cross - sa * sb / length).sum(axis=0)
    var_a = (saa - sa * sa / length).sum(axis=0)
    var_b = (sbb - sb * sb / length).sum(axis=0)
    return cov / np.sqrt(np.maximum(var_a * var_b, 1e-12))


def _prefix(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1, dtype=np.float64)], axis=1)


def _offsets(ta: int, tb: int, min_overlap: float) -> np.ndarray:
    """Offsets (b inside a) whose overlap is at least `min_overlap` frames and half the shorter track."""
    need = max(min_overlap, 0.5 * min(ta, tb))
    k = np.arange(-(tb - 1), ta)
    overlap = np.minimum(tb, ta - k) - np.maximum(0, -k)
    return k[overlap >= need]


def _peaks(ncc: np.ndarray, offsets: np.ndarray, count: int) -> list[int]:
    """The offsets of the `count` highest correlations above the gate, at least two cells apart."""
    chosen: list[int] = []
    for i in np.argsort(ncc)[::-1]:
        if ncc[i] < COARSE_GATE or len(chosen) == count:
            break
        if all(abs(offsets[i] - c) >= 2 for c in chosen):
            chosen.append(int(offsets[i]))
    return chosen


def _threshold(bands: int) -> float:
    """The verified similarity a near twin needs with `bands` fine bands. Fewer mels (a quick profile's 32, a
    test's 16) tell less: two songs on one loop reached 0.9 at 16 bands on 12 s tracks, so the bar rises as the
    square root of the missing bands (0.93 at 32, 0.95 at 16), at the price of a twin missed now and then."""
    return 1.0 - (1.0 - NEAR_SIMILARITY) * math.sqrt(min(bands, FINE_BANDS) / FINE_BANDS)


class _Verifier:
    """Checks candidate pairs: coarse correlation over every offset, then the full frame rate around its peaks."""

    def __init__(self, entries: Sequence[Entry], prints: list[_Print], geo: _Geometry) -> None:
        self.entries, self.prints, self.geo = entries, prints, geo
        self.threshold = _threshold(len(geo.fine_bands[0]))
        self._fine: dict[int, np.ndarray] = {}

    def fine(self, i: int) -> np.ndarray:
        """Track i's weighted fine rows, read again from the cache only for a pair that passed the coarse check."""
        if i not in self._fine:
            if len(self._fine) > 128:  # few pairs get here: a small memo saves rereading a track with many twins
                self._fine.clear()
            self._fine[i] = _weighted(self.geo.fine(self.entries[i].load()))
        return self._fine[i]

    def pair(self, i: int, j: int) -> Twin | None:
        """A near twin (i, j), or None."""
        pa, pb = self.prints[i], self.prints[j]
        if not (pa.structured and pb.structured):
            return None
        offsets = _offsets(pa.rows.shape[1], pb.rows.shape[1], MIN_OVERLAP_SECONDS * RATE_HZ)
        if offsets.size == 0:
            return None
        peaks = _peaks(_sliding_ncc(pa.rows, pb.rows, offsets), offsets, REFINED_PEAKS)
        if not peaks:
            return None
        a, b, cell = self.fine(i), self.fine(j), self.geo.cell
        fine = _offsets(a.shape[1], b.shape[1], MIN_OVERLAP_SECONDS * self.geo.frame_rate)
        fine = fine[np.min(np.abs(fine[:, None] - cell * np.asarray(peaks)[None, :]), axis=1) <= cell]
        if fine.size == 0:
            return None
        ncc = _ncc_at(a, b, fine)
        top = int(np.argmax(ncc))
        if ncc[top] < self.threshold:
            return None
        return Twin(i, j, NEAR, round(float(ncc[top]), 4), int(fine[top]))


def _exact(entries: Sequence[Entry], prints: list[_Print]) -> list[Twin]:
    """Every pair of tracks with identical mels (the same decoded audio): same file content, or the same
    fingerprint and then the same mel compared in full."""
    by_digest: dict[str, list[int]] = {}
    for i, p in enumerate(prints):
        by_digest.setdefault(p.digest, []).append(i)
    twins = []
    for same in (group for group in by_digest.values() if len(group) > 1):
        for n, a in enumerate(same):
            for b in same[n + 1:]:
                if entries[a].digest == entries[b].digest or np.array_equal(entries[a].load(), entries[b].load()):
                    twins.append(Twin(a, b, EXACT, 1.0, 0))
    return twins


def _candidates(prints: list[_Print]) -> list[tuple[int, int]]:
    """Pairs (i < j) where one track is among the other's `NEIGHBOURS` nearest by descriptor."""
    x = np.stack([p.descriptor for p in prints]) if prints else np.zeros((0, 1))
    n, k = len(x), min(NEIGHBOURS, len(x) - 1)
    if k < 1:
        return []
    sq = np.einsum("ij,ij->i", x, x)
    pairs: set[tuple[int, int]] = set()
    for start in range(0, n, 1024):  # blocks of rows keep the distance matrix small
        block = sq[start:start + 1024, None] + sq[None, :] - 2.0 * x[start:start + 1024] @ x.T
        block[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        nearest = np.argpartition(block, k - 1, axis=1)[:, :k]
        pairs.update((min(i, int(j)), max(i, int(j))) for i, row in enumerate(nearest, start) for j in row)
    return sorted(pairs)


def find_twins(entries: Sequence[Entry], feat: FeatureConfig, sample_rate: int, progress: bool = False,
               log_from: int | None = NORMAL) -> list[Twin]:
    """Exact and near twins among cached entries (every one with features), sorted by (a, b).

    Each mel is read once (memory-mapped) for its fingerprint, and again only for a pair that passes the
    coarse check. Progress: bars on a terminal; in a log, lines from verbosity `log_from` (see `progress`).
    """
    geo = _Geometry(feat, sample_rate)
    prints: list[_Print] = []
    with display(progress) as shown:
        task = shown.task("fingerprint", len(entries), "tracks", log_from)
        for entry in entries:
            prints.append(_fingerprint(entry.load(), geo))
            task.advance()
        twins = _exact(entries, prints)
        known = {(t.a, t.b) for t in twins}
        verifier = _Verifier(entries, prints, geo)
        pairs = [p for p in _candidates(prints) if p not in known]
        task = shown.task("compare", len(pairs), "pairs", log_from)
        for i, j in pairs:
            twin = verifier.pair(i, j)
            if twin is not None:
                twins.append(twin)
            task.advance()
    return sorted(twins, key=lambda t: (t.a, t.b))


def cached_twins(entries: Sequence[Entry], cache_dir: Path, feat: FeatureConfig, sample_rate: int,
                 progress: bool = False, log_from: int | None = NORMAL) -> list[Twin]:
    """`find_twins`, remembered in `cache_dir/twins/` (a feature cache's folder for these mel settings): a warm
    pass over the same files (same contents in the same order) reads the pairs back instead of searching again,
    so a warm `prepare_data` stays a matter of milliseconds."""
    key = hashlib.blake2b(json.dumps([_SETTINGS, [e.digest for e in entries]]).encode(), digest_size=16).hexdigest()
    path = cache_dir / "twins" / f"{key}.json"
    try:
        rows = json.loads(path.read_text())
        twins = [Twin(int(a), int(b), str(kind), float(sim), int(offset)) for a, b, kind, sim, offset in rows]
        if all(0 <= t.a < t.b < len(entries) and t.kind in (EXACT, NEAR) for t in twins):
            return twins
    except (OSError, ValueError, TypeError):  # absent or damaged: search again and rewrite it
        pass
    twins = find_twins(entries, feat, sample_rate, progress, log_from)
    _save(path, [[t.a, t.b, t.kind, t.similarity, t.offset_frames] for t in twins])
    return twins


def _save(path: Path, rows: list[list]) -> None:
    """Write through a temp file and rename, so a reader never sees half a result; a read-only cache only warns
    (its warm passes search again)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as fh:
            json.dump(rows, fh)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        warnings.warn(f"could not remember the twin search in {path} ({exc.strerror or exc})", stacklevel=3)


def twin_rows(tracklist: TrackList, tracks: Sequence[Track], twins: Sequence[Twin], hop_seconds: float) -> list[dict]:
    """One row per pair, as `data audit` prints it: paths relative to the dataset root, `offset_seconds` where
    b starts inside a, `label_conflict` when the two carry different labels."""
    return [{"a": tracklist.relpath(tracks[t.a]), "b": tracklist.relpath(tracks[t.b]), "kind": t.kind,
             "similarity": t.similarity, "offset_seconds": round(t.offset_frames * hop_seconds, 3),
             "label_conflict": tracks[t.a].label != tracks[t.b].label} for t in twins]


def write_twins_csv(rows: Sequence[dict], path: Path) -> Path:
    """`duplicates.csv`: the rows of `twin_rows` under a header of `COLUMNS`."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def merge_groups(tracks: Sequence[Track], twins: Sequence[Twin]) -> list[Track]:
    """The tracks with twins merged into one group (a manifest group joins transitively), so a split that
    assigns groups keeps every copy of a recording on one side. Tracks without twins are returned unchanged."""
    parent = list(range(len(tracks)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_of: dict[str, int] = {}
    links = [(i, first_of.setdefault(t.group, i)) for i, t in enumerate(tracks) if t.group]
    for a, b in [*links, *((t.a, t.b) for t in twins)]:
        parent[root(a)] = root(b)
    members: dict[int, list[int]] = {}
    for i in range(len(tracks)):
        members.setdefault(root(i), []).append(i)
    out = list(tracks)
    for idx in (m for m in members.values() if len(m) > 1):
        names = sorted({tracks[i].group for i in idx if tracks[i].group})
        # An existing group name is kept (components are disjoint, so it stays unique); else the first path's.
        name = names[0] if names else f"twins:{tracks[idx[0]].path.as_posix()}"
        for i in idx:
            out[i] = replace(tracks[i], group=name)
    return out


def across_splits(tracklist: TrackList, tracks: Sequence[Track], splits: Sequence[str | None],
                  twins: Sequence[Twin], hop_seconds: float) -> tuple[list[dict], int]:
    """Data report rows (reason `twin_across_splits`) for the twins a split puts apart, each naming the track in
    the later split first, and how many test tracks have a twin in train."""
    rank = {s: i for i, s in enumerate(SPLIT_NAMES)}
    rows, test_with_train = [], set()
    for t in twins:
        if splits[t.a] is None or splits[t.b] is None or splits[t.a] == splits[t.b]:
            continue
        late, early = (t.a, t.b) if rank[splits[t.a]] > rank[splits[t.b]] else (t.b, t.a)
        if (splits[late], splits[early]) == ("test", "train"):
            test_with_train.add(late)
        offset = round(t.offset_frames * hop_seconds * (1 if late == t.b else -1), 2) + 0.0  # + 0.0: no "-0.00"
        rows.append({"path": tracklist.relpath(tracks[late]), "label": tracks[late].label, "reason": TWIN_ACROSS_SPLITS,
                     "detail": f"{t.kind} twin of {tracklist.relpath(tracks[early])} ({tracks[early].label}) in "
                               f"{splits[early]}, this one in {splits[late]}; similarity {t.similarity:.3f}, starting "
                               f"{offset:.2f} s into it"})
    return rows, len(test_with_train)
