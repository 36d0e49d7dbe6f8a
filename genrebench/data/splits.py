"""Track-level (group-aware) splits, decided before any chunking so no track straddles two splits.

The seed split its chunks, so overlapping windows of one song sat in train and validation at once and
its accuracy was inflated. Here the unit of assignment is the group (a track is its own group unless a
manifest names one), and chunks inherit their track's split.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from genrebench.config import SplitConfig
from genrebench.data.integrity import (
    check_duplicate_rows,
    check_groups,
    check_split_column,
    listing,
    manifest_name,
    rows_of,
)
from genrebench.data.sources import SPLIT_NAMES, Track, TrackList
from genrebench.errors import UserError

# File names of split lists, as GTZAN's fault-filtered split publishes them (and common variants).
LIST_FILES = {"train": ("train.txt", "train_filtered.txt"), "val": ("valid.txt", "val.txt", "valid_filtered.txt"),
              "test": ("test.txt", "test_filtered.txt")}


def assign_splits(tracklist: TrackList, tracks: list[Track], cfg: SplitConfig) -> list[str | None]:
    """The split ("train", "val", "test", or None when a split list leaves a track out) of each track; a manifest
    path on two rows is an error whatever the method (a stratified split could put one file in train and test)."""
    check_duplicate_rows(tracklist, tracks)
    method = cfg.method
    if method == "auto":
        method = "manifest" if check_split_column(tracklist, tracks, required=False) else "stratified"
    if method == "manifest":
        return _from_manifest(tracklist, tracks, cfg)
    if method == "lists":
        return _from_lists(tracklist, tracks, Path(cfg.lists_dir), allow_split_groups=cfg.allow_split_groups)
    groups = _groups(tracks)
    by_group = _kfold(groups, cfg) if method == "kfold" else _stratified(groups, cfg)
    return [by_group[_group_of(i, t)] for i, t in enumerate(tracks)]


def _from_manifest(tracklist: TrackList, tracks: list[Track], cfg: SplitConfig) -> list[str | None]:
    """The manifest's split column as written, once every row has one, no path repeats and no group spans
    splits (a warning instead with `allow_split_groups`)."""
    check_split_column(tracklist, tracks, required=True)
    splits: list[str | None] = [t.split for t in tracks]
    check_groups(tracks, splits, lambda idx: rows_of(tracklist, [tracks[i] for i in idx], 3),
                 manifest_name(tracklist), cfg.allow_split_groups)
    return splits


def _group_of(index: int, track: Track) -> str:
    return f"g:{track.group}" if track.group else f"t:{index}"


def _groups(tracks: list[Track]) -> dict[str, dict[str, list[str]]]:
    """label -> {group: [labels of its tracks]}; a group is stratified under its most common label."""
    members: dict[str, list[str]] = defaultdict(list)
    for i, t in enumerate(tracks):
        members[_group_of(i, t)].append(t.label)
    by_label: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for group, labels in members.items():
        majority = max(sorted(set(labels)), key=labels.count)
        by_label[majority][group] = labels
    return by_label


def _stratified(groups: dict[str, dict[str, list[str]]], cfg: SplitConfig) -> dict[str, str]:
    rng = np.random.default_rng(cfg.seed)
    _, f_val, f_test = cfg.fractions
    out: dict[str, str] = {}
    for label in sorted(groups):
        names = sorted(groups[label])
        n = len(names)
        n_val = _share(n, f_val)
        n_test = _share(n, f_test)
        if n - n_val - n_test < 1:
            raise UserError(f"label {label!r} has only {n} track(s)/group(s): too few for a "
                            f"{'/'.join(str(f) for f in cfg.fractions)} train/val/test split")
        order = rng.permutation(n)
        for rank, idx in enumerate(order):
            out[names[idx]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return out


def _share(n: int, fraction: float) -> int:
    """Groups of one label for a split: rounded, but at least one whenever the split is asked for."""
    if fraction <= 0:
        return 0
    return max(1, int(round(n * fraction)))


def _kfold(groups: dict[str, dict[str, list[str]]], cfg: SplitConfig) -> dict[str, str]:
    """HEAR-style folds: test = fold i, val = fold i+1, train = the rest; each label dealt round-robin."""
    total = sum(len(g) for g in groups.values())
    if total < cfg.folds:
        raise UserError(f"{total} tracks/groups cannot fill {cfg.folds} folds")
    rng = np.random.default_rng(cfg.seed)
    fold_of: dict[str, int] = {}
    offset = 0
    for label in sorted(groups):
        names = sorted(groups[label])
        for rank, idx in enumerate(rng.permutation(len(names))):
            fold_of[names[idx]] = (offset + rank) % cfg.folds
        # Rotating the starting fold keeps fold sizes balanced when labels do not divide evenly.
        offset += len(names)
    val_fold = (cfg.fold + 1) % cfg.folds
    return {g: "test" if f == cfg.fold else "val" if f == val_fold else "train" for g, f in fold_of.items()}


def _read_list(folder: Path, split: str) -> tuple[Path, list[tuple[int, str]]]:
    """The list file found for `split` and its (line number, path) entries; blank and `#` lines skipped."""
    for name in LIST_FILES[split]:
        path = folder / name
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            return path, [(n, ln.strip().replace("\\", "/")) for n, ln in enumerate(lines, start=1)
                          if ln.strip() and not ln.startswith("#")]
    raise UserError(f"split lists folder {folder} has no {' or '.join(LIST_FILES[split])}")


def _list_entries(folder: Path) -> dict[str, tuple[str, str, int]]:
    """Relative path -> (split, list file name, line); a path listed twice, in one file or in two, is an error
    naming both places."""
    if not folder.is_dir():
        raise UserError(f"split lists folder not found: {folder}")
    where: dict[str, tuple[str, str, int]] = {}
    for split in SPLIT_NAMES:
        path, entries = _read_list(folder, split)
        for line, rel in entries:
            if rel in where:
                first, name, first_line = where[rel]
                if first == split:
                    raise UserError(f"split list {path} lists {rel} twice (lines {first_line} and {line})")
                raise UserError(f"split lists in {folder} put {rel} in both {name} line {first_line} and "
                                f"{path.name} line {line}")
            where[rel] = (split, path.name, line)
    return where


def _list_line(rel: str, where: dict[str, tuple[str, str, int]]) -> str:
    _, name, line = where[rel]
    return f"{rel} at {name} line {line}"


def read_split_lists(folder: Path) -> dict[str, str]:
    """Relative path -> split from a folder's `train.txt`/`valid.txt`/`test.txt` (or `*_filtered.txt`)."""
    return {rel: entry[0] for rel, entry in _list_entries(folder).items()}


