"""Long-lived child processes genrebench owns: each in a process group of its own, stopped as a whole.

A server such as `mlflow ui` starts more processes (uvicorn, job consumers); killing only the one genrebench
started leaves the rest running, re-parented to init and holding the port. So a child here starts a new session
(its own process group, which its own children join) and `stop()` signals the whole group: SIGTERM, then
SIGKILL for whatever is left after a grace period. `stop_on_signals` turns SIGTERM, SIGINT and SIGHUP into one
exception in the waiting parent, so the parent stops its group before it exits, whichever way it is told to.
Worker pools (`worker_pool`) get the same promise another way: each worker watches the process that made it.
POSIX only (process groups), as genrebench is.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

GRACE_SECONDS = 5.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Stopped(BaseException):
    """The parent was told to stop (`signum`); a BaseException so no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """0 after Ctrl-C (a user ending an interactive command), 128 + the signal otherwise, as shells report."""
        return 0 if self.signum == signal.SIGINT else 128 + self.signum


@contextmanager
def stop_on_signals(signals: Sequence[int] = STOP_SIGNALS) -> Iterator[None]:
    """Inside the block, any of `signals` raises `Stopped` in the main thread; the old handlers come back after."""

    def raise_stopped(signum: int, _frame) -> None:
        raise Stopped(signum)

    previous = {s: signal.signal(s, raise_stopped) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def ignore_stop_signals(signals: Sequence[int] = STOP_SIGNALS) -> None:
    """From now on (until `stop_on_signals` restores the old handlers) the stop signals are ignored: called while
    a group is being stopped, so a second Ctrl-C cannot leave it half stopped."""
    for s in signals:
        signal.signal(s, signal.SIG_IGN)


def _state(pid: int) -> str | None:
    """A process's state letter from /proc (`R`, `S`, `Z`, ...), or None where it cannot be read."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return None


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie counts as ended: it runs nothing, only waits to be reaped)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the id now belongs to someone else's process
        return True
    return _state(pid) in ("Z", "X")


def live_members(pgid: int) -> int:
    """How many processes of group `pgid` are running (zombies not counted): from /proc where there is one, else
    whether the group can be signalled at all."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return 0
        return 1
    count = 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()  # after "pid (comm)": state, ppid, pgrp, ...
        except OSError:  # ended while we looked
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            count += 1
    return count


class OwnedGroup:
    """A child process leading its own process group; `stop()` ends every process of the group."""

    def __init__(self, cmd: Sequence[str], **popen: object) -> None:
        self.proc = subprocess.Popen(list(cmd), start_new_session=True, **popen)  # type: ignore[call-overload]
        self.pgid = self.proc.pid  # a session leader's group id is its pid

    def __enter__(self) -> OwnedGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def group_alive(self) -> bool:
        """Whether any live process of the group is left (the leader may be gone while its children live on). A
        zombie does not count: it holds no port and runs nothing, and reaping it is its new parent's job."""
        self.proc.poll()  # reap the leader, or it stays in the group as a zombie
        return live_members(self.pgid) > 0

    def stop(self, grace: float = GRACE_SECONDS, first: int = signal.SIGTERM) -> None:
        """`first` (SIGTERM) to the group, SIGKILL to what is left after `grace` seconds; returns once the group is
        gone. A server with a faster way to stop takes its own `first` (PostgreSQL's fast shutdown is SIGINT)."""
        for sig in (first, signal.SIGKILL):
            if not self.group_alive():
                break
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while self.group_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
        self.proc.wait()


def exit_code(returncode: int) -> int:
    """A child's return code as a shell reports it: a death by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def port_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (in use, not an address of this machine, ...), or None when it can.
    SO_REUSEADDR as servers set it, so a port whose last connection lingers in TIME_WAIT is not called busy."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve {host}: {exc.strerror}"
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return "in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
    return None


def free_port(host: str, start: int, tries: int = 50) -> int | None:
    """The first port from `start` upwards that can be listened on, or None among `tries` ports."""
    return next((p for p in range(start, min(start + tries, 65536)) if port_problem(host, p) is None), None)


# ---- worker pools ---------------------------------------------------------------------------------------

def watch_owner(owner: int, interval: float = 0.5) -> None:
    """In a pool's worker process: exit as soon as the process that made the pool (`owner`) has ended.

    A worker of a `ProcessPoolExecutor` never sees its owner die by itself: it blocks on a queue whose write end
    it holds, and the forkserver that forked it stays up while any worker holds the "alive" pipe it was handed.
    So a command killed with SIGTERM or SIGKILL would leave its workers (and the forkserver) behind for good;
    with this thread each worker exits within `interval`, and the forkserver follows once the last one is gone."""
    import threading

    def watch() -> None:
        while not gone(owner):
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="watch-owner", daemon=True).start()


def _start_worker(owner: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    watch_owner(owner)
    if initializer is not None:
        initializer(*initargs)


@contextmanager
def worker_pool(workers: int, initializer: Callable[..., None] | None = None,
                initargs: tuple = ()) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers never outlive this process: each watches it (`watch_owner`), and an exception
    here (Ctrl-C, SIGTERM under `stop_signals`) cancels the tasks not yet started, so leaving the block waits only
    for those running. forkserver: safe next to torch's threads, unlike fork, and cheaper to start than spawn."""
    pool = ProcessPoolExecutor(workers, mp_context=get_context("forkserver"), initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)


def run_spawned(target: Callable[..., None], args: Sequence[tuple], grace: float = 30.0) -> list:
    """One spawned process per entry of `args` (`genrebench-worker-<i>`; spawn, since CUDA and forked torch do
    not mix), waited for. On Ctrl-C or SIGTERM (KeyboardInterrupt here) each gets SIGTERM, so it can end its
    work cleanly, then SIGKILL after `grace` s, so none outlives the command; the interruption is re-raised.
    Returns the ended processes (their `name`, `pid` and `exitcode`)."""
    ctx = get_context("spawn")
    procs = [ctx.Process(target=target, args=a, name=f"genrebench-worker-{i}") for i, a in enumerate(args)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(grace)
            if p.is_alive():
                p.kill()
                p.join()
        raise
    return procs

