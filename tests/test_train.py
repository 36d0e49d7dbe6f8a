import copy

import numpy as np
import pytest
import torch
from conftest import make_folder, tone, write_audio

from genrebench.data import prepare_data
from genrebench.data.dataset import build_datasets
from genrebench.loader import SHIPPED_DIR, load_experiment
from genrebench.metrics import REGISTRY
from genrebench.train import fit, loop
from genrebench.train.metrics import split_eval, track_probabilities

# From this file, not the working directory: run from elsewhere, a cwd-relative glob is empty and the
# parametrized smoke test below would silently become zero tests.
EXPERIMENTS = sorted(SHIPPED_DIR.glob("*.yaml"))


def tiny_cfg(root, *sets, spec="baseline", epochs=3, chunk="features.chunk_seconds=2"):
    return load_experiment(spec, quick=True, epochs=epochs, sets=[
        f"data.source={root}", "data.workers=1", *([chunk] if chunk else []), *sets])


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("tones") / "data", labels=("low", "mid", "high"), per_label=8,
                       seconds=4.0)


def _prep(cfg):
    return prepare_data(cfg.data, cfg.features, progress=False)


def _no_timing(d):
    return {k: v for k, v in d.items() if "second" not in k and k != "predict_ms"}


def test_tiny_run_beats_chance_clearly(tones):
    # batch 8: enough optimizer steps on 54 chunks for BatchNorm's running statistics to settle
    cfg = tiny_cfg(tones, "train.lr=0.003", "train.batch_size=8", epochs=8)[0].config
    res = fit(cfg, _prep(cfg), progress=False)
    assert len(res.history) == 8
    assert res.final["test_track_acc"] >= 0.8  # chance is 1/3
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]


def test_same_seed_same_metrics_other_seed_differs(tones):
    cfg = tiny_cfg(tones, epochs=2)[0].config
    prep = _prep(cfg)
    a, b = fit(cfg, prep, progress=False), fit(cfg, prep, progress=False)
    assert _no_timing(a.final) == _no_timing(b.final)
    assert [_no_timing(h) for h in a.history] == [_no_timing(h) for h in b.history]
    np.testing.assert_array_equal(a.test.track_probs, b.test.track_probs)
    other = fit(cfg.model_copy(update={"train": cfg.train.model_copy(update={"seed": 5})}), prep, progress=False)
    assert other.history[0]["train_loss"] != a.history[0]["train_loss"]


def test_test_split_is_scored_with_the_best_checkpoint_not_the_last(tones, monkeypatch):
    """Validation scores are scripted so epoch 2 is best; the returned model must hold epoch 2's weights."""
    cfg = tiny_cfg(tones, epochs=4)[0].config
    scripted = iter([0.5, 0.9, 0.6, 0.7])
    snapshots = []
    real = loop._epoch_metrics

    def fake(state, *args):
        metrics = real(state, *args)
        snapshots.append(copy.deepcopy(state["model"].state_dict()))
        return {**metrics, "val_track_acc": next(scripted)}

    monkeypatch.setattr(loop, "_epoch_metrics", fake)
    res = fit(cfg, _prep(cfg), progress=False)
    assert res.best_epoch == 2 and res.final["best_epoch"] == 2
    final = res.model.state_dict()
    assert all(torch.equal(final[k], snapshots[1][k].cpu()) for k in final)
    assert not all(torch.equal(final[k], snapshots[3][k].cpu()) for k in final)


def test_early_stopping_and_callbacks_see_every_epoch(tones):
    cfg = tiny_cfg(tones, "train.early_stopping=1", "train.monitor=val_loss", "train.lr=0.5", epochs=12)[0].config
    seen = []
    res = fit(cfg, _prep(cfg), callbacks=[lambda epoch, m: seen.append((epoch, m["val_loss"]))], progress=False)
    assert [e for e, _ in seen] == list(range(1, len(res.history) + 1))
    assert len(res.history) < 12  # lr 0.5 cannot keep improving validation loss every epoch
    assert res.best_epoch == len(res.history) - 1


def test_callback_exception_stops_training(tones):
    cfg = tiny_cfg(tones, epochs=5)[0].config

    class Stop(Exception):
        pass

    def prune(epoch, metrics):
        if epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        fit(cfg, _prep(cfg), callbacks=[prune], progress=False)


def test_the_shipped_experiments_are_all_found():
    assert {p.stem for p in EXPERIMENTS} >= {"baseline", "demo", "ablation_chunk_length", "ablation_normalization",
                                             "seed_model"}


def _smoke_params():
    # The zoo trains every registered model (18 s here): slow, beside tests/test_zoo_e2e.py, to keep make test short.
    for p in EXPERIMENTS:
        yield pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem == "zoo" else [])


