"""Tracking: NullTracker, MlflowTracker against a sqlite store in tmp_path, and the artifact files."""

import csv
import dataclasses
import os
import time
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pytest
import yaml
from conftest import make_folder
from mlflow import MlflowClient

from genrebench.config import AudioConfig, DataConfig, ExperimentConfig, FeatureConfig
from genrebench.data import prepare_data
from genrebench.errors import UserError
from genrebench.models import create_model
from genrebench.store_urls import default_artifact_root, redact_uri, resolve_tracking_uri, sqlite_path
from genrebench.tracking import MlflowTracker, NullTracker, Tracker, model_export
from genrebench.tracking.artifacts import write_artifacts
from genrebench.tracking.mlflow_compat import dataset_entity, global_tracking_uri
from genrebench.tracking.params import flatten
from genrebench.tracking.tracker import PARAMS_PER_BATCH
from genrebench.train.bundle import load_bundle, make_bundle
from genrebench.train.metrics import per_class_table
from genrebench.train.result import Result, SplitEval

FEAT = FeatureConfig(chunk_seconds=1.0, n_mels=16, normalization="per_chunk")
ARTIFACTS = ["config.yaml", "learning_curves.png", "confusion_matrix_val.png", "confusion_matrix_test.png",
             "reliability_test.png", "embeddings_test.npz", "embeddings_test.png",
             "confusion_matrix_val.csv", "confusion_matrix_test.csv", "per_class_test.csv", "splits.csv",
             "predictions_test.csv", "predictions_val.csv", "data_report.csv", "history.csv", "model_bundle.pt"]
EPOCH_KEYS = ["train_loss", "train_chunk_acc", "val_loss", "val_chunk_acc", "val_track_acc"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = make_folder(tmp_path_factory.mktemp("trk") / "data", per_label=4, seconds=2.0)
    cache = tmp_path_factory.mktemp("trk-cache")
    return prepare_data(DataConfig(source=str(root), workers=1, cache_dir=str(cache)), FEAT, progress=False)


def _split_eval(prepared, split: str, rng: np.random.Generator) -> SplitEval:
    from sklearn.metrics import confusion_matrix

    ids = prepared.track_ids(split)
    true = np.asarray([prepared.label_index(prepared.tracks[i]) for i in ids])
    probs = rng.dirichlet(np.ones(len(prepared.labels)), size=len(ids)).astype(np.float32)
    pred = probs.argmax(axis=1)
    n = len(prepared.labels)
    return SplitEval(metrics={"loss": 1.0, "chunk_acc": 0.5, "chunk_macro_f1": 0.4, "track_acc": 0.6,
                              "track_macro_f1": 0.55},
                     track_ids=ids, track_true=true, track_probs=probs,
                     confusion=confusion_matrix(true, pred, labels=list(range(n))),
                     per_class=per_class_table(true, pred, prepared.labels))


def fake_result(prepared, epochs: int = 3) -> Result:
    """A hand-built Result over real prepared data: tiny model, random but valid probabilities."""
    rng = np.random.default_rng(0)
    labels = prepared.labels
    cfg = ExperimentConfig(name="tiny", model={"name": "vgg_small"}, features=FEAT).model_dump(mode="json")
    model = create_model("vgg_small", num_classes=len(labels))
    bundle = make_bundle(model, "vgg_small", {"num_classes": len(labels)}, labels,
                         AudioConfig().model_dump(mode="json"), FEAT.model_dump(mode="json"), {"name": "per_chunk"},
                         cfg)
    history = [{"epoch": e, "train_loss": 1.0 / e, "train_chunk_acc": 0.3 + 0.1 * e, "val_loss": 1.2 / e,
                "val_chunk_acc": 0.25 + 0.1 * e, "val_track_acc": 0.2 + 0.15 * e} for e in range(1, epochs + 1)]
    val, test = _split_eval(prepared, "val", rng), _split_eval(prepared, "test", rng)
    test.embeddings = rng.normal(size=(len(test.track_ids), 8)).astype(np.float32)  # as fit gives the test split
    final = {"test_track_acc": test.metrics["track_acc"], "test_chunk_acc": test.metrics["chunk_acc"],
             "test_track_macro_f1": test.metrics["track_macro_f1"], "val_best_track_acc": val.metrics["track_acc"],
             "best_epoch": 2.0, "train_seconds": 1.5}
    return Result(config=cfg, labels=labels, history=history, best_epoch=2, val=val, test=test, final=final,
                  model=model, bundle=bundle, device="cpu", wall_seconds=1.5)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite store for the module (creating a store's tables costs about a second); runs stay separate."""
    return tmp_path_factory.mktemp("store")


def _uri(folder) -> str:
    return f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"


def _all_artifacts(client, run_id, path=""):
    names = []
    for f in client.list_artifacts(run_id, path):
        names += _all_artifacts(client, run_id, f.path) if f.is_dir else [f.path]
    return names


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _train_and_log(tracker, result, prepared, params) -> str:
    with tracker.run("tiny", "tiny-seed0", params, {"genrebench.variant": "tiny"}) as run_id:
        for row in result.history:
            tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])
        tracker.log_result(result, prepared)
    return run_id


