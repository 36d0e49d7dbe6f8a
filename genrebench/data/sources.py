"""Dataset sources: a labelled folder, a manifest CSV, or the built-in synthetic set, all as one TrackList."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from genrebench.errors import UserError

AUDIO_EXTENSIONS = frozenset({".wav", ".au", ".flac", ".ogg", ".mp3", ".opus"})
MANIFEST_COLUMNS = ("path", "label", "split", "group")
SPLIT_NAMES = ("train", "val", "test")
# Split spellings found in published lists and manifests, folded onto ours.
_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                  "dev": "val", "test": "test", "testing": "test", "eval": "test"}


@dataclass(frozen=True)
class Track:
    """One audio file with its label; `group` keeps related tracks (same artist, album) in one split."""

    path: Path
    label: str
    group: str | None = None
    split: str | None = None
    # The manifest line the track came from (header = line 1), for errors that name a row; not part of identity.
    row: int | None = field(default=None, compare=False)


@dataclass
class TrackList:
    """The tracks of a dataset, its sorted label names, and where relative paths are resolved from."""

    tracks: list[Track]
    labels: list[str]
    root: Path
    kind: str
    ignored: list[str] = field(default_factory=list)
    # Audio files in the root that a split protocol's lists leave out: counted, never used.
    excluded: list[str] = field(default_factory=list)
    manifest: Path | None = None

    def relpath(self, track: Track) -> str:
        """Path of a track relative to the dataset root (POSIX separators), as split lists write it."""
        try:
            return track.path.relative_to(self.root).as_posix()
        except ValueError:
            return track.path.as_posix()


def is_audio_file(path: Path) -> bool:
    """True for a visible file whose extension (any letter case) is a supported audio format."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in AUDIO_EXTENSIONS


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def folder_source(root: Path | str) -> TrackList:
    """Read `root/<label>/**/<audio files>`; hidden and non-audio files are ignored, labels sorted."""
    root = Path(root).expanduser()
    if not root.exists():
        raise UserError(f"dataset root not found: {root}")
    if not root.is_dir():
        raise UserError(f"dataset root is not a folder: {root}")
    try:
        label_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except PermissionError as exc:
        raise UserError(f"cannot read dataset root {root}: permission denied") from exc
    tracks: list[Track] = []
    ignored: list[str] = []
    for label_dir in label_dirs:
        found = []
        for path in sorted(label_dir.rglob("*")):
            if not path.is_file() or _is_hidden(path, root):
                continue
            if is_audio_file(path):
                found.append(Track(path=path, label=label_dir.name))
            else:
                ignored.append(path.relative_to(root).as_posix())
        if not found:
            raise UserError(f"label folder {label_dir} holds no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))})")
        tracks.extend(found)
    labels = sorted({t.label for t in tracks})
    if len(labels) < 2:
        raise UserError(f"dataset root {root} needs at least 2 label folders (root/<label>/*.wav), found {len(labels)}")
    return TrackList(tracks=tracks, labels=labels, root=root, kind="folder", ignored=ignored)


def _read_manifest_rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip().lower() for c in (reader.fieldnames or [])]
            missing = [c for c in ("path", "label") if c not in columns]
            if missing:
                raise UserError(f"manifest {path} is missing column(s) {', '.join(missing)} "
                                f"(expected {','.join(MANIFEST_COLUMNS)})")
            reader.fieldnames = columns
            return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"cannot read manifest {path}: {exc}") from exc


def manifest_source(path: Path | str) -> TrackList:
    """Read a CSV with columns `path,label[,split][,group]`; paths are relative to the manifest's folder."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"manifest not found: {path}")
    root = path.parent.resolve()
    tracks = []
    for line_no, row in enumerate(_read_manifest_rows(path), start=2):
        rel, label = row.get("path", ""), row.get("label", "")
        if not rel or not label:
            raise UserError(f"manifest {path} line {line_no}: empty path or label")
        audio = (root / rel).resolve()
        if not audio.is_relative_to(root):
            raise UserError(f"manifest {path} line {line_no}: path {rel!r} points outside the manifest's folder")
        split = row.get("split") or None
        if split is not None:
            if split.lower() not in _SPLIT_ALIASES:
                raise UserError(f"manifest {path} line {line_no}: unknown split {split!r} (use train, val or test)")
            split = _SPLIT_ALIASES[split.lower()]
        tracks.append(Track(path=audio, label=label, group=row.get("group") or None, split=split, row=line_no))
    labels = sorted({t.label for t in tracks})
    if len(labels) < 2:
        raise UserError(f"manifest {path} needs at least 2 labels, found {len(labels)}")
    return TrackList(tracks=tracks, labels=labels, root=root, kind="manifest", manifest=path)


def open_source(spec: Path | str) -> TrackList:
    """A folder or a `.csv` manifest, chosen by what `spec` is on disk."""
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".csv":
        return manifest_source(path)
    return folder_source(path)
