"""`genrebench study`: an Optuna search over one experiment, resumable, parallel, tracked in MLflow.

Flow: load the experiment and the space -> prepare the data once (warms the cache) -> open or create the
study and its MLflow parent run, add missing tickets -> K workers claim and run tickets (`workers`) -> the
parent run gets the best value, params, trial counts and figures, and the best config is written as an
experiment file; with several objectives, the Pareto-optimal trials instead (tags, `pareto.csv`, a figure,
one experiment file each). This module is the driver; what a worker does lives in `workers`.
"""

from __future__ import annotations

import csv
import tempfile
import time
import warnings
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState
from rich.console import Console

from genrebench.config import ExperimentConfig, set_dotted
from genrebench.data import PreparedData, prepare_data
from genrebench.errors import UserError
from genrebench.runner import sigterm_as_interrupt
from genrebench.search import storage as tickets
from genrebench.search.job import RUNTIME_KEYS, WorkerJob
from genrebench.search.objectives import DEFAULT_OBJECTIVES, Objective
from genrebench.search.plots import study_figures
from genrebench.search.space import SearchSpace, trial_config
from genrebench.search.trial import epochs_trained
from genrebench.search.workers import run_workers
from genrebench.store_urls import redact_uri
from genrebench.tracking.liveness import FAILURE_TAG
from genrebench.tracking.params import flatten
from genrebench.tracking.tracker import MlflowTracker

err = Console(stderr=True)


# ---- study setup ----------------------------------------------------------------------------------

def _identity(cfg: ExperimentConfig, space: SearchSpace, objectives: tuple[Objective, ...]) -> dict:
    """What makes a study the same study: the searched config (less runtime settings), the space and, when not
    the default (so studies made before `--objectives` existed still resume), the objectives."""
    flat = {k: v for k, v in flatten(cfg.model_dump(mode="json")).items() if k not in RUNTIME_KEYS}
    out = {"config": flat, "space": space.model_dump(mode="json")}
    names = [o.name for o in objectives]
    if names != [DEFAULT_OBJECTIVES]:
        out["objectives"] = names
    return out


def _check_identity(study: optuna.Study, identity: dict, url: str) -> None:
    stored = study.user_attrs.get("genrebench.identity")
    if stored is None:
        study.set_user_attr("genrebench.identity", identity)
        return
    if stored == identity:
        return
    changed = sorted(k for k in {*stored["config"], *identity["config"]}
                     if stored["config"].get(k) != identity["config"].get(k))
    if changed:
        what = f"config keys {', '.join(changed[:5])}"
    else:
        what = "search space" if stored["space"] != identity["space"] else "--objectives"
    raise UserError(f"study {study.study_name!r} in {redact_uri(url)} was created with a different {what}; "
                    "resume it with the same settings or pass --study-name NEW")


def _parent_run(study: optuna.Study, tracker: MlflowTracker, job: WorkerJob, prepared: PreparedData) -> str:
    """The study's MLflow parent run: reopened when it exists in this store, else created."""
    run_id = study.user_attrs.get("genrebench.mlflow_parent_run_id")
    if run_id:
        try:
            tracker.reopen_run(run_id, activate=False)
            return run_id
        except Exception:  # noqa: BLE001 - the id came from another tracking store: start a fresh parent here
            warnings.warn(f"parent run {run_id} is not in {redact_uri(tracker.tracking_uri)}; starting a new one",
                          stacklevel=2)
    tags = {"genrebench.role": "study", "genrebench.study": job.study_name, "genrebench.experiment": job.experiment,
            "dataset.fingerprint": prepared.fingerprint, "optuna.storage": redact_uri(job.url),
            "genrebench.space": job.settings.space, "genrebench.sampler": job.settings.sampler,
            "genrebench.pruner": job.settings.pruner}
    run_id = tracker.start_run(job.experiment, job.study_name, flatten(job.cfg.model_dump(mode="json")), tags)
    tracker.detach(run_id)  # children must not log into the parent by default
    study.set_user_attr("genrebench.mlflow_parent_run_id", run_id)
    return run_id


def _setup(job: WorkerJob, tracker: MlflowTracker, prepared: PreparedData) -> tuple[optuna.Study, WorkerJob, int]:
    """Create or load the study, check it is the same search, attach the parent run, add missing tickets."""
    s = job.settings
    storage = tickets.make_storage(job.url, s.heartbeat)
    with tickets.storage_lock(job.url, job.study_name):
        study = optuna.create_study(study_name=job.study_name, storage=storage, load_if_exists=True,
                                    directions=[o.direction for o in job.objectives])
        _check_identity(study, _identity(job.cfg, job.space, job.objectives), job.url)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # Named, so optuna-dashboard and Optuna's own plots say `val_track_acc`, not "Objective 0".
            study.set_metric_names([o.name for o in job.objectives])
        parent = _parent_run(study, tracker, job, prepared)
        added = tickets.add_tickets(study, s.n_trials)
    return study, replace(job, parent_run_id=parent), added


