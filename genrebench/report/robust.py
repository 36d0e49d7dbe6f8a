"""The Robustness section: how much test track accuracy each variant loses under each audio degradation, from the
`robust/<perturbation>/test_track_acc` metrics a robustness evaluation logs into a run (`genrebench evaluate`, or
`evaluate:` at the end of a run; see docs/robustness.md).

A run's drop under a perturbation is its accuracy there minus its own clean (`identity`) accuracy, so every run is
compared with itself; a variant's cell is the mean of its runs' drops with a Student-t 95% interval over them
(seeds, and folds for a k-fold variant), as the summary's intervals are.
"""

from __future__ import annotations

import pandas as pd

from genrebench.data.perturb import DEFAULT_SUITE, IDENTITY, parse_spec
from genrebench.metrics import ROBUST_PREFIX
from genrebench.report import figures
from genrebench.report.render import Block, Heading, Para, Table, fmt
from genrebench.report.sections import Context, variant_name
from genrebench.report.stats import mean_ci

_COLUMN = f"metrics.{ROBUST_PREFIX}"
_SUFFIX = "/test_track_acc"


def robust_drops(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, perturbation other than identity) of the runs that were evaluated: `label`, `run_id`,
    `perturbation` (its slug), `acc`, `clean` (the run's identity accuracy) and `drop` (acc - clean)."""
    identity = f"{_COLUMN}{IDENTITY}{_SUFFIX}"
    if identity not in runs:
        return pd.DataFrame(columns=["label", "run_id", "perturbation", "acc", "clean", "drop"])
    rows = []
    for column in runs.columns:
        if not (column.startswith(_COLUMN) and column.endswith(_SUFFIX)) or column == identity:
            continue
        slug = column[len(_COLUMN):-len(_SUFFIX)]
        for _, run in runs[runs[column].notna() & runs[identity].notna()].iterrows():
            rows.append({"label": run["label"], "run_id": run["run_id"], "perturbation": slug, "acc": run[column],
                         "clean": run[identity], "drop": run[column] - run[identity]})
    return pd.DataFrame(rows, columns=["label", "run_id", "perturbation", "acc", "clean", "drop"])


def drop_table(drops: pd.DataFrame, labels: list[str], perturbations: list[str]) -> dict[tuple[str, str], dict]:
    """{(variant, perturbation): mean_ci of its runs' drops}, for the pairs that have any."""
    out = {}
    for (label, slug), group in drops.groupby(["label", "perturbation"]):
        if label in labels and slug in perturbations:
            out[(str(label), str(slug))] = mean_ci(group["drop"].to_numpy(dtype=float))
    return out


_SUITE_SLUGS = [parse_spec(spec).slug for spec in DEFAULT_SUITE]


def _suite_order(slug: str) -> tuple[int, str]:
    """The default suite's order (noise, codecs, filters, level, room, pitch, tempo, clipping), then the rest by
    name."""
    suite = _SUITE_SLUGS
    return (suite.index(slug), "") if slug in suite else (len(suite), slug)


def _cell(stat: dict | None) -> str:
    if stat is None:
        return "—"
    if stat["n"] < 2:
        return f"{fmt(stat['mean'])} (1 run)"
    return f"{fmt(stat['mean'])} [{fmt(stat['ci_low'])}, {fmt(stat['ci_high'])}]"


def robustness_section(ctx: Context) -> list[Block]:
    """The variant x perturbation drops as a table and a heatmap; nothing when no run was evaluated."""
    drops = robust_drops(ctx.runs)
    if drops.empty:
        return []
    labels = [str(lab) for lab in ctx.summary.index if lab in set(drops["label"])]
    perturbations = sorted(set(drops["perturbation"]), key=_suite_order)
    stats = drop_table(drops, labels, perturbations)
    leaky = {str(label): bool(flag) for label, flag in ctx.summary["leaky"].items()}
    per_run = drops.drop_duplicates("run_id")
    clean = {str(lab): mean_ci(g["clean"].to_numpy(dtype=float)) for lab, g in per_run.groupby("label")}
    rows = [[variant_name(label, bool(leaky.get(label, False))), _cell(clean.get(label)),
             *(_cell(stats.get((label, slug))) for slug in perturbations)] for label in labels]
    path = figures.robustness_heatmap(
        {(lab, slug): s["mean"] for (lab, slug), s in stats.items()}, labels, perturbations,
        ctx.figure_path("robustness"))
    missing = [str(lab) for lab in ctx.summary.index if str(lab) not in labels]
    blocks: list[Block] = [Heading("Robustness"), Para(
        "Test track accuracy under audio degradations applied before the log-mel (`genrebench evaluate`; "
        "perturbations by their slug: `noise_snr10` is white noise 10 dB below the music, see docs/robustness.md). "
        "Each cell is the change of accuracy against the same run's clean audio (`identity`), mean over the "
        "variant's evaluated runs with a 95% t interval over them (seeds, and folds for a k-fold variant; one run "
        "gives no interval); negative is a drop. The second column is the clean accuracy of those runs. With few "
        "test tracks one track moves a score by 1/n: read small drops with the summary's intervals in mind."),
        Table(["variant", "clean (identity)", *perturbations], rows),
        ctx.image(path, "accuracy change per variant and perturbation")]
    if missing:
        blocks.append(Para(f"Not evaluated (no `robust/` metrics): {', '.join(missing)}."))
    return blocks
