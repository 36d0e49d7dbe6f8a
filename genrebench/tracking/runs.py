"""`genrebench runs`: the tracked runs with their state, newest first (after stale-run cleanup)."""

from __future__ import annotations

from mlflow.entities import ViewType

from genrebench.errors import UserError
from genrebench.metrics import canonical_keys
from genrebench.store_urls import redact_uri
from genrebench.tracking.liveness import HOST_TAG, PID_TAG
from genrebench.tracking.tracker import MlflowTracker

STATES = ("RUNNING", "FINISHED", "FAILED", "KILLED", "SCHEDULED")


def list_runs(tracking_uri: str | None = None, experiments: list[str] | None = None,
              states: list[str] | None = None, limit: int = 50) -> dict:
    """Runs of `experiments` (default: all) whose state is in `states` (default: all), newest first.

    Opening the store first ends FAILED the RUNNING runs whose process is gone, so what is listed as
    RUNNING is really running. Returns {"store", "runs": [one dict per run]}.
    """
    bad = [s for s in states or [] if s.upper() not in STATES]
    if bad:
        raise UserError(f"--state {bad[0]!r}: unknown run state (use {', '.join(STATES)})")
    tracker = MlflowTracker(tracking_uri)
    client = tracker.client
    ids = []
    for name in experiments or []:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise UserError(f"no experiment {name!r} in {redact_uri(tracker.tracking_uri)}")
        ids.append(exp.experiment_id)
    if not experiments:
        ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    names = {i: client.get_experiment(i).name for i in ids}
    runs = []
    # MLflow's filter language has no OR: one query per state, merged newest first.
    for wanted in [f"attributes.status = '{s.upper()}'" for s in states or []] or [""]:
        runs += client.search_runs(ids, filter_string=wanted, max_results=limit,
                                   order_by=["attributes.start_time DESC"]) if ids else []
    runs = sorted(runs, key=lambda r: r.info.start_time or 0, reverse=True)[:limit]
    return {"store": redact_uri(tracker.tracking_uri), "runs": [_describe(r, names) for r in runs]}


def _describe(run, names: dict[str, str]) -> dict:
    info, tags, metrics = run.info, run.data.tags, canonical_keys(run.data.metrics)
    end = info.end_time or None
    return {"run_id": info.run_id, "experiment": names.get(info.experiment_id, info.experiment_id),
            "name": info.run_name, "status": info.status, "role": tags.get("genrebench.role", ""),
            "start_ms": info.start_time, "seconds": (end - info.start_time) / 1000 if end else None,
            "owner": f"{tags.get(HOST_TAG, '?')}:{tags.get(PID_TAG, '?')}",
            "test_track_acc": metrics.get("test_track_acc"), "val_best_track_acc": metrics.get("val_best_track_acc"),
            "checkpoint_epoch": tags.get("genrebench.checkpoint_epoch"), "failure": tags.get("genrebench.failure")}
