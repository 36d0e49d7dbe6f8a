"""Named split protocols: published splits fixed by a dataset's authors or a paper, chosen with
`data.split.method: <name>` and listed by `genrebench protocols`.

A protocol is one function decorated `@register_protocol(...)`: it turns the `--data` root into a TrackList whose
tracks already carry their split, so comparisons with published numbers use exactly the published split. Listed
files missing from the root are an error under `data.strict`, else a warning; files in the root that the protocol
leaves out are never used (counted in `TrackList.excluded`).
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from genrebench.config import SPLIT_METHODS
from genrebench.data.sources import Track, TrackList, folder_source
from genrebench.data.splits import read_split_lists
from genrebench.errors import UserError, did_you_mean

# The published lists shipped with the package (package data, see pyproject.toml), with their README as credit.
LISTS_DIR = Path(__file__).resolve().parent / "protocol_lists"
# How many missing files an error or warning names before it says "and N more".
MISSING_LISTED = 5

ProtocolLoader = Callable[[Path, bool], TrackList]


@dataclass(frozen=True)
class Protocol:
    """A named published split: what it is, where it comes from, and how to read it from a dataset root."""

    name: str
    dataset: str
    fixes: str
    source: str
    load: ProtocolLoader

    def row(self) -> dict[str, str]:
        return {"name": self.name, "dataset": self.dataset, "fixes": self.fixes, "source": self.source}


_PROTOCOLS: dict[str, Protocol] = {}


def register_protocol(*, name: str, dataset: str, fixes: str, source: str) -> Callable[[ProtocolLoader],
                                                                                        ProtocolLoader]:
    """Register `load(root, strict) -> TrackList` (every track with its split) under `name`; duplicates refused."""

    def decorator(load: ProtocolLoader) -> ProtocolLoader:
        if name in _PROTOCOLS or name in SPLIT_METHODS:
            raise ValueError(f"split protocol {name!r} is already registered or a built-in split method")
        _PROTOCOLS[name] = Protocol(name=name, dataset=dataset, fixes=fixes, source=source, load=load)
        return load

    return decorator


def list_protocols() -> list[str]:
    return sorted(_PROTOCOLS)


def protocol_table() -> list[dict[str, str]]:
    """One row per protocol (name, dataset, fixes, source), for `genrebench protocols`."""
    return [_PROTOCOLS[n].row() for n in list_protocols()]


def get_protocol(name: str) -> Protocol | None:
    """The protocol of a `data.split.method`, or None for a built-in method; an unknown name is a UserError."""
    check_split_method(name)
    return _PROTOCOLS.get(name)


def check_split_method(name: str, where: str = "data.split.method") -> None:
    """A one-line error naming the known methods and protocols (with close matches) for an unknown name."""
    if name in SPLIT_METHODS or name in _PROTOCOLS:
        return
    known = [*SPLIT_METHODS, *list_protocols()]
    raise UserError(f"{where}: unknown split method {name!r}{did_you_mean(name, known)} "
                    f"(methods: {', '.join(SPLIT_METHODS)}; protocols: {', '.join(list_protocols())})")


def check_missing(missing: list[str], root: Path, protocol: str, strict: bool) -> None:
    """Listed files absent from the root: an error under `data.strict`, else a warning (they are left out)."""
    if not missing:
        return
    shown = ", ".join(missing[:MISSING_LISTED])
    more = f" and {len(missing) - MISSING_LISTED} more" if len(missing) > MISSING_LISTED else ""
    message = f"{len(missing)} file(s) of split protocol {protocol} are missing from {root}: {shown}{more}"
    if strict:
        raise UserError(f"{message} (--strict)")
    warnings.warn(f"{message}; they are left out", stacklevel=3)


def _warn_excluded(excluded: list[str], root: Path, protocol: str) -> None:
    if excluded:
        warnings.warn(f"{len(excluded)} audio file(s) in {root} are in no split of protocol {protocol} and are not "
                      f"used (e.g. {excluded[0]})", stacklevel=3)


def _labelled(tracks: list[Track], root: Path, kind: str, excluded: list[str]) -> TrackList:
    labels = sorted({t.label for t in tracks})
    if len(labels) < 2:
        raise UserError(f"split protocol {kind}: {root} has tracks of {len(labels)} label(s), at least 2 needed")
    return TrackList(tracks=tracks, labels=labels, root=root, kind=kind, excluded=excluded)


def lists_protocol(root: Path, folder: Path, protocol: str, strict: bool) -> TrackList:
    """The `lists` machinery pointed at shipped lists: a folder source restricted to the listed files."""
    where = read_split_lists(folder)
    source = folder_source(root)
    tracks, excluded = [], []
    for track in source.tracks:
        rel = source.relpath(track)
        if rel in where:
            tracks.append(replace(track, split=where.pop(rel)))
        else:
            excluded.append(rel)
    check_missing(sorted(where), source.root, protocol, strict)
    _warn_excluded(excluded, source.root, protocol)
    return _labelled(tracks, source.root, protocol, excluded)


@register_protocol(name="gtzan-ff", dataset="GTZAN",
                   fixes="splits: 443/197/290 tracks, faults removed, artist-filtered",
                   source="Kereliuk, Sturm & Larsen 2015, Deep Learning and Music Adversaries (IEEE TMM)")
def gtzan_ff(root: Path, strict: bool) -> TrackList:
    """GTZAN's fault-filtered split; `root` is GTZAN's genre folder (`blues/blues.00000.wav`, ...)."""
    return lists_protocol(root, LISTS_DIR / "gtzan_ff", "gtzan-ff", strict)


# FMA's tracks.csv: three header rows (top level, second level, then the index name `track_id`).
FMA_HEADER_ROWS = 3
FMA_SUBSETS = ("small", "medium", "large")
_FMA_COLUMNS = {"split": ("set", "split"), "subset": ("set", "subset"), "genre": ("track", "genre_top")}


def _fma_columns(header: list[list[str]], path: Path) -> dict[str, int]:
    pairs = list(zip(header[0], header[1], strict=False))
    out = {}
    for key, want in _FMA_COLUMNS.items():
        if want not in pairs:
            raise UserError(f"{path} has no column {'/'.join(want)} (is it FMA's fma_metadata/tracks.csv?)")
        out[key] = pairs.index(want)
    return out


def read_fma_tracks(path: Path) -> list[tuple[int, str, str, str]]:
    """(track id, split, subset, top genre) of every row of FMA's `tracks.csv`."""
    if not path.is_file():
        raise UserError(f"FMA metadata not found: {path} (--data must hold fma_metadata/ and the audio folder)")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = [next(reader, []) for _ in range(FMA_HEADER_ROWS)]
            cols = _fma_columns(header, path)
            return [(int(row[0]), row[cols["split"]], row[cols["subset"]], row[cols["genre"]])
                    for row in reader if row and row[0].strip()]
    except (OSError, UnicodeDecodeError, csv.Error, ValueError, IndexError) as exc:
        raise UserError(f"cannot read FMA metadata {path}: {exc}") from exc


