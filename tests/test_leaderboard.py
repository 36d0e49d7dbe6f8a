"""The leaderboard from fabricated runs with known scores: grouping per dataset, ranking, LEAKY rows unranked, the
summary's intervals, robustness, links; the CLI's errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from scipy import stats as st

from genrebench.errors import UserError
from genrebench.report.leaderboard import build_leaderboard

# (experiment, variant, fingerprint, leaky) -> test track accuracy per seed; robust delta per seed where evaluated.
ACCS = {("alpha", "small", "f00d", False): [0.70, 0.80, 0.75],
        ("alpha", "big", "f00d", False): [0.90, 0.85],
        ("beta", "chunky", "f00d", True): [0.99, 0.98],
        ("beta", "other_data", "beef", False): [0.60]}
ROBUST = {("alpha", "small"): [-0.2, -0.1, -0.3]}


def _store(root) -> str:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    ids = {}
    start = 1000
    for (experiment, variant, fingerprint, leaky), accs in ACCS.items():
        if experiment not in ids:
            ids[experiment] = client.create_experiment(experiment, artifact_location=(root / "a").as_uri())
        for seed, acc in enumerate(accs):
            start += 1
            tags = {"genrebench.experiment": experiment, "genrebench.variant": variant, "genrebench.seed": str(seed),
                    "dataset.fingerprint": fingerprint, "genrebench.role": "run"}
            if leaky:
                tags["genrebench.leaky"] = "true"
            run = client.create_run(ids[experiment], run_name=f"{variant}-seed{seed}", start_time=start,
                                    tags=tags).info.run_id
            client.log_metric(run, "test_track_acc", acc)
            client.log_metric(run, "test_ece", 0.1 * (seed + 1))
            client.log_metric(run, "model_parameters", 1000.0)
            client.log_metric(run, "track_macs", 2e6)
            client.log_metric(run, "train_seconds", 10.0 + seed)
            if (experiment, variant) in ROBUST:
                client.log_metric(run, "test_robust_delta", ROBUST[(experiment, variant)][seed])
            client.set_terminated(run, "FINISHED")
    # A benchmark run has no test score: never an entry.
    bench = client.create_experiment("benchmarks", artifact_location=(root / "b").as_uri())
    run = client.create_run(bench, run_name="bench", tags={"dataset.fingerprint": "f00d"}).info.run_id
    client.log_metric(run, "train_loop_ratio", 0.9)
    client.set_terminated(run, "FINISHED")
    return uri


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    uri = _store(root)
    (root / "reports" / "alpha").mkdir(parents=True)
    (root / "reports" / "alpha" / "index.html").write_text("<html></html>")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # reports/<experiment>/index.html are looked up where the command runs
        res = build_leaderboard(root / "reports" / "index.html", uri)
    return {"root": root, "uri": uri, "res": res, "csv": pd.read_csv(res["csv"]),
            "html": res["html"].read_text(encoding="utf-8")}


def test_entries_are_ranked_per_dataset_by_mean_accuracy_and_leaky_ones_are_not(board):
    res, csv = board["res"], board["csv"]
    assert (res["entries"], res["datasets"], res["experiments"]) == (4, 2, 2)
    mine = csv[csv["dataset"] == "f00d"].reset_index(drop=True)
    assert mine["entry"].tolist() == ["alpha / big", "alpha / small", "beta / chunky"]  # leaky last
    assert mine["rank"].tolist()[:2] == [1, 2] and pd.isna(mine["rank"][2]) and mine["leaky"].tolist()[2]
    other = csv[csv["dataset"] == "beef"]
    assert other["entry"].tolist() == ["beta / other_data"] and other["rank"].tolist() == [1]


def test_numbers_are_the_summarys_intervals_over_seeds(board):
    row = board["csv"].set_index("entry").loc["alpha / small"]
    x = np.array([0.70, 0.80, 0.75])
    half = st.t.ppf(0.975, 2) * x.std(ddof=1) / np.sqrt(3)
    assert row["acc"] == pytest.approx(x.mean()) and row["seeds"] == 3 and row["folds"] == 1
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((x.mean() - half, x.mean() + half))
    assert row["robust"] == pytest.approx(-0.2) and row["ece"] == pytest.approx(0.2)
    assert (row["params"], row["macs"], row["train"]) == pytest.approx((1000, 2e6, 11.0))
    assert np.isnan(board["csv"].set_index("entry").loc["alpha / big", "robust"])


def test_the_page_links_reports_and_mlflow_and_marks_leaky_rows(board):
    page = board["html"]
    assert page.count('<tr class="leaky">') == 1 and '<span class="tag">LEAKY</span>' in page
    assert '<a href="alpha/index.html">report</a>' in page  # relative to the page, so it opens from disk
    assert 'title="genrebench report beta">no report yet' in page
    assert "http://127.0.0.1:5000/#/experiments/" in page
    assert "<script>" in page and 'name="viewport"' in page and "benchmarks" not in page


def test_an_empty_store_is_a_one_line_error(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("nothing", artifact_location=(tmp_path / "a").as_uri())
    with pytest.raises(UserError, match="no finished run with a test score in sqlite:///.*nothing to rank"):
        build_leaderboard(tmp_path / "index.html", uri)
    res = subprocess.run([sys.executable, "-m", "genrebench", "leaderboard", "--tracking-uri",
                          f"sqlite:///{tmp_path / 'missing.db'}"], capture_output=True, text=True)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("error: ")
