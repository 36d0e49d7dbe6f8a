"""`genrebench report`: collect runs from MLflow, compute the tables, draw the figures, write md + html."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from genrebench.errors import UserError
from genrebench.report import analysis, collect, datasets, mistakes, robust, sections
from genrebench.report.datasets import DatasetGroup
from genrebench.report.environment import environment_section, run_table
from genrebench.report.render import Block, Bullets, Heading, Para, Warn, to_html, to_markdown
from genrebench.report.study import study_section
from genrebench.store_urls import redact_uri
from genrebench.tracking.run_ids import resolve_run_id

REPORTS_DIR = Path("reports")


def report_name(experiments: list[str], study: str | None = None, run_ids: list[str] | None = None) -> str:
    """The default folder name under `reports/`: the experiments, else the study, else the first run id."""
    if experiments:
        return "+".join(Path(e).stem if e.endswith((".yaml", ".yml")) else e for e in experiments)
    if study:
        return f"study-{study}"
    return f"runs-{run_ids[0][:8]}" if run_ids else "report"


def select_runs(client: MlflowClient, experiments: list[str], run_ids: list[str]) -> pd.DataFrame:
    """All runs of the named experiments, narrowed to `run_ids` when both are given; just `run_ids` alone."""
    if not experiments:
        return collect.runs_by_id(client, run_ids) if run_ids else collect.search_runs(client, [])
    ids = collect.experiment_ids(client, experiments)
    frame = collect.search_runs(client, list(ids.values()))
    if run_ids:
        missing = [r for r in run_ids if r not in set(frame["run_id"])]
        if missing:
            collect.runs_by_id(client, missing[:1])  # an id the store does not know at all: that error first
            raise UserError(f"run {missing[0]!r} is not in experiment(s) {', '.join(experiments)}")
        frame = frame[frame["run_id"].isin(run_ids)].reset_index(drop=True)
    if frame.empty:
        raise UserError(f"no runs found in experiment(s) {', '.join(experiments)}")
    return frame


def _header(title: str, uri: str, ctx: sections.Context, notes: list[str], groups: int) -> list[Block]:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"Generated {when} from the MLflow store `{redact_uri(uri)}`; rebuild it any time with "
            "`genrebench report`.")
    if groups > 1:
        text += (f" {len(ctx.runs)} finished run(s) on {groups} datasets, each reported in its own section; runs "
                 "of different datasets are never compared.")
    elif not ctx.runs.empty:
        text += (f" {len(ctx.runs)} finished run(s) of {ctx.runs['label'].nunique()} variant(s); "
                 f"baseline: `{ctx.baseline}`.")
    blocks: list[Block] = [Heading(title, 1), Para(text), *(Warn(w) for w in ctx.warnings)]
    return [*blocks, Bullets(notes)] if notes else blocks


def _write(out: Path, title: str, blocks: list[Block], summary: pd.DataFrame, sig: pd.DataFrame) -> dict:
    """index.md, index.html, and the unrounded tables as CSV beside them."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"index_md": out / "index.md", "index_html": out / "index.html"}
    files["index_md"].write_text(to_markdown(blocks), encoding="utf-8")
    files["index_html"].write_text(to_html(blocks, title), encoding="utf-8")
    if not summary.empty:
        files["summary_csv"] = out / "summary.csv"
        summary.to_csv(files["summary_csv"])
    if not sig.empty:
        files["significance_csv"] = out / "significance.csv"
        sig.assign(matched_seeds=sig["matched_seeds"].map(json.dumps),
                   skipped_seeds=sig["skipped_seeds"].map(json.dumps)).to_csv(files["significance_csv"], index=False)
    return files


def _variant_blocks(ctx: sections.Context, excluded: pd.DataFrame,
                    baseline: str | None) -> tuple[list[Block], pd.DataFrame]:
    """One dataset's sections (sets `ctx.baseline` and `ctx.summary`) and its paired tests."""
    ctx.baseline = analysis.pick_baseline(ctx.runs, baseline)
    ctx.summary = analysis.summary_table(ctx.runs, ctx.baseline)
    sig = analysis.significance(ctx.runs, ctx.baseline, ctx.artifacts)
    leak = analysis.leak_inflation(ctx.runs, ctx.baseline, ctx.artifacts)
    blocks = [*sections.summary_section(ctx), *sections.cost_section(ctx), *sections.calibration_section(ctx),
              *robust.robustness_section(ctx), *mistakes.embedding_section(ctx), *mistakes.error_section(ctx),
              *sections.ablation_section(ctx),
              *sections.significance_section(ctx, sig),
              *sections.leak_section(ctx, leak),
              *sections.curves_section(ctx), *sections.best_run_section(ctx), *environment_section(ctx, excluded)]
    return blocks, sig


def _knows(runs: pd.DataFrame, baseline: str | None) -> bool:
    try:
        analysis.pick_baseline(runs, baseline)
    except UserError:
        return False
    return True


def _dataset_part(ctx: sections.Context, group: DatasetGroup,
                  baseline: str | None) -> tuple[list[Block], pd.DataFrame, sections.Context]:
    """One dataset group's section: its title, then exactly what a report on that dataset alone holds."""
    sub = replace(ctx, runs=group.runs, baseline="", summary=pd.DataFrame(), figure_prefix=f"{group.name}-")
    if not _knows(group.runs, baseline):
        ctx.warnings.append(f"dataset {group.name} has no runs of the baseline {baseline!r}; its section "
                            "compares with its own default baseline")
        baseline = None
    blocks, sig = _variant_blocks(sub, group.excluded, baseline)
    intro = Para(f"{len(sub.runs)} finished run(s) of {sub.runs['label'].nunique()} variant(s) on this dataset; "
                 f"baseline: `{sub.baseline}`. Runs of other datasets are in their own sections and never enter "
                 "these tables or tests.")
    return [Heading(group.title(), 2), intro, *datasets.demote(blocks)], sig, sub