def fma_protocol(root: Path, subset: str, strict: bool) -> TrackList:
    """FMA's own split of one subset; subsets nest (small ⊂ medium ⊂ large), audio in `fma_<subset>/`."""
    root = Path(root).expanduser()
    audio_dir = root / f"fma_{subset}"
    if not audio_dir.is_dir():
        raise UserError(f"FMA audio folder not found: {audio_dir}")
    wanted = set(FMA_SUBSETS[:FMA_SUBSETS.index(subset) + 1])
    splits = {"training": "train", "validation": "val", "test": "test"}
    tracks, missing = [], []
    for track_id, split, sub, genre in read_fma_tracks(root / "fma_metadata" / "tracks.csv"):
        if sub not in wanted or split not in splits or not genre:
            continue
        tid = f"{track_id:06d}"
        path = audio_dir / tid[:3] / f"{tid}.mp3"
        if path.is_file():
            tracks.append(Track(path=path, label=genre, split=splits[split]))
        else:
            missing.append(path.relative_to(root).as_posix())
    name = f"fma-{subset}"
    check_missing(missing, root, name, strict)
    return _labelled(tracks, root, name, [])


@register_protocol(name="fma-small", dataset="FMA small (8 genres)",
                   fixes="splits: FMA's training/validation/test, artist-filtered; 8,000 tracks",
                   source="Defferrard et al. 2017, FMA: A Dataset for Music Analysis (ISMIR)")
def fma_small(root: Path, strict: bool) -> TrackList:
    """FMA small: `root/fma_metadata/tracks.csv` and `root/fma_small/<000>/<000002>.mp3`."""
    return fma_protocol(root, "small", strict)


@register_protocol(name="fma-medium", dataset="FMA medium (16 genres)",
                   fixes="splits: FMA's training/validation/test, artist-filtered; 25,000 tracks",
                   source="Defferrard et al. 2017, FMA: A Dataset for Music Analysis (ISMIR)")
def fma_medium(root: Path, strict: bool) -> TrackList:
    """FMA medium (small and medium subsets): `root/fma_metadata/tracks.csv` and `root/fma_medium/...`."""
    return fma_protocol(root, "medium", strict)
