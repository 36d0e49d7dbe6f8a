"""`genrebench report`: collect runs from MLflow, compute the tables, draw the figures, write md + html."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from genrebench.errors import UserError
from genrebench.report import analysis, collect, sections
from genrebench.report.environment import environment_section
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


def _header(title: str, uri: str, ctx: sections.Context, notes: list[str]) -> list[Block]:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"Generated {when} from the MLflow store `{redact_uri(uri)}`; rebuild it any time with "
            "`genrebench report`.")
    if not ctx.runs.empty:
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


def _variant_blocks(ctx: sections.Context, sig: pd.DataFrame, excluded: pd.DataFrame) -> list[Block]:
    return [*sections.summary_section(ctx), *sections.ablation_section(ctx), *sections.significance_section(ctx, sig),
            *sections.curves_section(ctx), *sections.best_run_section(ctx), *environment_section(ctx, excluded)]


def build_report(experiments: list[str], study: str | None, run_ids: list[str] | None, out_dir: Path,
                 tracking_uri: str | None, baseline: str | None = None) -> dict:
    """Build `out_dir/index.md` and a self-contained `out_dir/index.html` (figures in `out_dir/figures/`).

    Args:
        experiments: MLflow experiment names (one per experiment file); all their runs are reported.
        study: A study name (tag `genrebench.study` on its parent run, in any experiment) for a study section.
        run_ids: Report only these runs (within `experiments` when both are given); unique prefixes will do.
        out_dir: The report folder, created if needed.
        tracking_uri: The MLflow store; None means `MLFLOW_TRACKING_URI` or `sqlite:///mlruns/mlflow.db`.
        baseline: The variant the others are compared with; default: a variant named or ending in
            `baseline`, else the variant run first (a sweep's first value).

    Returns:
        {"index_md", "index_html", "summary_csv", "significance_csv" (paths), "runs", "excluded", "variants",
        "baseline", "figures", "warnings", "summary" (DataFrame), "significance" (DataFrame)}.

    Raises:
        UserError: nothing to report, an unknown experiment, run id, study or baseline, or no runs found.
    """
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
        ctx = sections.Context(runs, "", pd.DataFrame(), artifacts, out, uri)
        blocks: list[Block] = []
        sig = pd.DataFrame()
        if not runs.empty:
            ctx.baseline = analysis.pick_baseline(runs, baseline)
            ctx.summary = analysis.summary_table(runs, ctx.baseline)
            sig = analysis.significance(runs, ctx.baseline, artifacts)
            blocks += _variant_blocks(ctx, sig, excluded)
        if found_study is not None:
            parent, children, study_warnings = found_study
            ctx.warnings.extend(study_warnings)
            blocks += study_section(ctx, study, parent, children)
        files = _write(out, title, _header(title, uri, ctx, notes) + blocks, ctx.summary, sig)
    return {**files, "runs": len(runs), "excluded": len(excluded), "variants": int(runs["label"].nunique())
            if not runs.empty else 0, "baseline": ctx.baseline or None, "figures": list(ctx.figures),
            "warnings": list(ctx.warnings), "summary": ctx.summary, "significance": sig}
