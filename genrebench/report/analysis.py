"""From run frames to the report's tables: variants, baseline, summary over seeds, paired tests, confusions.

Every function takes and returns plain pandas objects so each table can be checked on its own.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from genrebench.errors import UserError
from genrebench.metrics import get_metric
from genrebench.report import stats
from genrebench.report.collect import Artifacts, is_fold_parent, is_search_run
from genrebench.tracking.tags import LEAKY, LEAKY_TAG

# The summary table's metrics; heading and which way is better come from the registry.
SUMMARY_METRICS = ("test_track_acc", "test_chunk_acc", "test_track_macro_f1", "best_epoch", "train_seconds",
                   "model_parameters")
# (metric, column heading, which way is better: "max", "min" or None for no highlight)
METRICS: list[tuple[str, str, str | None]] = [
    (name, get_metric(name).display, get_metric(name).direction) for name in SUMMARY_METRICS]
# Summarised like the metrics above but shown in the cost section only (runs logged before them lack them).
COST_METRICS = ("model_macs", "track_macs", "predict_ms")
# Likewise for the calibration section: track-level test scores, and with `train.calibrate: temperature` the fitted T
# and the test ECE before scaling.
CALIBRATION_METRICS = ("test_ece", "test_nll", "test_brier", "temperature", "test_ece_uncalibrated")
SWEPT_PREFIX = "tags.genrebench.swept."
# Runs are compared only within one dataset group: same data fingerprint and same evaluation protocol.
PROTOCOL_TAG = "tags.genrebench.protocol"
DEFAULT_PROTOCOL = "default"
GROUP_KEYS = ["fingerprint", "protocol"]
LEAKY_COLUMN = f"tags.{LEAKY_TAG}"
FOLD_COLUMN = "tags.genrebench.fold"
_SEED_SUFFIX = re.compile(r"-seed\d+$")


def _column(frame: pd.DataFrame, key: str) -> pd.Series:
    return frame[key] if key in frame else pd.Series(np.nan, index=frame.index, dtype=object)


def _seed(frame: pd.DataFrame) -> pd.Series:
    raw = _column(frame, "tags.genrebench.seed").fillna(_column(frame, "params.train.seed"))
    return pd.to_numeric(raw, errors="coerce").astype("Int64")


def describe_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Add `experiment`, `variant`, `seed`, `fold` (NA outside a k-fold set), `fingerprint`, `protocol` and `leaky`
    columns (from tags, tolerant of foreign runs; a run without a protocol tag has the default protocol)."""
    out = frame.copy()
    names = _column(out, "run_name").fillna(out["run_id"]).astype(str).str.replace(_SEED_SUFFIX, "", regex=True)
    out["experiment"] = _column(out, "tags.genrebench.experiment").fillna(out["experiment_name"])
    out["variant"] = _column(out, "tags.genrebench.variant").fillna(names)
    out["seed"] = _seed(out)
    out["fold"] = pd.to_numeric(_column(out, FOLD_COLUMN), errors="coerce").astype("Int64")
    out["fingerprint"] = _column(out, "tags.dataset.fingerprint").fillna("unknown")
    out["protocol"] = _column(out, PROTOCOL_TAG).fillna(DEFAULT_PROTOCOL)
    out["leaky"] = _column(out, LEAKY_COLUMN).astype(str) == "true"
    return out


def _labels(runs: pd.DataFrame) -> pd.Series:
    """The variant name, or `experiment/variant` when two experiments share a variant name on one dataset."""
    clash = runs.groupby([*GROUP_KEYS, "variant"])["experiment"].transform("nunique") > 1
    return runs["variant"].where(~clash, runs["experiment"] + "/" + runs["variant"])


