"""`genrebench run EXP --jobs K [--storage URL]`: a run set spread over workers on this and other machines.

Flow: check devices and the cache -> prepare each variant's data once here (warms the feature cache the workers
read) -> open the queue under the storage's lock: add the tickets it lacks, re-queue failed ones, and for
`--folds all` open each variant's fold-set parent run once -> K workers claim and train tickets
(`worker`) -> settle: a fold set whose every ticket has FINISHED gets its aggregate and ends FINISHED (whichever
command sees it complete first does it, under the lock). Returns the rows of the runs trained by this command's
workers, the fold sets it completed, and the queue's state.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from genrebench.folds import check_kfold, finish_fold_set, open_fold_parent
from genrebench.loader import RunOptions, Variant
from genrebench.progress import line
from genrebench.runner import check_before_work, data_for, sigterm_as_interrupt
from genrebench.runqueue import tickets as tq
from genrebench.runqueue.worker import QueueJob, end_orphan, run_workers
from genrebench.search import storage as store
from genrebench.store_urls import redact_uri
from genrebench.tracking.tags import QUEUE_TAG

PARENT_DONE_TAG = "genrebench.queue_done"


@dataclass(frozen=True)
class QueueSettings:
    """The `genrebench run` flags that make its run set a queue."""

    jobs: int = 1
    storage: str | None = None
    heartbeat: int = 30
    threads: int | None = None


def run_queued(variants: list[Variant], seeds: int, folds: bool, settings: QueueSettings,
               opts: RunOptions | None = None, tracking_uri: str | None = None,
               progress: bool = True) -> dict:
    """Train the run set through its queue. Returns {"rows" (the runs this command's workers trained, as
    `genrebench run` prints them), "fold_sets" (the sets it completed), "queue", "storage", "tickets", "counts",
    "added", "retried", "trained_here", "failed" (one line per failed ticket)}."""
    if folds:
        check_kfold(variants)
    check_before_work([v.config for v in variants])
    from genrebench.tracking.tracker import MlflowTracker  # after the checks: mlflow takes seconds to import

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say what happened, once per ticket
    tracker = MlflowTracker(tracking_uri)
    url = store.storage_url(settings.storage)
    run_set = tq.run_set(variants, seeds, folds)
    memo, fingerprints = _warm(variants, run_set, progress, keep=settings.jobs <= 1)
    ident = tq.identity(variants, seeds, folds, fingerprints)
    name = tq.queue_name(variants[0].experiment, ident)
    study, _, added, retried = tq.open_queue(url, name, ident, run_set, settings.heartbeat, variants[0].experiment)
    parents = _fold_parents(study, url, variants, seeds, tracker) if folds else {}
    before = study.get_trials(deepcopy=False)
    left = tq.counts(before)
    line(f"queue {name}: {len(run_set)} tickets, {left['COMPLETE']} finished, {left['RUNNING']} running elsewhere, "
         f"{left['WAITING']} waiting ({retried} re-queued); {settings.jobs} worker(s) here; storage {redact_uri(url)}")
    job = QueueJob(url, name, tuple(variants), settings.heartbeat, tracking_uri, opts or RunOptions(), parents,
                   settings.jobs, settings.threads)
    pids: list[int] = []
    try:
        with sigterm_as_interrupt():
            if left["WAITING"] or left["RUNNING"]:  # a finished queue starts no worker
                pids = run_workers(job, memo, progress)
    except KeyboardInterrupt as exc:
        exc.queue = name
        raise
    finally:
        fold_sets = _settle(study, url, job, seeds, tracker)
    trials = study.get_trials(deepcopy=False)
    rows = _rows_here(trials, {t.number for t in before if t.state == TrialState.COMPLETE}, pids)
    return {"rows": rows, "fold_sets": fold_sets, "queue": name, "storage": redact_uri(url), "tickets": len(run_set),
            "counts": tq.counts(trials), "added": added, "retried": retried, "trained_here": len(rows),
            "failed": [_failure(t) for t in tq.current(trials) if t.state == TrialState.FAIL]}


def _warm(variants: list[Variant], run_set: list[tq.Ticket], progress: bool,
          keep: bool) -> tuple[dict, dict[str, str]]:
    """Prepare each variant's data once here, so the feature cache is filled by one process rather than by K
    workers at once. Returns (the prepared data when the one worker runs here (`keep`), else nothing: spawned
    workers read the cache themselves, and kept here too the features would take memory twice; each variant's
    dataset fingerprint)."""
    memo: dict = {}
    fingerprints = {}
    for v in variants:
        first = next(t for t in run_set if t.variant == v.name)
        fingerprints[v.name] = data_for(tq.ticket_config(v.config, first.offset, first.fold), memo,
                                        progress).fingerprint
    return (memo if keep else {}), fingerprints


def _rows_here(trials: list, done_before: set[int], pids: list[int]) -> list[dict]:
    """The rows of the tickets this command's workers (`pids`) finished now, in ticket order."""
    here = {f"{socket.gethostname()}:{pid}" for pid in pids}
    current = [t for t in tq.current(trials) if t.state == TrialState.COMPLETE and t.number not in done_before
               and t.user_attrs.get("worker") in here]
    return [row for row in map(tq.row_of, current) if row is not None]


