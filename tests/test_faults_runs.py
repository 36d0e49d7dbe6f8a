"""Faults around runs, driven through the real CLI in subprocesses: SIGINT/SIGTERM mid-epoch then
`--resume` with identical final metrics, SIGKILL then stale-run cleanup, concurrent writers on one
SQLite store, and a corrupted cache entry rebuilt."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_folder
from mlflow import MlflowClient

from genrebench.data.cache import content_hash
from genrebench.loader import SHIPPED_DIR

pytestmark = pytest.mark.slow

BASELINE = SHIPPED_DIR / "baseline.yaml"
TINY = ["--quick", "--set", "features.chunk_seconds=1", "--set", "data.workers=1", "--set", "train.batch_size=8"]
# Everything the loop logs each epoch and once at the end; a resumed run must match on all of them.
PER_EPOCH = ["train_loss", "train_chunk_acc", "val_loss", "val_chunk_acc", "val_track_acc", "val_track_macro_f1", "lr"]
FINAL = ["test_track_acc", "test_chunk_acc", "test_track_macro_f1", "test_chunk_macro_f1", "test_loss",
         "val_best_track_acc", "val_best_chunk_acc", "best_epoch", "epochs_run"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("faults") / "data", labels=("low", "mid", "high"), per_label=6,
                       seconds=4)


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
            "GENREBENCH_CACHE": str(tmp / "cache"), **extra}


def _cli(*args: str, tmp: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "genrebench", *args], cwd=tmp, env=_env(tmp, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# Generous: these bounds catch a hang, not slowness; a loaded 2-core machine (parallel test workers) can take
# minutes for a run that takes 25 s alone.
def _run(*args: str, tmp: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genrebench", *args], cwd=tmp, env=_env(tmp),
                          capture_output=True, text=True, timeout=timeout)


def _wait_for_epoch(tmp: Path, epoch: int, proc: subprocess.Popen, timeout: float = 300) -> tuple[str, float]:
    """Poll the store until the run owned by `proc` has logged `epoch` epochs; returns its id and the
    length of its last epoch in seconds."""
    query = ("select r.run_uuid, count(m.step), max(s.value) from runs r join tags t on t.run_uuid = r.run_uuid "
             "and t.key = 'genrebench.pid' and t.value = ? join metrics m on m.run_uuid = r.run_uuid and "
             "m.key = 'val_loss' join metrics s on s.run_uuid = r.run_uuid and s.key = 'epoch_seconds' and "
             "s.step = m.step group by r.run_uuid")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with sqlite3.connect(tmp / "mlflow.db", timeout=30) as db:
                row = db.execute(query, (str(proc.pid),)).fetchone()
        except sqlite3.OperationalError:  # tables not created yet
            row = None
        if row and row[1] >= epoch:
            return row[0], row[2]
        time.sleep(0.05)
    raise AssertionError(f"no epoch {epoch} within {timeout} s")


def _history(client: MlflowClient, run_id: str) -> dict[str, list[tuple[int, float]]]:
    return {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in PER_EPOCH}


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """One uninterrupted run, then one run stopped by each signal mid-epoch and resumed."""
    tmp = tmp_path_factory.mktemp("interrupt")
    # Longer tracks than `data`: epochs of about a second, so a signal can be aimed at the middle of one.
    data = make_folder(tmp / "data", labels=("low", "mid", "high"), per_label=6, seconds=20)
    args = ["run", str(BASELINE), "--data", str(data), "--epochs", "6", *TINY]
    reference = _run(*args, tmp=tmp)
    assert reference.returncode == 0, reference.stderr
    out = {"tmp": tmp, "reference": _run_id(reference.stdout)}
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = _cli(*args, tmp=tmp)
        run_id, epoch_seconds = _wait_for_epoch(tmp, 2, proc)
        time.sleep(epoch_seconds / 2)  # into the middle of epoch 3
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=300)
        client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
        state = {"rc": proc.returncode, "stderr": stderr, "status": client.get_run(run_id).info.status,
                 "tags": client.get_run(run_id).data.tags}
        resumed = _run("run", "--resume", run_id, tmp=tmp)
        out[sig.name] = {**state, "run_id": run_id, "resume": resumed}
    return out


def _run_id(stdout: str) -> str:
    return next(line.rsplit(": ", 1)[1] for line in stdout.splitlines() if line.startswith("run id "))


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_mid_epoch_ends_killed_with_checkpoint(interrupted, sig):
    got = interrupted[sig]
    assert got["rc"] == 130, got["stderr"]
    assert got["status"] == "KILLED"
    epoch = int(got["tags"]["genrebench.checkpoint_epoch"])
    assert epoch >= 2
    assert f"genrebench run --resume {got['run_id']}" in got["stderr"]
    assert "Traceback" not in got["stderr"]


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_resume_continues_the_same_run_to_identical_metrics(interrupted, sig):
    got = interrupted[sig]
    assert got["resume"].returncode == 0, got["resume"].stderr
    client = MlflowClient(f"sqlite:///{interrupted['tmp'] / 'mlflow.db'}")
    run, ref = client.get_run(got["run_id"]), client.get_run(interrupted["reference"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["genrebench.resumed_from_epoch"] == got["tags"]["genrebench.checkpoint_epoch"]
    # Same run id, every epoch logged exactly once, and bit-identical numbers to the uninterrupted run.
    assert _history(client, run.info.run_id) == _history(client, ref.info.run_id)
    assert all(len(v) == 6 for v in _history(client, run.info.run_id).values())
    assert {k: run.data.metrics[k] for k in FINAL} == {k: ref.data.metrics[k] for k in FINAL}
    assert any(f.path == "model_bundle.pt" for f in client.list_artifacts(run.info.run_id))


def test_resume_refuses_a_finished_run_and_an_unknown_id(interrupted):
    tmp = interrupted["tmp"]
    done = _run("run", "--resume", interrupted["reference"], tmp=tmp)
    assert done.returncode == 2 and "already finished" in done.stderr
    unknown = _run("run", "--resume", "0" * 32, tmp=tmp)
    assert unknown.returncode == 2 and "unknown run id" in unknown.stderr and "0" * 32 in unknown.stderr


def test_sigkill_leaves_running_then_next_command_marks_it_failed(data, tmp_path):
    proc = _cli("run", str(BASELINE), "--data", str(data), "--epochs", "20", *TINY, tmp=tmp_path)
    run_id, _ = _wait_for_epoch(tmp_path, 1, proc)
    proc.kill()
    proc.communicate(timeout=30)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "RUNNING"
    assert run.data.tags["genrebench.pid"] == str(proc.pid) and run.data.tags["genrebench.host"]
    listed = _run("runs", tmp=tmp_path)  # the first command after the kill
    assert listed.returncode == 0, listed.stderr
    assert run_id in listed.stdout and "FAILED" in listed.stdout and "RUNNING" not in listed.stdout
    assert f"run {run_id}" in listed.stderr and "is gone" in listed.stderr
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and "ended without closing the run" in run.data.tags["genrebench.failure"]


def test_concurrent_writers_lose_nothing(data, tmp_path):
    """Two runs and a two-trial study start together on a fresh SQLite store (schema creation included)."""
    epochs = 3
    # One math thread each: three processes spinning two OpenMP threads apiece on two cores crawl.
    one = {"OMP_NUM_THREADS": "1"}
    runs = [_cli("run", str(BASELINE), "--data", str(data), "--epochs", str(epochs), "--set", f"train.seed={s}",
                 *TINY, tmp=tmp_path, **one) for s in (1, 2)]
    study = _cli("study", str(BASELINE), "--data", str(data), "--epochs", str(epochs), "--trials", "2",
                 "--pruner", "none", "--storage", f"sqlite:///{tmp_path / 'optuna.db'}", "--best-dir",
                 str(tmp_path / "best"), "--space", str(BASELINE.parent / "search" / "lr_dropout.yaml"), *TINY,
                 tmp=tmp_path, **one)
    outputs = [p.communicate(timeout=300) for p in (*runs, study)]
    for p, (_, stderr) in zip((*runs, study), outputs, strict=True):
        assert p.returncode == 0, stderr
        assert "database is locked" not in stderr
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("baseline")
    all_runs = client.search_runs([exp.experiment_id])
    by_role: dict[str, list] = {}
    for r in all_runs:
        by_role.setdefault(r.data.tags.get("genrebench.role"), []).append(r)
    assert len(by_role["run"]) == 2 and len(by_role["trial"]) == 2 and len(by_role["study"]) == 1
    for r in by_role["run"] + by_role["trial"]:
        assert r.info.status == "FINISHED"
        for key in PER_EPOCH:
            assert [m.step for m in client.get_metric_history(r.info.run_id, key)] == list(range(1, epochs + 1))
    for r in by_role["run"]:
        assert all(k in r.data.metrics for k in FINAL)
    parent = by_role["study"][0].info.run_id
    assert all(r.data.tags["mlflow.parentRunId"] == parent for r in by_role["trial"])


def test_corrupted_cache_entry_is_detected_and_rebuilt(data, tmp_path):
    first = _run("data", "cache", str(data), "--workers", "1", "--n-mels", "16", tmp=tmp_path)
    assert first.returncode == 0, first.stderr
    victim = next(data.rglob("*.wav"))
    npy = next((tmp_path / "cache").rglob(f"{content_hash(victim)}.npy"))
    good = np.load(npy)
    raw = bytearray(npy.read_bytes())
    raw[-5] ^= 0xFF  # one flipped byte inside the float data: the header still parses
    npy.write_bytes(bytes(raw))
    second = _run("data", "cache", str(data), "--workers", "1", "--n-mels", "16", tmp=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "damaged" in second.stderr and "checksum" in second.stderr and npy.stem in second.stderr
    assert "decoded 1, reused 17" in second.stdout
    assert np.array_equal(np.load(npy), good)
