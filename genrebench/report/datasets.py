"""Dataset groups: runs on different data are reported side by side, never compared, pooled or superseded across.

A group is the runs that share a data fingerprint (tag `dataset.fingerprint`) and an evaluation protocol (tag
`genrebench.protocol`; `default` for a run without one). Each group gets the sections a single-dataset report has.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from genrebench.report.analysis import DEFAULT_PROTOCOL, GROUP_KEYS
from genrebench.report.render import Block, Heading

SHORT = 8  # fingerprint characters shown in titles, tables and figure names


@dataclass(eq=False)
class DatasetGroup:
    """The kept and the excluded runs of one (fingerprint, protocol)."""

    fingerprint: str
    protocol: str
    runs: pd.DataFrame
    excluded: pd.DataFrame

    @property
    def name(self) -> str:
        """The short fingerprint, with the protocol unless it is the default: the key in CSVs and figure names."""
        short = self.fingerprint[:SHORT]
        return short if self.protocol == DEFAULT_PROTOCOL else f"{short}/{self.protocol}"

    def sources(self) -> list[str]:
        """The data sources (`data.source` param) the runs recorded, e.g. a folder or `synthetic`."""
        column = self.runs.get("params.data.source", pd.Series(dtype=object))
        return sorted(column.dropna().astype(str).unique())

    def title(self) -> str:
        where = ", ".join(f"`{s}`" for s in self.sources()) or "of unknown source"
        protocol = "" if self.protocol == DEFAULT_PROTOCOL else f", protocol `{self.protocol}`"
        return f"Dataset {where} (fingerprint {self.fingerprint[:SHORT]}{protocol})"


def _in_group(frame: pd.DataFrame, key: tuple[str, str]) -> pd.Series:
    return (frame[GROUP_KEYS[0]] == key[0]) & (frame[GROUP_KEYS[1]] == key[1])


def dataset_groups(runs: pd.DataFrame, excluded: pd.DataFrame) -> list[DatasetGroup]:
    """The kept runs by (fingerprint, protocol), groups in the order of their first run.

    Excluded runs go with the group of their key; with a single group all of them do, so a report on one
    dataset lists every excluded run as before.
    """
    if runs.empty:
        return []
    ordered = runs.sort_values("start_time", kind="stable")
    keys = list(ordered[GROUP_KEYS].drop_duplicates().itertuples(index=False, name=None))
    groups = []
    for key in keys:
        gone = _in_group(excluded, key) if len(keys) > 1 else pd.Series(True, index=excluded.index)
        groups.append(DatasetGroup(str(key[0]), str(key[1]), runs[_in_group(runs, key)].reset_index(drop=True),
                                   excluded[gone].reset_index(drop=True)))
    return groups


def unmatched_excluded(groups: list[DatasetGroup], excluded: pd.DataFrame) -> pd.DataFrame:
    """Excluded runs whose dataset group has no kept run (reported after the groups)."""
    if len(groups) < 2:
        return excluded.iloc[0:0]
    taken = pd.Series(False, index=excluded.index)
    for group in groups:
        taken |= _in_group(excluded, (group.fingerprint, group.protocol))
    return excluded[~taken].reset_index(drop=True)


def spans_warning(groups: list[DatasetGroup]) -> str:
    """The one warning of a report on several datasets."""
    names = ", ".join(g.name for g in groups)
    return f"report spans {len(groups)} datasets (fingerprints {names}): each is reported in its own section"


def demote(blocks: list[Block]) -> list[Block]:
    """Headings one level lower, so a dataset's sections nest under its title."""
    return [Heading(b.text, min(b.level + 1, 6)) if isinstance(b, Heading) else b for b in blocks]
