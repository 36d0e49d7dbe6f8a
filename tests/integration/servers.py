"""Real servers for the integration suite: a throw-away PostgreSQL cluster and an `mlflow server` on loopback.

Nothing is installed here: PostgreSQL comes from the machine (Debian's `postgresql` package, which `.ci/run`
installs when missing). Each server runs in a process group of its own (`genrebench.children.OwnedGroup`) and is
stopped as a group: postgres's backends and the mlflow server's uvicorn and job processes go with it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from genrebench.children import OwnedGroup


class Unavailable(Exception):
    """A server cannot be had on this machine; the message says why (the test is skipped with it)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path:
    """The folder holding `initdb` and `postgres`: on PATH, else Debian's /usr/lib/postgresql/<major>/bin."""
    found = shutil.which("initdb")
    if found and (Path(found).resolve().parent / "postgres").exists():
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    raise Unavailable("PostgreSQL server binaries (initdb, postgres) not found; install Debian's 'postgresql'")


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the 'postgres' account; otherwise as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise Unavailable("running as root and there is no 'postgres' account to run the server as") from exc
    return "postgres"


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 30.0) -> None:
    """Stop a process we started, by its pid: `sig`, then SIGKILL if it is still there after `wait` s."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


def stop_workers(procs: list[subprocess.Popen]) -> None:
    """A test's `finally` for the worker commands it started (each with its `log_file`): stop, close the logs."""
    for p in procs:
        stop(p, signal.SIGTERM, 30)
        p.log_file.close()


def check_only_the_killed_one_failed(procs: list[subprocess.Popen], killed_pid: int) -> list[subprocess.Popen]:
    """Every worker command but the SIGKILLed one ended with exit 0 (else its log's tail is the message); those
    survivors."""
    survivors = [p for p in procs if p.pid != killed_pid]
    for p in survivors:
        assert p.returncode == 0, Path(p.log_file.name).read_text(errors="replace")[-4000:]
    assert next(p for p in procs if p.pid == killed_pid).returncode == -signal.SIGKILL
    return survivors


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    """Poll `check()` until it returns a truthy value; fail naming `what` (and the process's log) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what}: process exited with {proc.returncode}\n{tail}")
        value = check()
        if value:
            return value
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s\n{tail}")


@dataclass
class Postgres:
    """A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1:`port` with trust auth."""

    group: OwnedGroup
    port: int
    folder: Path

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast shutdown": clients disconnected, no waiting for them to leave.
        self.group.stop(grace=30, first=signal.SIGINT)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres() -> Postgres:
    """initdb a fresh cluster and start `postgres` on a free loopback port (about 2 s)."""
    bindir, user = postgres_bin(), _server_user()
    folder = Path(tempfile.mkdtemp(prefix="genrebench-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    as_user = {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}
    data, log = folder / "data", folder / "server.log"
    init = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                           "--no-sync"], capture_output=True, text=True, cwd=folder, **as_user)
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise Unavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
    port = free_port()
    # fsync off: a test cluster never has to survive a power cut, and syncs would dominate its time.
    with open(log, "wb") as fh:
        group = OwnedGroup([str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
                            "-k", str(folder), "-c", "fsync=off", "-c", "max_connections=200"],
                           stdout=fh, stderr=subprocess.STDOUT, cwd=folder, **as_user)
    server = Postgres(group, port, folder)
    try:
        wait_until(lambda: _accepts(server), 30, "postgres", group.proc, log)
    except BaseException:
        server.stop()
        raise
    return server


def _accepts(server: Postgres) -> bool:
    import psycopg

    try:
        with psycopg.connect(server.url("postgres"), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@dataclass
class MlflowServer:
    """`mlflow server` with a SQL backend store and a served artifact folder, on 127.0.0.1:`port`."""

    group: OwnedGroup
    port: int
    backend: str
    artifacts: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        # `mlflow server` forwards SIGTERM to its uvicorn workers and waits for them (the shutdown the test's
        # restart is timed against); the group stop then ends whatever is still left of it.
        stop(self.group.proc, signal.SIGTERM)
        self.group.stop(grace=30)


def start_mlflow(backend: str, artifacts: Path, log: Path, port: int | None = None) -> MlflowServer:
    """Start (or, given the old `port`, restart) the tracking server and wait for /health."""
    port = port or free_port()
    # Two HTTP workers and no background job runner: enough for a few clients on a 2-core machine.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log, "ab") as fh:
        group = OwnedGroup([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
                            "--artifacts-destination", str(artifacts), "--host", "127.0.0.1",
                            "--port", str(port), "--workers", "2"],
                           stdout=fh, stderr=subprocess.STDOUT, env=env)
    server = MlflowServer(group, port, backend, artifacts, log)
    try:
        wait_until(server.healthy, 120, "mlflow server", group.proc, log)
    except BaseException:
        server.stop()
        raise
    return server