def variant_runs(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Split runs into the ones that enter the tables and the excluded ones (with a reason).

    Only FINISHED runs count; of several finished runs of one variant and seed on one dataset group (data
    fingerprint and protocol) the latest is kept, while runs on other datasets all stay. Study parents and
    trials are left to the study section.
    """
    runs = describe_runs(frame)
    notes: list[str] = []
    search = is_search_run(runs)
    if search.any():
        notes.append(f"{int(search.sum())} study run(s) (parents and trials) are left to the study section")
    parents = is_fold_parent(runs)
    if parents.any():
        notes.append(f"{int(parents.sum())} k-fold parent run(s) are left out: the tables aggregate their fold runs")
    runs = runs[~search & ~parents]
    excluded = runs[runs["status"] != "FINISHED"].assign(reason=lambda f: "status " + f["status"].astype(str))
    done = runs[runs["status"] == "FINISHED"].sort_values("start_time", kind="stable")
    dup = done[["experiment", "variant", "seed", "fold", *GROUP_KEYS]].astype(str).duplicated(keep="last")
    if dup.any():
        notes.append(f"{int(dup.sum())} older run(s) of a variant and seed (and fold) already run again are left out")
    superseded = done[dup].assign(reason="superseded by a later run of the same variant, seed and fold")
    kept = done[~dup].copy()
    kept["label"] = _labels(kept) if not kept.empty else pd.Series(dtype=object)
    excluded = pd.concat([excluded, superseded]).sort_values("start_time", kind="stable")
    return kept.reset_index(drop=True), excluded.reset_index(drop=True), notes


def label_order(runs: pd.DataFrame) -> list[str]:
    """Variants in the order they were first run (the order of the experiment file's sweep)."""
    return list(runs.sort_values("start_time", kind="stable")["label"].drop_duplicates())


def pick_baseline(runs: pd.DataFrame, requested: str | None = None) -> str:
    """`requested` (a label or variant name); else a variant named or ending in `baseline`; else the one sweep
    point the runner tagged as the file's own value; else the variant run first."""
    order = label_order(runs)
    if requested:
        by_variant = runs.loc[runs["variant"] == requested, "label"].unique()
        if requested in order:
            return requested
        if len(by_variant) == 1:
            return str(by_variant[0])
        raise UserError(f"unknown baseline variant {requested!r} (variants: {', '.join(order)})")
    named = [lab for lab in order if lab.split("/")[-1].endswith("baseline")]
    if named:
        return named[0]
    # The runner tags the sweep point equal to the file's own value (e.g. 10 s for the chunk-length ablation).
    column = "tags.genrebench.base_variant"
    if column in runs:
        base = [lab for lab in order if (runs.loc[runs["label"] == lab, column] == "true").any()]
        if len(base) == 1:
            return base[0]
    return order[0]


def model_label(group: pd.DataFrame) -> str:
    """The model a variant's runs trained, with what it read when that was not mel chunks: `mlp_probe on
    embedding:random_cnn` (runs from before front-ends existed read mels)."""
    models = ",".join(sorted(_column(group, "params.model.name").dropna().astype(str).unique()))
    frontends = sorted(_column(group, "params.features.frontend").dropna().astype(str).unique())
    read = ",".join(f for f in frontends if f != "mel")
    return f"{models} on {read}" if read else models


def summary_table(runs: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """One row per variant: seeds (and folds), datasets, and mean/std/95% CI of every summary metric.

    Over seeds the CI is Student's t; a variant run on k folds gets, per metric, the mean over folds of each
    fold's seed-averaged value and the Nadeau & Bengio corrected interval (`_n` is then the number of folds).
    """
    rows = []
    for label in label_order(runs):
        group = runs[runs["label"] == label]
        folds = n_folds(group)
        row: dict = {"variant": label, "baseline": label == baseline, "leaky": bool(group["leaky"].any()),
                     "seeds": int(group["seed"].nunique()) if folds > 1 else int(len(group)), "folds": folds,
                     "seed_list": ",".join(str(s) for s in group["seed"].dropna().unique()),
                     "fingerprints": ",".join(sorted(group["fingerprint"].astype(str).unique())),
                     "run_ids": ",".join(group["run_id"])}
        row["model"] = model_label(group)
        for metric in [*(m for m, _, _ in METRICS), *COST_METRICS, *CALIBRATION_METRICS]:
            values = pd.to_numeric(_column(group, f"metrics.{metric}"), errors="coerce")
            spread = _fold_ci(group, values) if folds > 1 else stats.mean_ci(values.to_numpy(dtype=float))
            for k, v in spread.items():
                row[f"{metric}_{k}"] = v
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def n_folds(group: pd.DataFrame) -> int:
    """How many folds of a k-fold set the runs cover (1 for runs outside one)."""
    return max(1, int(group["fold"].nunique()))


def _fold_ci(group: pd.DataFrame, values: pd.Series) -> dict[str, float]:
    """Mean over folds of the seed-averaged `values` with the corrected CI; Student's t over runs when fewer
    than two folds have a value."""
    per_fold = values.groupby(group["fold"]).mean().dropna()
    if len(per_fold) < 2:
        return stats.mean_ci(values.to_numpy(dtype=float))
    n_train, n_test = split_sizes(group)
    out = stats.corrected_mean_ci(per_fold.to_numpy(), n_train, n_test)
    return {"n": out["n_folds"], "mean": out["mean"], "std": out["std"], "ci_low": out["ci_low"],
            "ci_high": out["ci_high"], "half_width": (out["ci_high"] - out["ci_low"]) / 2}


def split_sizes(group: pd.DataFrame) -> tuple[float, float]:
    """Mean (train, test) tracks of a k-fold variant's runs, from their `dataset.<split>_tracks` tags; runs
    older than those tags give k - 2 : 1 (train = all folds but the test and the validation fold)."""
    sizes = [pd.to_numeric(_column(group, f"tags.dataset.{s}_tracks"), errors="coerce").mean()
             for s in ("train", "test")]
    if not any(math.isnan(x) for x in sizes) and sizes[1] > 0:
        return float(sizes[0]), float(sizes[1])
    k = pd.to_numeric(_column(group, "params.data.split.folds"), errors="coerce").max()
    k = n_folds(group) if math.isnan(k) else int(k)
    return float(max(1, k - 2)), 1.0


def best_rows(summary: pd.DataFrame) -> dict[str, set[str]]:
    """{metric: variants holding the best mean} for metrics with a direction (ties all count); a LEAKY variant
    never holds one while an honest variant is there to."""
    best = {}
    honest = summary[~summary["leaky"]] if not summary["leaky"].all() else summary
    for metric, _, better in METRICS:
        means = honest[f"{metric}_mean"].astype(float)
        if better is None or means.isna().all():
            continue
        target = means.max() if better == "max" else means.min()
        best[metric] = set(means.index[np.isclose(means, target, rtol=0, atol=1e-12)])
    return best


def paired_correctness(base: pd.DataFrame | None, var: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray] | str:
    """Per-track correctness of two runs on the same test tracks (ordered by track), or why they cannot be
    paired."""
    if base is None or var is None:
        return "predictions_test.csv missing"
    if set(base["track"]) != set(var["track"]) or len(base) != len(var):
        return "different test tracks (different data or split)"
    merged = base.merge(var, on="track", suffixes=("_b", "_v")).sort_values("track", kind="stable")
    if not (merged["true_b"] == merged["true_v"]).all():
        return "the same tracks carry different true labels"
    return ((merged["predicted_b"] == merged["true_b"]).to_numpy(),
            (merged["predicted_v"] == merged["true_v"]).to_numpy())


def _tracks(frame: pd.DataFrame | None) -> frozenset:
    return frozenset() if frame is None else frozenset(frame["track"])


def matched_tables(runs: pd.DataFrame, baseline: str, label: str,
                   artifacts: Artifacts) -> tuple[list[int], dict[int, str], np.ndarray, np.ndarray]:
    """(matched seeds, {skipped seed: why}, baseline table, variant table): rows are the seeds both variants
    ran on the same test tracks, columns those tracks in one order, cells whether the track was right."""
    base = runs[runs["label"] == baseline].set_index("seed")
    var = runs[runs["label"] == label].set_index("seed")
    matched, skipped, a_rows, v_rows, first = [], {}, [], [], None
    for seed in sorted(set(base.index.dropna()) | set(var.index.dropna())):
        if seed not in base.index or seed not in var.index:
            skipped[int(seed)] = f"only the {'baseline' if seed in base.index else 'variant'} has this seed"
            continue
        frames = [artifacts.csv(r.loc[seed, "run_id"], "predictions_test.csv") for r in (base, var)]
        pair = paired_correctness(*frames)
        if isinstance(pair, str) or (first is not None and _tracks(frames[0]) != first[1]):
            skipped[int(seed)] = pair if isinstance(pair, str) else f"other test tracks than seed {first[0]}"
            continue
        first = first or (int(seed), _tracks(frames[0]))
        matched.append(int(seed))
        a_rows.append(pair[0])
        v_rows.append(pair[1])
    return matched, skipped, np.array(a_rows, dtype=bool), np.array(v_rows, dtype=bool)


TEST_METHOD = "two-level bootstrap (seeds, tracks) CI; sign-flip permutation test per track; Holm"


def significance(runs: pd.DataFrame, baseline: str, artifacts: Artifacts) -> pd.DataFrame:
    """Each variant against the baseline on the same test tracks over matched seeds.

    The unit is the track: the CI of the accuracy difference comes from a paired two-level bootstrap (seeds,
    then tracks), the p-value from a sign-flip permutation test on per-track seed-averaged differences, and
    the p-values of all variants are Holm-adjusted together since they share one baseline. Variants run on k
    folds are compared fold by fold instead (`fold_comparison`).
    """
    rows = []
    for label in label_order(runs):
        if label == baseline:
            continue
        row = {"variant": label, "matched_seeds": [], "skipped_seeds": {}, "n_tracks": 0, "n_seeds": 0,
               "n_folds": 1, "method": TEST_METHOD, "diff": math.nan, "p_value": math.nan,
               "verdict": "not tested: no paired seeds"}
        if _is_leaky(runs, label) != _is_leaky(runs, baseline):
            # The verdict says why; listing each seed would only repeat it.
            row["verdict"] = f"not tested: {LEAKY} against a track split (other test tracks; see the leak section)"
        elif _runs_folds(runs, baseline, label):
            row.update(fold_comparison(runs, baseline, label))
        else:
            matched, skipped, a, v = matched_tables(runs, baseline, label, artifacts)
            row.update({"matched_seeds": matched, "skipped_seeds": skipped, "n_seeds": len(matched)})
            if matched:
                row.update(stats.two_level_bootstrap(a, v))
                row.update(stats.sign_flip_test(a, v))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["p_holm"] = stats.holm(frame["p_value"])
    frame["verdict"] = [stats.verdict(p, d) if m else v for p, d, m, v in
                        zip(frame["p_holm"], frame["diff"], frame["matched_seeds"], frame["verdict"], strict=True)]
    return frame


FOLD_METHOD = "Nadeau-Bengio corrected resampled t-test over folds (seed-averaged per fold); Holm"


def _runs_folds(runs: pd.DataFrame, baseline: str, label: str) -> bool:
    return any(n_folds(runs[runs["label"] == lab]) > 1 for lab in (baseline, label))


def _fold_scheme(group: pd.DataFrame) -> set[tuple[str, str]]:
    """The k-fold split(s) a variant's runs used: (folds, split seed)."""
    return set(zip(_column(group, "params.data.split.folds").astype(str),
                   _column(group, "params.data.split.seed").astype(str), strict=True))


def fold_comparison(runs: pd.DataFrame, baseline: str, label: str) -> dict:
    """A variant against the baseline over the k folds both ran: per fold the seed-averaged accuracy difference
    over the seeds both ran on that fold, tested with the Nadeau & Bengio corrected resampled t-test (the
    folds' training sets overlap, so a plain t-test over folds would be far too sure)."""
    base, var = runs[runs["label"] == baseline], runs[runs["label"] == label]
    if min(n_folds(base), n_folds(var)) == 1:
        return {"verdict": "not tested: one of the two ran k folds, the other one split (other test tracks)"}
    if _fold_scheme(base) != _fold_scheme(var) or len(_fold_scheme(base)) != 1:
        return {"verdict": "not tested: other k-fold splits (number of folds or split seed)"}
    acc, keys = "metrics.test_track_acc", ["fold", "seed"]
    merged = base[[*keys, acc]].merge(var[[*keys, acc]], on=keys, suffixes=("_b", "_v")).dropna()
    per_fold = merged.groupby("fold")[[f"{acc}_b", f"{acc}_v"]].mean()
    skipped = {f"{int(r['seed'])} fold {int(r['fold'])}": f"only the {side} ran it"
               for side, (own, other) in (("baseline", (base, var)), ("variant", (var, base)))
               for _, r in own[~own.set_index(keys).index.isin(other.set_index(keys).index)].iterrows()}
    if len(per_fold) < 2:
        return {"skipped_seeds": skipped, "verdict": "not tested: fewer than two folds run by both"}
    n_train, n_test = split_sizes(pd.concat([base, var]))
    out = stats.corrected_resampled_ttest(per_fold[f"{acc}_v"] - per_fold[f"{acc}_b"], n_train, n_test)
    tracks = pd.to_numeric(_column(base, "tags.dataset.test_tracks"), errors="coerce").groupby(base["fold"]).first()
    seeds = sorted(int(x) for x in merged["seed"].unique())
    return {"matched_seeds": seeds, "skipped_seeds": skipped, "n_seeds": len(seeds), "n_folds": out["n_folds"],
            "n_tracks": int(tracks.reindex(per_fold.index).sum()) if tracks.notna().all() else 0,
            "method": FOLD_METHOD, "base_acc": float(per_fold[f"{acc}_b"].mean()),
            "variant_acc": float(per_fold[f"{acc}_v"].mean()), "diff": out["diff"], "ci_low": out["ci_low"],
            "ci_high": out["ci_high"], "p_value": out["p_value"]}


def _is_leaky(runs: pd.DataFrame, label: str) -> bool:
    return bool(runs.loc[runs["label"] == label, "leaky"].any())


def correctness_table(runs: pd.DataFrame, label: str, artifacts: Artifacts) -> tuple[list[int], np.ndarray]:
    """(seeds, (seeds, tracks) table of per-track correctness) of one variant: the seeds whose test tracks
    equal those of its first seed with predictions, tracks in one order."""
    seeds, rows, first = [], [], None
    for _, run in runs[runs["label"] == label].sort_values("seed", kind="stable").iterrows():
        frame = artifacts.csv(run["run_id"], "predictions_test.csv")
        if frame is None or (first is not None and frozenset(frame["track"]) != first):
            continue
        first = first if first is not None else frozenset(frame["track"])
        frame = frame.sort_values("track", kind="stable")
        seeds.append(int(run["seed"]) if pd.notna(run["seed"]) else len(seeds))
        rows.append((frame["predicted"] == frame["true"]).to_numpy())
    return seeds, np.array(rows, dtype=bool)


def leak_inflation(runs: pd.DataFrame, baseline: str, artifacts: Artifacts) -> pd.DataFrame:
    """Each LEAKY variant against an honest baseline: how much splitting by chunk inflates track accuracy, with a
    two-level bootstrap CI (each side's seeds and tracks resampled on their own: the test sets differ)."""
    columns = ["variant", "seeds", "honest_seeds", "honest_acc", "leaky_acc", "inflation", "ci_low", "ci_high"]
    leaky = [label for label in label_order(runs) if _is_leaky(runs, label)]
    if not leaky or _is_leaky(runs, baseline):
        return pd.DataFrame(columns=columns)
    base_seeds, base = correctness_table(runs, baseline, artifacts)
    rows = []
    for label in leaky:
        seeds, table = correctness_table(runs, label, artifacts)
        if not seeds or not base_seeds:
            continue
        out = stats.unpaired_bootstrap(base, table)
        rows.append({"variant": label, "seeds": seeds, "honest_seeds": base_seeds, "honest_acc": out["base_acc"],
                     "leaky_acc": out["variant_acc"], "inflation": out["diff"], "ci_low": out["ci_low"],
                     "ci_high": out["ci_high"]})
    return pd.DataFrame(rows, columns=columns)


def best_run(runs: pd.DataFrame) -> pd.Series:
    """The run with the highest validation track accuracy (chosen on validation, never on test); a LEAKY run
    only when every run is (its validation set repeats its training songs)."""
    runs = runs[~runs["leaky"]] if not runs["leaky"].all() else runs
    score = pd.to_numeric(_column(runs, "metrics.val_best_track_acc"), errors="coerce").fillna(-math.inf)
    ordered = runs.assign(_score=score).sort_values(["_score", "start_time"], ascending=[False, True], kind="stable")
    return ordered.iloc[0]


def confusion_counts(table: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """A `confusion_matrix_*.csv` (first column = true label) as counts and labels."""
    labels = [str(x) for x in table.iloc[:, 0]]
    return table.iloc[:, 1:].to_numpy(dtype=float), labels


def confused_pairs(tables: list[pd.DataFrame], top: int = 5) -> pd.DataFrame:
    """The most frequent (true -> predicted) mistakes summed over several runs' test confusion matrices."""
    total, labels = None, None
    for table in tables:
        counts, labs = confusion_counts(table)
        if total is None:
            total, labels = counts, labs
        elif labs == labels and counts.shape == total.shape:
            total = total + counts
    if total is None:
        return pd.DataFrame(columns=["true", "predicted", "tracks", "share of true"])
    rows = [{"true": labels[i], "predicted": labels[j], "tracks": int(total[i, j]),
             "share of true": total[i, j] / total[i].sum()}
            for i in range(len(labels)) for j in range(len(labels)) if i != j and total[i, j] > 0]
    frame = pd.DataFrame(rows, columns=["true", "predicted", "tracks", "share of true"])
    return frame.sort_values(["tracks", "share of true"], ascending=False, kind="stable").head(top)


def swept_keys(runs: pd.DataFrame) -> list[str]:
    """Dotted config keys the swept runs were all swept over (tags `genrebench.swept.<key>`).

    A key that only some variants of a list sweep set (the zoo's `features.n_mels`, for musicnn and crnn) is left
    out: along it, the variants differ in other keys too, so a line through them would not show its effect."""
    columns = [c for c in runs.columns if c.startswith(SWEPT_PREFIX) and runs[c].notna().any()]
    swept = runs[columns].notna().any(axis=1) if columns else pd.Series(False, index=runs.index)
    return [c[len(SWEPT_PREFIX):] for c in columns if runs.loc[swept, c].notna().all()]


def ablation_points(runs: pd.DataFrame, summary: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per variant swept over `key`: the swept value and the summary columns (numeric values sorted)."""
    column = SWEPT_PREFIX + key
    swept = runs[runs[column].notna()].drop_duplicates("label").set_index("label")[column].astype(str)
    points = summary.loc[[lab for lab in summary.index if lab in swept.index]].copy()
    points["value"] = swept.reindex(points.index)
    numeric = pd.to_numeric(points["value"], errors="coerce")
    if numeric.notna().all():
        points = points.assign(_x=numeric).sort_values("_x", kind="stable").drop(columns="_x")
    return points


def pareto_front(cost: pd.Series, score: pd.Series) -> pd.Series:
    """True for the points no other point beats: none costs as little or less and scores as high or higher, and
    strictly better on one of the two. Missing values are never on the front."""
    ok = cost.notna() & score.notna()
    c, s = cost.astype(float), score.astype(float)
    front = pd.Series(False, index=cost.index)
    for i in cost.index[ok]:
        others = ok & (cost.index != i)
        dominated = others & (c <= c[i]) & (s >= s[i]) & ((c < c[i]) | (s > s[i]))
        front[i] = not dominated.any()
    return front


def cost_points(summary: pd.DataFrame) -> pd.DataFrame:
    """Per variant with a cost logged: model, accuracy mean and CI half-width, parameters, MACs, time, and
    whether it is on the Pareto front of accuracy against MACs per 30 s track (LEAKY variants never are)."""
    if "track_macs_mean" not in summary or summary["track_macs_mean"].isna().all():
        return pd.DataFrame()
    points = summary[summary["track_macs_mean"].notna()].copy()
    honest = ~points["leaky"].astype(bool)
    points["pareto"] = False
    points.loc[honest, "pareto"] = pareto_front(points.loc[honest, "track_macs_mean"],
                                                points.loc[honest, "test_track_acc_mean"])
    return points


def calibration_points(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary rows of the variants whose runs logged `test_ece`; empty when none did (older runs)."""
    if "test_ece_n" not in summary:
        return pd.DataFrame()
    return summary[summary["test_ece_n"] > 0]


def pooled_confidence(runs: pd.DataFrame, label: str, artifacts: Artifacts) -> tuple[np.ndarray, np.ndarray, int]:
    """(confidence, correct, runs read) over the test tracks of every run of a variant with a
    `predictions_test.csv`: confidence is a track's top probability (the `prob_*` columns, the probabilities its
    test scores come from), correct whether its prediction was the true genre."""
    confidence, correct, read = [], [], 0
    for run_id in runs.loc[runs["label"] == label, "run_id"]:
        frame = artifacts.csv(run_id, "predictions_test.csv")
        probs = [c for c in frame.columns if c.startswith("prob_")] if frame is not None else []
        if not probs:
            continue
        confidence.append(frame[probs].to_numpy(dtype=float).max(axis=1))
        # As strings: pandas reads genre names that look like numbers as numbers, in either column.
        correct.append((frame["predicted"].astype(str) == frame["true"].astype(str)).to_numpy())
        read += 1
    if not read:
        return np.empty(0), np.empty(0, dtype=bool), 0
    return np.concatenate(confidence), np.concatenate(correct), read