def _spy_on_writes(client, monkeypatch) -> list[tuple]:
    """Record the client's param/metric/tag writes: ("log_batch", n metrics, n params, n tags) per batch
    request, (method name,) per one-value call."""
    calls: list[tuple] = []
    real_batch = client.log_batch

    def log_batch(run_id, metrics=(), params=(), tags=(), **kwargs):
        calls.append(("log_batch", len(metrics), len(params), len(tags)))
        return real_batch(run_id, metrics=metrics, params=params, tags=tags, **kwargs)

    def one_value(name):
        real = getattr(client, name)
        return lambda *args, **kwargs: calls.append((name,)) or real(*args, **kwargs)

    monkeypatch.setattr(client, "log_batch", log_batch)
    for name in ("log_metric", "log_param", "set_tag"):
        monkeypatch.setattr(client, name, one_value(name))
    return calls


def test_log_result_records_everything(prepared, store, monkeypatch):
    result = fake_result(prepared)
    tracker = MlflowTracker(_uri(store))
    writes = _spy_on_writes(tracker.client, monkeypatch)
    params = flatten(result.config)
    run_id = _train_and_log(tracker, result, prepared, params)
    # A tracking server costs a round trip per request: values go in batches, never one request per value.
    assert [w for w in writes if w[0] != "log_batch"] == []
    assert [w[1] for w in writes if w[1]] == [len(row) - 1 for row in result.history] + [len(result.final)]
    assert [w[2] for w in writes if w[2]] == [min(PARAMS_PER_BATCH, len(params) - i)
                                              for i in range(0, len(params), PARAMS_PER_BATCH)]
    client = MlflowClient(_uri(store))
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny-seed0"
    p = run.data.params
    assert p["model.name"] == "vgg_small" and p["features.n_mels"] == "16" and p["train.lr"] == "0.001"
    assert p["data.split.fractions"] == "[0.7, 0.15, 0.15]"
    for key in EPOCH_KEYS:
        hist = client.get_metric_history(run_id, key)
        assert sorted((m.step, m.value) for m in hist) == [(r["epoch"], r[key]) for r in result.history], key
    for key, value in result.final.items():
        assert run.data.metrics[key] == pytest.approx(value), key
    tags = run.data.tags
    assert tags["genrebench.variant"] == "tiny" and tags["dataset.fingerprint"] == prepared.fingerprint
    assert tags["device"] == "cpu" and tags["git.commit"] and tags["genrebench.version"]
    assert tags["genrebench.host"] and tags["genrebench.pid"].isdigit()
    assert set(ARTIFACTS) <= set(_all_artifacts(client, run_id))


