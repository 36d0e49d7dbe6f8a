"""Scale-out on real servers: three `genrebench study` worker processes on one study, with Optuna storage in
PostgreSQL and runs in an `mlflow server` backed by PostgreSQL, as on several machines.

Faults on the way: one worker is killed with SIGKILL in the middle of a trial, and the tracking server is
stopped and restarted while the others train. The study must still end with exactly N trials, each
tracked by exactly one MLflow child run under one parent, with no metric lost.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import make_folder
from mlflow import MlflowClient
from optuna.trial import TrialState
from servers import check_only_the_killed_one_failed, start_mlflow, stop_workers, wait_until

from genrebench.search import storage as tickets

pytestmark = pytest.mark.integration

N_TRIALS, EPOCHS, WORKERS, HEARTBEAT = 6, 3, 3, 2
STUDY = "scale-out"
SPACE = {"params": {"train.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
                    "model.dropout": {"type": "float", "low": 0.0, "high": 0.5}}}
TINY = ["--quick", "--set", "features.chunk_seconds=1", "--set", "data.workers=1", "--set", "train.batch_size=8"]


def _worker(i: int, tmp: Path, data: Path, servers: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "genrebench", "study", "baseline", *TINY,  # the shipped one, found from tmp
           "--epochs", str(EPOCHS), "--trials", str(N_TRIALS), "--study-name", STUDY, "--sampler", "random",
           "--pruner", "none", "--space", str(tmp / "space.yaml"), "--data", str(data),
           "--storage", servers["optuna"], "--tracking-uri", servers["mlflow"].url,
           "--heartbeat", str(HEARTBEAT), "--best-dir", str(tmp / "generated")]
    # One thread each: three workers share two cores, as they would share a machine's cores.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GENREBENCH_CACHE": str(tmp / "cache"),
           "MLFLOW_TRACKING_URI": servers["mlflow"].url}
    log = open(tmp / f"worker-{i}.log", "w")  # noqa: SIM115 - closed with the process, below
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log_file = log
    return proc


def _victim(study_url: str, pids: dict[int, subprocess.Popen]):
    """A trial one of our workers is in the middle of: RUNNING, tracked in MLflow, at least one epoch done."""
    try:
        study = optuna.load_study(study_name=STUDY, storage=study_url)
    except KeyError:  # not created yet
        return None
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, _, pid = t.user_attrs.get("worker", "::").rpartition(":")
        if host == socket.gethostname() and int(pid or 0) in pids and t.user_attrs.get("mlflow_run_id") \
                and len(t.intermediate_values) >= 1:
            return t.number, int(pid)
    return None


def test_three_workers_on_postgres_and_an_mlflow_server_survive_a_killed_worker(servers, tmp_path):
    started = time.monotonic()
    data = make_folder(tmp_path / "data", labels=("low", "mid", "high"), per_label=4)
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    procs = [_worker(i, tmp_path, data, servers) for i in range(WORKERS)]
    by_pid = {p.pid: p for p in procs}
    try:
        # All three start together: study, MLflow experiment, parent run and tickets must still be made once.
        killed_trial, killed_pid = wait_until(lambda: _victim(servers["optuna"], by_pid), 240, "a trial mid-way")
        os.kill(killed_pid, signal.SIGKILL)
        by_pid[killed_pid].wait(10)
        # The tracking server goes away for a moment while the others log: clients retry, nothing is lost.
        server = servers["mlflow"]
        down_at = time.time()
        server.stop()
        time.sleep(2)
        restarted = start_mlflow(server.backend, server.artifacts, server.log, port=server.port)
        up_at = time.time()
        servers["started"][servers["started"].index(server)] = restarted
        servers["mlflow"] = restarted
        for p in procs:
            p.wait(timeout=420)
    finally:
        stop_workers(procs)
    survivors = check_only_the_killed_one_failed(procs, killed_pid)

    # Optuna: exactly N finished tickets; the killed trial failed and was retried in its place.
    trials = optuna.load_study(study_name=STUDY, storage=servers["optuna"]).get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == N_TRIALS + 1
    real = tickets.real_tickets(trials, N_TRIALS)
    assert len(real) == N_TRIALS and all(t.state == TrialState.COMPLETE for t in real)
    killed = next(t for t in trials if t.number == killed_trial)
    assert killed.state == TrialState.FAIL
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == killed_trial)
    assert retry.state == TrialState.COMPLETE and retry in real
    # Separate commands (all worker index 0) still sample different points: the seed follows the trial number.
    fresh = [t for t in trials if "failed_trial" not in t.system_attrs]
    assert len({tuple(sorted(t.params.items())) for t in fresh}) == len(fresh)
    assert retry.params == killed.params  # a retry repeats the point it stands in for
    # The work was shared: the killed worker did part of it, and so did both survivors.
    ran_by = Counter(int(t.user_attrs["worker"].rpartition(":")[2]) for t in trials)
    assert ran_by[killed_pid] >= 1 and all(ran_by[p.pid] >= 1 for p in survivors), ran_by

    # MLflow: one parent run; one child run per trial, the one each trial recorded; none left RUNNING.
    client = MlflowClient(servers["mlflow"].url)
    exp = client.get_experiment_by_name("baseline")
    assert exp is not None and len(client.search_experiments(filter_string="name = 'baseline'")) == 1
    parents = client.search_runs([exp.experiment_id], f"tags.`genrebench.role` = 'study' and "
                                                      f"tags.`genrebench.study` = '{STUDY}'")
    assert len(parents) == 1
    parent = parents[0]
    kids = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
                              max_results=1000)
    assert sorted(int(r.data.tags["genrebench.trial"]) for r in kids) == sorted(numbers)
    runs = {r.info.run_id: r for r in kids}
    logged_while_down = 0
    for t in trials:
        run = runs[t.user_attrs["mlflow_run_id"]]
        assert run.data.tags["genrebench.trial"] == str(t.number)
        assert run.info.status == ("FAILED" if t.number == killed_trial else "FINISHED")
        if t.state == TrialState.COMPLETE:
            # Every epoch Optuna saw is in MLflow too, with the same value, across the server's restart.
            history = client.get_metric_history(run.info.run_id, "val_track_acc")
            assert {m.step: m.value for m in history} == pytest.approx(dict(t.intermediate_values))
            assert len(history) == EPOCHS
            logged_while_down += sum(down_at < m.timestamp / 1000 < up_at for m in history)
            assert run.data.metrics["objective"] == pytest.approx(t.value)
    # Metrics stamped while the server was down made it in through the client's retries.
    assert logged_while_down >= 1, (down_at, up_at)
    best = max(real, key=lambda t: t.value)
    assert parent.info.status == "FINISHED"
    assert client.get_run(parent.info.run_id).data.metrics["best_value"] == pytest.approx(best.value)
    assert (tmp_path / "generated" / f"{STUDY}-best.yaml").is_file()
    print(f"\nintegration: {N_TRIALS} trials + 1 retry across {WORKERS} workers (one killed mid-trial {killed_trial}), "
          f"mlflow server down {up_at - down_at:.0f} s ({logged_while_down} epoch metrics logged meanwhile), "
          f"{len(kids)} child runs under 1 parent, "
          f"{time.monotonic() - started:.0f} s", file=sys.stderr)
