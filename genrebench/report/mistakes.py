"""Where the models go wrong: a 2-D map of the test tracks' embeddings per variant, the most confident mistakes and
per-genre recall across variants, all read from the runs' artifacts (`embeddings_test.npz`,
`predictions_test.csv`, `per_class_test.csv`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genrebench.errors import UserError, did_you_mean
from genrebench.report import analysis, figures
from genrebench.report.collect import Artifacts
from genrebench.report.render import Block, Cell, Heading, Para, Table, fmt
from genrebench.report.sections import Context, variant_name
from genrebench.tracking.plots import project_2d

# --embedding-map choices and how each names its axes.
PROJECTIONS = {"pca": "PC", "tsne": "t-SNE", "umap": "UMAP"}
# What the report says of each projection, so a reader does not over-read the map.
PROJECTION_NOTES = {
    "pca": "the first two principal components (PCA: linear, so tracks apart on the map are apart in the features, "
           "but genres that differ along other directions can overlap on it)",
    "tsne": "t-SNE (scikit-learn, seeded; perplexity 30, at most a third of the tracks: neighbourhoods are kept, "
            "distances between clusters and their sizes mean little)",
    "umap": "UMAP (umap-learn, seeded: neighbourhoods are kept, distances between clusters mean little)"}
EMBEDDINGS = "embeddings_test.npz"
TOP_MISTAKES = 10
# Below this many tracks a neighbour embedding has no neighbourhoods to keep: PCA draws those maps.
MIN_NEIGHBOUR_TRACKS = 3
MISTAKE_COLUMNS = ["variant", "run", "track", "true", "predicted", "confidence"]


def _umap_importable() -> bool:
    try:
        import umap  # noqa: F401  (only whether it imports)
    except ImportError:
        return False
    return True


def check_projection(method: str) -> str:
    """The `--embedding-map` value, lower-cased, if this machine can draw it.

    Raises:
        UserError: an unknown projection (naming the choices), or umap without the umap-learn package.
    """
    key = method.strip().lower()
    if key not in PROJECTIONS:
        raise UserError(f"--embedding-map: unknown projection {method!r}{did_you_mean(key, PROJECTIONS)} "
                        f"(choices: {', '.join(PROJECTIONS)})")
    if key == "umap" and not _umap_importable():
        raise UserError("--embedding-map umap needs the umap-learn package (pip install umap-learn)")
    return key


def project(embeddings: np.ndarray, method: str) -> np.ndarray:
    """(tracks, 2) coordinates of the embeddings by `method` (one of `PROJECTIONS`).

    t-SNE and UMAP are seeded, so a report rebuilt from the same store draws the same map.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if method == "pca" or len(x) < MIN_NEIGHBOUR_TRACKS:
        return project_2d(x)
    if method == "tsne":
        from sklearn.manifold import TSNE

        # scikit-learn refuses a perplexity at or above the number of points, and one near it spreads a small test
        # split evenly (every point is everyone's neighbour); a third of the tracks keeps the genres apart.
        perplexity = float(min(30, max(1, (len(x) - 1) / 3)))
        init = "pca" if x.shape[1] >= 2 else "random"
        return TSNE(n_components=2, perplexity=perplexity, init=init, random_state=0).fit_transform(x)
    import umap

    neighbours = max(2, min(15, len(x) - 1))  # umap-learn's default of 15, fewer for a small test split
    return np.asarray(umap.UMAP(n_components=2, n_neighbors=neighbours, random_state=0).fit_transform(x))


def read_embeddings(artifacts: Artifacts, run_id: str) -> dict[str, np.ndarray] | None:
    """A run's `embeddings`, `labels` (true genre) and `predicted` arrays, one row per test track; None when it logged
    none (runs before them) or the file is not such an archive."""
    path = artifacts.path(run_id, EMBEDDINGS)
    if path is None:
        return None
    try:
        # Without pickle: the archive holds only numbers and strings, and a report must not run code from a store.
        with np.load(path, allow_pickle=False) as data:
            found = {key: data[key] for key in ("embeddings", "labels", "predicted")}
    except (OSError, ValueError, KeyError):
        return None
    n = len(found["embeddings"])
    if found["embeddings"].ndim != 2 or any(len(v) != n for v in found.values()):
        return None
    return {"embeddings": found["embeddings"], "labels": found["labels"].astype(str),
            "predicted": found["predicted"].astype(str)}


def ordered_runs(runs: pd.DataFrame, label: str) -> pd.DataFrame:
    """A variant's runs by seed (then fold), so "its first seed" is the same run on every rebuild."""
    mine = runs[runs["label"] == label]
    return mine.sort_values(["seed", "fold", "start_time"], kind="stable", na_position="last")


