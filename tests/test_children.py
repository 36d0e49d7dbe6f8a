"""No process outlives the command that started it: owned process groups stop whole (a member that ignores SIGTERM
too), the stop signals become one exception, and the long-lived children of `bench` and of the extraction worker
pool are gone soon after their command is told to stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import live_processes, make_folder

from genrebench.children import OwnedGroup, exit_code, free_port, port_problem

REPO = Path(__file__).resolve().parents[1]


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout} s")


def _descendants(pid: int, at_least: int, timeout: float = 60) -> list[psutil.Process]:
    def found():
        kids = psutil.Process(pid).children(recursive=True)
        return kids if len(kids) >= at_least else None

    return _wait_for(found, timeout, f"{at_least} descendants of {pid}")


def test_stop_ends_every_process_of_the_group():
    with OwnedGroup(["sh", "-c", "sleep 60 & sleep 60 & wait"]) as group:
        members = _descendants(group.proc.pid, 2)
        assert group.group_alive()
        group.stop()
        assert not group.group_alive() and not live_processes(members)
    assert group.proc.returncode is not None


def test_a_member_that_ignores_sigterm_is_killed_after_the_grace():
    # An ignored signal stays ignored across fork and exec: both shells and the sleep shrug SIGTERM off.
    group = OwnedGroup(["sh", "-c", "trap '' TERM; sleep 60 & wait"])
    members = _descendants(group.proc.pid, 1)
    started = time.monotonic()
    group.stop(grace=0.5)
    assert 0.5 <= time.monotonic() - started < 5
    assert not live_processes(members) and not group.group_alive()


def test_a_leader_that_left_its_children_behind_is_still_stopped_as_a_group():
    group = OwnedGroup(["sh", "-c", "sleep 60 & exit 0"])
    group.proc.wait(10)
    assert group.group_alive()  # the orphaned sleep is still in the group
    group.stop()
    assert not group.group_alive()


def test_exit_codes_as_a_shell_reports_them():
    assert exit_code(0) == 0 and exit_code(3) == 3
    assert exit_code(-signal.SIGKILL) == 137 and exit_code(-signal.SIGTERM) == 143


def test_a_busy_port_is_named_and_a_free_one_found():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert port_problem("127.0.0.1", port) == "in use"
        other = free_port("127.0.0.1", port)
        assert other is not None and other != port and port_problem("127.0.0.1", other) is None
    assert port_problem("127.0.0.1", port) is None  # released
    assert "resolve" in port_problem("no-such-host.invalid", 5000)


_STOPPED = """
import os, signal, sys, time
from genrebench.children import Stopped, stop_on_signals
try:
    with stop_on_signals():
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
        time.sleep(5)
except Stopped as stop:
    print(stop.signum, stop.exit_code)
print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
"""


@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGINT", 0), ("SIGHUP", 129)])
def test_each_stop_signal_becomes_one_exception_and_the_handlers_come_back(name, code):
    res = subprocess.run([sys.executable, "-c", _STOPPED, name], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(int(getattr(signal, name))), str(code), "True"]


_BENCH_MEMORY = """
import sys, time
from pathlib import Path
from genrebench.bench.memory import measure_run_memory
from genrebench.train.checkpoint import stop_signals
with stop_signals():
    measure_run_memory([sys.executable, "-c", "import time; time.sleep(120)"], Path(sys.argv[1]), None)
"""


def test_bench_memory_run_stops_with_the_bench(tmp_path):
    """SIGTERM to a bench waiting on its memory run: the launcher and the run it started both go."""
    bench = subprocess.Popen([sys.executable, "-c", _BENCH_MEMORY, str(tmp_path / "run.log")], cwd=REPO)
    try:
        members = _descendants(bench.pid, 2)  # the launcher and the measured run
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(30) != 0
        _wait_for(lambda: not live_processes(members), 10, "the memory run's processes to end")
    finally:
        bench.kill()


def test_extraction_workers_stop_with_the_command(tmp_path):
    """`data cache` with 2 extraction workers, SIGTERM mid-way: no worker (nor the forkserver) is left."""
    data = make_folder(tmp_path / "data", labels=("a", "b"), per_label=40, seconds=20.0)
    env = {**os.environ, "GENREBENCH_CACHE": str(tmp_path / "cache")}
    cache = subprocess.Popen([sys.executable, "-m", "genrebench", "data", "cache", str(data), "--workers", "2"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        members = _descendants(cache.pid, 3)  # the forkserver and two workers
        time.sleep(0.5)
        cache.send_signal(signal.SIGTERM)
        assert cache.wait(30) != 0
        _wait_for(lambda: not live_processes(members), 10, "the extraction workers to end")
        cached = list((tmp_path / "cache" / "features").rglob("*.npy"))
        assert len(cached) < 80  # stopped mid-way, not after the work was done
    finally:
        cache.kill()


@pytest.mark.slow
def test_study_workers_stop_with_the_study(tmp_path):
    """`study --jobs 2`, SIGTERM once both workers train: the study exits and no worker (nor anything a worker
    started) is left."""
    data = make_folder(tmp_path / "data", labels=("a", "b"), per_label=6, seconds=3.0)
    env = {**os.environ, "GENREBENCH_CACHE": str(tmp_path / "cache"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    study = subprocess.Popen([sys.executable, "-m", "genrebench", "study", "baseline", "--quick", "--epochs", "50",
                              "--trials", "4", "--jobs", "2", "--data", str(data), "--storage",
                              f"sqlite:///{tmp_path / 'optuna.db'}", "--set", "features.chunk_seconds=1"],
                             cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def cmdline(p: psutil.Process) -> str:
            try:
                return " ".join(p.cmdline())
            except psutil.Error:  # ended, or a zombie, meanwhile
                return ""

        def workers():
            assert study.poll() is None, "the study ended before its workers started"
            kids = psutil.Process(study.pid).children(recursive=True)
            return kids if sum("spawn_main" in cmdline(k) for k in kids) >= 2 else None

        members = _wait_for(workers, 120, "two study workers")
        time.sleep(3)  # into their first trials
        study.send_signal(signal.SIGTERM)
        assert study.wait(60) != 0
        _wait_for(lambda: not live_processes(members), 10, "the study's workers to end")
    finally:
        study.kill()