def test_artifacts_live_next_to_the_sqlite_store(prepared, store, tmp_path):
    result = fake_result(prepared, epochs=2)
    run_id = _train_and_log(MlflowTracker(_uri(store)), result, prepared, {"a": 1})
    client = MlflowClient(_uri(store))
    artifacts = store / "mlruns" / "artifacts"
    assert client.get_run(run_id).info.artifact_uri.startswith(artifacts.as_uri())
    assert (artifacts / "tiny" / run_id / "artifacts" / "model_bundle.pt").is_file()
    local = client.download_artifacts(run_id, "model_bundle.pt", str(tmp_path / "dl"))
    assert load_bundle(local)["labels"] == prepared.labels


def test_dataset_and_model_are_linked_to_the_run(prepared, store):
    result = fake_result(prepared, epochs=2)
    run_id = _train_and_log(MlflowTracker(_uri(store)), result, prepared, {})
    client = MlflowClient(_uri(store))
    run = client.get_run(run_id)
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "data" and dataset_input.dataset.source_type == "local"
    assert '"num_rows": 12' in dataset_input.dataset.profile
    (output,) = run.outputs.model_outputs
    model = client.get_logged_model(output.model_id)
    assert model.name == "model" and model.source_run_id == run_id and model.status.name == "READY"
    assert model.params["model.name"] == "vgg_small"
    assert model.artifact_location.startswith((store / "mlruns" / "artifacts").as_uri())
    # Pinned, not inferred: MLflow's inference imports the model in a subprocess and costs seconds per run.
    requirements = (Path(urlparse(model.artifact_location).path) / "requirements.txt").read_text().split()
    assert requirements == model_export._pip_requirements()


def test_csv_files_hold_the_results_numbers(prepared, tmp_path):
    result = fake_result(prepared)
    report = [{"path": "b/bad.wav", "label": "b", "reason": "silent", "detail": "RMS -90 dBFS"}]
    files = write_artifacts(result, dataclasses.replace(prepared, report=report), tmp_path / "out")
    assert set(files) == set(ARTIFACTS) and all(p.is_file() for p in files.values())
    rows = _read_csv(files["predictions_test.csv"])
    assert rows[0] == ["track", "true", "predicted", "prob_a", "prob_b", "prob_c"]
    probs = np.asarray([[float(v) for v in r[3:]] for r in rows[1:]], dtype=np.float32)
    np.testing.assert_array_equal(probs, result.test.track_probs)
    labels = prepared.labels
    for r, tid, true, pred in zip(rows[1:], result.test.track_ids, result.test.track_true, result.test.track_pred,
                                  strict=True):
        assert r[:3] == [prepared.tracklist.relpath(prepared.tracks[tid]), labels[true], labels[pred]]
    cm = _read_csv(files["confusion_matrix_test.csv"])
    assert cm[0][1:] == labels and [r[0] for r in cm[1:]] == labels
    np.testing.assert_array_equal(np.asarray([r[1:] for r in cm[1:]], dtype=int), result.test.confusion)
    per_class = _read_csv(files["per_class_test.csv"])
    assert per_class[0] == ["label", "precision", "recall", "f1", "support"]
    assert [float(r[3]) for r in per_class[1:]] == [row["f1"] for row in result.test.per_class]
    splits = _read_csv(files["splits.csv"])
    assert splits[0] == ["path", "label", "split"] and len(splits) == 1 + len(prepared.tracks)
    assert {r[2] for r in splits[1:]} == {"train", "val", "test"} and splits[1][0] == "a/a.00.wav"
    assert _read_csv(files["data_report.csv"]) == [["path", "label", "reason", "detail"], list(report[0].values())]
    history = _read_csv(files["history.csv"])
    assert history[0][:2] == ["epoch", "train_loss"] and len(history) == 4
    assert yaml.safe_load(files["config.yaml"].read_text()) == result.config


def test_empty_data_report_is_just_a_header(prepared, tmp_path):
    files = write_artifacts(fake_result(prepared), prepared, tmp_path / "out")
    assert files["data_report.csv"].read_text().strip() == "path,label,reason,detail"


