"""The data and environment section: datasets, splits, skipped files, code versions, devices, run list."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib import metadata

import pandas as pd

from genrebench.data.duplicates import TWIN_ACROSS_SPLITS
from genrebench.report.collect import ui_link
from genrebench.report.render import Block, Cell, Heading, Para, Table, Warn
from genrebench.report.sections import Context
from genrebench.tracking.tags import TEST_TWINS_TAG, TWIN_PAIRS_TAG

PACKAGES = ("genrebench", "torch", "mlflow", "numpy", "pandas", "scipy", "matplotlib", "optuna")
_SPLITS = ("train", "val", "test")


def _when(ms) -> str:
    if pd.isna(ms):
        return "—"
    return datetime.fromtimestamp(float(ms) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def split_table(splits: pd.DataFrame) -> Table:
    """Tracks per label and split (from a run's `splits.csv`), with totals."""
    counts = pd.crosstab(splits["label"], splits["split"].fillna("unused"))
    columns = [c for c in _SPLITS if c in counts.columns] + [c for c in counts.columns if c not in _SPLITS]
    counts = counts[columns]
    counts["total"] = counts.sum(axis=1)
    rows = [[str(label), *(str(int(v)) for v in row)] for label, row in counts.iterrows()]
    rows.append([Cell("total", bold=True), *(Cell(str(int(v)), bold=True) for v in counts.sum(axis=0))])
    return Table(["label", *map(str, counts.columns)], rows)


def _dataset_blocks(ctx: Context) -> list[Block]:
    blocks: list[Block] = []
    for fingerprint, group in ctx.runs.groupby("fingerprint", sort=False):
        run_id = group["run_id"].iloc[0]
        blocks.append(Heading(f"Dataset {fingerprint}", 3))
        source = group.get("params.data.source", pd.Series(dtype=object)).dropna().unique()
        blocks.append(Para(f"{len(group)} run(s); source {', '.join(f'`{s}`' for s in source) or 'unknown'}; "
                           f"tables from run `{run_id}`."))
        splits = ctx.artifacts.csv(run_id, "splits.csv")
        blocks.append(split_table(splits) if splits is not None else Para("`splits.csv` is missing."))
        blocks += _twin_blocks(ctx, group)
        report = ctx.artifacts.csv(run_id, "data_report.csv", keep_default_na=False)
        if report is None:
            blocks.append(Para("`data_report.csv` is missing."))
            continue
        twins = report["reason"] == TWIN_ACROSS_SPLITS if "reason" in report else pd.Series(False, report.index)
        skipped = report[~twins]
        blocks += _rows_table(skipped, "file(s) skipped:") if not skipped.empty else [Para("No file was skipped.")]
        if twins.any():
            blocks += _rows_table(report[twins], "twin pair(s) split apart by the fixed split:")
    return blocks


def _rows_table(frame: pd.DataFrame, what: str) -> list[Block]:
    return [Para(f"{len(frame)} {what}"),
            Table(list(frame.columns), [[str(v) for v in r] for r in frame.itertuples(index=False)])]


def _twin_blocks(ctx: Context, group: pd.DataFrame) -> list[Block]:
    """"N test tracks have a twin in train", from the tag the run recorded (absent when the search was off)."""
    column = f"tags.{TEST_TWINS_TAG}"
    counts = pd.to_numeric(group[column], errors="coerce").dropna() if column in group else pd.Series(dtype=float)
    if counts.empty:
        return [Para("Duplicates were not searched for (`data.duplicates: off`, or runs older than the search).")]
    n = int(counts.max())
    pairs = pd.to_numeric(group.get(f"tags.{TWIN_PAIRS_TAG}", pd.Series(dtype=object)), errors="coerce").max()
    text = f"{n} test track(s) have a twin in train" + (f" ({int(pairs)} twin pair(s) in the data)."
                                                          if pd.notna(pairs) else ".")
    if n:
        ctx.warnings.append(f"{text[:-1]}: their scores are inflated (see the data section)")
        return [Warn(text)]
    return [Para(text)]


def _values(runs: pd.DataFrame, column: str) -> str:
    if column not in runs:
        return "unknown"
    counts = runs[column].fillna("unknown").astype(str).value_counts()
    return "; ".join(f"{v} ({n} run{'s' if n > 1 else ''})" for v, n in counts.items())


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _code_blocks(ctx: Context) -> list[Block]:
    runs = ctx.runs
    rows = [["genrebench version", _values(runs, "tags.genrebench.version")],
            ["git commit", _values(runs, "tags.git.commit")],
            ["uncommitted changes", _values(runs, "tags.git.dirty")],
            ["device", _values(runs, "tags.device")]]
    report_env = "; ".join(f"{p} {_version(p)}" for p in PACKAGES)
    return [Heading("Code and environment", 3), Table(["recorded by the runs", "values"], rows),
            Para(f"This report was generated with Python {platform.python_version()}; {report_env}.")]


def _run_rows(ctx: Context, frame: pd.DataFrame, reason: bool) -> list[list]:
    rows = []
    for _, r in frame.iterrows():
        link = Cell(str(r["run_id"]), href=ui_link(ctx.tracking_uri, str(r["experiment_id"]), str(r["run_id"])))
        seed = "—" if pd.isna(r.get("seed")) else str(r.get("seed"))
        row = [link, str(r.get("experiment")), str(r.get("variant")), seed, str(r["status"]),
               str(r.get("fingerprint")), _when(r.get("start_time"))]
        rows.append([*row, str(r.get("reason"))] if reason else row)
    return rows


def run_table(ctx: Context, frame: pd.DataFrame, reason: bool = False) -> Table:
    """Runs with their MLflow links (and why each was left out, with `reason`)."""
    headers = ["run id", "experiment", "variant", "seed", "status", "dataset", "started (UTC)"]
    return Table([*headers, "reason"] if reason else headers, _run_rows(ctx, frame, reason))


def environment_section(ctx: Context, excluded: pd.DataFrame) -> list[Block]:
    local = not ctx.tracking_uri.startswith(("http://", "https://"))
    how = ("run `genrebench ui` (or `mlflow ui --backend-store-uri` with this store) and follow the links"
           if local else "the links open the tracking server")
    blocks: list[Block] = [Heading("Data and environment"), *_dataset_blocks(ctx), *_code_blocks(ctx),
                           Heading("Runs in this report", 3), Para(f"To open a run in MLflow, {how}."),
                           run_table(ctx, ctx.runs)]
    if not excluded.empty:
        blocks += [Heading("Excluded runs", 3), Para("Only FINISHED runs enter the tables; these were left out."),
                   run_table(ctx, excluded, reason=True)]
    return blocks
