"""`genrebench bench`: the quick profile end to end through the real CLI, and the pieces it judges with."""

import json
import math
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from genrebench.bench import FIGURES, figure_rows
from genrebench.bench.audio import ensure_synthetic


@pytest.mark.slow
def test_quick_bench_measures_every_figure_and_logs_one_mlflow_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # A subprocess, as CI runs it; it also keeps the bench's global torch settings out of this process. Run from a
    # folder outside the repository: `--experiment baseline` (the default) is the shipped file.
    res = subprocess.run([sys.executable, "-m", "genrebench", "bench", "--quick", "--json", "--check",
                          "--tracking-uri", uri, "--work-dir", str(work)],
                         capture_output=True, text=True, cwd=elsewhere, timeout=300)
    data = json.loads(res.stdout)  # --json: stdout is the JSON and nothing else
    missed = [r["name"] for r in data["rows"] if r["ok"] is False]
    # --check: exit 1 exactly when a target was missed, and the stderr line names them.
    assert res.returncode == (1 if missed else 0), res.stderr[-3000:]
    if missed:
        assert f"{len(missed)} target(s) missed: {', '.join(missed)}" in res.stderr
    figures = data["figures"]
    assert set(figures) == set(FIGURES) and [r["name"] for r in data["rows"]] == list(FIGURES)
    for name, value in figures.items():
        assert math.isfinite(value), name
        assert value > 0 or name == "cache_warm_decoded", name
    assert figures["cache_warm_decoded"] == 0  # the warm pass decoded no audio at all
    assert "] memory:" in res.stderr and "] start-up:" in res.stderr  # stage lines go to stderr

    client = MlflowClient(uri)
    run = client.get_run(data["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "benchmarks"
    assert run.info.status == "FINISHED"
    assert run.data.metrics == pytest.approx(figures)
    assert run.data.params["quick"] == "True" and run.data.params["cpu_count"] == str(data["environment"]["cpu_count"])
    assert run.data.params["sizes.genres"] == "4" and run.data.params["torch_version"]
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["bench.json"]
    # Only the generated audio stays in --work-dir; fresh caches, bundle and the memory run's store are gone.
    assert [p.name for p in work.iterdir()] == ["audio"]


def test_bench_table_has_a_greppable_line_per_figure(capsys):
    from genrebench.cli.printing import print_bench

    figures = dict.fromkeys(FIGURES, 1.0)
    print_bench({"profile": "quick", "environment": {"device": "cpu", "cpu_count": 2, "torch_version": "2"},
                 "rows": figure_rows(figures), "run_id": "abc"})
    out = capsys.readouterr().out
    for name in FIGURES:  # the plain lines, one per figure, greppable in CI logs
        assert f"bench {name} 1 " in out
    assert "mlflow run id (experiment benchmarks): abc" in out


def test_targets_pass_and_fail_on_their_bound():
    rows = {r["name"]: r for r in figure_rows({"train_loop_ratio": 0.95, "predict_latency_s": 0.5,
                                               "cache_warm_decoded": 0.0, "run_seconds": 12.0,
                                               "run_peak_rss_gib": float("nan")})}
    assert rows["train_loop_ratio"]["ok"] is True and rows["train_loop_ratio"]["target"] == ">= 0.95"
    assert rows["predict_latency_s"]["ok"] is False  # strictly below 0.5 s
    assert rows["cache_warm_decoded"]["ok"] is True
    assert rows["run_seconds"]["ok"] is None and rows["run_seconds"]["target"] == ""
    assert rows["run_peak_rss_gib"]["ok"] is False  # a broken measurement never passes
    with pytest.raises(KeyError, match="no_such_figure"):
        figure_rows({"no_such_figure": 1.0})


def test_generated_audio_is_reused_only_when_complete_and_identical(tmp_path):
    root = tmp_path / "audio"
    first = ensure_synthetic(root, 2, 1, 1.0, seed=0)
    assert len(first["files"]) == 2 and first["generate_seconds"] > 0 and first["audio_seconds"] == 2.0
    assert ensure_synthetic(root, 2, 1, 1.0, seed=0)["generate_seconds"] == 0
    assert ensure_synthetic(root, 2, 1, 1.0, seed=1)["generate_seconds"] > 0  # other parameters: regenerated
    first["files"][0].unlink()
    again = ensure_synthetic(root, 2, 1, 1.0, seed=1)
    assert again["generate_seconds"] > 0 and all(f.is_file() for f in again["files"])