def _report_runs(ctx: sections.Context, excluded: pd.DataFrame,
                 baseline: str | None) -> tuple[list[Block], pd.DataFrame, int]:
    """The variant sections: as they are for a single dataset group, else one section per group (see `datasets`).

    Sets `ctx.baseline` (the first group's) and `ctx.summary` (indexed by dataset and variant with several groups);
    returns the blocks, the paired tests and the number of groups.
    """
    groups = datasets.dataset_groups(ctx.runs, excluded)
    if len(groups) < 2:
        blocks, sig = _variant_blocks(ctx, excluded, baseline) if groups else ([], pd.DataFrame())
        return blocks, sig, len(groups)
    if baseline and not any(_knows(g.runs, baseline) for g in groups):
        known = ", ".join(analysis.label_order(ctx.runs))
        raise UserError(f"unknown baseline variant {baseline!r} (variants: {known})")
    ctx.warnings.append(datasets.spans_warning(groups))
    blocks: list[Block] = []
    summaries, sigs = {}, []
    for group in groups:
        part, sig, sub = _dataset_part(ctx, group, baseline)
        blocks += part
        summaries[group.name] = sub.summary
        sigs += [sig.assign(dataset=group.name)[["dataset", *sig.columns]]] if not sig.empty else []
        ctx.baseline = ctx.baseline or sub.baseline
    leftover = datasets.unmatched_excluded(groups, excluded)
    if not leftover.empty:
        blocks += [Heading("Excluded runs of other datasets"), Para("Only FINISHED runs enter the tables; these ran "
                   "on a dataset no finished run of this report used."), run_table(ctx, leftover, reason=True)]
    ctx.summary = pd.concat(summaries, names=["dataset", "variant"])
    return blocks, pd.concat(sigs, ignore_index=True) if sigs else pd.DataFrame(), len(groups)


def build_report(experiments: list[str], study: str | None, run_ids: list[str] | None, out_dir: Path,
                 tracking_uri: str | None, baseline: str | None = None, embedding_map: str = "pca") -> dict:
    """Build `out_dir/index.md` and a self-contained `out_dir/index.html` (figures in `out_dir/figures/`).

    Args:
        experiments: MLflow experiment names (one per experiment file); all their runs are reported.
        study: A study name (tag `genrebench.study` on its parent run, in any experiment) for a study section.
        run_ids: Report only these runs (within `experiments` when both are given); unique prefixes will do.
        out_dir: The report folder, created if needed.
        tracking_uri: The MLflow store; None means `MLFLOW_TRACKING_URI` or `sqlite:///mlruns/mlflow.db`.
        baseline: The variant the others are compared with; default: a variant named or ending in
            `baseline`, else the variant run first (a sweep's first value).
        embedding_map: How the embedding maps go to 2-D: `pca`, `tsne` (scikit-learn) or `umap` (needs
            umap-learn).

    Returns:
        {"index_md", "index_html", "summary_csv", "significance_csv" (paths), "runs", "excluded", "variants",
        "baseline", "datasets", "figures", "warnings", "summary" (DataFrame), "significance" (DataFrame)}.
        Runs on different datasets (fingerprint and `genrebench.protocol` tag) are reported in sections of
        their own: then "summary" is indexed by (dataset, variant), "significance" has a `dataset` column,
        "baseline" is the first dataset's and "datasets" counts the groups.

    Raises:
        UserError: nothing to report, an unknown experiment, run id, study, baseline or projection, umap without
            umap-learn, or no runs found.
    """
    embedding_map = mistakes.check_projection(embedding_map)  # before the store is read: a typo costs nothing
    experiments, run_ids = list(experiments or []), list(run_ids or [])
    if not experiments and not run_ids and not study:
        raise UserError("nothing to report: name an experiment, --runs RUN_ID or --study NAME")
    client, uri = collect.open_store(tracking_uri)
    run_ids = [resolve_run_id(client, r) for r in run_ids]  # prefixes, as tables show them, to full ids
    frame = select_runs(client, experiments, run_ids)
    runs, excluded, notes = analysis.variant_runs(frame)
    if runs.empty and (experiments or run_ids) and not study:
        raise UserError(f"no finished runs to report among {len(frame)} run(s) (statuses: "
                        f"{', '.join(sorted(frame['status'].unique()))})")
    found_study = collect.study_runs(client, study) if study else None
    out = Path(out_dir)
    title = f"genrebench report: {report_name(experiments, study, run_ids)}"
    with collect.artifact_cache(client) as artifacts:
        ctx = sections.Context(runs, "", pd.DataFrame(), artifacts, out, uri, embedding_map=embedding_map)
        blocks, sig, groups = _report_runs(ctx, excluded, baseline)
        if found_study is not None:
            parent, children, study_warnings = found_study
            ctx.warnings.extend(study_warnings)
            blocks += study_section(ctx, study, parent, children)
        files = _write(out, title, _header(title, uri, ctx, notes, groups) + blocks, ctx.summary, sig)
    return {**files, "runs": len(runs), "excluded": len(excluded), "variants": int(runs["label"].nunique())
            if not runs.empty else 0, "baseline": ctx.baseline or None, "datasets": groups,
            "figures": list(ctx.figures), "warnings": list(ctx.warnings), "summary": ctx.summary,
            "significance": sig}