def test_failing_body_ends_failed_and_ctrl_c_ends_killed(store):
    tracker = MlflowTracker(_uri(store))
    ids = {}
    with pytest.raises(RuntimeError, match="boom"), tracker.run("e", "bad") as ids["failed"]:
        raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt), tracker.run("e", "stopped") as ids["killed"]:
        raise KeyboardInterrupt
    client = MlflowClient(_uri(store))
    assert client.get_run(ids["failed"]).info.status == "FAILED"
    assert client.get_run(ids["killed"]).info.status == "KILLED"
    assert tracker.run_id is None


def test_child_runs_carry_the_parent_tag_and_their_own_metrics(store):
    tracker = MlflowTracker(_uri(store))
    with tracker.run("study", "parent") as parent:
        with tracker.run("study", "trial-0", {"lr": 0.1}, parent_run_id=parent) as child:
            tracker.log_metrics({"val_chunk_acc": 0.5}, step=1)
        tracker.log_metrics({"best": 0.5})
    client = MlflowClient(_uri(store))
    child_run, parent_run = client.get_run(child), client.get_run(parent)
    assert child_run.data.tags["mlflow.parentRunId"] == parent
    assert child_run.data.metrics == {"val_chunk_acc": 0.5} and parent_run.data.metrics == {"best": 0.5}
    assert child_run.info.status == parent_run.info.status == "FINISHED"


def test_many_params_are_logged_in_batches(store):
    params = {f"group{g}": {f"p{i}": i for i in range(50 * g, 50 * g + 50)} for g in range(5)}
    tracker = MlflowTracker(_uri(store))
    with tracker.run("e", "wide", params) as run_id:
        pass
    logged = MlflowClient(_uri(store)).get_run(run_id).data.params
    assert len(logged) == 250 and logged["group4.p249"] == "249"


def test_experiment_created_concurrently_is_fetched_not_duplicated(tmp_path, monkeypatch):
    uri = _uri(tmp_path)
    tracker, other = MlflowTracker(uri), MlflowTracker(uri)
    real_get = tracker.client.get_experiment_by_name
    calls = []

    def racing_get(name):
        calls.append(name)
        if len(calls) == 1:  # another worker creates the experiment right after our lookup
            other.get_or_create_experiment(name)
            return None
        return real_get(name)

    monkeypatch.setattr(tracker.client, "get_experiment_by_name", racing_get)
    assert tracker.get_or_create_experiment("shared") == other.get_or_create_experiment("shared")
    assert len(calls) == 2


def test_a_detached_run_stays_open_but_no_longer_receives_logs(store):
    tracker = MlflowTracker(_uri(store))
    parent = tracker.start_run("e", "parent")
    tracker.detach(parent)
    assert tracker.run_id is None
    assert MlflowClient(_uri(store)).get_run(parent).info.status == "RUNNING"
    with tracker.run("e", "child", parent_run_id=parent):
        tracker.log_metrics({"x": 1.0})
    tracker.end_run("FINISHED", parent)
    run = MlflowClient(_uri(store)).get_run(parent)
    assert run.info.status == "FINISHED" and run.data.metrics == {}


def test_log_calls_without_a_run_are_a_clear_error(store):
    with pytest.raises(RuntimeError, match="no active MLflow run"):
        MlflowTracker(_uri(store)).log_metrics({"x": 1.0})


def test_end_run_rejects_unknown_status(store):
    tracker = MlflowTracker(_uri(store))
    run_id = tracker.start_run("e", "r", {}, {})
    with pytest.raises(ValueError, match="FINISHED"):
        tracker.end_run("DONE")
    tracker.end_run("FINISHED")
    assert MlflowClient(_uri(store)).get_run(run_id).info.status == "FINISHED"


