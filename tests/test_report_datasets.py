"""Reports on runs of several datasets: one section per dataset group, nothing superseded or compared across."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import make_folder

from genrebench.report import build_report
from genrebench.report.analysis import variant_runs
from genrebench.runner import RunOptions, run_experiment

SETS = ["data.workers=1", "features.chunk_seconds=2", "train.batch_size=8"]


def _train(data, uri: str) -> str:
    rows = run_experiment("baseline", SETS, quick=True, epochs=1, opts=RunOptions(data=str(data)), tracking_uri=uri,
                          progress=False)
    return rows[0]["run_id"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    """baseline seed 0 on dataset A, then on dataset B, then on A again: the first A run is the superseded one.

    Three tiny trainings and a new MLflow store take 30-40 s on two cores, so the tests using them are marked slow.
    """
    root = tmp_path_factory.mktemp("datasets")
    data_a = make_folder(root / "data_a", labels=("low", "mid", "high"), per_label=4)
    data_b = make_folder(root / "data_b", labels=("low", "mid", "high"), per_label=5)
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENREBENCH_CACHE", str(root / "cache"))
        old_a, on_b, new_a = _train(data_a, uri), _train(data_b, uri), _train(data_a, uri)
    return {"root": root, "uri": uri, "old_a": old_a, "b": on_b, "new_a": new_a, "data_a": data_a, "data_b": data_b}


@pytest.fixture(scope="module")
def report(store) -> dict:
    return build_report(["baseline"], None, None, store["root"] / "reports" / "both", store["uri"])


def _row(md: str, run_id: str) -> str:
    """The run-table line of `run_id` (its link text opens the row)."""
    lines = [line for line in md.splitlines() if line.startswith(f"| [{run_id}]")]
    assert len(lines) == 1, (run_id, lines)
    return lines[0]


def _sections(md: str) -> dict[str, str]:
    """{`## Dataset ...` title: the text up to the next such title}."""
    parts = md.split("\n## Dataset ")[1:]
    return {"## Dataset " + p.split("\n", 1)[0]: p for p in parts}


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """A run frame as `collect` reads it: (run id, start, fingerprint, protocol or None), one variant and seed."""
    return pd.DataFrame([{"run_id": r, "experiment_name": "e", "run_name": "v-seed0", "status": "FINISHED",
                          "start_time": t, "tags.genrebench.variant": "v", "tags.genrebench.seed": "0",
                          "tags.dataset.fingerprint": fp, "tags.genrebench.protocol": proto}
                         for r, t, fp, proto in rows])


def test_superseding_is_per_dataset_and_protocol():
    runs, excluded, _ = variant_runs(_frame([("a1", 1, "aaaa", None), ("b1", 2, "bbbb", None),
                                             ("a2", 3, "aaaa", None), ("a3", 4, "aaaa", "kfold")]))
    assert sorted(runs["run_id"]) == ["a2", "a3", "b1"]
    assert list(excluded["run_id"]) == ["a1"] and excluded["reason"].str.contains("superseded").all()
    assert set(runs["protocol"]) == {"default", "kfold"} and set(runs["label"]) == {"v"}


@pytest.mark.slow
def test_each_dataset_gets_its_own_section(store, report):
    md = report["index_md"].read_text(encoding="utf-8")
    page = report["index_html"].read_text(encoding="utf-8")
    assert report["runs"] == 2 and report["excluded"] == 1 and report["datasets"] == 2
    sections = _sections(md)
    titles = list(sections)
    assert len(titles) == 2 and page.count("<h2>Dataset ") == 2
    # Groups come in the order of their first kept run: B's run is older than A's newest.
    assert f"`{store['data_b']}`" in titles[0] and f"`{store['data_a']}`" in titles[1]
    assert md.count("\n### Summary of variants\n") == 2 and md.count("\n### Data and environment\n") == 2
    for run_id in (store["b"], store["new_a"]):
        assert "superseded" not in _row(md, run_id) and "FINISHED" in _row(md, run_id)
    assert "superseded by a later run" in _row(md, store["old_a"])
    # Each run is listed in its own dataset's section only; the superseded A run with the A runs.
    on_b, on_a = sections.values()
    assert store["b"] in on_b and store["new_a"] not in on_b and store["old_a"] not in on_b
    assert store["new_a"] in on_a and store["old_a"] in on_a and store["b"] not in on_a
    fingerprints = [t.split("(fingerprint ")[1].rstrip(")") for t in titles]
    assert report["warnings"] == [f"report spans 2 datasets (fingerprints {', '.join(fingerprints)}): each is "
                                  "reported in its own section"]
    assert set(report["summary"].index.get_level_values("dataset")) == set(fingerprints)
    assert len({f.name for f in report["figures"]}) == len(report["figures"]) >= 4
    assert all(f.is_file() for f in report["figures"])


@pytest.mark.slow
def test_one_dataset_still_supersedes_and_looks_as_before(store, tmp_path):
    out = build_report([], None, [store["old_a"], store["new_a"]], tmp_path / "one", store["uri"])
    md = out["index_md"].read_text(encoding="utf-8")
    assert out["runs"] == 1 and out["excluded"] == 1 and out["datasets"] == 1 and out["warnings"] == []
    assert "superseded by a later run of the same variant, seed and fold" in _row(md, store["old_a"])
    assert "\n## Summary of variants\n" in md and not _sections(md) and "report spans" not in md
    assert out["summary"].index.name == "variant"
    assert {f.name for f in out["figures"]} >= {"learning-curves.png", "confusion-best.png"}


@pytest.mark.slow
def test_cli_warns_once_when_a_report_spans_datasets(store, tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": store["uri"], "GENREBENCH_CACHE": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, "-m", "genrebench", "report", "baseline"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    err = " ".join(res.stderr.split())
    assert err.count("report spans 2 datasets (fingerprints ") == 1 and "each is reported in its own section" in err
    md = (tmp_path / "reports" / "baseline" / "index.md").read_text(encoding="utf-8")
    assert store["b"] in md and store["new_a"] in md