def run_label(run: pd.Series) -> str:
    """A run as the tables name it: seed (and fold) and the short id, e.g. "seed 0 (`3e1c75d2`)"."""
    parts = [f"seed {run['seed']}"] if pd.notna(run.get("seed")) else []
    parts += [f"fold {run['fold']}"] if pd.notna(run.get("fold")) else []
    return f"{', '.join(parts) or 'run'} (`{str(run['run_id'])[:8]}`)"


def _leaky(runs: pd.DataFrame, label: str) -> bool:
    return bool(runs.loc[runs["label"] == label, "leaky"].any())


def first_maps(ctx: Context) -> tuple[dict[str, tuple[str, dict[str, np.ndarray]]], list[str]]:
    """({variant: (run label, embeddings)} of each variant's first run with embeddings, [variants with none])."""
    maps, missing = {}, []
    for label in analysis.label_order(ctx.runs):
        for _, run in ordered_runs(ctx.runs, label).iterrows():
            found = read_embeddings(ctx.artifacts, run["run_id"])
            if found is not None:
                maps[label] = (run_label(run), found)
                break
        else:
            missing.append(label)
    return maps, missing


def embedding_section(ctx: Context) -> list[Block]:
    """Per variant, its first seed's test tracks in 2-D (`ctx.embedding_map`), coloured by genre, mistakes marked;
    shown when some run logged `embeddings_test.npz`, which older runs did not."""
    maps, missing = first_maps(ctx)
    if not maps:
        return []
    method = ctx.embedding_map
    panels = {f"{variant_name(label, _leaky(ctx.runs, label))}\n{run.replace('`', '')}":
              (project(data["embeddings"], method), data["labels"], data["predicted"])
              for label, (run, data) in maps.items()}
    path = figures.embedding_maps(panels, PROJECTIONS[method], ctx.figure_path("embedding-map"))
    blocks: list[Block] = [Heading("Embedding maps (test, track level)"), Para(
        "Each test track's penultimate features (the model's input to its classifier, averaged over the track's "
        f"chunks) drawn in 2-D by {PROJECTION_NOTES[method]}; `--embedding-map pca|tsne|umap` picks the "
        "projection. A dot's colour is the track's true genre, the same in every panel; a black ring with a cross "
        "marks a track the run misclassified. One panel per variant, from one run each (its first seed that "
        "logged them): "
        + "; ".join(f"{label}: {run}" for label, (run, _) in maps.items()) + "."),
        ctx.image(path, f"test-track embeddings per variant ({method}), coloured by genre, mistakes marked")]
    if missing:
        blocks.append(Para(f"No `{EMBEDDINGS}` (runs logged before it): {', '.join(missing)}."))
    return blocks


# ---- error analysis ----------------------------------------------------------------------------------

def wrong_tracks(artifacts: Artifacts, run: pd.Series) -> pd.DataFrame | None:
    """The misclassified test tracks of one run with their confidence (columns `MISTAKE_COLUMNS` but variant);
    None when the run has no `predictions_test.csv` with probabilities."""
    frame = artifacts.csv(run["run_id"], "predictions_test.csv")
    probs = [c for c in frame.columns if c.startswith("prob_")] if frame is not None else []
    if not probs:
        return None
    # As strings: pandas reads genre names that look like numbers as numbers.
    true, predicted = frame["true"].astype(str), frame["predicted"].astype(str)
    # The predicted genre is the track's most probable one, so its probability is the top probability.
    out = pd.DataFrame({"run": run_label(run), "track": frame["track"].astype(str), "true": true,
                        "predicted": predicted, "confidence": frame[probs].to_numpy(dtype=float).max(axis=1)})
    return out[true != predicted]


def confident_mistakes(runs: pd.DataFrame, artifacts: Artifacts,
                       top: int = TOP_MISTAKES) -> tuple[pd.DataFrame, list[str]]:
    """(per variant its `top` wrong test tracks by confidence, pooled over its runs, [variants with predictions]).

    Rows go by variant (run order), then confidence, highest first; a tie keeps seed order, then the file's track
    order. A track wrong in several seeds appears once per seed: how often it fools the model is worth seeing.
    """
    frames, read = [], []
    for label in analysis.label_order(runs):
        found = [w for w in (wrong_tracks(artifacts, r) for _, r in ordered_runs(runs, label).iterrows())
                 if w is not None]
        if not found:
            continue
        read.append(label)
        pooled = pd.concat(found, ignore_index=True).sort_values("confidence", ascending=False, kind="stable")
        frames.append(pooled.head(top).assign(variant=label))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return (table[MISTAKE_COLUMNS] if not table.empty else pd.DataFrame(columns=MISTAKE_COLUMNS)), read