def test_redact_uri_hides_secrets():
    assert redact_uri("postgresql://alice:s3cret@db:5432/mlflow") == "postgresql://alice:***@db:5432/mlflow"
    assert "tok" not in redact_uri("https://tok@mlflow.example.com")
    assert redact_uri("http://h:5000/?token=abc&x=1") == "http://h:5000/?token=***&x=1"
    assert redact_uri("postgresql://h/db?user=u&password=p%40ss") == "postgresql://h/db?user=u&password=***"
    assert redact_uri("sqlite:////tmp/mlruns/mlflow.db") == "sqlite:////tmp/mlruns/mlflow.db"
    assert redact_uri("mysql+pymysql://u:s3cret@h/db") == "mysql+pymysql://u:***@h/db"


def test_tracker_repr_never_shows_the_password(store):
    tracker = MlflowTracker(_uri(store))
    tracker.tracking_uri = "postgresql://alice:s3cret@db/mlflow"
    assert "s3cret" not in repr(tracker)


def test_resolve_tracking_uri_precedence_and_default(tmp_path, monkeypatch):
    monkeypatch.setattr("genrebench.store_urls._probe", lambda *args: None)  # no server behind these made-up hosts
    assert resolve_tracking_uri("http://server:5000") == "http://server:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert resolve_tracking_uri(None) == "http://env:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)
    uri = resolve_tracking_uri(None)
    assert uri == f"sqlite:///{tmp_path.resolve() / 'mlruns' / 'mlflow.db'}"
    assert (tmp_path / "mlruns").is_dir() and sqlite_path(uri) == tmp_path.resolve() / "mlruns" / "mlflow.db"
    assert default_artifact_root(uri) == (tmp_path.resolve() / "mlruns" / "artifacts").as_uri()
    assert default_artifact_root("http://server:5000") is None
    assert resolve_tracking_uri(str(tmp_path / "x" / "store.db")) == f"sqlite:///{tmp_path.resolve()}/x/store.db"
    with pytest.raises(UserError, match="file store"):
        resolve_tracking_uri("./mlruns")


def test_flatten_dotted_keys_and_strings():
    assert flatten({"a": {"b": [1, 2], "c": {"d": None}}, "e": (3,), "f": {}}) == {
        "a.b": "[1, 2]", "a.c.d": "None", "e": "(3,)", "f": "{}"}


def test_null_tracker_records_nothing_and_never_fails(prepared):
    tracker = NullTracker()
    assert isinstance(tracker, Tracker) and isinstance(MlflowTracker.__new__(MlflowTracker), Tracker)
    tracker.log_metrics({"x": 1.0}, step=1)
    tracker.set_tags({"a": "b"})
    tracker.log_result(fake_result(prepared), prepared)
    with tracker.run("e", "r", {}, {}) as run_id:
        assert run_id is None


def test_a_model_that_cannot_be_logged_only_warns(prepared, store, monkeypatch):
    def broken(bundle, model_id):
        raise RuntimeError("export exploded")

    monkeypatch.setattr(model_export, "_log_pytorch_model", broken)
    with pytest.warns(UserWarning, match="export exploded"):
        run_id = _train_and_log(MlflowTracker(_uri(store)), fake_result(prepared, epochs=1), prepared, {})
    client = MlflowClient(_uri(store))
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and not run.outputs.model_outputs
    assert "model_bundle.pt" in _all_artifacts(client, run_id) and "test_track_acc" in run.data.metrics


def test_a_model_torch_export_refuses_is_logged_with_pickle(prepared, store, monkeypatch):
    import mlflow.pytorch

    real = mlflow.pytorch.log_model

    def no_export(model, **kw):
        if kw["serialization_format"] == "pt2":
            raise RuntimeError("graph break")
        return real(model, **kw)

    monkeypatch.setattr(mlflow.pytorch, "log_model", no_export)
    with pytest.warns(UserWarning, match="torch.export failed"):
        run_id = _train_and_log(MlflowTracker(_uri(store)), fake_result(prepared, epochs=1), prepared, {})
    client = MlflowClient(_uri(store))
    (output,) = client.get_run(run_id).outputs.model_outputs
    assert client.get_logged_model(output.model_id).status.name == "READY"


