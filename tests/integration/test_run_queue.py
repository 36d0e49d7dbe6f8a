"""Run queues on real servers: three `genrebench run --storage postgresql://...` commands share one run set, as on
several machines, with tickets in PostgreSQL and runs in an `mlflow server` backed by PostgreSQL.

One command (its own worker: no --jobs) is killed with SIGKILL in the middle of a run. Its ticket goes stale, is
marked FAIL and retried by a survivor, which ends the dead attempt's MLflow run FAILED and trains the ticket
afresh. The run set must end with every ticket FINISHED exactly once in MLflow.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from conftest import make_folder
from mlflow import MlflowClient
from optuna.trial import TrialState
from servers import check_only_the_killed_one_failed, stop_workers, wait_until

from genrebench.runqueue import tickets as tq

pytestmark = pytest.mark.integration

SEEDS, EPOCHS, WORKERS, HEARTBEAT = 6, 4, 3, 2  # one variant x 6 seeds = 6 tickets
EXPERIMENT = "queued"  # its own MLflow experiment (named after the file), apart from the scale-out test's
TINY = ["--quick", "--set", "features.chunk_seconds=1", "--set", "data.workers=1", "--set", "train.batch_size=8"]
QUEUE_LINE = re.compile(r"^queue (runs-\S+): ", re.MULTILINE)


def _worker(i: int, tmp: Path, data: Path, storage: str, tracking: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "genrebench", "run", str(tmp / f"{EXPERIMENT}.yaml"), *TINY,
           "--epochs", str(EPOCHS), "--seeds", str(SEEDS), "--data", str(data),
           "--storage", storage, "--tracking-uri", tracking, "--heartbeat", str(HEARTBEAT)]
    # One thread each: three workers share the machine's cores, as they would share a machine's.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GENREBENCH_CACHE": str(tmp / "cache"),
           "MLFLOW_TRACKING_URI": tracking}
    log = open(tmp / f"worker-{i}.log", "w")  # noqa: SIM115 - closed with the process, below
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log_file = log
    return proc


def _queue_name(procs: list[subprocess.Popen]) -> str | None:
    """The queue's name, from the line a command prints once it has opened the queue (its tables exist then)."""
    for p in procs:
        found = QUEUE_LINE.search(Path(p.log_file.name).read_text(errors="replace"))
        if found:
            return found.group(1)
    return None


def _pid(trial) -> int:
    host, _, pid = trial.user_attrs.get("worker", "::").rpartition(":")
    return int(pid) if host == socket.gethostname() and pid.isdigit() else 0


def _victim(study: optuna.Study, client: MlflowClient, pids: dict[int, subprocess.Popen]):
    """A ticket one of our commands is in the middle of: RUNNING, tracked in MLflow, at least one epoch logged."""
    for t in tq.current(study.get_trials(deepcopy=False)):
        run_id = t.user_attrs.get("mlflow_run_id")
        if t.state == TrialState.RUNNING and _pid(t) in pids and run_id \
                and client.get_metric_history(run_id, "val_track_acc"):
            return t.number, _pid(t)
    return None


