"""The worker side of a study: claim a ticket, run its trial, repeat; K workers as spawned processes.

A worker needs only the `WorkerJob` (picklable) and rebuilds its own storage, study and tracker, so the
same loop runs in the driver's process, in a spawned process, or in another `genrebench study` elsewhere.
"""

from __future__ import annotations

import os
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from rich.console import Console

from genrebench.children import run_spawned
from genrebench.data import PreparedData, prepare_data
from genrebench.metrics import fmt_si
from genrebench.progress import duration, line
from genrebench.runner import data_key, sigterm_as_interrupt
from genrebench.search import storage as tickets
from genrebench.search.job import WorkerJob
from genrebench.search.samplers import make_pruner, make_sampler
from genrebench.search.trial import TrialContext, epochs_trained, run_trial
from genrebench.tracking.tracker import MlflowTracker

err = Console(stderr=True)


def _open_study(job: WorkerJob, storage: RDBStorage) -> optuna.Study:
    s = job.settings
    return optuna.load_study(study_name=job.study_name, storage=storage,
                             sampler=make_sampler(s.sampler, job.space, s.seed, s.space, s.n_trials),
                             pruner=make_pruner(s.pruner, job.space, job.cfg.train.epochs))


def _seed_for_trial(study: optuna.Study, job: WorkerJob, number: int) -> None:
    """A sampler seeded by the trial's number before it samples. Seeding per process is not enough: separate
    `genrebench study` commands (other machines) all have worker index 0 and would propose the same points
    in lockstep. Per trial number, every trial differs and a study is the same whichever worker runs what
    (the samplers keep no state but their RNG; the history comes from the storage). The grid sampler is left
    alone: it already maps trial number n to grid point n of one seeded shuffle, which a reseed would break."""
    s = job.settings
    if s.sampler == "grid":
        return
    study.sampler = make_sampler(s.sampler, job.space, s.seed + number, s.space, s.n_trials)


def _trial_line(storage: RDBStorage, trial_id: int, state: TrialState, job: WorkerJob) -> str:
    """The line each finished trial leaves on stderr, on a terminal and in a log alike."""
    t = storage.get_trial(trial_id)
    values = t.values or [None] * len(job.objectives)
    scores = "  ".join(f"{o.name} {fmt_si(v) if o.direction == 'minimize' else f'{v:.3f}'}" if v is not None
                       else f"{o.name} -" for o, v in zip(job.objectives, values, strict=True))
    params = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
    took = duration(t.duration.total_seconds()) if t.duration is not None else "-"
    return (f"trial {t.number:>3} {state.name:<8} {scores}  epochs {epochs_trained(t)}  {params}  {took}  "
            f"[worker {job.index}]")


def work(job: WorkerJob, prepared: PreparedData | None = None) -> dict[str, int]:
    """Claim and run tickets until none of the first N is left; returns {state: trials run here}."""
    s = job.settings
    storage = tickets.make_storage(job.url, s.heartbeat)
    study = _open_study(job, storage)
    tracker = MlflowTracker(s.tracking_uri)
    prepared = prepared or prepare_data(job.cfg.data, job.cfg.features, progress=False, device=job.cfg.train.device)
    ctx = TrialContext(job.study_name, job.experiment, job.cfg, job.space, job.parent_run_id, s.heartbeat,
                       job.objectives, job.bases, memo={data_key(job.cfg): prepared})
    ran: Counter = Counter()
    while job.deadline is None or time.time() < job.deadline:
        tickets.fail_stale(study)  # a dead worker's trial -> FAIL + a retry ticket
        trial_id = tickets.claim(study, storage, s.n_trials)
        if trial_id is None:
            counts = tickets.progress_counts(study.get_trials(deepcopy=False), s.n_trials)
            if counts["RUNNING"] == 0 and counts["WAITING"] == 0:
                break
            time.sleep(min(2.0, s.heartbeat))  # others are running the rest; wait in case one of them dies
            continue
        _seed_for_trial(study, job, storage.get_trial_number_from_id(trial_id))
        state = run_trial(study, storage, trial_id, ctx, tracker)
        ran[state.name] += 1
        line(_trial_line(storage, trial_id, state, job))
    return dict(ran)


def worker_process(threads: int, body: Callable[[], object]) -> None:
    """What a spawned worker (a study's or a run queue's) does around `body`: its share of the cores, Optuna's own
    lines off (ours say what happened), warnings as one line each, SIGTERM as Ctrl-C, and exit 130 on it."""
    import torch

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.showwarning = lambda message, *a, **k: err.print(f"warning: {message}", highlight=False)
    with sigterm_as_interrupt():
        try:
            body()
        except KeyboardInterrupt:
            raise SystemExit(130) from None


def core_share(workers: int) -> int:
    """Threads per worker when `workers` share this machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _worker_main(job: WorkerJob) -> None:
    """Entry point of a spawned study worker."""
    worker_process(core_share(job.settings.workers), lambda: work(job))


def run_workers(job: WorkerJob, prepared: PreparedData) -> None:
    """One worker runs here; K > 1 run as spawned processes (CUDA and forked torch do not mix)."""
    if job.settings.workers <= 1:
        work(job, prepared)
        return
    # SIGTERM on Ctrl-C: each worker ends its trial FAIL and its MLflow run KILLED.
    procs = run_spawned(_worker_main, [(replace(job, index=i),) for i in range(job.settings.workers)])
    failed = [p.name for p in procs if p.exitcode not in (0, None)]
    if failed:
        warnings.warn(f"worker(s) {', '.join(failed)} exited with an error; their trials are marked failed "
                      "and retried by the next `genrebench study` on this storage", stacklevel=2)