def test_mlflow_private_apis_that_mlflow_compat_wraps_still_exist():
    """Imported here directly: mlflow_compat falls back when the first one moves, which would otherwise go unseen."""
    where = "genrebench/tracking/mlflow_compat.py"
    try:
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri  # noqa: F401
    except ImportError:
        pytest.fail(f"mlflow {mlflow.__version__} moved mlflow.tracking._tracking_service.utils._use_tracking_uri: "
                    f"{where} global_tracking_uri() now sets and restores the URI by hand; point it at the new helper")
    assert hasattr(mlflow.data.dataset.Dataset, "_to_mlflow_entity"), (
        f"mlflow {mlflow.__version__} moved Dataset._to_mlflow_entity (what mlflow.log_input calls): "
        f"{where} dataset_entity() fails, and with it every run's dataset input; build the entity the new way there")


def test_mlflow_compat_restores_the_global_uri_and_builds_dataset_entities(tmp_path):
    import pandas as pd
    from mlflow.entities import Dataset as DatasetEntity

    outer, inner = _uri(tmp_path / "outer"), _uri(tmp_path / "inner")
    # With nothing set in code, the environment variable names the store; a model export must not unset it,
    # or the next tracker in this process would quietly write to ./mlruns instead.
    env = os.environ["MLFLOW_TRACKING_URI"]
    with global_tracking_uri(inner):
        assert mlflow.get_tracking_uri() == inner
    assert os.environ.get("MLFLOW_TRACKING_URI") == env and mlflow.get_tracking_uri() == env
    mlflow.set_tracking_uri(outer)
    try:
        with global_tracking_uri(inner):
            assert mlflow.get_tracking_uri() == inner
        assert mlflow.get_tracking_uri() == outer
    finally:
        mlflow.set_tracking_uri(None)  # back to the environment, which the autouse fixture restores
    dataset = mlflow.data.from_pandas(pd.DataFrame({"label": ["a"]}), name="d", targets="label")
    entity = dataset_entity(dataset)
    assert isinstance(entity, DatasetEntity) and entity.name == "d" and entity.digest == dataset.digest


def test_experiments_are_tagged_so_the_mlflow_ui_opens_on_the_runs(tmp_path):
    tracker = MlflowTracker(_uri(tmp_path))
    kind = "mlflow.experimentKind"
    made = tracker.client.get_experiment(tracker.get_or_create_experiment("fresh"))
    assert made.tags[kind] == "custom_model_development"
    old = tracker.client.create_experiment("from_an_older_version")  # no kind: tagged when next used
    chosen = tracker.client.create_experiment("chosen", tags={kind: "genai_development"})  # a user's choice stays
    for exp_id, expected in ((old, "custom_model_development"), (chosen, "genai_development")):
        name = tracker.client.get_experiment(exp_id).name
        assert tracker.get_or_create_experiment(name) == exp_id
        assert tracker.client.get_experiment(exp_id).tags[kind] == expected


def test_runs_record_system_metrics_while_open(tmp_path):
    tracker = MlflowTracker(_uri(tmp_path), system_metrics_seconds=0.2)
    with tracker.run("sys", "sampled") as run_id:
        time.sleep(1.5)
    metrics = tracker.client.get_run(run_id).data.metrics
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(metrics)
    steps = tracker.client.get_metric_history(run_id, "system/cpu_utilization_percentage")
    assert len(steps) >= 3  # sampled through the run, not once
    with tracker.resumed(run_id):  # a resumed run continues the step count instead of overwriting it
        time.sleep(0.6)
    again = tracker.client.get_metric_history(run_id, "system/cpu_utilization_percentage")
    assert len(again) > len(steps) and len({m.step for m in again}) == len(again)
    off = MlflowTracker(_uri(tmp_path), system_metrics_seconds=None)
    with off.run("sys", "unsampled") as quiet_id:
        time.sleep(0.5)
    assert not [k for k in off.client.get_run(quiet_id).data.metrics if k.startswith("system/")]
