"""Which process owns a RUNNING run, and cleaning up runs whose process is gone.

Every run is tagged with the host, pid and the pid's start time. A process killed with SIGKILL (or a
machine that lost power) cannot end its run, so MLflow would show it RUNNING forever; the next
genrebench command that opens the store on the same host ends such runs FAILED. The start time guards
against pid reuse: a new process that happens to get the old pid is not mistaken for the owner.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mlflow is imported by the functions that talk to a store: `runs` reads tags without it
    from mlflow import MlflowClient

HOST_TAG = "genrebench.host"
PID_TAG = "genrebench.pid"
PID_START_TAG = "genrebench.pid_start"
FAILURE_TAG = "genrebench.failure"


def process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot) on Linux; None when unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 counted after the ")" that closes the command name (which may itself contain spaces).
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int, start: str | None) -> bool:
    """True while `pid` runs and, when its start time was recorded, is still the same process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    if start and os.path.exists("/proc/self/stat"):
        return process_start(pid) == start
    return True


def owner_tags() -> dict[str, str]:
    """Tags that identify this process as the owner of a run."""
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    start = process_start(os.getpid())
    if start:
        tags[PID_START_TAG] = start
    return tags


def orphaned(tags: dict[str, str], host: str | None = None) -> bool:
    """True when a RUNNING run with these tags was started on this host by a process that no longer exists."""
    if tags.get(HOST_TAG) != (host or socket.gethostname()) or not tags.get(PID_TAG, "").isdigit():
        return False
    return not process_alive(int(tags[PID_TAG]), tags.get(PID_START_TAG))


def active_experiment_ids(client: MlflowClient) -> list[str]:
    """The ids of every active experiment of the store, page by page."""
    from mlflow.entities import ViewType

    ids, token = [], None
    while True:
        page = client.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token)
        ids += [e.experiment_id for e in page]
        token = page.token
        if not token:
            return ids


def reap_stale_runs(client: MlflowClient) -> list[dict]:
    """End FAILED every RUNNING run started on this host by a process that no longer exists.

    Returns one dict per run ended: run id, run name, pid.
    """
    from mlflow.entities import RunStatus, ViewType

    host = socket.gethostname()
    ids = active_experiment_ids(client)
    if not ids:
        return []
    runs = client.search_runs(ids, filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
                              run_view_type=ViewType.ACTIVE_ONLY, max_results=5000)
    reaped = []
    for run in runs:
        tags = run.data.tags
        if not orphaned(tags, host):
            continue
        client.set_tag(run.info.run_id, FAILURE_TAG, f"process {tags[PID_TAG]} on {host} ended without closing "
                                                     "the run (killed?); marked FAILED by a later command")
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
        reaped.append({"run_id": run.info.run_id, "run_name": run.info.run_name, "pid": int(tags[PID_TAG])})
    return reaped
