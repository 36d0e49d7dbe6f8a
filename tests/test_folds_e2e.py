"""`genrebench run EXP --folds all` end to end: one run per fold under a parent holding the corrected aggregate,
an interrupted fold set resumed to the numbers of an uninterrupted one, and the report reading fold runs."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import make_folder
from mlflow import MlflowClient
from scipy import stats as sps

from genrebench import folds
from genrebench.errors import UserError
from genrebench.loader import RunOptions, load_variants
from genrebench.report import build_report
from genrebench.train import select

pytestmark = pytest.mark.slow

YAML = """name: folds_tiny
description: three folds of tones
data: {split: {method: kfold, folds: 3}, workers: 1}
features: {chunk_seconds: 1, n_mels: 16}
train: {batch_size: 8}
"""
FINAL = ["test_track_acc", "test_track_macro_f1", "test_chunk_acc", "val_best_track_acc", "best_epoch"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("folds")
    data = make_folder(tmp / "data", labels=("low", "mid", "high"), per_label=6, seconds=3.0)
    spec = tmp / "folds_tiny.yaml"
    spec.write_text(YAML)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENREBENCH_CACHE", str(tmp / "cache"))
        variants = load_variants(str(spec), [], quick=True, epochs=2, opts=RunOptions(data=str(data)))
        ref_uri = f"sqlite:///{tmp / 'ref' / 'mlflow.db'}"
        rows, sets = folds.run_fold_sets_loaded(variants, 1, ref_uri, progress=False)
        uri = f"sqlite:///{tmp / 'cut' / 'mlflow.db'}"
        interrupted = _interrupted_set(mp, variants, uri)
        client = MlflowClient(uri)
        before = {r.info.run_name: (r.info.run_id, r.info.status, dict(r.data.tags))
                  for r in client.search_runs([client.get_experiment_by_name("folds_tiny").experiment_id])}
        fold1 = before["folds_tiny-fold1-seed0"][0]
        resumed = folds.resume(fold1, tracking_uri=uri, progress=False)  # a fold run's id resumes its whole set
    return {"tmp": tmp, "data": data, "spec": spec, "rows": rows, "sets": sets, "ref_uri": ref_uri, "uri": uri,
            "interrupted": interrupted, "before": before, "resumed": resumed}


def _interrupted_set(mp, variants, uri: str) -> KeyboardInterrupt:
    """The same fold set, stopped (as Ctrl-C would) after fold 1's first epoch."""
    real = select.fit

    def stop_in_fold_1(cfg, prepared, tracker=None, callbacks=None, progress=True, resume=None):
        if cfg.data.split.fold == 1 and resume is None:
            def stop(epoch, metrics):
                raise KeyboardInterrupt("test stop")
            callbacks = [*(callbacks or []), stop]
        return real(cfg, prepared, tracker, callbacks=callbacks, progress=progress, resume=resume)

    mp.setattr(select, "fit", stop_in_fold_1)
    with pytest.raises(KeyboardInterrupt) as caught:
        folds.run_fold_sets_loaded(variants, 1, uri, progress=False)
    mp.setattr(select, "fit", real)
    return caught.value


def _runs(uri: str) -> dict[str, object]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("folds_tiny").experiment_id
    return {r.info.run_name: r for r in client.search_runs([exp])}


def test_one_run_per_fold_under_a_parent_with_the_corrected_aggregate(setup):
    runs = _runs(setup["ref_uri"])
    assert set(runs) == {"folds_tiny-folds", *(f"folds_tiny-fold{f}-seed0" for f in range(3))}
    parent = runs.pop("folds_tiny-folds")
    assert parent.info.status == "FINISHED" and parent.data.tags["genrebench.role"] == "folds"
    assert parent.data.params["data.split.fold"] == "all"
    for f in range(3):
        child = runs[f"folds_tiny-fold{f}-seed0"]
        assert child.info.status == "FINISHED"
        assert child.data.params["data.split.fold"] == str(f) and child.data.tags["genrebench.fold"] == str(f)
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    # Every track is tested exactly once over the three folds.
    client = MlflowClient(setup["ref_uri"])
    tested = []
    for child in runs.values():
        splits = pd.read_csv(client.download_artifacts(child.info.run_id, "splits.csv", str(setup["tmp"])))
        tested += list(splits.loc[splits["split"] == "test", "path"])
    assert sorted(tested) == sorted(f"{lab}/{lab}.{i:02d}.wav" for lab in ("low", "mid", "high") for i in range(6))
    # The aggregate, recomputed from the fold runs by the Nadeau & Bengio formula.
    accs = [runs[f"folds_tiny-fold{f}-seed0"].data.metrics["test_track_acc"] for f in range(3)]
    n_train = np.mean([int(r.data.tags["dataset.train_tracks"]) for r in runs.values()])
    n_test = np.mean([int(r.data.tags["dataset.test_tracks"]) for r in runs.values()])
    half = sps.t.ppf(0.975, 2) * math.sqrt((1 / 3 + n_test / n_train) * np.var(accs, ddof=1))
    got = parent.data.metrics
    assert got["test_track_acc_mean"] == pytest.approx(np.mean(accs), abs=1e-12)
    assert (got["test_track_acc_ci_low"], got["test_track_acc_ci_high"]) == pytest.approx(
        (np.mean(accs) - half, np.mean(accs) + half), abs=1e-12)
    assert {"test_track_macro_f1_mean", "test_track_macro_f1_ci_low", "test_track_macro_f1_ci_high"} <= set(got)
    table = pd.read_csv(client.download_artifacts(parent.info.run_id, "folds.csv", str(setup["tmp"])))
    assert list(table["fold"]) == [0, 1, 2] and list(table["test_track_acc"]) == pytest.approx(accs)
    assert [r["fold"] for r in setup["rows"]] == [0, 1, 2]
    assert setup["sets"][0]["run_id"] == parent.info.run_id


