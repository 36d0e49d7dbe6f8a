"""Embeddings: the penultimate features of every registered model, and a run's `embeddings_test.npz` and map."""

import numpy as np
import pytest
import torch
from conftest import make_folder
from torch.utils.data import DataLoader

from genrebench.data import prepare_data
from genrebench.data.dataset import build_datasets, collate
from genrebench.loader import load_experiment
from genrebench.models import create_model, list_models, quick_overrides
from genrebench.tracking.artifacts import write_artifacts
from genrebench.train import fit, loop
from genrebench.train.embeddings import last_linear, penultimate, track_means


@pytest.mark.parametrize("name", list_models())
def test_penultimate_features_are_what_the_last_layer_turns_into_the_logits(name):
    torch.manual_seed(0)
    quick = quick_overrides(name)
    model = create_model(name, num_classes=4, n_mels=32, **{k: v for k, v in quick.items() if k != "args"},
                         **quick.get("args", {})).eval()
    x = torch.randn(3, 1, 32, 130)
    with torch.no_grad(), penultimate(model) as captured:
        logits = model(x)
    assert len(captured) == 1 and captured[0].shape[0] == 3
    with torch.no_grad():
        assert torch.allclose(last_linear(model)(captured[0]), logits, atol=1e-5)
    with torch.no_grad():
        model(x)
    assert len(captured) == 1  # the hook is gone once the block closes


def test_track_means_average_each_tracks_chunks():
    feats = np.array([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0], [5.0, 6.0]])
    tracks = np.array([7, 7, 2, 7])
    assert track_means(feats, tracks).tolist() == [[10.0, 0.0], [3.0, 4.0]]  # sorted ids: track 2, then 7


def test_a_run_writes_its_test_embeddings_and_their_map(tmp_path):
    root = make_folder(tmp_path / "data", labels=("low", "mid", "high"), per_label=6, seconds=3.0)
    cfg = load_experiment("baseline", quick=True, epochs=2, sets=[
        f"data.source={root}", "data.workers=1", "features.chunk_seconds=1"])[0].config
    prepared = prepare_data(cfg.data, cfg.features, progress=False)
    res = fit(cfg, prepared, progress=False)
    files = write_artifacts(res, prepared, tmp_path / "out")
    assert files["embeddings_test.png"].stat().st_size > 1000
    with np.load(files["embeddings_test.npz"], allow_pickle=False) as npz:
        emb, labels, predicted, tracks = npz["embeddings"], npz["labels"], npz["predicted"], npz["tracks"]
    n = len(res.test.track_ids)
    assert emb.shape[0] == n and emb.dtype == np.float32 and len(tracks) == len(set(tracks.tolist())) == n
    assert labels.tolist() == [res.labels[i] for i in res.test.track_true]
    assert predicted.tolist() == [res.labels[i] for i in res.test.track_pred]
    assert all(t.split("/")[0] == lab for t, lab in zip(tracks.tolist(), labels.tolist(), strict=True))
    # The last layer is affine, so applied to a track's mean features it gives the mean of that track's chunk
    # logits: recomputed here from the test chunks, row by row, the order and the averaging are checked.
    test = build_datasets(prepared, cfg.features.normalization)["test"]
    out = loop.predict_chunks(res.model, DataLoader(test, batch_size=64, collate_fn=collate), torch.device("cpu"))
    ids = np.unique(out["tracks"])
    mean_logits = np.stack([out["logits"][out["tracks"] == t].mean(axis=0) for t in ids])
    with torch.no_grad():
        from_embeddings = last_linear(res.model)(torch.from_numpy(emb)).numpy()
    assert ids.tolist() == res.test.track_ids
    assert np.allclose(from_embeddings, mean_logits, atol=1e-4)
