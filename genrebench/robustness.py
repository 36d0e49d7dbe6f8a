"""`genrebench evaluate`: a finished run's test tracks re-scored under audio degradations, with its own model
bundle, and the same at the end of `genrebench run` when the experiment's `evaluate:` names perturbations.

The results go into the run that was re-scored: `robustness.csv` (one row per perturbation, merged with any
earlier evaluation of the run, so `--perturb` calls add up), `robust/<perturbation>/test_track_acc` per
perturbation, `test_robust_delta` (the mean change against the clean audio) and the tag `genrebench.robustness`
(the perturbations in the table). The scoring itself is `genrebench.train.robustness`.
"""

from __future__ import annotations

import math

from genrebench.config import ExperimentConfig
from genrebench.data import PreparedData, prepare_data
from genrebench.data.perturb import IDENTITY
from genrebench.errors import UserError
from genrebench.loader import RunOptions
from genrebench.metrics import ROBUST_PREFIX
from genrebench.tracking.tags import FINGERPRINT_TAG
from genrebench.train import Result, resolve_device
from genrebench.train.robustness import COLUMNS, RobustRow, Scorer, evaluate_robustness, perturbations_of

ROBUSTNESS_TAG = "genrebench.robustness"
SPLITS_ARTIFACT = "splits.csv"


def robust_metric(slug: str) -> str:
    """The metric of one perturbation's test track accuracy: `robust/noise_snr10/test_track_acc`."""
    return f"{ROBUST_PREFIX}{slug}/test_track_acc"


def merged_table(previous: list[dict[str, str]] | None, rows: list[RobustRow]) -> list[list]:
    """The run's robustness table after this evaluation: its rows, and the rows of earlier evaluations of other
    perturbations (their deltas are against the same clean accuracy: one model, one test split), identity
    first."""
    new = {r.perturbation: r.cells() for r in rows}
    kept = [[row[c] for c in COLUMNS] for row in previous or [] if row.get("perturbation") not in new]
    table = [*new.values(), *kept]
    return sorted(table, key=lambda cells: cells[0] != IDENTITY)


def _mean_delta(table: list[list]) -> float:
    deltas = [float(cells[4]) for cells in table if cells[0] != IDENTITY]
    return sum(deltas) / len(deltas) if deltas else math.nan


def log_robustness(tracker, run_id: str, rows: list[RobustRow]) -> list[list]:
    """Write an evaluation into `run_id` (see the module docstring); returns the run's merged table."""
    from genrebench.tracking.tracker import ROBUSTNESS_ARTIFACT

    table = merged_table(tracker.load_table(run_id, ROBUSTNESS_ARTIFACT), rows)
    metrics = {robust_metric(r.perturbation): r.test_track_acc for r in rows}
    mean = _mean_delta(table)
    if not math.isnan(mean):
        metrics["test_robust_delta"] = mean
    tracker.log_robustness(run_id, COLUMNS, table, metrics, {ROBUSTNESS_TAG: ",".join(c[0] for c in table)})
    return table


def evaluate_after_fit(result: Result, cfg: ExperimentConfig, prepared: PreparedData, tracker, run_id: str,
                       progress: bool) -> list[RobustRow] | None:
    """`genrebench run` with `evaluate:` set: the run's suite on its just-trained model, logged into the run.
    None when the experiment asks for no evaluation (or did not test: a search trial)."""
    if not (cfg.evaluate.suite or cfg.evaluate.perturb) or result.test is None:
        return None
    scorer = Scorer.from_bundle(result.bundle, cfg, resolve_device(cfg.train.device))
    rows = evaluate_robustness(scorer, cfg, prepared, perturbations_of(cfg), progress)
    log_robustness(tracker, run_id, rows)
    return rows


def _check_same_test_split(tracker, run, prepared: PreparedData) -> None:
    """The data found now must split as the run did: same fingerprint, same test tracks as its `splits.csv`."""
    run_id = run.info.run_id
    logged = run.data.tags.get(FINGERPRINT_TAG)
    if logged and logged != prepared.fingerprint:
        raise UserError(f"run {run_id} was trained on dataset {logged}, but {prepared.tracklist.root} is now "
                        f"{prepared.fingerprint}: its test tracks cannot be re-scored (pass --data with the "
                        "run's dataset)")
    splits = tracker.load_table(run_id, SPLITS_ARTIFACT)
    if splits is None:
        raise UserError(f"run {run_id} has no {SPLITS_ARTIFACT} artifact: it did not finish training")
    theirs = sorted(row["path"] for row in splits if row.get("split") == "test")
    ours = sorted(prepared.tracklist.relpath(prepared.tracks[i]) for i in prepared.track_ids("test"))
    if theirs != ours:
        raise UserError(f"run {run_id}: the test split of {prepared.tracklist.root} ({len(ours)} tracks) is not the "
                        f"one in its {SPLITS_ARTIFACT} ({len(theirs)} tracks)")


def evaluate_run(run_id: str, specs: list[str] | tuple[str, ...] = (), suite: str | None = None,
                 opts: RunOptions | None = None, tracking_uri: str | None = None,
                 progress: bool = True) -> dict:
    """Re-score a FINISHED run's test tracks under `suite` and `specs` (identity always first) with its model
    bundle, on its own data (`opts` may say where that lives now, and how to compute), and log the result into it.

    Returns the run id, the rows of this evaluation, the run's merged table and its logged `test_track_acc`.
    """
    from genrebench.predict import load_model_bundle
    from genrebench.tracking.run_ids import resolve_run_id
    from genrebench.tracking.tracker import MlflowTracker

    tracker = MlflowTracker(tracking_uri)
    run = tracker.get_run(resolve_run_id(tracker.client, run_id))
    run_id = run.info.run_id
    if run.info.status != "FINISHED":
        raise UserError(f"run {run_id} is {run.info.status}: only a FINISHED run has a tested model to re-score")
    bundle = load_model_bundle(run_id=run_id, tracking_uri=tracker.tracking_uri)
    cfg = (opts or RunOptions()).apply(bundle["config"], f"the config of run {run_id}")
    perturbations = perturbations_of(cfg, specs, suite or (None if specs else "default"))
    device = resolve_device(cfg.train.device)  # a device this machine lacks fails before any audio is read
    prepared = prepare_data(cfg.data, cfg.features, progress=progress, device=cfg.train.device)
    _check_same_test_split(tracker, run, prepared)
    scorer = Scorer.from_bundle(bundle, cfg, device)
    rows = evaluate_robustness(scorer, cfg, prepared, perturbations, progress)
    table = log_robustness(tracker, run_id, rows)
    return {"run_id": run_id, "rows": rows, "table": table,
            "test_track_acc": run.data.metrics.get("test_track_acc")}
