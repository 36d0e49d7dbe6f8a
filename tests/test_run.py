"""`genrebench run` end to end on tiny generated data, checked through MlflowClient."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_folder, tone, write_audio
from mlflow import MlflowClient

from genrebench.runner import RunOptions, run_experiment
from genrebench.train import loop

PER_EPOCH = ["train_loss", "train_chunk_acc", "val_loss", "val_chunk_acc", "val_track_acc", "lr", "epoch_seconds",
             "samples_per_second"]
FINAL = ["test_track_acc", "test_chunk_acc", "test_track_macro_f1", "val_best_track_acc", "best_epoch", "test_ece",
         "test_nll", "test_brier", "val_ece", "val_nll"]
ARTIFACTS = ["config.yaml", "learning_curves.png", "confusion_matrix_val.png", "confusion_matrix_test.png",
             "reliability_test.png", "embeddings_test.npz", "embeddings_test.png",
             "confusion_matrix_test.csv", "per_class_test.csv", "splits.csv", "predictions_test.csv",
             "data_report.csv", "model_bundle.pt"]
SETS = ["data.workers=1", "features.chunk_seconds=2", "train.batch_size=8", "train.lr=0.003"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = make_folder(tmp_path_factory.mktemp("run") / "data", labels=("low", "mid", "high"), per_label=6)
    write_audio(root / "mid" / "broken.wav", tone(3, 500)[:0])  # decodes to nothing: must be skipped, not reused
    (root / "mid" / "corrupt.wav").write_bytes(b"RIFF0000WAVEjunk")
    return root


def _all_artifacts(client, run_id, path=""):
    names = []
    for f in client.list_artifacts(run_id, path):
        names += _all_artifacts(client, run_id, f.path) if f.is_dir else [f.path]
    return names


def test_run_logs_params_metrics_artifacts_tags_and_model(dataset, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    rows = run_experiment("baseline", SETS, quick=True, epochs=3, seeds=2,
                          opts=RunOptions(data=str(dataset)), tracking_uri=uri, progress=False)
    assert [r["seed"] for r in rows] == [0, 1] and all(r["skipped_files"] == 2 for r in rows)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("baseline")
    runs = client.search_runs([exp.experiment_id])
    assert {r.info.run_name for r in runs} == {"baseline-seed0", "baseline-seed1"}
    run = client.get_run(rows[0]["run_id"])
    assert run.info.status == "FINISHED"
    p = run.data.params
    assert p["train.lr"] == "0.003" and p["features.n_mels"] == "32" and p["model.name"] == "vgg_baseline"
    assert p["data.source"] == str(dataset) and p["features.normalization"] == "per_chunk"
    for key in PER_EPOCH:
        hist = client.get_metric_history(run.info.run_id, key)
        assert sorted(m.step for m in hist) == [1, 2, 3], key
    for key in FINAL:
        assert run.data.metrics[key] == pytest.approx(rows[0][key])
    for tag in ("genrebench.version", "git.commit", "dataset.fingerprint", "device"):
        assert run.data.tags.get(tag), tag
    names = {n.split("/")[-1] for n in _all_artifacts(client, run.info.run_id)}
    assert set(ARTIFACTS) <= names
    report = client.download_artifacts(run.info.run_id, "data_report.csv", str(tmp_path))
    text = Path(report).read_text()
    assert "broken.wav" in text and "corrupt.wav" in text
    assert (tmp_path / "mlruns" / "artifacts").is_dir()


def test_a_run_that_raises_ends_failed(dataset, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(loop, "train_one_epoch", boom)
    with pytest.raises(RuntimeError):
        run_experiment("baseline", SETS, quick=True, epochs=1, opts=RunOptions(data=str(dataset)),
                       tracking_uri=uri, progress=False)
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("baseline").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


@pytest.mark.slow
def test_cli_run_then_predict_the_right_label(dataset, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    # 1 s chunks give the tiny model enough samples to separate the tones within a few seconds of training.
    sets = [s.replace("chunk_seconds=2", "chunk_seconds=1") for s in SETS]
    cmd = [sys.executable, "-m", "genrebench", "run", "baseline", "--quick", "--epochs", "12", "--data", str(dataset),
           "--tracking-uri", uri, *[a for s in sets for a in ("--set", s)]]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "skipping mid/corrupt.wav" in " ".join(res.stderr.split())
    run_id = MlflowClient(uri).search_runs(
        [MlflowClient(uri).get_experiment_by_name("baseline").experiment_id])[0].info.run_id
    assert run_id in res.stdout
    song = write_audio(tmp_path / "new_high.wav", tone(4.0, 330.0 + 1.5, seed=999))
    pred = subprocess.run([sys.executable, "-m", "genrebench", "predict", str(song), "--run", run_id,
                           "--tracking-uri", uri, "--json"], capture_output=True, text=True, timeout=300)
    assert pred.returncode == 0, pred.stderr
    import json

    out = json.loads(pred.stdout)
    assert out["errors"] == [] and out["results"][0]["top"][0][0] == "high", out
