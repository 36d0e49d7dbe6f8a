"""Report embedding maps and error analysis, from fabricated runs with known predictions, recalls and embeddings."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from genrebench.errors import UserError
from genrebench.report import build_report
from genrebench.report.mistakes import project

EXPERIMENT = "errors_fake"
GENRES = ("rock", "jazz", "pop")
N_TRACKS = 12
# (variant, seed) -> per-genre test recall as `per_class_test.csv` holds it. Means over seeds: a 0.6, 0.9, 0.3
# (mean over genres 0.6); b 0.95, 0.5, 0.5 (0.65).
RECALLS = {("a", 0): (0.5, 1.0, 0.25), ("a", 1): (0.7, 0.8, 0.35),
           ("b", 0): (1.0, 0.5, 0.45), ("b", 1): (0.9, 0.5, 0.55)}


def _track_rows(variant: str, seed: int) -> list[tuple[str, str, str, float]]:
    """(track, true, predicted, confidence) of one run. Variant a gets every odd track wrong, at confidence
    0.40 + 0.04 i + 0.01 seed (all distinct: 12 mistakes pooled, 10 shown); b only track 2, at 0.7 in both seeds
    (a tie, which keeps seed order)."""
    rows = []
    for i in range(N_TRACKS):
        true = GENRES[i % 3]
        wrong = i % 2 == 1 if variant == "a" else i == 2
        confidence = round(0.40 + 0.04 * i + 0.01 * seed, 2) if variant == "a" else 0.7
        rows.append((f"{true}/t{i:02d}.wav", true, GENRES[(i + 1) % 3] if wrong else true,
                     confidence if wrong else 0.9))
    return rows


def _predictions(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """`predictions_test.csv`: the predicted genre gets the confidence, the others share the rest."""
    probs = [[p if g == pred else (1 - p) / 2 for g in GENRES] for _, _, pred, p in rows]
    frame = pd.DataFrame([r[:3] for r in rows], columns=["track", "true", "predicted"])
    return frame.join(pd.DataFrame(probs, columns=[f"prob_{g}" for g in GENRES]))


def _embeddings(rows: list[tuple[str, str, str, float]], seed: int) -> dict[str, np.ndarray]:
    """`embeddings_test.npz`: one cluster per true genre in 4 features."""
    rng = np.random.default_rng(seed)
    centres = {g: 3.0 * np.eye(4)[i] for i, g in enumerate(GENRES)}
    return {"embeddings": np.stack([centres[t] + 0.3 * rng.standard_normal(4) for _, t, _, _ in rows])
            .astype(np.float32), "labels": np.array([t for _, t, _, _ in rows]),
            "predicted": np.array([p for _, _, p, _ in rows]), "tracks": np.array([t for t, _, _, _ in rows])}


def _log_run(client: MlflowClient, exp: str, folder: Path, variant: str, seed: int, start: int) -> str:
    """A finished run as `genrebench run` leaves it; `old` ran before any of the three artifacts existed."""
    run = client.create_run(exp, run_name=f"{variant}-seed{seed}", start_time=start, tags={
        "genrebench.experiment": EXPERIMENT, "genrebench.variant": variant, "genrebench.seed": str(seed),
        "dataset.fingerprint": "cafe"}).info.run_id
    client.log_metric(run, "test_track_acc", 0.75)
    if variant != "old":
        rows, here = _track_rows(variant, seed), folder / run
        here.mkdir()
        _predictions(rows).to_csv(here / "predictions_test.csv", index=False)
        pd.DataFrame({"label": GENRES, "precision": 0.5, "recall": RECALLS[(variant, seed)], "f1": 0.5,
                      "support": 4}).to_csv(here / "per_class_test.csv", index=False)
        np.savez_compressed(here / "embeddings_test.npz", **_embeddings(rows, seed))
        client.log_artifacts(run, str(here))
    client.set_terminated(run, "FINISHED")
    return run


def _store(root: Path, runs: list[tuple[str, int]]) -> tuple[str, dict[tuple[str, int], str]]:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment(EXPERIMENT, artifact_location=(root / "artifacts").as_uri())
    (root / "files").mkdir()
    ids = {key: _log_run(client, exp, root / "files", *key, start=1_000 + i) for i, key in enumerate(runs)}
    return uri, ids


@pytest.fixture(scope="module")
def fake(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("errors")
    uri, ids = _store(root, [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("old", 0)])
    report = build_report([EXPERIMENT], None, None, root / "report", uri)
    return {"uri": uri, "ids": ids, "report": report, "md": report["index_md"].read_text(encoding="utf-8")}


def _run(ids: dict, variant: str, seed: int) -> str:
    return f"seed {seed} (`{ids[(variant, seed)][:8]}`)"


def test_most_confident_mistakes_pooled_over_seeds_in_order(fake):
    # a: its 12 mistakes (6 per seed) by confidence, the two least confident (0.45, 0.44) cut
    expected = [("a", 1, 11, 0.85), ("a", 0, 11, 0.84), ("a", 1, 9, 0.77), ("a", 0, 9, 0.76), ("a", 1, 7, 0.69),
                ("a", 0, 7, 0.68), ("a", 1, 5, 0.61), ("a", 0, 5, 0.60), ("a", 1, 3, 0.53), ("a", 0, 3, 0.52),
                ("b", 0, 2, 0.70), ("b", 1, 2, 0.70)]  # b's tie in seed order
    lines = [line for line in fake["md"].splitlines() if line.startswith(("| a | seed", "| b | seed"))]
    want = []
    for variant, seed, i, confidence in expected:
        true = GENRES[i % 3]
        want.append(f"| {variant} | {_run(fake['ids'], variant, seed)} | `{true}/t{i:02d}.wav` | {true} | "
                    f"{GENRES[(i + 1) % 3]} | {confidence:.3f} |")
    assert lines == want
    assert "| variant | run | track | true | predicted | confidence |" in fake["md"]
    assert "No `predictions_test.csv`: old." in fake["md"]


def test_recall_across_variants_is_the_mean_over_seeds_best_in_bold(fake):
    md = fake["md"]
    assert "| genre | a | b |" in md
    for row in ("| rock | 0.600 | **0.950** |", "| jazz | **0.900** | 0.500 |", "| pop | 0.300 | **0.500** |",
                "| mean over genres | 0.600 | **0.650** |"):
        assert row in md, row
    assert "No `per_class_test.csv`: old." in md
    # after calibration's place, before the significance tests
    assert md.index("## Embedding maps") < md.index("## Error analysis") < md.index("## Significance")


def test_embedding_map_is_drawn_linked_and_names_its_runs(fake):
    report, md = fake["report"], fake["md"]
    figure = report["index_md"].parent / "figures" / "embedding-map.png"
    assert figure in report["figures"] and figure.stat().st_size > 1000
    assert "![test-track embeddings per variant (pca)" in md and 'src="figures/embedding-map.png"' in \
        report["index_html"].read_text(encoding="utf-8")
    assert f"a: {_run(fake['ids'], 'a', 0)}; b: {_run(fake['ids'], 'b', 0)}." in md  # each variant's first seed
    assert "No `embeddings_test.npz` (runs logged before it): old." in md


def test_tsne_map_on_a_tiny_set(fake, tmp_path):
    data = _embeddings(_track_rows("a", 0), 0)
    xy = project(data["embeddings"][:4], "tsne")  # 4 tracks: the perplexity must drop below 4
    assert xy.shape == (4, 2) and np.isfinite(xy).all()
    assert np.array_equal(xy, project(data["embeddings"][:4], "tsne"))  # seeded: a rebuild draws the same map
    assert project(data["embeddings"][:2], "tsne").shape == (2, 2)  # too few tracks for neighbours: PCA
    # 12 tracks in 3 clusters: a perplexity near the track count would spread them evenly; the map keeps them
    xy = project(data["embeddings"], "tsne")
    distance = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.diag([np.inf] * len(xy))
    assert (data["labels"][distance.argmin(axis=1)] == data["labels"]).all()
    out = build_report([EXPERIMENT], None, None, tmp_path / "r", fake["uri"], embedding_map="TSNE")
    md = out["index_md"].read_text(encoding="utf-8")
    assert "by t-SNE" in md and "![test-track embeddings per variant (tsne)" in md
    assert (tmp_path / "r" / "figures" / "embedding-map.png").is_file()


def test_umap_is_used_when_importable(fake, tmp_path, monkeypatch):
    calls = []

    class UMAP:  # stands in for umap-learn, which the test environment need not have
        def __init__(self, **kwargs):
            calls.append(kwargs)

        def fit_transform(self, x):
            return x[:, :2]

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=UMAP))
    out = build_report([EXPERIMENT], None, None, tmp_path / "r", fake["uri"], embedding_map="umap")
    assert calls == [{"n_components": 2, "n_neighbors": 11, "random_state": 0}] * 2  # one map per variant
    assert "by UMAP" in out["index_md"].read_text(encoding="utf-8")


def test_unknown_projection_is_refused_before_any_work(fake, tmp_path):
    with pytest.raises(UserError, match=r"^--embedding-map: unknown projection 'tnse'; did you mean tsne\? "
                                        r"\(choices: pca, tsne, umap\)$"):
        build_report([EXPERIMENT], None, None, tmp_path / "r", fake["uri"], embedding_map="tnse")
    assert not (tmp_path / "r").exists()


def test_umap_without_the_package_is_a_one_line_error(fake, tmp_path):
    # A `umap` that fails to import stands for a machine without umap-learn, whatever this one has installed.
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "umap.py").write_text("raise ImportError('no umap here')\n")
    res = subprocess.run([sys.executable, "-m", "genrebench", "report", EXPERIMENT, "--out", str(tmp_path / "r"),
                          "--embedding-map", "umap", "--tracking-uri", fake["uri"]], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                             [str(blocker), *filter(None, [os.environ.get("PYTHONPATH")])])})
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [
        "error: --embedding-map umap needs the umap-learn package (pip install umap-learn)"]
    assert not (tmp_path / "r").exists()


def test_runs_without_these_artifacts_get_neither_section(tmp_path):
    uri, _ = _store(tmp_path, [("old", 0), ("old", 1)])
    out = build_report([EXPERIMENT], None, None, tmp_path / "report", uri, embedding_map="tsne")
    md = out["index_md"].read_text(encoding="utf-8")
    assert "Embedding maps" not in md and "Error analysis" not in md
    assert not any("embedding" in p.name for p in out["figures"])
