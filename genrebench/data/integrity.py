"""Integrity of splits written by hand (a manifest's split column, split lists): every check fails in one line
that names the file and its rows.

A group (one artist) in two splits leaks its timbre from train into test; a path listed twice would count one
track twice; a split column filled on some rows only used to be dropped for a stratified split without a word.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence

from genrebench.data.sources import SPLIT_NAMES, Track, TrackList
from genrebench.errors import UserError

_SHOWN = 4  # rows named in one message before "and N more"
_HATCH = "data.split.allow_split_groups=true"


def listing(items: Sequence[str], shown: int = _SHOWN) -> str:
    """`a, b, c` or `a, b, c, d and 7 more`: a list that keeps a message to one readable line."""
    head = ", ".join(items[:shown])
    return f"{head} and {len(items) - shown} more" if len(items) > shown else head


def manifest_name(tracklist: TrackList) -> str:
    return f"manifest {tracklist.manifest}" if tracklist.manifest else "manifest"


def rows_of(tracklist: TrackList, tracks: Sequence[Track], shown: int = _SHOWN) -> str:
    """Where tracks are written in their manifest: `lines 3, 5`, else (no line numbers) their paths."""
    if all(t.row for t in tracks):
        return f"line{'s' if len(tracks) > 1 else ''} {listing([str(t.row) for t in tracks], shown)}"
    return listing([tracklist.relpath(t) for t in tracks], shown)


def check_split_column(tracklist: TrackList, tracks: list[Track], required: bool) -> bool:
    """True when every row has a split, False when none has (allowed unless `required`); filled on some rows
    only is an error naming the empty ones."""
    empty = [t for t in tracks if not t.split]
    if not empty:
        return bool(tracks)
    filled = len(tracks) - len(empty)
    if filled:
        raise UserError(f"{manifest_name(tracklist)}: the split column is empty on {rows_of(tracklist, empty)} but "
                        f"filled on {filled} row(s); fill it on every row, or set data.split.method=stratified to "
                        "ignore it")
    if required:
        raise UserError(f"split method 'manifest' but {manifest_name(tracklist)} has no split column values "
                        f"(empty on {rows_of(tracklist, empty)})")
    return False


def check_duplicate_rows(tracklist: TrackList, tracks: list[Track]) -> None:
    """A path written on two manifest rows is an error naming the path and both rows."""
    rows: dict[str, list[Track]] = defaultdict(list)
    for t in tracks:
        rows[tracklist.relpath(t)].append(t)
    dups = [(rel, same) for rel, same in rows.items() if len(same) > 1]
    if dups:
        rel, same = dups[0]
        more = f" (and {len(dups) - 1} more duplicated path(s))" if len(dups) > 1 else ""
        raise UserError(f"{manifest_name(tracklist)} lists {rel} {len(same)} times ({rows_of(tracklist, same)}){more}")


def check_groups(tracks: list[Track], splits: list[str | None], where: Callable[[list[int]], str], source: str,
                 allow: bool) -> None:
    """A group whose tracks sit in two or more splits is an error naming the group and where each split puts
    it (`where(indices)`: those tracks' rows); with `allow`, one warning naming the groups and their splits."""
    spread: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, (t, s) in enumerate(zip(tracks, splits, strict=True)):
        if t.group and s is not None:
            spread[t.group][s].append(i)
    split_groups = {g: by for g, by in spread.items() if len(by) > 1}
    if not split_groups:
        return
    if allow:
        named = [f"{g!r} ({', '.join(s for s in SPLIT_NAMES if s in by)})" for g, by in split_groups.items()]
        warnings.warn(f"{source}: group(s) spanning splits, used as written ({_HATCH}): {listing(named, 3)}",
                      UserWarning, stacklevel=3)
        return
    group, by = next(iter(split_groups.items()))
    parts = [f"{s} ({where(by[s])})" for s in SPLIT_NAMES if s in by]
    more = f" (and {len(split_groups) - 1} more group(s))" if len(split_groups) > 1 else ""
    raise UserError(f"{source}: group {group!r} spans splits {' and '.join(parts)}{more}; keep a group in one "
                    f"split, or set {_HATCH}")
