"""Run ids by unique prefix: what `predict --run`, `run --resume` and `report --runs` accept.

Tables and logs show ids cut to 8 or 12 digits; people copy those. MLflow looks runs up by full id only,
so a prefix is found with one `search_runs` over every active experiment, filtered `run_id LIKE 'prefix%'`.
"""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from genrebench.errors import UserError
from genrebench.store_urls import redact_uri
from genrebench.tracking.liveness import active_experiment_ids

RUN_ID_DIGITS = 32  # MLflow run ids are uuid4 hex strings
SHOWN = 10  # matches listed when a prefix is ambiguous
SCAN_PAGE = 1000
_HEX = frozenset("0123456789abcdef")


def resolve_run_id(client: MlflowClient, prefix: str) -> str:
    """The one run id of the store that starts with `prefix` (case-insensitive), in any active experiment.

    A full 32-digit id comes back as it is, without a search: the caller's `get_run` says whether it exists.

    Raises:
        UserError: No run id starts with `prefix` (naming the store), or several do (listing them).
    """
    wanted = prefix.strip().lower()
    if len(wanted) == RUN_ID_DIGITS and set(wanted) <= _HEX:
        return wanted
    store = redact_uri(client.tracking_uri)
    if not wanted or len(wanted) > RUN_ID_DIGITS or not set(wanted) <= _HEX:
        raise UserError(f"unknown run id {prefix!r} in {store}: run ids are {RUN_ID_DIGITS} hex digits "
                        "(genrebench runs lists them)")
    matches = _runs_starting_with(client, wanted)
    if not matches:
        raise UserError(f"unknown run id {prefix!r} in {store} (genrebench runs lists them)")
    if len(matches) > 1:
        listed = ", ".join(f"{r.info.run_id} ({r.info.run_name})" for r in matches[:SHOWN])
        more = " and more" if len(matches) > SHOWN else ""
        raise UserError(f"run id prefix {prefix!r} is ambiguous in {store}: it matches {listed}{more}; "
                        "give more digits")
    return matches[0].info.run_id


def _runs_starting_with(client: MlflowClient, prefix: str) -> list:
    """Up to SHOWN + 1 active runs whose id starts with `prefix` (hex digits only, so no LIKE wildcards)."""
    experiments = active_experiment_ids(client)
    if not experiments:
        return []
    try:
        runs = client.search_runs(experiments, f"attributes.run_id LIKE '{prefix}%'", max_results=SHOWN + 1)
    except MlflowException:
        runs = _scan(client, experiments, prefix)  # a store whose search has no LIKE on run ids
    # LIKE ignores case in SQLite; ids are lower case, and the check costs nothing.
    return [r for r in runs if r.info.run_id.startswith(prefix)]


def _scan(client: MlflowClient, experiments: list[str], prefix: str) -> list:
    """Every run read page by page and filtered here, stopping once the prefix is known to be ambiguous."""
    found, token = [], None
    while len(found) <= SHOWN:
        page = client.search_runs(experiments, max_results=SCAN_PAGE, page_token=token)
        found += [r for r in page if r.info.run_id.startswith(prefix)]
        token = page.token
        if not token:
            break
    return found