def _from_lists(tracklist: TrackList, tracks: list[Track], folder: Path,
                allow_split_groups: bool = False) -> list[str | None]:
    """Splits from `train.txt`/`valid.txt`/`test.txt` of paths relative to the dataset root; a group spanning
    splits is an error naming the list lines (a warning with `allow_split_groups`)."""
    where = _list_entries(folder)
    rels = [tracklist.relpath(t) for t in tracks]
    unknown = set(where) - set(rels)
    if unknown:
        warnings.warn(f"{len(unknown)} path(s) in the split lists are not in the dataset "
                      f"(e.g. {sorted(unknown)[0]})", stacklevel=2)
    splits = [where[rel][0] if rel in where else None for rel in rels]
    check_groups(tracks, splits, lambda idx: listing([_list_line(rels[i], where) for i in idx], 2),
                 f"split lists in {folder}", allow_split_groups)
    return splits


def split_counts(tracks: list[Track], splits: list[str | None], labels: list[str]) -> dict[str, dict[str, int]]:
    """Tracks per label per split: {label: {"train": n, "val": n, "test": n}}."""
    counts = {label: dict.fromkeys(SPLIT_NAMES, 0) for label in labels}
    for t, s in zip(tracks, splits, strict=True):
        if s is not None:
            counts[t.label][s] += 1
    return counts


def deal_chunks(tracks: list[Track], starts: list[list[int]], cfg: SplitConfig) -> list[list[str]]:
    """The split of every chunk (`data.split.unit: chunk`): each label's chunks shuffled and dealt by the split
    fractions, whatever track they come from. This is the seed's leak, kept to measure it: windows of one song
    land in train and test, so the test set partly repeats the training set."""
    rng = np.random.default_rng(cfg.seed)
    _, f_val, f_test = cfg.fractions
    out = [[""] * len(s) for s in starts]
    by_label: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, t in enumerate(tracks):
        by_label[t.label].extend((i, k) for k in range(len(starts[i])))
    for label in sorted(by_label):
        chunks = by_label[label]
        n_val, n_test = _share(len(chunks), f_val), _share(len(chunks), f_test)
        if len(chunks) - n_val - n_test < 1:
            raise UserError(f"label {label!r} has only {len(chunks)} chunk(s): too few to split by chunk")
        for rank, idx in enumerate(rng.permutation(len(chunks))):
            i, k = chunks[idx]
            out[i][k] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return out
