"""Feature cache: one log-mel `.npy` per (audio content, preprocessing parameters), written atomically.

Layout: `<cache>/features/<params-key>/<hh>/<content-hash>.npy` plus a `.json` beside it. The JSON is
written last and is the commit marker: an entry without it, with a size or checksum that disagrees with
it, or with an unreadable header is treated as absent and rebuilt (with a warning), so a killed
extraction or a flipped byte is never read as valid data. Files that cannot be used are cached too (as
a JSON with their problem), so a second pass decodes no audio at all.

A warm pass must cost next to nothing, yet hashing every audio file and checksumming every entry is
most of a cold build's I/O. So `<params-key>/index.json` remembers, per audio path, the file's
(size, mtime, inode) with its digest and entry, and the same for the entry's two files as they were when
last verified. When all three still match, the entry is used without reading a byte; any change (a
rewritten audio file, a flipped byte written into an entry, a missing JSON) falls back to hashing and the
full check. What this gives up: damage that leaves size, mtime and inode unchanged (bit rot under the
file system) is not caught on warm passes; delete `index.json` to force a full check.

A cache built for a perturbation (`data.perturb`, for robustness evaluation) keys its folder on the perturbation
too, so degraded mels live apart from clean ones; `identity` (or none) keeps the clean key and shares its entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrebench.config import AudioConfig, FeatureConfig
from genrebench.data.audio import AudioProblem, load_checked, probe
from genrebench.data.features import mel_db
from genrebench.data.perturb import Perturbation

CACHE_VERSION = 1
_HASH_BLOCK = 1 << 20


def default_cache_dir(explicit: str | Path | None = None) -> Path:
    """`--cache-dir`, else `$GENREBENCH_CACHE`, else the user's cache directory."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("GENREBENCH_CACHE"):
        return Path(os.environ["GENREBENCH_CACHE"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("genrebench"))


def params_key(audio: AudioConfig, feat: FeatureConfig, perturbation: Perturbation | None = None) -> str:
    """Digest of every parameter the cached mel depends on (chunking and normalization excluded:
    they are applied when reading, so chunk-length and normalization ablations share one cache).
    A perturbation other than identity adds its name and parameters; none or identity leaves the key
    exactly as it was before perturbations existed, so clean features stay shared and old caches valid."""
    params = {"version": CACHE_VERSION, "sample_rate": audio.sample_rate, "silence_db": audio.silence_db,
              "n_mels": feat.n_mels, "n_fft": feat.n_fft, "hop_length": feat.hop_length,
              "fmin": feat.fmin, "fmax": feat.fmax}
    if perturbation is not None and not perturbation.is_identity:
        params["perturbation"] = perturbation.key()
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def content_hash(path: Path) -> str:
    """Digest of a file's bytes: a renamed or copied file hits the same entry, an edited one does not."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Entry:
    """A cached outcome for one file: a mel on disk, or the reason the file is unusable."""

    digest: str
    npy: Path | None
    n_samples: int
    n_frames: int
    problem: AudioProblem | None
    info: dict

    def load(self, mmap: bool = True) -> np.ndarray:
        """The track's mel (n_mels, frames), memory-mapped by default so nothing is copied into RAM."""
        if self.npy is None:
            raise ValueError(f"entry {self.digest} has no features ({self.problem})")
        return np.load(self.npy, mmap_mode="r" if mmap else None)


def _atomic_write(target: Path, write) -> None:
    """Write through a temp file in the same folder then rename, so readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            # A failed write (ENOSPC from inside np.save) carries no path; the user needs to know which disk.
            exc.filename = str(target)
        raise


def _file_crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            crc = zlib.crc32(block, crc)
    return crc


class FeatureCache:
    """Entries for one set of preprocessing parameters (and perturbation) under a cache root."""

    def __init__(self, root: Path | str, audio: AudioConfig, feat: FeatureConfig,
                 perturbation: Perturbation | None = None) -> None:
        self.root = Path(root)
        self.audio = audio
        self.feat = feat
        # Identity is stored as None: one clean cache, and no per-file call that changes nothing.
        self.perturbation = None if perturbation is None or perturbation.is_identity else perturbation
        if self.perturbation is not None:
            # A cutoff above this rate's Nyquist fails here, in one line, not in every worker.
            self.perturbation.check_rate(audio.sample_rate)
        self.dir = self.root / "features" / params_key(audio, feat, self.perturbation)

    def _paths(self, digest: str) -> tuple[Path, Path]:
        base = self.dir / digest[:2] / digest
        return base.with_suffix(".npy"), base.with_suffix(".json")

    def lookup(self, digest: str) -> Entry | None:
        """A valid entry, or None when absent; a damaged entry is removed with a warning and reported absent."""
        npy, meta_path = self._paths(digest)
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            return self._validate(digest, meta, npy)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(f"feature cache entry {meta_path} is damaged ({exc}); rebuilding it", stacklevel=2)
            meta_path.unlink(missing_ok=True)
            npy.unlink(missing_ok=True)
            return None

    def _validate(self, digest: str, meta: dict, npy: Path) -> Entry:
        if meta.get("version") != CACHE_VERSION:
            raise ValueError(f"version {meta.get('version')} != {CACHE_VERSION}")
        problem = AudioProblem(**meta["problem"]) if meta["problem"] else None
        if problem is None:
            if npy.stat().st_size != meta["npy_bytes"]:
                raise ValueError(f"size {npy.stat().st_size} != {meta['npy_bytes']} bytes")
            if _file_crc(npy) != meta["crc32"]:
                raise ValueError("checksum mismatch")
            arr = np.load(npy, mmap_mode="r")
            if list(arr.shape) != meta["shape"] or str(arr.dtype) != "float32":
                raise ValueError(f"shape {arr.shape} != {meta['shape']}")
        return Entry(digest=digest, npy=None if problem else npy, n_samples=int(meta["n_samples"]),
                     n_frames=int(meta["shape"][1]) if meta["shape"] else 0, problem=problem, info=meta["info"])

    def store(self, digest: str, mel: np.ndarray | None, n_samples: int, problem: AudioProblem | None,
              info: dict) -> Entry:
        """Write an entry: the `.npy` first, then the `.json` that makes it valid."""
        npy, meta_path = self._paths(digest)
        meta = {"version": CACHE_VERSION, "n_samples": int(n_samples), "info": info,
                "problem": problem.__dict__ if problem else None, "shape": [], "npy_bytes": 0, "crc32": 0}
        if mel is not None:
            _atomic_write(npy, lambda fh: np.save(fh, np.ascontiguousarray(mel, dtype=np.float32)))
            meta.update(shape=list(mel.shape), npy_bytes=npy.stat().st_size, crc32=_file_crc(npy))
        try:
            _atomic_write(meta_path, lambda fh: fh.write(json.dumps(meta, indent=1).encode()))
        except BaseException:
            # Without its JSON the .npy is dead weight (never read); on a full disk, every byte freed counts.
            npy.unlink(missing_ok=True)
            raise
        return Entry(digest=digest, npy=npy if mel is not None else None, n_samples=int(n_samples),
                     n_frames=int(mel.shape[1]) if mel is not None else 0, problem=problem, info=info)


def _stamp(path: Path) -> list[int] | None:
    """What changes whenever a file is rewritten or replaced: size, mtime (ns) and inode."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


class StatIndex:
    """Verified entries keyed by audio path and file stamps (see the module docstring)."""

    def __init__(self, cache: FeatureCache) -> None:
        self.cache = cache
        self.path = cache.dir / "index.json"
        self.rows: dict[str, dict] = self._read()
        self.changed = False

    def _read(self) -> dict[str, dict]:
        try:
            rows = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return rows if isinstance(rows, dict) and rows.get("version") == CACHE_VERSION else {}

    def get(self, path: Path) -> Entry | None:
        """The entry for `path` when neither it nor the entry's files changed since they were verified."""
        row = self.rows.get(str(path.resolve()))
        if row is None or row["audio"] != _stamp(path):
            return None
        npy, meta = self.cache._paths(row["digest"])  # noqa: SLF001 - one layout, owned by FeatureCache
        if row["meta"] != _stamp(meta) or (row["problem"] is None and row["npy"] != _stamp(npy)):
            return None
        problem = AudioProblem(**row["problem"]) if row["problem"] else None
        return Entry(digest=row["digest"], npy=None if problem else npy, n_samples=row["n_samples"],
                     n_frames=row["n_frames"], problem=problem, info=row["info"])

    def put(self, path: Path, entry: Entry) -> None:
        """Remember a verified (or freshly written) entry; problem files without a digest are not indexed."""
        if not entry.digest:
            return
        npy, meta = self.cache._paths(entry.digest)  # noqa: SLF001
        self.rows[str(path.resolve())] = {
            "audio": _stamp(path), "digest": entry.digest, "meta": _stamp(meta),
            "npy": _stamp(npy) if entry.npy is not None else None, "n_samples": entry.n_samples,
            "n_frames": entry.n_frames, "problem": entry.problem.__dict__ if entry.problem else None,
            "info": entry.info}
        self.changed = True

    def save(self) -> None:
        """Merge into the index on disk (another process may have added rows) and replace it atomically."""
        if not self.changed:
            return
        rows = {**self._read(), **self.rows, "version": CACHE_VERSION}
        try:
            _atomic_write(self.path, lambda fh: fh.write(json.dumps(rows).encode()))
        except OSError as exc:  # a read-only cache still works, only warm passes stay slower
            warnings.warn(f"could not update the cache index {self.path} ({exc.strerror or exc})", stacklevel=2)
        self.changed = False


def extract_one(path: str, cache_root: str, audio: dict, feat: dict, perturbation: dict | None = None) -> dict:
    """Worker: the cached entry for one file, decoding it only on a miss. Returns the entry and whether
    audio was decoded (the count is how tests prove a warm pass decodes nothing).

    `perturbation` is a `Perturbation.key()` (dicts pickle to any worker): it degrades the decoded audio
    after the usability check (a problem is the clean file's) and before the mel, seeded with the file's
    content digest so a rebuilt entry is bit-identical."""
    chosen = Perturbation.from_key(perturbation) if perturbation is not None else None
    cache = FeatureCache(cache_root, AudioConfig(**audio), FeatureConfig(**feat), chosen)
    p = Path(path)
    try:
        digest = content_hash(p)
    except OSError as exc:
        problem = AudioProblem("unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
        return {"entry": Entry("", None, 0, 0, problem, {}), "decoded": False}
    entry = cache.lookup(digest)
    if entry is not None:
        return {"entry": entry, "decoded": False}
    y, problem = load_checked(p, cache.audio.sample_rate, cache.audio.silence_db)
    if problem is None and cache.perturbation is not None:
        y = cache.perturbation.apply(y, cache.audio.sample_rate, digest)
    mel = mel_db(y, cache.audio.sample_rate, cache.feat) if problem is None else None
    info = probe(p)
    n_samples = 0 if y is None else len(y)
    return {"entry": cache.store(digest, mel, n_samples, problem, info), "decoded": True}
