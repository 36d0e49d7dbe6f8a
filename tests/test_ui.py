"""`genrebench ui` owns the server it starts: the URL is printed once `/health` answers, SIGTERM / SIGINT / SIGHUP
stop the whole server process tree and free the port, a server that dies on its own ends the command with its
code, and a busy port is a one-line error within a second with nothing started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from conftest import live_processes

from genrebench.children import port_problem


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ui(tmp: Path, port: int, *args: str) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
    return subprocess.Popen([sys.executable, "-m", "genrebench", "ui", "--port", str(port), *args], cwd=tmp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


def _serving(proc: subprocess.Popen, port: int) -> tuple[str, list[psutil.Process]]:
    """Wait for the URL line (printed once /health answers); the line and the server's processes."""
    seen = []
    for line in proc.stdout:  # the server writes its own lines to stdout too (access log, store notes)
        seen.append(line)
        if line.startswith("mlflow ui on "):
            break
    assert seen and f"at http://127.0.0.1:{port}" in seen[-1], (seen, proc.poll())
    # It was answering before the line was printed; a loaded machine (CI runs two test workers) may still keep
    # one request waiting past its timeout, so a few tries rather than one.
    assert _until(lambda: _healthy(port), 20)
    return line, psutil.Process(proc.pid).children(recursive=True)


def _kill_tree(proc: subprocess.Popen) -> None:
    """A test's last resort when an assertion failed mid-way: SIGKILL genrebench and everything under it (SIGKILL
    to genrebench alone would orphan the server it started, the very thing these tests look for)."""
    try:
        tree = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    proc.kill()
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()


def _until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def _stopped_by(tmp: Path, sig: int) -> tuple[int, list[psutil.Process], int, str]:
    port = _port()
    proc = _ui(tmp, port)
    try:
        _, tree = _serving(proc, port)
        proc.send_signal(sig)
        code = proc.wait(15)
        _, stderr = proc.communicate(timeout=30)
    finally:
        _kill_tree(proc)
    return code, tree, port, stderr


@pytest.mark.slow  # mlflow ui takes 10-30 s to answer here (imports, store migrations)
def test_sigterm_stops_the_whole_server_and_frees_the_port(tmp_path):
    code, tree, port, stderr = _stopped_by(tmp_path, signal.SIGTERM)
    assert "DeprecationWarning" not in stderr, stderr  # MLflow's own import noise is not the user's to read
    assert len(tree) >= 2  # mlflow ui and its uvicorn (and job consumers): more than the one process started
    assert code == 128 + signal.SIGTERM
    assert _until(lambda: not live_processes(tree), 10), live_processes(tree)
    assert port_problem("127.0.0.1", port) is None


@pytest.mark.slow
def test_ctrl_c_is_a_clean_exit(tmp_path):
    # SIGHUP (129) takes the same path; tests/test_children.py checks each signal's exit code.
    code, tree, port, _ = _stopped_by(tmp_path, signal.SIGINT)
    assert code == 0
    assert _until(lambda: not live_processes(tree), 10) and port_problem("127.0.0.1", port) is None


@pytest.mark.slow
def test_a_server_that_dies_on_its_own_ends_the_command_with_its_code(tmp_path):
    port = _port()
    proc = _ui(tmp_path, port)
    try:
        _, tree = _serving(proc, port)
        leader = next(p for p in tree if p.ppid() == proc.pid)  # the `mlflow ui` genrebench started
        leader.kill()
        code = proc.wait(30)
        _, stderr = proc.communicate(timeout=30)
    finally:
        _kill_tree(proc)
    assert code == 128 + signal.SIGKILL
    assert "error: mlflow ui ended on its own after serving, exit code 137" in stderr
    assert _until(lambda: not live_processes(tree), 10), live_processes(tree)  # what it left of its group went too


def test_a_busy_port_is_exit_2_at_once_with_nothing_started(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        started = time.monotonic()
        res = subprocess.run([sys.executable, "-m", "genrebench", "ui", "--port", str(port), "--host", "0.0.0.0"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    # Refused before mlflow is imported (seconds): well under 1 s here when idle; the bound leaves room for a
    # loaded test machine, and `genrebench bench` times start-up properly.
    assert res.returncode == 2 and took < 4.0, (took, res.stderr)
    warning, error = res.stderr.strip().splitlines()
    assert warning == "warning: binding to 0.0.0.0: anyone who can reach this port can read your runs"
    assert error.startswith(f"error: port {port} on 0.0.0.0 is in use (try --port "), error
    assert res.stdout == ""  # no URL: nothing was started


def test_port_zero_and_out_of_range_ports_are_refused(tmp_path):
    for port in ("0", "70000"):
        res = subprocess.run([sys.executable, "-m", "genrebench", "ui", "--port", port], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 2 and "--port" in res.stderr and "1 to 65535" in res.stderr, res.stderr