@pytest.mark.parametrize("path", _smoke_params())
def test_every_experiment_smoke_runs_with_the_quick_profile(path, tones):
    variants = tiny_cfg(tones, spec=str(path), epochs=1, chunk=None)
    for variant in variants:  # every sweep value runs (4 s clips: longer windows are padded)
        cfg = variant.config
        prepared = _prep(cfg)
        res = fit(cfg, prepared, progress=False)
        # The variant's own settings reached the trained model: a sweep value silently ignored would fail here.
        assert res.bundle["model_name"] == cfg.model.name
        assert res.bundle["normalizer"]["name"] == cfg.features.normalization
        assert res.bundle["features"]["chunk_seconds"] == cfg.features.chunk_seconds
        assert len(res.history) == 1 and np.isfinite(res.history[0]["train_loss"])
        # Every logged name is in the metric registry (one table for loop, search and reports).
        assert set(res.final) | set(res.history[0]) - {"epoch"} <= set(REGISTRY)
        # Every test track is scored once, and the logged accuracy is what its probabilities say.
        assert sorted(res.test.track_ids) == prepared.track_ids("test")
        expected = float(np.mean(res.test.track_probs.argmax(axis=1) == res.test.track_true))
        assert res.final["test_track_acc"] == pytest.approx(expected)


@pytest.mark.parametrize("normalization", ["per_band", "global"])
def test_normalizer_statistics_come_from_the_training_split_only(tmp_path, normalization):
    """Val/test tracks are far louder than train ones: statistics fitted on every split would differ a lot."""
    rows = ["path,label,split"]
    for label, freq in (("a", 220.0), ("b", 330.0)):
        for i, split in enumerate(("train", "train", "train", "val", "test")):
            amp = 0.02 if split == "train" else 0.9
            write_audio(tmp_path / label / f"{label}{i}.wav", tone(3.0, freq + i, amp=amp, seed=i))
            rows.append(f"{label}/{label}{i}.wav,{label},{split}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    cfg = tiny_cfg(tmp_path / "manifest.csv", f"features.normalization={normalization}")[0].config
    prepared = _prep(cfg)
    datasets = build_datasets(prepared, normalization)
    chunks = {s: np.concatenate([datasets[s].raw_chunk(i) for i in range(len(datasets[s]))], axis=1)
              for s in ("train", "val", "test")}
    train, everything = chunks["train"], np.concatenate(list(chunks.values()), axis=1)
    state = datasets["normalizer"].state()
    axis = 1 if normalization == "per_band" else None
    np.testing.assert_allclose(state["mean"], train.mean(axis=axis), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(state["std"], train.std(axis=axis), rtol=1e-3, atol=1e-3)
    assert np.max(np.abs(np.asarray(state["mean"]) - everything.mean(axis=axis))) > 1.0


def test_track_level_averages_chunk_softmax():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]], dtype=np.float32)
    tracks = np.array([0, 0, 1, 1])
    ids, true, tp = track_probabilities(probs, tracks, np.array([0, 1]))
    assert ids == [0, 1] and list(true) == [0, 1]
    np.testing.assert_allclose(tp, [[0.55, 0.45], [0.35, 0.65]], rtol=1e-6)
    ev = split_eval(probs, np.array([0, 0, 1, 1]), tracks, np.array([0, 1]), ["a", "b"], loss=0.3)
    assert ev.metrics["chunk_acc"] == 0.75 and ev.metrics["track_acc"] == 1.0
    assert ev.confusion.tolist() == [[1, 0], [0, 1]] and ev.chunk_confusion.tolist() == [[1, 1], [0, 2]]
    assert ev.per_class[0] == {"label": "a", "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}


def test_a_training_epoch_never_ends_on_a_batch_of_one():
    # BatchNorm in a dense head (short_chunk_cnn, musicnn, mel_linear) fails on one chunk in training mode
    from genrebench.train.loop import make_loader

    def sizes(n: int, shuffle: bool) -> list[int]:
        ds = torch.utils.data.TensorDataset(torch.arange(n))
        loader = make_loader(ds, 8, shuffle, torch.Generator().manual_seed(0), 0, torch.device("cpu"))
        return [len(b[0]) for b in loader]

    assert sizes(9, True) == [8] and sizes(10, True) == [8, 2] and sizes(16, True) == [8, 8]
    assert sizes(9, False) == [8, 1]  # evaluation scores every chunk
    from genrebench.models import create_model

    model = create_model("mel_linear", num_classes=3, n_mels=8).train()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        model(torch.randn(1, 1, 8, 20))
