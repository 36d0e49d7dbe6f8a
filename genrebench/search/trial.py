"""One Optuna trial = one `fit()` on the validation split, tracked as a child MLflow run.

The objective is the validation track accuracy of the best checkpoint; `fit(evaluate_test=False)`
guarantees the test split is never scored during search.
"""

from __future__ import annotations

import os
import socket
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from genrebench.config import ExperimentConfig
from genrebench.data import PreparedData
from genrebench.metrics import get_metric
from genrebench.runner import data_for
from genrebench.search.space import SearchSpace, apply_params, suggest
from genrebench.tracking.params import flatten
from genrebench.tracking.tags import data_tags
from genrebench.train import fit

OBJECTIVE = "val_best_track_acc"
REPORTED = "val_track_acc"  # per-epoch value the pruner compares
# Optuna's word for the registry's direction of the objective.
DIRECTION = {"max": "maximize", "min": "minimize"}[get_metric(OBJECTIVE).direction]


@dataclass(frozen=True)
class TrialContext:
    """What every trial of one study shares."""

    study_name: str
    experiment: str
    cfg: ExperimentConfig
    space: SearchSpace
    parent_run_id: str | None
    heartbeat: int
    # Prepared data per (data, features) setting: the base one, plus any a space of feature keys asks for.
    memo: dict = field(default_factory=dict)

    def data(self, cfg: ExperimentConfig) -> PreparedData:
        return data_for(cfg, self.memo, progress=False)


@contextmanager
def heartbeat(storage: optuna.storages.RDBStorage, trial_id: int, interval: int) -> Iterator[None]:
    """Record the trial's heartbeat every `interval` s, so others can tell a live trial from a dead worker's."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            storage.record_heartbeat(trial_id)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"optuna-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def reporter(trial: optuna.Trial) -> Callable[[int, Mapping[str, float]], None]:
    """A fit() callback: report each epoch's validation track accuracy and stop the trial when pruned."""
    def report(epoch: int, metrics: Mapping[str, float]) -> None:
        trial.report(metrics[REPORTED], epoch)
        trial.set_user_attr("epochs", epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")

    return report


def _fit_trial(trial: optuna.Trial, cfg: ExperimentConfig, prepared: PreparedData,
               tracker) -> tuple[TrialState, float]:
    """Train inside the trial's MLflow run; returns (state, objective value or NaN)."""
    try:
        result = fit(cfg, prepared, tracker, callbacks=[reporter(trial)], progress=False, evaluate_test=False)
    except optuna.TrialPruned:
        tracker.set_tags({"genrebench.trial_state": "PRUNED"})
        return TrialState.PRUNED, float("nan")
    except BaseException as exc:
        tracker.set_tags({"genrebench.trial_state": "FAIL", "genrebench.error": f"{type(exc).__name__}: {exc}"[:500]})
        raise
    value = result.final[OBJECTIVE]
    tracker.log_metrics({**result.final, "objective": value})
    tracker.set_tags({"genrebench.trial_state": "COMPLETE"})
    return TrialState.COMPLETE, value


def run_trial(study: optuna.Study, storage, trial_id: int, ctx: TrialContext, tracker) -> TrialState:
    """Run one claimed ticket to its end and tell Optuna; a failure is recorded, never raised (bar Ctrl-C)."""
    trial = optuna.Trial(study, trial_id)
    # Which process runs it: with workers on several machines, the first thing to know about a stuck trial.
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    with heartbeat(storage, trial_id, ctx.heartbeat):
        try:
            params = suggest(trial, ctx.space)
            cfg = apply_params(ctx.cfg, params, f"trial {trial.number}")
            prepared = ctx.data(cfg)
            tags = {"genrebench.role": "trial", "genrebench.study": ctx.study_name,
                    "genrebench.trial": str(trial.number), "genrebench.experiment": ctx.experiment,
                    **data_tags(cfg, prepared),
                    **{f"genrebench.param.{k}": str(v) for k, v in params.items()}}
            with tracker.run(ctx.experiment, f"{ctx.study_name}-trial{trial.number}",
                             flatten(cfg.model_dump(mode="json")), tags, parent_run_id=ctx.parent_run_id) as run_id:
                trial.set_user_attr("mlflow_run_id", run_id)
                state, value = _fit_trial(trial, cfg, prepared, tracker)
        except KeyboardInterrupt:
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
        except Exception as exc:  # noqa: BLE001 - one bad trial must not end the study
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            study.tell(trial, state=TrialState.FAIL)
            warnings.warn(f"trial {trial.number} failed: {type(exc).__name__}: {exc}", stacklevel=1)
            return TrialState.FAIL
    if state == TrialState.PRUNED:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, value)
    return state

