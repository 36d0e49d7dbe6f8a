"""`genrebench run zoo --quick --epochs 1` then `genrebench report zoo`, as a user types them: one FINISHED run per
registered model, each with its cost logged, and the report's cost-vs-accuracy figure and table."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import make_folder
from mlflow import MlflowClient

from genrebench.models import list_models, reads_vectors

pytestmark = pytest.mark.slow


def test_zoo_quick_runs_every_model_and_reports_cost_against_accuracy(tmp_path):
    data = make_folder(tmp_path / "data", labels=("low", "mid", "high"), per_label=5, seconds=4.0)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
           "GENREBENCH_CACHE": str(tmp_path / "cache")}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "genrebench", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)

    run = cli("-q", "run", "zoo", "--quick", "--epochs", "1", "--data", str(data), "--set", "train.batch_size=8")
    assert run.returncode == 0, run.stderr[-3000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("zoo").experiment_id])
    # The probes read an embedding front-end's vectors: probe.yaml runs them, not the zoo.
    assert sorted(r.data.params["model.name"] for r in runs) == [m for m in list_models() if not reads_vectors(m)]
    assert {r.info.status for r in runs} == {"FINISHED"}
    for r in runs:
        assert r.data.metrics["model_macs"] > 0 and r.data.metrics["predict_ms"] > 0
    report = cli("report", "zoo")
    assert report.returncode == 0, report.stderr[-3000:]
    out = tmp_path / "reports" / "zoo"
    assert (out / "figures" / "cost-accuracy.png").stat().st_size > 10_000
    md = (out / "index.md").read_text(encoding="utf-8")
    assert "Cost and accuracy" in md and "Pareto" in md
    # only keys every zoo variant was swept over get an ablation figure: n_mels was set by musicnn and crnn alone
    assert "Ablation: model.name" in md and "Ablation: features.n_mels" not in md
    summary = pd.read_csv(out / "summary.csv", index_col=0)
    # the cheapest model per track (the mel-statistics floor) costs far less than any CNN
    macs = summary.set_index("model")["track_macs_mean"]
    assert macs["mel_linear"] * 100 < macs[["vgg_baseline", "short_chunk_cnn", "musicnn", "crnn"]].min()
