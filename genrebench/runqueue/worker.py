"""The worker side of a run queue: claim a ticket, train its run, record it, repeat; K workers as spawned processes.

A worker needs only the `QueueJob` (picklable) and opens its own storage and tracker, so the same loop runs in
the command's own process (`--jobs 1`), in a spawned process, or in another `genrebench run ... --storage URL`
elsewhere. A ticket's run is trained exactly as `genrebench run` trains it (`runner.train_run`, same config,
name and tags), so a queued run set gives the same runs as a sequential one; the ticket adds the worker
(`host:pid`), the queue and the ticket number to the run's tags.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from dataclasses import dataclass, field, replace

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from genrebench.children import run_spawned, watch_owner
from genrebench.loader import RunOptions, Variant
from genrebench.progress import duration, line
from genrebench.runner import continue_run, data_for, train_run
from genrebench.runqueue import tickets as tq
from genrebench.search import storage as store
from genrebench.search.trial import heartbeat, record_failure
from genrebench.search.workers import core_share, worker_process
from genrebench.tracking.liveness import FAILURE_TAG
from genrebench.tracking.tags import QUEUE_TAG, TICKET_TAG, WORKER_TAG

CHECKPOINT_TAG = "genrebench.checkpoint_epoch"
DEAD = "worker stopped sending heartbeats; its ticket was retried"


@dataclass(frozen=True)
class QueueJob:
    """Everything a queue worker needs (picklable: spawned workers rebuild storage and tracker)."""

    url: str
    name: str
    variants: tuple[Variant, ...]
    heartbeat: int
    tracking_uri: str | None
    opts: RunOptions = field(default_factory=RunOptions)
    # {variant name: its fold set's parent run id} for a k-fold run set (`--folds all`).
    parents: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    threads: int | None = None  # torch threads per worker; None: the machine's cores shared between workers
    index: int = 0

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def work(job: QueueJob, memo: dict | None = None, progress: bool = False) -> dict[str, int]:
    """Claim and train tickets until none is waiting or running anywhere; returns {state: tickets run here}."""
    from genrebench.tracking.tracker import MlflowTracker

    storage = store.make_storage(job.url, job.heartbeat)
    study = optuna.load_study(study_name=job.name, storage=storage)
    tracker = MlflowTracker(job.tracking_uri)
    memo = {} if memo is None else memo
    ran: dict[str, int] = {}
    while True:
        store.fail_stale(study)  # a dead worker's ticket -> FAIL + a retry ticket
        trials = study.get_trials(deepcopy=False)
        trial_id = store.claim_first(storage, tq.current(trials))
        if trial_id is None:
            left = tq.counts(trials)  # nothing claimable in them: done unless some are still waiting or running
            if left["RUNNING"] == 0 and left["WAITING"] == 0:
                return ran
            time.sleep(min(2.0, job.heartbeat))  # others are training the rest; wait in case one of them dies
            continue
        started = time.monotonic()
        state = run_ticket(study, storage, trial_id, job, tracker, memo, progress)
        ran[state.name] = ran.get(state.name, 0) + 1
        ticket = tq.Ticket.of(storage.get_trial(trial_id))
        line(f"ticket {ticket.index:>3} {state.name:<8} {ticket.label()}  {duration(time.monotonic() - started)}  "
             f"[worker {job.index}]")


def run_ticket(study: optuna.Study, storage: RDBStorage, trial_id: int, job: QueueJob, tracker, memo: dict,
               progress: bool) -> TrialState:
    """Train one claimed ticket and tell the storage; a failure is recorded, never raised (bar Ctrl-C/SIGTERM)."""
    trial = optuna.Trial(study, trial_id)
    frozen = storage.get_trial(trial_id)
    ticket = tq.Ticket.of(frozen)
    previous = frozen.user_attrs.get("mlflow_run_id")  # the attempt this one retries, if any
    trial.set_user_attr("worker", worker_id())
    trial.set_user_attr("error", "")  # a retry inherits its failed attempt's attrs: that error is not this one's
    with heartbeat(storage, trial_id, job.heartbeat):
        try:
            row = _train(ticket, previous, trial, job, tracker, memo, progress)
        except KeyboardInterrupt:
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
        except Exception as exc:  # noqa: BLE001 - one failed run must not end the queue
            record_failure(study, trial, exc, f"ticket {ticket.index} ({ticket.label()})")
            return TrialState.FAIL
    trial.set_user_attr(tq.ROW_ATTR, tq.row_attr(row))
    study.tell(trial, [float(row["test_track_acc"])])
    return TrialState.COMPLETE


def _train(ticket: tq.Ticket, previous: str | None, trial: optuna.Trial, job: QueueJob, tracker, memo: dict,
           progress: bool) -> dict:
    """The ticket's run: an earlier attempt's KILLED run continued from its checkpoint, else a new run."""
    variant = job.variant(ticket.variant)
    tags = {WORKER_TAG: worker_id(), QUEUE_TAG: job.name, TICKET_TAG: str(ticket.index)}
    old = _earlier_attempt(previous, tracker)
    if old is not None:
        trial.set_user_attr("mlflow_run_id", old.info.run_id)
        tracker.client.log_batch(old.info.run_id, tags=_run_tags(tags))
        row = continue_run(old, tracker, job.opts, progress, memo)
    else:
        from genrebench.folds import FOLD_TAG

        cfg = tq.ticket_config(variant.config, ticket.offset, ticket.fold)
        fold = {} if ticket.fold is None else {FOLD_TAG: str(ticket.fold)}
        name = (f"{variant.name}-seed{cfg.train.seed}" if ticket.fold is None
                else f"{variant.name}-fold{ticket.fold}-seed{cfg.train.seed}")
        row = train_run(variant, cfg, data_for(cfg, memo, progress), tracker, progress, name=name,
                        tags={**tags, **fold}, parent_run_id=job.parents.get(variant.name),
                        started=lambda run_id: trial.set_user_attr("mlflow_run_id", run_id))
    return row if ticket.fold is None else {**row, "fold": ticket.fold}


def _run_tags(tags: dict[str, str]) -> list:
    from mlflow.entities import RunTag

    return [RunTag(k, v) for k, v in tags.items()]


def _earlier_attempt(run_id: str | None, tracker):
    """The MLflow run of the attempt a retry follows, when it can be continued (ended with a checkpoint). A run
    its dead worker left RUNNING is ended FAILED here first, so MLflow shows it as what it is."""
    if not run_id:
        return None
    try:
        run = tracker.client.get_run(run_id)
    except Exception:  # noqa: BLE001 - gone from this store (another tracking server): train afresh
        return None
    if run.info.status == "RUNNING":
        end_orphan(tracker, run_id)
        return None
    resumable = run.info.status in ("KILLED", "FAILED") and CHECKPOINT_TAG in run.data.tags
    return run if resumable else None


def end_orphan(tracker, run_id: str) -> None:
    """End a run whose worker died mid-way FAILED, saying why."""
    tracker.client.set_tag(run_id, FAILURE_TAG, DEAD)
    tracker.client.set_terminated(run_id, "FAILED")


def _worker_main(job: QueueJob, owner: int) -> None:
    """Entry point of a spawned queue worker: it also ends with the command that started it."""
    watch_owner(owner)  # the command was killed: stop too (the ticket goes stale and is retried elsewhere)
    worker_process(job.threads or core_share(job.workers), lambda: work(job))


def run_workers(job: QueueJob, memo: dict, progress: bool) -> list[int]:
    """One worker runs here (reusing the data prepared here); K > 1 as spawned processes (CUDA and forked torch
    do not mix). Returns the pids that trained here, for the rows of this command's runs."""
    if job.workers <= 1:
        if job.threads:
            import torch

            torch.set_num_threads(job.threads)
        work(job, memo, progress)
        return [os.getpid()]
    # SIGTERM on Ctrl-C: each worker ends its run KILLED with a checkpoint and its ticket FAIL.
    procs = run_spawned(_worker_main, [(replace(job, index=i), os.getpid()) for i in range(job.workers)])
    failed = [p.name for p in procs if p.exitcode not in (0, None)]
    if failed:
        warnings.warn(f"worker(s) {', '.join(failed)} exited with an error; their tickets are retried by the "
                      "other workers or by the next run of this command", stacklevel=2)
    return [p.pid for p in procs if p.pid is not None]