def _failure(trial) -> str:
    ticket = tq.Ticket.of(trial)
    return f"ticket {ticket.index} ({ticket.label()}): {trial.user_attrs.get('error') or 'its worker died'}"


def _fold_parents(study: optuna.Study, url: str, variants: list[Variant], seeds: int, tracker) -> dict[str, str]:
    """Each variant's fold-set parent run, opened once for the queue (the first command creates it, under the
    lock; later ones, here or elsewhere, find its id in the queue)."""
    with store.storage_lock(url, study.study_name):
        parents = dict(study.user_attrs.get(tq.PARENTS_ATTR, {}))
        for v in variants:
            if v.name in parents:
                run = tracker.client.get_run(parents[v.name])
                if run.info.status != "RUNNING" and not run.data.tags.get(PARENT_DONE_TAG):
                    tracker.reopen_run(run.info.run_id, activate=False)  # an earlier command left it unsettled
                continue
            parents[v.name] = open_fold_parent(v, seeds, tracker, {QUEUE_TAG: study.study_name})
        study.set_user_attr(tq.PARENTS_ATTR, parents)
    return parents


def _settle(study: optuna.Study, url: str, job: QueueJob, seeds: int, tracker) -> list[dict]:
    """After this command's workers end: runs of dead workers ended FAILED; every fold set whose tickets have all
    FINISHED aggregated and ended; a fold set with no ticket left to run but some failed ended FAILED (the next
    run of the command re-opens it). Sets still being trained elsewhere are left to the command that ends last."""
    with store.storage_lock(url, study.study_name):
        trials = study.get_trials(deepcopy=False)
        _close_orphans(tracker, trials)
        done = []
        for name, parent_id in job.parents.items():
            mine = [t for t in tq.current(trials) if t.user_attrs.get("variant") == name]
            states = {t.state for t in mine}
            run = tracker.client.get_run(parent_id)
            if run.info.status != "RUNNING":
                continue
            if states == {TrialState.COMPLETE}:
                done.append(finish_fold_set(job.variant(name), parent_id, seeds, tracker))
                tracker.client.set_tag(parent_id, PARENT_DONE_TAG, "true")
            elif not states & {TrialState.WAITING, TrialState.RUNNING}:
                tracker.client.set_terminated(parent_id, "FAILED")
            elif not any(t.state == TrialState.RUNNING for t in mine):
                tracker.client.set_terminated(parent_id, "KILLED")  # interrupted before its tickets ran
    return done


def _close_orphans(tracker, trials) -> None:
    """A failed ticket whose MLflow run is still RUNNING, and no live attempt continues it: its worker died and
    no retry closed the run."""
    live = {t.user_attrs.get("mlflow_run_id") for t in trials if t.state == TrialState.RUNNING}
    for t in trials:
        run_id = t.user_attrs.get("mlflow_run_id")
        if t.state == TrialState.FAIL and run_id and run_id not in live \
                and tracker.client.get_run(run_id).info.status == "RUNNING":
            end_orphan(tracker, run_id)
