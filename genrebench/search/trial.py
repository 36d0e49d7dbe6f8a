"""One Optuna trial = one `fit()` on the validation split, tracked as a child MLflow run.

The objectives (by default the validation track accuracy of the best checkpoint; see `objectives`) are read
from `fit()`'s final results; `fit(evaluate_test=False)` guarantees the test split is never scored during
search.
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
from genrebench.runner import data_for
from genrebench.search.objectives import Objective
from genrebench.search.space import SearchSpace, suggest, trial_config
from genrebench.tracking.params import flatten
from genrebench.tracking.tags import data_tags
from genrebench.train import fit


@dataclass(frozen=True)
class TrialContext:
    """What every trial of one study shares."""

    study_name: str
    experiment: str
    cfg: ExperimentConfig
    space: SearchSpace
    parent_run_id: str | None
    heartbeat: int
    objectives: tuple[Objective, ...]
    bases: dict[str, ExperimentConfig] = field(default_factory=dict)
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


def reporter(trial: optuna.Trial, per_epoch: str | None) -> Callable[[int, Mapping[str, float]], None]:
    """A fit() callback: count the trial's epochs and, when the objective has a per-epoch value (`per_epoch`;
    None for several objectives, which Optuna cannot prune), report it and stop the trial when pruned."""
    def report(epoch: int, metrics: Mapping[str, float]) -> None:
        trial.set_user_attr("epochs", epoch)
        if per_epoch is None:
            return
        trial.report(metrics[per_epoch], epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")

    return report


def epochs_trained(trial: optuna.trial.FrozenTrial) -> int:
    """Epochs a trial trained: its reported values, or, when nothing is reported (no pruning), its own count."""
    return max(len(trial.intermediate_values), int(trial.user_attrs.get("epochs", 0)))


def objective_metrics(objectives: tuple[Objective, ...], values: list[float]) -> dict[str, float]:
    """What a trial run logs of its objectives: `objective` (the first, which reports sort trials by) and, with
    several, `objective.<name>` for each."""
    out = {"objective": values[0]}
    if len(objectives) > 1:
        out.update({f"objective.{o.name}": v for o, v in zip(objectives, values, strict=True)})
    return out


def _fit_trial(trial: optuna.Trial, cfg: ExperimentConfig, prepared: PreparedData, tracker,
               objectives: tuple[Objective, ...]) -> tuple[TrialState, list[float]]:
    """Train inside the trial's MLflow run; returns (state, objective values, empty when pruned)."""
    per_epoch = objectives[0].per_epoch if len(objectives) == 1 else None
    try:
        result = fit(cfg, prepared, tracker, callbacks=[reporter(trial, per_epoch)], progress=False,
                     evaluate_test=False)
    except optuna.TrialPruned:
        tracker.set_tags({"genrebench.trial_state": "PRUNED"})
        return TrialState.PRUNED, []
    except BaseException as exc:
        tracker.set_tags({"genrebench.trial_state": "FAIL", "genrebench.error": f"{type(exc).__name__}: {exc}"[:500]})
        raise
    values = [result.final[o.metric] for o in objectives]
    tracker.log_metrics({**result.final, **objective_metrics(objectives, values)})
    tracker.set_tags({"genrebench.trial_state": "COMPLETE"})
    return TrialState.COMPLETE, values


def record_failure(study: optuna.Study, trial: optuna.Trial, exc: Exception, what: str) -> None:
    """One failed trial (a study's trial or a queue's ticket): its error kept on it, FAIL told, one warning line;
    the caller goes on with the next."""
    trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
    study.tell(trial, state=TrialState.FAIL)
    warnings.warn(f"{what} failed: {type(exc).__name__}: {exc}", stacklevel=2)


def run_trial(study: optuna.Study, storage, trial_id: int, ctx: TrialContext, tracker) -> TrialState:
    """Run one claimed ticket to its end and tell Optuna; a failure is recorded, never raised (bar Ctrl-C)."""
    trial = optuna.Trial(study, trial_id)
    # Which process runs it: with workers on several machines, the first thing to know about a stuck trial.
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    with heartbeat(storage, trial_id, ctx.heartbeat):
        try:
            params = suggest(trial, ctx.space)
            cfg = trial_config(ctx.cfg, ctx.bases, params, f"trial {trial.number}")
            prepared = ctx.data(cfg)
            tags = {"genrebench.role": "trial", "genrebench.study": ctx.study_name,
                    "genrebench.trial": str(trial.number), "genrebench.experiment": ctx.experiment,
                    **data_tags(cfg, prepared),
                    **{f"genrebench.param.{k}": str(v) for k, v in params.items()}}
            with tracker.run(ctx.experiment, f"{ctx.study_name}-trial{trial.number}",
                             flatten(cfg.model_dump(mode="json")), tags, parent_run_id=ctx.parent_run_id) as run_id:
                trial.set_user_attr("mlflow_run_id", run_id)
                state, values = _fit_trial(trial, cfg, prepared, tracker, ctx.objectives)
        except KeyboardInterrupt:
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
        except Exception as exc:  # noqa: BLE001 - one bad trial must not end the study
            record_failure(study, trial, exc, f"trial {trial.number}")
            return TrialState.FAIL
    if state == TrialState.PRUNED:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, values)
    return state

