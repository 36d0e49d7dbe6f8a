"""Probes on frozen embeddings end to end: `run probe` with the built-in front-ends and a HEAR module from the test
suite, validation-only selection logged into the run, embeddings cached across runs, predict and robustness
computing the same vectors as training, and the one-line errors of bad front-ends."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_folder, without_progress
from mlflow import MlflowClient

from genrebench.config import at_point, grid_points
from genrebench.data import prepare_data
from genrebench.data.perturb import parse_spec
from genrebench.errors import UserError
from genrebench.loader import RunOptions, load_experiment
from genrebench.predict import predict_file
from genrebench.runner import run_experiment
from genrebench.train import fit
from genrebench.train.robustness import Scorer, evaluate_robustness

HEAR_MODULES = Path(__file__).parent / "hear_modules"
SETS = ["data.workers=1", "features.chunk_seconds=1"]


@pytest.fixture(autouse=True)
def _tinyhear_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(HEAR_MODULES))


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("tones") / "data", labels=("low", "mid", "high"), per_label=5,
                       seconds=3.0)


@pytest.fixture(scope="module")
def two_runs(tones, tmp_path_factory):
    """`run probe --quick`, then again on the same store and cache with one epoch and no grid (all the second run
    has to show is that it computes no embedding)."""
    tmp = tmp_path_factory.mktemp("probe")
    mp = pytest.MonkeyPatch()
    mp.setenv("GENREBENCH_CACHE", str(tmp / "cache"))
    mp.syspath_prepend(str(HEAR_MODULES))
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    opts = RunOptions(data=str(tones))
    try:
        first = run_experiment("probe", [*SETS, "select.grid={model.hidden: [[], [64]]}", "train.lr=0.01",
                                         "train.epochs=15"], quick=True, opts=opts, tracking_uri=uri, progress=False)
        second = run_experiment("probe", [*SETS, "select.grid={}"], quick=True, epochs=1, opts=opts,
                                tracking_uri=uri, progress=False)
    finally:
        mp.undo()
    return {"uri": uri, "first": first, "second": second}


def test_probe_runs_each_front_end_as_a_variant_and_beats_chance(two_runs):
    rows = two_runs["first"]
    assert [r["variant"] for r in rows] == ["frontend=embedding:random_cnn", "frontend=embedding:mel_stats"]
    client = MlflowClient(two_runs["uri"])
    for row in rows:
        run = client.get_run(row["run_id"])
        assert run.info.status == "FINISHED"
        assert run.data.params["features.frontend"] == row["variant"].removeprefix("frontend=")
        # 3 classes, 5 test tracks: chance is 1/3; the tones differ in pitch, which both front-ends see.
        assert run.data.metrics["test_track_acc"] > 0.5


def test_selection_is_on_validation_and_the_chosen_point_is_the_run(two_runs):
    client = MlflowClient(two_runs["uri"])
    for row in two_runs["first"]:
        run = client.get_run(row["run_id"])
        path = client.download_artifacts(row["run_id"], "select_grid.csv")
        with open(path, newline="") as fh:
            grid = list(csv.DictReader(fh))
        assert [g["model.hidden"] for g in grid] == ["[]", "[64]"]
        assert "test_track_acc" not in grid[0]  # the grid never saw the test split
        scores = [float(g["val_best_track_acc"]) for g in grid]
        chosen = [g for g in grid if g["chosen"] == "True"]
        assert len(chosen) == 1 and chosen[0] is grid[scores.index(max(scores))]  # first of equals
        # The run trained the chosen point: its params, and the same validation score (same seed, same data).
        assert run.data.params["model.hidden"] == chosen[0]["model.hidden"]
        assert run.data.params["train.lr"] == "0.01"  # not in the grid: logged when the run started
        assert run.data.metrics["val_best_track_acc"] == pytest.approx(max(scores), abs=1e-12)
        assert run.data.tags["genrebench.selected"] == f"model.hidden={chosen[0]['model.hidden']}"


def test_a_second_run_computes_no_embedding(two_runs):
    client = MlflowClient(two_runs["uri"])
    for first, second in zip(two_runs["first"], two_runs["second"], strict=True):
        assert first["variant"] == second["variant"]
        tags1, tags2 = (client.get_run(r["run_id"]).data.tags for r in (first, second))
        assert (tags1["genrebench.embedded"], tags1["genrebench.embeddings_cached"]) == ("15", "0")
        assert (tags2["genrebench.embedded"], tags2["genrebench.embeddings_cached"]) == ("0", "15")
        assert "genrebench.selected" not in tags2  # no grid: the run trained its config once


def _probe_fit(root, frontend: str):
    variants = load_experiment("probe", quick=True, sets=[*SETS, f"data.source={root}",
                                                          f"features.frontend={frontend}"])
    assert len(variants) == 1  # --set makes the sweep over front-ends one variant
    cfg = variants[0].config
    cfg = at_point(cfg, grid_points(cfg)[0])
    prepared = prepare_data(cfg.data, cfg.features, progress=False)
    return cfg, prepared, fit(cfg, prepared, progress=False)


@pytest.mark.parametrize("frontend", ["embedding:random_cnn", "hear:tinyhear"])
def test_predict_computes_the_vectors_training_used(tones, frontend):
    cfg, prepared, res = _probe_fit(tones, frontend)
    assert prepared.input_rows == (832 if frontend.startswith("embedding") else 24)
    assert res.bundle["model_kwargs"]["n_mels"] == prepared.input_rows
    for row, track_id in enumerate(res.test.track_ids):
        out = predict_file(res.bundle, res.model, prepared.tracks[track_id].path)
        got = np.array([out["probabilities"][lab] for lab in prepared.labels])
        np.testing.assert_allclose(got, res.test.track_probs[row], atol=1e-5)


def test_hear_module_gets_audio_at_its_own_rate(tones):
    import tinyhear

    tinyhear.CALLS.clear()
    cfg, prepared, _ = _probe_fit(tones, "hear:tinyhear")
    # One worker: the module ran in this process. 1 s windows at 22050 Hz are 16000 samples at the model's rate.
    assert tinyhear.CALLS and {shape[1] for shape in tinyhear.CALLS} == {16000}
    assert prepared.stats["embedded"] == 15 and prepared.layout.frames == 1


def test_robustness_embeds_the_degraded_audio_once(tones):
    cfg, prepared, res = _probe_fit(tones, "embedding:random_cnn")
    scorer = Scorer.from_bundle(res.bundle, cfg, torch.device("cpu"))
    specs = [parse_spec("identity"), parse_spec("noise:snr=-10")]
    rows = evaluate_robustness(scorer, cfg, prepared, specs, progress=False)
    assert rows[0].test_track_acc == res.final["test_track_acc"]  # the clean vectors, exactly as fit scored them
    assert rows[1].decoded == len(prepared.track_ids("test"))  # each test track decoded, degraded, embedded once
    vectors = list((Path(os.environ["GENREBENCH_CACHE"]) / "embeddings").iterdir())
    assert len(vectors) == 2  # the clean front-end's folder and the noisy one's
    again = evaluate_robustness(scorer, cfg, prepared, specs, progress=False)
    assert [r.decoded for r in again] == [0, 0] and again[1].test_track_acc == rows[1].test_track_acc


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "genrebench", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_a_bad_front_end_is_one_line_and_exit_2():
    res = _cli("run", "probe", "--quick", "--set", "features.frontend=hear:no_such_hear_module")
    lines = without_progress(res.stderr)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert lines == ["error: --set features.frontend: 'hear:no_such_hear_module': no module named "
                     "'no_such_hear_module'; install a package that implements the HEAR API (see docs/probes.md)"]


@pytest.mark.parametrize(("sets", "expected"), [
    (["features.frontend=embedding:random_cn"], "did you mean random_cnn"),
    (["features.frontend=embedding:random_cnn?seed=x"], "seed='x' must be int"),
    (["features.frontend=embedding:random_cnn", "model.name=vgg_baseline"], "model 'vgg_baseline' reads mel chunks"),
    (["features.frontend=embedding:random_cnn", "augment.random_crop=true"], "augment.random_crop cannot follow"),
])
def test_bad_front_ends_fail_when_the_experiment_loads(sets, expected):
    with pytest.raises(UserError, match=re.escape(expected)):
        load_experiment("probe", quick=True, sets=sets)


def test_a_module_that_breaks_the_api_is_named(tmp_path, tones, monkeypatch):
    (tmp_path / "wronghear.py").write_text(
        "import torch\nclass M:\n    sample_rate = 16000\n    scene_embedding_size = 8\n"
        "def load_model(path=''):\n    return M()\n"
        "def get_scene_embeddings(audio, model):\n    return torch.zeros(audio.shape[0], 7)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (variant,) = load_experiment("probe", quick=True, sets=[*SETS, f"data.source={tones}",
                                                            "features.frontend=hear:wronghear"])
    shape = r"hear:wronghear.*returned shape \((\d+), 7\) for \1 clip\(s\); expected \(\1, 8\)"
    with pytest.raises(UserError, match=shape):
        prepare_data(variant.config.data, variant.config.features, progress=False)


def test_a_study_refuses_an_experiment_that_selects_inside_its_runs():
    from genrebench.search.job import StudySettings
    from genrebench.search.validate import load_study_job

    with pytest.raises(UserError, match="select.grid chooses settings inside each run"):
        load_study_job("probe", StudySettings(), ["features.frontend=embedding:mel_stats"], True, None, RunOptions())


@pytest.mark.slow
def test_done_when_probe_quick_on_the_built_in_set_beside_vgg_baseline(tmp_path):
    """The issue's check, as a user types it: `run probe --quick` with the built-in front-ends and with the test
    suite's HEAR module, `run baseline --quick`, then one report and the leaderboard (the cache hit of a second run
    is checked on smaller data above)."""
    env = {"PYTHONPATH": os.pathsep.join([str(HEAR_MODULES), os.environ["PYTHONPATH"]]),
           "GENREBENCH_CACHE": str(tmp_path / "cache"), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    for args in (("run", "probe", "--quick"), ("run", "probe", "--quick", "--set", "features.frontend=hear:tinyhear"),
                 ("run", "baseline", "--quick")):
        res = subprocess.run([sys.executable, "-m", "genrebench", *args], capture_output=True, text=True,
                             env={**os.environ, **env}, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("probe").experiment_id], order_by=["start_time ASC"])
    by_variant = {run.data.tags["genrebench.variant"]: run for run in runs}
    assert sorted(by_variant) == ["frontend=embedding:mel_stats", "frontend=embedding:random_cnn",
                                  "frontend=hear:tinyhear"]
    for variant, run in by_variant.items():
        assert run.info.status == "FINISHED" and run.data.tags["genrebench.embedded"] == "80"  # 10 genres x 8
        assert run.data.metrics["test_track_acc"] > 0.1, variant  # 10 genres: chance is 0.1
    report = subprocess.run([sys.executable, "-m", "genrebench", "report", "probe", "baseline"], capture_output=True,
                            text=True, env={**os.environ, **env}, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    with open(tmp_path / "reports" / "probe+baseline" / "summary.csv", newline="") as fh:
        summary = {row["variant"]: row for row in csv.DictReader(fh)}
    assert summary["baseline"]["model"] == "vgg_baseline"
    assert summary["frontend=embedding:random_cnn"]["model"] == "mlp_probe on embedding:random_cnn"
    assert summary["frontend=hear:tinyhear"]["model"] == "mlp_probe on hear:tinyhear"
    board = subprocess.run([sys.executable, "-m", "genrebench", "leaderboard"], capture_output=True, text=True,
                           env={**os.environ, **env}, cwd=tmp_path)
    assert board.returncode == 0, board.stderr
    page = (tmp_path / "reports" / "index.html").read_text()
    assert "mlp_probe on hear:tinyhear" in page and "vgg_baseline" in page
