"""Run ids by unique prefix (`resolve_run_id`), on a real SQLite store with empty runs."""

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from genrebench.errors import UserError
from genrebench.tracking.run_ids import resolve_run_id


@pytest.fixture
def store(tmp_path) -> tuple[MlflowClient, list[str]]:
    """Runs in two experiments, created until two of them share a first digit (ids sorted by creation)."""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiments = [client.create_experiment("one"), client.create_experiment("two")]
    ids: list[str] = []
    while len({i[0] for i in ids}) == len(ids):
        ids.append(client.create_run(experiments[len(ids) % 2]).info.run_id)
    return client, ids


def test_a_unique_prefix_in_any_experiment_gives_the_full_id(store):
    client, ids = store
    for run_id in ids:
        assert resolve_run_id(client, run_id[:8]) == run_id
        assert resolve_run_id(client, run_id[:12].upper()) == run_id


def test_an_ambiguous_prefix_lists_every_match(store):
    client, ids = store
    twins = [i for i in ids if i[0] == ids[-1][0]]
    with pytest.raises(UserError, match="ambiguous") as info:
        resolve_run_id(client, ids[-1][0])
    assert all(t in str(info.value) for t in twins) and "\n" not in str(info.value)


def test_an_unknown_or_malformed_id_names_the_store(store):
    client, ids = store
    unknown = next(c * 6 for c in "0123456789abcdef" if not any(i.startswith(c) for i in ids))
    for bad in (unknown, "not-an-id", "", ids[0] + "0"):
        with pytest.raises(UserError, match=f"unknown run id .* in {client.tracking_uri}"):
            resolve_run_id(client, bad)


def test_a_full_id_costs_no_search(store, monkeypatch):
    client, ids = store
    monkeypatch.setattr(client, "search_runs", lambda *a, **k: pytest.fail("searched"))
    monkeypatch.setattr(client, "search_experiments", lambda *a, **k: pytest.fail("searched"))
    assert resolve_run_id(client, ids[0]) == ids[0]


def test_a_store_without_like_on_run_ids_is_scanned(store, monkeypatch):
    client, ids = store
    search = client.search_runs

    def no_like(experiment_ids, filter_string="", **kwargs):
        if "LIKE" in filter_string:
            raise MlflowException("LIKE is not supported here")
        return search(experiment_ids, filter_string, **{**kwargs, "max_results": 2})  # several pages

    monkeypatch.setattr(client, "search_runs", no_like)
    assert resolve_run_id(client, ids[0][:8]) == ids[0]
    with pytest.raises(UserError, match="ambiguous"):
        resolve_run_id(client, ids[-1][0])
