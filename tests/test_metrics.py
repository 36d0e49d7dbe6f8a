"""The metric registry: one table of names, directions and levels, and old names still read from old stores."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from genrebench import metrics
from genrebench.config import ExperimentConfig
from genrebench.errors import UserError
from genrebench.loader import load_experiment
from genrebench.report.collect import search_runs

NEW_NAMES = ["train_chunk_acc", "val_chunk_acc", "val_track_acc", "val_track_macro_f1", "test_chunk_acc",
             "test_track_acc", "test_track_macro_f1", "test_chunk_macro_f1", "val_best_track_acc",
             "val_best_chunk_acc", "val_best_track_macro_f1"]


def test_names_follow_split_level_score():
    for name in NEW_NAMES:
        spec = metrics.get_metric(name)
        assert name.startswith(spec.split) and f"_{spec.level}_" in name and spec.direction == "max"
    assert metrics.get_metric("val_loss").direction == "min" and metrics.get_metric("best_epoch").direction is None


def test_better_follows_the_direction():
    assert metrics.get_metric("val_track_acc").better(0.6, 0.5) and not metrics.get_metric("val_track_acc").better(
        0.5, 0.5)
    assert metrics.get_metric("val_loss").better(0.4, 0.5) and not metrics.get_metric("val_loss").better(0.6, 0.5)
    assert metrics.get_metric("val_loss").better(9.0, None)


def test_old_names_resolve_and_current_names_win():
    assert metrics.get_metric("val_acc").name == "val_chunk_acc"
    assert metrics.canonical_keys({"test_macro_f1": 0.1, "test_track_macro_f1": 0.2, "best_epoch": 3}) == {
        "test_track_macro_f1": 0.2, "best_epoch": 3}
    assert metrics.canonical_keys({"train_acc": 0.7}) == {"train_chunk_acc": 0.7}
    with pytest.raises(UserError, match="did you mean val_track_acc"):
        metrics.get_metric("val_trak_acc")


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="already registered"):
        metrics.register_metric(metrics.MetricSpec("val_track_acc", "val", "track", "max", "again"))
    with pytest.raises(ValueError, match="already registered"):
        metrics.register_metric(metrics.MetricSpec("val_acc", "val", "chunk", "max", "an old name"))


def test_monitor_is_checked_against_the_registry():
    assert set(metrics.monitor_choices()) == {"val_loss", "val_track_acc", "val_chunk_acc", "val_track_macro_f1"}
    assert ExperimentConfig(train={"monitor": "val_acc"}).train.monitor == "val_chunk_acc"
    with pytest.raises(UserError, match=r"train.monitor: unknown metric 'val_trak_acc'; did you mean val_track_acc"):
        load_experiment("baseline", sets=["train.monitor=val_trak_acc"])
    with pytest.raises(UserError, match="unknown metric 'test_track_acc'"):  # never select on the test split
        load_experiment("baseline", sets=["train.monitor=test_track_acc"])


def test_reports_read_a_store_written_with_the_old_names(tmp_path):
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("old", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(exp)
    for key, value in {"test_macro_f1": 0.61, "val_acc": 0.55, "test_track_acc": 0.7}.items():
        client.log_metric(run.info.run_id, key, value)
    frame = search_runs(client, [exp])
    assert frame.loc[0, "metrics.test_track_macro_f1"] == 0.61 and frame.loc[0, "metrics.val_chunk_acc"] == 0.55
    assert "metrics.test_macro_f1" not in frame and frame.loc[0, "metrics.test_track_acc"] == 0.7