def test_an_interrupted_fold_set_says_so_and_keeps_what_finished(setup):
    exc, before = setup["interrupted"], setup["before"]
    parent_id, status, _ = before["folds_tiny-folds"]
    assert exc.fold_set == parent_id and exc.run_id == before["folds_tiny-fold1-seed0"][0]
    assert status == "KILLED"
    assert before["folds_tiny-fold0-seed0"][1] == "FINISHED"
    assert before["folds_tiny-fold1-seed0"][1] == "KILLED"
    assert before["folds_tiny-fold1-seed0"][2]["genrebench.checkpoint_epoch"] == "1"
    assert "folds_tiny-fold2-seed0" not in before


def test_resuming_the_set_finishes_it_with_the_numbers_of_an_uninterrupted_one(setup):
    ref, got = _runs(setup["ref_uri"]), _runs(setup["uri"])
    assert set(got) == set(ref)  # no fold trained twice, none missing
    assert all(r.info.status == "FINISHED" for r in got.values())
    fold1 = got["folds_tiny-fold1-seed0"]
    assert fold1.info.run_id == setup["before"]["folds_tiny-fold1-seed0"][0]  # the same run, continued
    assert fold1.data.tags["genrebench.resumed_from_epoch"] == "1"
    for f in range(3):
        name = f"folds_tiny-fold{f}-seed0"
        assert {k: got[name].data.metrics[k] for k in FINAL} == {k: ref[name].data.metrics[k] for k in FINAL}
    parent = got["folds_tiny-folds"].data.metrics
    assert {k: v for k, v in parent.items() if k.startswith("test_track")} == {
        k: v for k, v in ref["folds_tiny-folds"].data.metrics.items() if k.startswith("test_track")}
    rows, sets = setup["resumed"]
    assert [r["fold"] for r in rows] == [1, 2]  # fold 0 was finished and is only read
    assert sets[0]["test_track_acc_mean"] == pytest.approx(parent["test_track_acc_mean"])
    with pytest.raises(UserError, match="already finished: every fold has run"):
        folds.resume(got["folds_tiny-folds"].info.run_id, tracking_uri=setup["uri"], progress=False)


def test_the_report_aggregates_the_folds_like_the_parent(setup, tmp_path):
    build_report(["folds_tiny"], None, None, tmp_path / "report", tracking_uri=setup["ref_uri"])
    summary = pd.read_csv(tmp_path / "report" / "summary.csv", index_col=0)
    parent = _runs(setup["ref_uri"])["folds_tiny-folds"].data.metrics
    row = summary.loc["folds_tiny"]
    assert (row["folds"], row["seeds"]) == (3, 1)
    assert row["test_track_acc_mean"] == pytest.approx(parent["test_track_acc_mean"])
    assert (row["test_track_acc_ci_low"], row["test_track_acc_ci_high"]) == pytest.approx(
        (parent["test_track_acc_ci_low"], parent["test_track_acc_ci_high"]))
    md = (tmp_path / "report" / "index.md").read_text()
    assert "1 × 3 folds" in md and "Nadeau & Bengio" in md


def test_the_cli_runs_a_fold_set_and_names_its_parent(setup, tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "GENREBENCH_CACHE": str(setup["tmp"] / "cache")}
    res = subprocess.run([sys.executable, "-m", "genrebench", "run", str(setup["spec"]), "--data",
                          str(setup["data"]), "--quick", "--epochs", "1", "--folds", "all"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    parent_id = next(line.rsplit(": ", 1)[1] for line in res.stdout.splitlines() if line.startswith("fold set "))
    fold_ids = [line.rsplit(": ", 1)[1] for line in res.stdout.splitlines() if line.startswith("run id ")]
    assert len(fold_ids) == 3 and [f"fold {f} seed 0" in res.stdout for f in range(3)] == [True] * 3
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    assert {client.get_run(i).data.tags["mlflow.parentRunId"] for i in fold_ids} == {parent_id}
    assert "test_track_acc_ci_high" in client.get_run(parent_id).data.metrics
