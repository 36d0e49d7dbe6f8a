"""predict: model bundles round-trip, preprocessing matches training, and bad inputs are one-line errors."""

import numpy as np
import pytest
import torch
from conftest import make_folder, tone, write_audio

from genrebench.config import AudioConfig, DataConfig, FeatureConfig
from genrebench.data import prepare_data
from genrebench.data.dataset import build_datasets
from genrebench.data.features import chunk_layout, min_samples
from genrebench.errors import UserError
from genrebench.models import create_model
from genrebench.predict import UnusableFile, audio_inputs, load_model_bundle, predict_file, predict_files, predict_paths
from genrebench.tracking import MlflowTracker
from genrebench.train.bundle import load_bundle, make_bundle, model_from_bundle, save_bundle

AUDIO = AudioConfig(min_seconds=1.0)
FEAT = FeatureConfig(chunk_seconds=1.0, overlap=0.5, n_mels=16)
LABELS = ["a", "b", "c"]


def _bundle(normalizer: dict | None = None, feat: FeatureConfig = FEAT, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = create_model("vgg_small", num_classes=len(LABELS)).eval()
    return make_bundle(model, "vgg_small", {"num_classes": len(LABELS)}, LABELS, AUDIO.model_dump(mode="json"),
                       feat.model_dump(mode="json"), normalizer or {"name": feat.normalization}, {"name": "t"})


def test_bundle_round_trip_reproduces_logits(tmp_path):
    bundle = _bundle()
    path = save_bundle(bundle, tmp_path / "m" / "model_bundle.pt")
    x = torch.randn(4, 1, 16, 44)
    with torch.no_grad():
        expected = model_from_bundle(bundle)(x)
        again = model_from_bundle(load_bundle(path))(x)
    assert torch.equal(expected, again)
    assert load_model_bundle(model_path=str(path))["labels"] == LABELS


def test_predict_file_probabilities_and_chunk_timeline(tmp_path):
    bundle = _bundle()
    path = write_audio(tmp_path / "song.wav", tone(3.3, 220.0))
    out = predict_file(bundle, model_from_bundle(bundle), path)
    sr = AUDIO.sample_rate
    layout = chunk_layout(FEAT, sr)
    starts = layout.starts(int(round(3.3 * sr)), min_samples(AUDIO, FEAT))
    assert len(starts) == 5
    assert [c["start_seconds"] for c in out["chunks"]] == pytest.approx([s * layout.hop / sr for s in starts])
    assert [c["end_seconds"] - c["start_seconds"] for c in out["chunks"]] == pytest.approx([1.0] * 5)
    assert sum(out["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert [p for _, p in out["top"]] == sorted(out["probabilities"].values(), reverse=True)
    for c in out["chunks"]:
        assert sum(c["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert c["prob"] == max(c["probabilities"].values())
    chunk_mean = np.mean([[c["probabilities"][lab] for lab in LABELS] for c in out["chunks"]], axis=0)
    np.testing.assert_allclose([out["probabilities"][lab] for lab in LABELS], chunk_mean, rtol=1e-6)


def test_a_short_clip_is_one_padded_chunk_ending_at_its_own_end(tmp_path):
    bundle = _bundle(feat=FEAT.model_copy(update={"chunk_seconds": 2.0}))
    path = write_audio(tmp_path / "short.wav", tone(1.5, 220.0))
    (chunk,) = predict_file(bundle, model_from_bundle(bundle), path)["chunks"]
    assert chunk["start_seconds"] == 0 and chunk["end_seconds"] == pytest.approx(1.5)


@pytest.mark.parametrize("normalization", ["per_chunk", "per_band", "global"])
def test_predict_matches_the_training_pipeline(tmp_path, normalization):
    """Same file through prepare_data + ChunkDataset and through predict_file: same mean softmax."""
    feat = FEAT.model_copy(update={"normalization": normalization})
    root = make_folder(tmp_path / "d", per_label=3, seconds=2.5)
    prepared = prepare_data(DataConfig(source=str(root), workers=1, audio=AUDIO), feat, progress=False)
    ds = build_datasets(prepared, normalization)
    bundle = _bundle(ds["normalizer"].state(), feat)
    model = model_from_bundle(bundle)
    test = ds["test"]
    track = int(test.index[0][0])
    rows = [i for i in range(len(test)) if int(test.index[i][0]) == track]
    with torch.no_grad():
        x = torch.stack([test[i][0] for i in rows])
        expected = torch.softmax(model(x), dim=1).mean(dim=0).numpy()
    out = predict_file(bundle, model, prepared.tracks[track].path)
    assert len(out["chunks"]) == len(rows)
    np.testing.assert_allclose([out["probabilities"][lab] for lab in LABELS], expected, rtol=1e-4, atol=1e-6)


def test_predict_files_loads_once_and_times_each_file(tmp_path):
    bundle = _bundle()
    path = save_bundle(bundle, tmp_path / "model_bundle.pt")
    files = [write_audio(tmp_path / f"{i}.wav", tone(2.0, 110.0 * (i + 1))) for i in range(2)]
    rows = predict_files(files, model_path=str(path), top_k=2)
    assert [r["file"] for r in rows] == [str(f) for f in files]
    assert all(len(r["top"]) == 2 and r["seconds"] > 0 for r in rows)
    assert rows[0]["load_seconds"] == rows[1]["load_seconds"] > 0


def test_load_model_bundle_from_a_run(tmp_path):
    bundle = _bundle(seed=3)
    save_bundle(bundle, tmp_path / "art" / "model_bundle.pt")
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    tracker = MlflowTracker(uri)
    with tracker.run("e", "r") as run_id:
        tracker.log_artifacts_dir(tmp_path / "art")
    loaded = load_model_bundle(run_id=run_id, tracking_uri=uri)
    assert all(torch.equal(loaded["state_dict"][k], v) for k, v in bundle["state_dict"].items())
    with tracker.run("e", "no-model") as empty:
        pass
    with pytest.raises(UserError, match="no model_bundle.pt"):
        load_model_bundle(run_id=empty, tracking_uri=uri)


def test_unknown_run_id_is_a_user_error_naming_it(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    with pytest.raises(UserError, match="no store at"):  # reading never creates a store
        load_model_bundle(run_id="0123456789abcdef", tracking_uri=uri)
    assert not (tmp_path / "mlruns").exists()
    MlflowTracker(uri)  # an empty store
    with pytest.raises(UserError, match="0123456789abcdef"):
        load_model_bundle(run_id="0123456789abcdef", tracking_uri=uri)
    with pytest.raises(UserError, match="exactly one"):
        load_model_bundle()
    with pytest.raises(UserError, match="not found"):
        load_model_bundle(model_path=str(tmp_path / "missing.pt"))


def test_bad_audio_files_are_user_errors_naming_them(tmp_path):
    bundle = _bundle()
    model = model_from_bundle(bundle)
    with pytest.raises(UnusableFile, match=r"nothere\.wav: not found"):
        predict_file(bundle, model, tmp_path / "nothere.wav")
    short = write_audio(tmp_path / "tiny.wav", tone(0.4, 220.0))
    with pytest.raises(UnusableFile, match=r"tiny\.wav: too_short \(0\.40 s"):
        predict_file(bundle, model, short)
    silent = write_audio(tmp_path / "quiet.wav", np.zeros(22050 * 2, dtype=np.float32))
    with pytest.raises(UserError, match=r"quiet\.wav: silent"):
        predict_file(bundle, model, silent)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(UserError, match=r"junk\.wav: unreadable"):
        predict_file(bundle, model, junk)


def test_audio_inputs_expand_folders_and_name_what_is_unusable(tmp_path):
    for name in ("x/1.wav", "x/deep/2.FLAC", "x/.hidden/3.wav", "x/deep/.4.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")  # only names count here; decoding comes later
    (tmp_path / "x" / "notes.txt").write_text("not audio")
    (tmp_path / "empty").mkdir()
    found = audio_inputs([tmp_path / "x", tmp_path / "notes.md", tmp_path / "x" / "notes.txt", tmp_path / "empty"])
    assert [(p.relative_to(tmp_path).as_posix(), reason and reason.split(" (")[0]) for p, reason in found] == [
        ("x/1.wav", None), ("x/deep/2.FLAC", None), ("notes.md", "not found"),
        ("x/notes.txt", "not an audio file"), ("empty", "no audio files")]


def test_predict_paths_goes_on_past_bad_files_in_input_order(tmp_path, monkeypatch):
    path = save_bundle(_bundle(), tmp_path / "model_bundle.pt")
    good = [write_audio(tmp_path / f"{i}.wav", tone(2.0, 110.0 * (i + 1))) for i in range(2)]
    short = write_audio(tmp_path / "short.wav", tone(0.3, 220.0))
    res = predict_paths([good[0], tmp_path / "gone.wav", short, good[1]], model_path=str(path))
    assert [r["file"] for r in res["results"]] == [str(f) for f in good]
    assert [(e["file"], e["error"].split(" ")[0]) for e in res["errors"]] == [
        (str(tmp_path / "gone.wav"), "not"), (str(short), "too_short")]
    # Nothing to classify: the model is never loaded.
    monkeypatch.setattr("genrebench.predict.load_model_bundle", lambda *a, **k: pytest.fail("model loaded"))
    res = predict_paths([tmp_path / "gone.wav"], model_path=str(path))
    assert res == {"results": [], "errors": [{"file": str(tmp_path / "gone.wav"), "error": "not found"}]}