def test_three_queue_workers_on_postgres_and_an_mlflow_server_finish_every_ticket_once(servers, tmp_path):
    started = time.monotonic()
    data = make_folder(tmp_path / "data", labels=("low", "mid", "high"), per_label=4)
    (tmp_path / f"{EXPERIMENT}.yaml").write_text(f"base: baseline\ndescription: \"{EXPERIMENT}: the baseline, "
                                                 "trained through a run queue\"\n")
    storage = servers["pg"].create_database("queue")  # its own Optuna database: no other test's studies
    tracking = servers["mlflow"].url
    client = MlflowClient(tracking)
    procs = [_worker(i, tmp_path, data, storage, tracking) for i in range(WORKERS)]
    by_pid = {p.pid: p for p in procs}
    try:
        # All three start together on a fresh database: its tables, the queue and its tickets must still be made once.
        name = wait_until(lambda: _queue_name(procs), 240, "a queue opened")
        study = optuna.load_study(study_name=name, storage=storage)
        killed_trial, killed_pid = wait_until(lambda: _victim(study, client, by_pid), 240, "a ticket mid-way")
        killed_at = time.monotonic()
        os.kill(killed_pid, signal.SIGKILL)
        by_pid[killed_pid].wait(10)
        for p in procs:
            p.wait(timeout=420)
        ended = time.monotonic()
    finally:
        stop_workers(procs)
    survivors = check_only_the_killed_one_failed(procs, killed_pid)

    # Optuna: one queue; each of the 6 tickets COMPLETE; the killed ticket failed and a retry finished in its place.
    queues = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    assert [q for q in queues if q.startswith(tq.PREFIX)] == [name], queues
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    current = tq.current(trials)
    assert [int(t.user_attrs["ticket"]) for t in current] == list(range(SEEDS))
    assert all(t.state == TrialState.COMPLETE for t in current), [(t.number, t.state.name) for t in current]
    assert tq.counts(trials) == {"WAITING": 0, "RUNNING": 0, "COMPLETE": SEEDS, "FAIL": 0}
    assert len({t.user_attrs["seed"] for t in current}) == SEEDS
    killed = next(t for t in trials if t.number == killed_trial)
    assert killed.state == TrialState.FAIL
    assert _pid(killed) == killed_pid
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == killed_trial)
    ticket = int(killed.user_attrs["ticket"])
    assert retry.state == TrialState.COMPLETE and int(retry.user_attrs["ticket"]) == ticket
    assert current[ticket].number == retry.number
    assert _pid(retry) in {p.pid for p in survivors}
    assert retry.user_attrs["mlflow_run_id"] != killed.user_attrs["mlflow_run_id"]  # trained afresh
    # The work was shared: the killed command did part of it, and so did both survivors.
    ran_by = Counter(_pid(t) for t in trials if t.state != TrialState.WAITING)
    assert ran_by[killed_pid] >= 1 and all(ran_by[p.pid] >= 1 for p in survivors), ran_by

    # MLflow: one FINISHED run per ticket, the one its trial recorded; the killed attempt's run FAILED, saying why;
    # none left RUNNING.
    exp = client.get_experiment_by_name(EXPERIMENT)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], f"tags.`genrebench.queue` = '{name}'", max_results=1000)
    statuses = Counter(r.info.status for r in runs)
    assert statuses == {"FINISHED": SEEDS, "FAILED": 1}, statuses
    by_id = {r.info.run_id: r for r in runs}
    dead = by_id[killed.user_attrs["mlflow_run_id"]]
    assert dead.info.status == "FAILED" and dead.data.tags.get("genrebench.failure"), dead.data.tags
    assert dead.data.tags["genrebench.ticket"] == str(ticket)
    assert dead.data.tags["genrebench.worker"] == f"{socket.gethostname()}:{killed_pid}"
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert sorted(int(r.data.tags["genrebench.ticket"]) for r in finished) == list(range(SEEDS))
    for t in current:
        run = by_id[t.user_attrs["mlflow_run_id"]]
        assert run.info.status == "FINISHED"
        assert run.data.tags["genrebench.ticket"] == str(t.user_attrs["ticket"])
        assert run.data.tags["genrebench.seed"] == str(t.user_attrs["seed"])
        assert run.data.tags["genrebench.variant"] == t.user_attrs["variant"]
        assert re.fullmatch(r".+:\d+", run.data.tags["genrebench.worker"])
        assert run.data.tags["genrebench.worker"] == t.user_attrs["worker"]
        assert run.data.metrics["test_track_acc"] == pytest.approx(t.value)
        assert len(client.get_metric_history(run.info.run_id, "val_track_acc")) == EPOCHS
    print(f"\nintegration: run queue {name}: {SEEDS} tickets + 1 retry across {WORKERS} commands (one killed mid-run "
          f"on ticket {ticket}, retried by pid {_pid(retry)}), tickets per pid {dict(ran_by)}, "
          f"{ended - killed_at:.0f} s from the kill to the end, "
          f"{time.monotonic() - started:.0f} s", file=sys.stderr)