def recall_table(runs: pd.DataFrame, artifacts: Artifacts) -> pd.DataFrame:
    """Mean test recall over each variant's runs with a `per_class_test.csv`: genres as rows (in the order the
    files list them), variants as columns (run order); NaN where a variant never scored a genre."""
    columns: dict[str, pd.Series] = {}
    for label in analysis.label_order(runs):
        tables = [t for t in (artifacts.csv(i, "per_class_test.csv") for i in ordered_runs(runs, label)["run_id"])
                  if t is not None and {"label", "recall"} <= set(t.columns)]
        if tables:
            stacked = pd.concat(tables, ignore_index=True).astype({"label": str})
            columns[label] = stacked.groupby("label", sort=False)["recall"].mean()
    if not columns:
        return pd.DataFrame()
    genres = list(dict.fromkeys(g for s in columns.values() for g in s.index))
    return pd.DataFrame({label: s.reindex(genres) for label, s in columns.items()})


def _recall_row(name: str, values: pd.Series, ranked: list[str]) -> list[Cell | str]:
    """One row of the recall table, the best of the `ranked` variants in bold (every one of them on a tie)."""
    best = values[ranked].max() if len(ranked) > 1 else np.nan
    return [name, *(Cell(fmt(v), bold=label in ranked and pd.notna(v) and v == best)
                    for label, v in values.items())]


def _recall_blocks(ctx: Context, recall: pd.DataFrame) -> list[Block]:
    if recall.empty:
        return [Para("No run has a `per_class_test.csv` artifact: no recall table.")]
    # LEAKY variants score the leak, not the model: never the best.
    ranked = [label for label in recall.columns if not _leaky(ctx.runs, label)]
    rows = [_recall_row(str(genre), row, ranked) for genre, row in recall.iterrows()]
    rows.append(_recall_row("mean over genres", recall.mean(axis=0), ranked))
    headers = ["genre", *(variant_name(label, _leaky(ctx.runs, label)) for label in recall.columns)]
    blocks: list[Block] = [Heading("Per-genre recall across variants", 3), Para(
        "Test recall of each genre (the share of its tracks classified as it), mean over each variant's runs "
        "(`per_class_test.csv`); bold marks the best variant per row (LEAKY variants are never ranked). The last "
        "row, the mean over genres, is the macro-averaged recall. Read small differences with the significance "
        "section: a genre has few test tracks."), Table(headers, rows)]
    without = [label for label in analysis.label_order(ctx.runs) if label not in recall.columns]
    return [*blocks, *([Para(f"No `per_class_test.csv`: {', '.join(without)}.")] if without else [])]


def _mistake_blocks(ctx: Context, mistakes: pd.DataFrame, read: list[str]) -> list[Block]:
    blocks: list[Block] = [Heading("Most confident mistakes", 3)]
    if not read:
        return [*blocks, Para("No run has a `predictions_test.csv` artifact: no mistakes to list.")]
    blocks.append(Para(
        f"Per variant, its {TOP_MISTAKES} misclassified test tracks with the highest confidence (the predicted "
        "genre's probability, the mean of the track's chunk softmax), the tracks of all its runs pooled; a track "
        "wrong in several seeds is listed once per seed. Confident mistakes point at mislabelled or ambiguous "
        "tracks, near-duplicates across genres, or a genre the model has learnt a shortcut for; listen to them."))
    rows = [[variant_name(r["variant"], _leaky(ctx.runs, r["variant"])), r["run"], f"`{r['track']}`", r["true"],
             r["predicted"], fmt(r["confidence"])] for _, r in mistakes.iterrows()]
    blocks += [Table(MISTAKE_COLUMNS, rows)] if rows else []
    clean = [label for label in read if label not in set(mistakes["variant"])]
    without = [label for label in analysis.label_order(ctx.runs) if label not in read]
    notes = [f"No misclassified test track: {', '.join(clean)}."] if clean else []
    notes += [f"No `predictions_test.csv`: {', '.join(without)}."] if without else []
    return [*blocks, *(Para(n) for n in notes)]


def error_section(ctx: Context) -> list[Block]:
    """The most confident test mistakes per variant and per-genre recall across variants."""
    mistakes, read = confident_mistakes(ctx.runs, ctx.artifacts)
    recall = recall_table(ctx.runs, ctx.artifacts)
    if not read and recall.empty:
        return []
    return [Heading("Error analysis"), *_mistake_blocks(ctx, mistakes, read), *_recall_blocks(ctx, recall)]