# ---- results ------------------------------------------------------------------------------------

def _leaves(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            out.update(_leaves(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def write_trial_config(job: WorkerJob, trial: optuna.trial.FrozenTrial, out_dir: Path, stem: str,
                       label: str) -> Path:
    """One trial as a stand-alone experiment file `out_dir/<stem>.yaml`: every key that differs from the schema
    defaults, its objective values in the description.

    Stand-alone (no `base:`) on purpose: a later edit of the searched experiment must not change what
    "the best config of this study" means.
    """
    cfg = trial_config(job.cfg, job.bases, trial.params, f"trial {trial.number}")
    defaults = _leaves(ExperimentConfig().model_dump(mode="json"))
    tree: dict = {}
    for key, value in _leaves(cfg.model_dump(mode="json")).items():
        if key not in ("name", "description") and defaults.get(key) != value:
            set_dotted(tree, key, value)
    scores = ", ".join(f"{o.name} {v:.4g}" for o, v in zip(job.objectives, trial.values, strict=True))
    tree = {"description": f"{label} trial ({trial.number}) of study {job.study_name}: {scores}", **tree}
    path = out_dir / f"{stem}.yaml"
    header = (f"# Generated by `genrebench study {job.experiment}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.\n"
              f"# Study {job.study_name!r} in {redact_uri(job.url)}; params: "
              f"{', '.join(f'{k}={v}' for k, v in trial.params.items())}.\n"
              f"# Run it: genrebench run {path} --seeds 3\n")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(header + yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    tmp.replace(path)
    return path


def _close_orphans(tracker: MlflowTracker, trials: list[optuna.trial.FrozenTrial]) -> None:
    """A dead worker's child run is still RUNNING in MLflow: end it FAILED like its Optuna trial."""
    for t in trials:
        run_id = t.user_attrs.get("mlflow_run_id")
        if t.state != TrialState.FAIL or not run_id:
            continue
        if tracker.client.get_run(run_id).info.status == "RUNNING":
            tracker.client.set_tag(run_id, "genrebench.trial_state", "FAIL")
            tracker.client.set_tag(run_id, "genrebench.error", "worker stopped sending heartbeats")
            tracker.client.set_tag(run_id, FAILURE_TAG, "worker stopped sending heartbeats")
            tracker.client.set_terminated(run_id, "FAILED")


def _log_best(study: optuna.Study, job: WorkerJob, client, summary: dict, tags: dict, n_complete: int) -> None:
    """One objective: the best trial's config file, params (as tags) and value on the parent run."""
    best = study.best_trial
    path = write_trial_config(job, best, job.settings.generated_dir, f"{job.study_name}-best", "Best")
    summary.update(best_value=best.value, best_params=dict(best.params), best_trial=best.number,
                   best_config=str(path))
    # Tags, not params: MLflow params are write-once, and a resumed study may find a better trial.
    tags.update({f"best.{k}": str(v) for k, v in best.params.items()})
    tags.update({"genrebench.best_trial": str(best.number), "genrebench.best_config": str(path)})
    client.log_metric(job.parent_run_id, "best_value", best.value, step=n_complete)
    client.log_artifact(job.parent_run_id, str(path))


def pareto_rows(front: list[optuna.trial.FrozenTrial], job: WorkerJob) -> list[dict]:
    """One row per Pareto-optimal trial: trial, each objective, each param, its MLflow run, its config file
    (`<study>-pareto-trial<N>.yaml`, written here). Files of an earlier finalize whose trial has left the
    front are removed, so the folder holds the front as it is."""
    names = [o.name for o in job.objectives]
    out_dir, stem = job.settings.generated_dir, f"{job.study_name}-pareto-trial"
    rows = [{"trial": t.number, **dict(zip(names, t.values, strict=True)), **t.params,
             "mlflow_run_id": t.user_attrs.get("mlflow_run_id", ""),
             "config": str(write_trial_config(job, t, out_dir, f"{stem}{t.number}", "Pareto-optimal"))}
            for t in front]
    keep = {Path(r["config"]).name for r in rows}
    for old in out_dir.glob(f"{stem}*.yaml"):
        if old.name not in keep and old.stem[len(stem):].isdigit():
            old.unlink()
    return rows


def _log_pareto(study: optuna.Study, job: WorkerJob, client, summary: dict, tags: dict,
                complete: list[optuna.trial.FrozenTrial]) -> None:
    """Several objectives: no single best, so the parent run holds the Pareto front (a tag listing its trials,
    `pareto.csv`) and every trial run is tagged on or off it, for filtering in the MLflow UI."""
    rows = pareto_rows(sorted(study.best_trials, key=lambda t: t.number), job)
    on_front = {r["trial"] for r in rows}
    tags["genrebench.pareto_trials"] = ",".join(str(r["trial"]) for r in rows)
    for t in complete:
        if t.user_attrs.get("mlflow_run_id"):
            client.set_tag(t.user_attrs["mlflow_run_id"], "genrebench.pareto", str(t.number in on_front).lower())
    with tempfile.TemporaryDirectory(prefix="genrebench-study-") as tmp:
        path = Path(tmp) / "pareto.csv"
        columns = list(dict.fromkeys(k for r in rows for k in r))
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(rows)
        client.log_artifact(job.parent_run_id, str(path))
    client.log_metric(job.parent_run_id, "pareto_size", len(rows), step=len(complete))
    summary["pareto"] = rows


def finalize(study: optuna.Study, job: WorkerJob, tracker: MlflowTracker, status: str) -> dict:
    """Log the study's outcome on the parent run, write the best (or Pareto) configs, end the parent run."""
    s = job.settings
    trials = study.get_trials(deepcopy=False)
    _close_orphans(tracker, trials)
    real = tickets.real_tickets(trials, s.n_trials)
    counts = tickets.progress_counts(trials, s.n_trials)
    epochs = sum(epochs_trained(t) for t in real)
    summary = {"study": job.study_name, "storage": redact_uri(job.url), "parent_run_id": job.parent_run_id,
               "n_trials": s.n_trials, "objectives": [o.name for o in job.objectives], "counts": counts,
               "epochs_spent": epochs, "best_value": None, "best_params": {}, "best_trial": None, "best_config": None,
               "pareto": [], "figures": [], "skipped_figures": {}}
    client, parent = tracker.client, job.parent_run_id
    tags = {f"genrebench.trials.{k}": str(v) for k, v in counts.items()}
    tags["genrebench.objectives"] = ",".join(summary["objectives"])
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete and len(job.objectives) == 1:
        _log_best(study, job, client, summary, tags, len(complete))
    elif complete:
        _log_pareto(study, job, client, summary, tags, complete)
    client.log_metric(parent, "epochs_spent", epochs, step=len(complete))
    for key, value in tags.items():
        client.set_tag(parent, key, value)
    with tempfile.TemporaryDirectory(prefix="genrebench-study-") as tmp:
        written, skipped = study_figures(study, Path(tmp), summary["objectives"])
        for png in written.values():
            client.log_artifact(parent, str(png))
    summary.update(figures=sorted(written), skipped_figures=skipped)
    tracker.end_run(status, parent)
    return summary


def run_study(job: WorkerJob, progress: bool = True) -> dict:
    """Run (or resume) the study to N finished trials; returns the summary dict `finalize` builds."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say what happened, once per trial
    tracker = MlflowTracker(job.settings.tracking_uri)
    prepared = prepare_data(job.cfg.data, job.cfg.features, progress=progress, device=job.cfg.train.device)
    study, job, added = _setup(job, tracker, prepared)
    deadline = time.time() + job.settings.timeout if job.settings.timeout else None
    job = replace(job, deadline=deadline)
    before = tickets.progress_counts(study.get_trials(deepcopy=False), job.settings.n_trials)
    done_before = sum(before[k] for k in ("COMPLETE", "PRUNED", "FAIL"))
    if progress:
        err.print(f"study {job.study_name}: {done_before}/{job.settings.n_trials} trials finished, "
                  f"{job.settings.workers} worker(s), storage {redact_uri(job.url)}", highlight=False, soft_wrap=True)
    status = "FAILED"
    try:
        with sigterm_as_interrupt():
            run_workers(job, prepared)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException as exc:
        tracker.tag_failure(job.parent_run_id, exc)
        raise
    finally:
        summary = finalize(study, job, tracker, status)
    summary["new_trials"] = sum(summary["counts"][k] for k in ("COMPLETE", "PRUNED", "FAIL")) - done_before
    summary["tickets_added"] = added
    return summary
