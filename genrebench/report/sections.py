"""The report's sections: each turns collected runs into a list of blocks (and writes its figures)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from genrebench.metrics import fmt_si, get_metric
from genrebench.report import analysis, figures, stats
from genrebench.report.collect import Artifacts
from genrebench.report.render import Block, Bullets, Cell, Heading, Image, Para, Table, fmt, fmt_count
from genrebench.tracking.tags import LEAKY

COUNT_METRICS = {"best_epoch", "model_parameters"}


@dataclass
class Context:
    """What every section reads: the kept runs, the baseline, the summary, artifacts and where figures go.

    A report on several datasets gives each dataset group a copy (`dataclasses.replace`) with its own runs and a
    `figure_prefix`; the copies share the `warnings` and `figures` lists. `embedding_map` is the 2-D projection
    of the embedding maps (`report.mistakes.PROJECTIONS`).
    """

    runs: pd.DataFrame
    baseline: str
    summary: pd.DataFrame
    artifacts: Artifacts
    out_dir: Path
    tracking_uri: str
    warnings: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    figure_prefix: str = ""
    embedding_map: str = "pca"

    def figure_path(self, name: str) -> Path:
        folder = self.out_dir / "figures"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / (re.sub(r"[^A-Za-z0-9._-]+", "_", self.figure_prefix + name) + ".png")

    def image(self, path: Path, alt: str) -> Image:
        self.figures.append(path)
        return Image(path.relative_to(self.out_dir).as_posix(), alt)


def _stat_cell(row: pd.Series, metric: str) -> str:
    form = fmt_count if metric in COUNT_METRICS else fmt
    n = int(row[f"{metric}_n"])
    if n == 0:
        return "—"
    if n == 1:
        return f"{form(row[f'{metric}_mean'])} (one seed: no CI)"
    return (f"{form(row[f'{metric}_mean'])} ± {form(row[f'{metric}_std'])} "
            f"[{form(row[f'{metric}_ci_low'])}, {form(row[f'{metric}_ci_high'])}]")


def summary_section(ctx: Context) -> list[Block]:
    s = ctx.summary
    best = analysis.best_rows(s)
    headers = ["variant", "seeds", *(h for _, h, _ in analysis.METRICS)]
    rows, classes = [], []
    for label, row in s.iterrows():
        name = variant_name(str(label), bool(row["leaky"]))
        seeds = f"{row['seeds']} × {row['folds']} folds" if row.get("folds", 1) > 1 else str(row["seeds"])
        cells: list = [Cell(f"{name} (baseline)" if row["baseline"] else name, bold=bool(row["baseline"])), seeds]
        cells += [Cell(_stat_cell(row, m), bold=label in best.get(m, set())) for m, _, _ in analysis.METRICS]
        rows.append(cells)
        classes.append("baseline" if row["baseline"] else "")
    blocks: list[Block] = [Heading("Summary of variants"), Para(
        "Test-split scores of the best validation checkpoint, over seeds: mean ± std [95% CI], the CI from "
        "Student's t with n-1 degrees of freedom. Bold marks the best mean per column (higher accuracy and "
        "F1, lower training time and parameter count; best epoch is not ranked). Track accuracy averages "
        "each track's chunk probabilities; chunk accuracy scores every chunk on its own and is not a track "
        "accuracy. Numbers are rounded to 3 decimals; `summary.csv` beside this page holds them unrounded.")]
    if "folds" in s and (s["folds"] > 1).any():
        blocks.append(Para(
            "A variant run on k folds (`genrebench run --folds all`) shows, per column, the mean over folds of each "
            "fold's seed-averaged score, the std of those fold scores, and the 95% CI of the Nadeau & Bengio (2003) "
            "corrected resampled t-test: the folds share most of their training tracks, so a plain t interval "
            "over folds would be too narrow (the variance term is (1/k + n_test/n_train) times the folds' variance, "
            "not 1/k)."))
    single = [str(lab) for lab, r in s.iterrows() if r["seeds"] == 1 and r.get("folds", 1) == 1]
    if single:
        blocks.append(Para(f"One seed only, so no std and no confidence interval: {', '.join(single)}."))
    blocks.append(Table(headers, rows, classes))
    return blocks


def ablation_section(ctx: Context) -> list[Block]:
    blocks: list[Block] = []
    for key in analysis.swept_keys(ctx.runs):
        points = analysis.ablation_points(ctx.runs, ctx.summary, key)
        if len(points) < 2:
            continue
        path = figures.ablation(points, key, ctx.figure_path(f"ablation-{key}"))
        blocks += [Heading(f"Ablation: {key}", 3), ctx.image(path, f"test scores against {key}")]
    if blocks:
        blocks.insert(0, Heading("Ablations"))
        blocks.insert(1, Para("Mean test score of each swept value with its 95% CI as error bars (no bar for a "
                              "single seed). The dotted line is chunk-level accuracy, shown apart from the "
                              "track-level scores."))
    return blocks


def variant_name(label: str, leaky: bool) -> str:
    """A variant as every table shows it: LEAKY runs are never shown without the mark."""
    return f"{label} {LEAKY}" if leaky else str(label)


def _sig_row(r: pd.Series, name: str) -> list:
    if not r["matched_seeds"]:
        return [name, "none", "—", "—", "—", "—", "—", "—", "—", r["verdict"]]
    seeds = ", ".join(map(str, r["matched_seeds"])) + (f" × {int(r['n_folds'])} folds" if r["n_folds"] > 1 else "")
    return [name, seeds, str(int(r["n_tracks"])), fmt(r["base_acc"]),
            fmt(r["variant_acc"]), fmt(r["diff"]), f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]", fmt(r["p_value"]),
            fmt(r["p_holm"]), r["verdict"]]


def significance_section(ctx: Context, sig: pd.DataFrame) -> list[Block]:
    blocks: list[Block] = [Heading("Significance against the baseline"), Para(
        f"Each variant against the baseline `{ctx.baseline}` on the same test tracks, over the seeds both ran "
        "(seed N of the variant with seed N of the baseline). The unit is the track: a track scored by three "
        "seeds counts once. Difference = variant accuracy - baseline accuracy (track level, averaged over the "
        f"paired seeds) with a 95% CI from a paired two-level bootstrap ({stats.BOOTSTRAP_SAMPLES} resamples of "
        "seeds and tracks), so the interval holds both sources of chance: which tracks are in the test set and "
        "which seeds trained the models. p is a sign-flip permutation test on the per-track seed-averaged "
        f"differences ({stats.PERMUTATIONS} sign patterns, or all of them when few tracks differ; with one seed it "
        "is the exact McNemar test); Holm p adjusts it for the number of variants tested against this baseline, "
        "and the result reads Holm p.")]
    if sig.empty:
        return [*blocks, Para("Only one variant: nothing to compare.")]
    headers = ["variant", "paired seeds", "tracks", "baseline acc", "variant acc", "difference", "95% CI", "p",
               "Holm p", "result (5% level)"]
    leaky = set(ctx.summary.index[ctx.summary["leaky"]])
    blocks.append(Table(headers, [_sig_row(r, variant_name(r["variant"], r["variant"] in leaky))
                                  for _, r in sig.iterrows()]))
    if (sig["n_folds"] > 1).any():
        blocks.append(Para(
            "Rows over k folds (`run --folds all`) are tested fold by fold: per fold the accuracy difference averaged "
            "over the seeds both variants ran on it, then the Nadeau & Bengio (2003) corrected resampled t-test "
            "over the folds (k - 1 degrees of freedom, variance term (1/k + n_test/n_train)), as the folds' training "
            "sets overlap; tracks counts each test track once over all folds. Holm p as above."))
    if ((sig["n_seeds"] == 1) & (sig["n_folds"] == 1)).any():
        blocks.append(Para("With one paired seed the interval holds only the test tracks' chance: it says nothing "
                           "about how another seed would do. Run `--seeds 3` or more."))
    skipped = [f"{r['variant']}, seed {seed}: {why}" for _, r in sig.iterrows()
               for seed, why in r["skipped_seeds"].items()]
    if skipped:
        blocks += [Para("Seeds left out of the paired tests:"), Bullets(skipped)]
    return blocks


def leak_section(ctx: Context, leak: pd.DataFrame) -> list[Block]:
    """Only when some variant split by chunk: what the leak does to track accuracy, with its CI."""
    if not ctx.summary["leaky"].any():
        return []
    blocks: list[Block] = [Heading(f"Leak: split by chunk ({LEAKY})"), Para(
        f"Variants marked {LEAKY} dealt out chunks at random (`data.split.unit: chunk`, as the seed project did), "
        "so windows of one song sit in train and test and the test set partly repeats the training set. Their "
        "scores measure the leak, not the model; they are never ranked best. Inflation = LEAKY track accuracy - "
        f"baseline track accuracy, with a 95% two-level bootstrap CI ({stats.BOOTSTRAP_SAMPLES} resamples of each "
        "side's seeds and tracks on their own: the two test sets differ, so nothing is paired).")]
    if leak.empty:
        return [*blocks, Para("No LEAKY variant can be set against an honest baseline here (the baseline is "
                              "LEAKY too, or predictions are missing).")]
    rows = [[variant_name(r["variant"], True), ", ".join(map(str, r["seeds"])), fmt(r["honest_acc"]),
             fmt(r["leaky_acc"]), fmt(r["inflation"]), f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"]
            for _, r in leak.iterrows()]
    return [*blocks, Table(["variant", "seeds", f"baseline acc ({ctx.baseline})", "LEAKY acc", "inflation",
                            "95% CI"], rows)]


def curves_section(ctx: Context) -> list[Block]:
    histories: dict[str, list[pd.DataFrame]] = {}
    for label in analysis.label_order(ctx.runs):
        ids = ctx.runs.loc[ctx.runs["label"] == label, "run_id"]
        found = [h for h in (ctx.artifacts.csv(i, "history.csv") for i in ids) if h is not None]
        if found:
            histories[label] = found
    if not histories:
        return [Heading("Learning curves"), Para("No run has a `history.csv` artifact.")]
    path = figures.learning_curves(histories, ctx.figure_path("learning-curves"))
    return [Heading("Learning curves"), Para("Validation loss and track accuracy per epoch; thin lines are single "
                                             "seeds, thick lines the mean of a variant."),
            ctx.image(path, "learning curves per variant")]


def _per_class(table: pd.DataFrame | None) -> Block:
    if table is None:
        return Para("`per_class_test.csv` is missing for this run.")
    rows = [[str(r["label"]), fmt(r["recall"]), fmt(r["precision"]), fmt(r["f1"]), fmt_count(r["support"])]
            for _, r in table.iterrows()]
    return Table(["genre", "recall", "precision", "F1", "test tracks"], rows)


def best_run_section(ctx: Context) -> list[Block]:
    best = analysis.best_run(ctx.runs)
    run_id = best["run_id"]
    blocks: list[Block] = [Heading("Best run"), Para(
        f"Chosen by validation track accuracy (never by test): `{best.get('run_name')}` (variant {best['label']}, "
        f"run `{run_id}`), validation track accuracy {fmt(best.get('metrics.val_best_track_acc'))}, test track "
        f"accuracy {fmt(best.get('metrics.test_track_acc'))}.")]
    table = ctx.artifacts.csv(run_id, "confusion_matrix_test.csv")
    if table is not None:
        counts, labels = analysis.confusion_counts(table)
        path = figures.confusion(counts, labels, ctx.figure_path("confusion-best"),
                                 "test confusion, best run (track level, row-normalized)")
        blocks += [Heading("Confusion matrix (test, row-normalized)", 3), ctx.image(path, "confusion matrix")]
    else:
        blocks.append(Para("`confusion_matrix_test.csv` is missing for this run."))
    blocks += [Heading("Per-genre recall (test, track level)", 3),
               _per_class(ctx.artifacts.csv(run_id, "per_class_test.csv"))]
    ids = ctx.runs.loc[ctx.runs["label"] == best["label"], "run_id"]
    tables = [t for t in (ctx.artifacts.csv(i, "confusion_matrix_test.csv") for i in ids) if t is not None]
    pairs = analysis.confused_pairs(tables)
    blocks += [Heading("Most confused genre pairs", 3),
               Para(f"Test mistakes (true -> predicted) summed over the {len(tables)} seed(s) of {best['label']}.")]
    if pairs.empty:
        blocks.append(Para("No test track was misclassified."))
    else:
        blocks.append(Table(list(pairs.columns), [[r["true"], r["predicted"], str(r["tracks"]),
                                                   fmt(r["share of true"])] for _, r in pairs.iterrows()]))
    return blocks


def cost_section(ctx: Context) -> list[Block]:
    """Accuracy against what each model costs, with the Pareto front: shown when the runs logged their cost."""
    points = analysis.cost_points(ctx.summary)
    if points.empty:
        return []
    path = figures.cost_accuracy(points, ctx.figure_path("cost-accuracy"))
    rows = [[variant_name(str(label), bool(r["leaky"])), r["model"], _stat_cell(r, "test_track_acc"),
             fmt_count(r["model_parameters_mean"]), fmt_si(r["model_macs_mean"]), fmt_si(r["track_macs_mean"]),
             fmt(r["train_seconds_mean"], 1), fmt(r["predict_ms_mean"], 1), "yes" if r["pareto"] else ""]
            for label, r in points.iterrows()]
    return [Heading("Cost and accuracy"), Para(
        "What each variant costs next to its test track accuracy (mean over seeds, 95% CI). MACs are forward "
        "multiply-accumulates counted by torch's FlopCounterMode, per chunk and for all chunks of a 30 s track "
        "(comparable across chunk lengths and overlaps); predict latency is the trained model's time for those "
        "chunks as one batch on the training device, decoding and features excluded (the same for every model), "
        "median of 5. A variant is on the Pareto front when no other is both cheaper (fewer MACs per track) and at "
        "least as accurate; the front compares means, so read it with the intervals."),
        ctx.image(path, "test track accuracy against MACs per 30 s track, Pareto front marked"),
        Table(["variant", "model", "test track accuracy", "parameters", "MACs per chunk", "MACs per 30 s track",
               "training time (s)", "predict (ms)", "Pareto"], rows)]


# The calibration table's score columns: mean ± std [95% CI] over seeds, as in the summary.
CALIBRATION_SCORES = ("test_ece", "test_nll", "test_brier")


def calibration_section(ctx: Context) -> list[Block]:
    """How far the test probabilities can be trusted (ECE, NLL, Brier; temperature scaling where fitted) and a
    reliability diagram per variant: shown when the runs logged calibration metrics, which older runs did not."""
    points = analysis.calibration_points(ctx.summary)
    if points.empty:
        return []
    scaled = bool((points["temperature_n"] > 0).any())
    extra = ("temperature", "test_ece_uncalibrated") if scaled else ()
    headers = ["variant", *(get_metric(m).display for m in (*CALIBRATION_SCORES, *extra))]
    rows = []
    for label, r in points.iterrows():
        cells = [variant_name(str(label), bool(r["leaky"])), *(_stat_cell(r, m) for m in CALIBRATION_SCORES)]
        # T is a setting the run fitted, not a score to compare: its mean over seeds says enough.
        rows.append(cells + ([fmt(r["temperature_mean"]), _stat_cell(r, "test_ece_uncalibrated")] if scaled else []))
    blocks: list[Block] = [Heading("Calibration"), Para(
        "Whether a model's confidence can be trusted, on the track probabilities its test accuracy comes from (the "
        "mean chunk softmax of each test track). ECE (expected calibration error) sorts the tracks into 15 "
        "equal-width bins of confidence (the top probability) and averages each bin's gap between accuracy and "
        "mean confidence, weighted by its tracks: 0 when a model that says 80% is right 80% of the time; with few "
        "test tracks it is noisy and biased upwards. NLL is the mean -ln p(true genre), Brier the mean squared "
        "distance between the probabilities and the one-hot true genre (0 to 2). Lower is better for all three; "
        "mean ± std [95% CI] over seeds, as in the summary."
        + (" Variants run with `train.calibrate: temperature` divide their logits by a temperature T fitted on the "
           "validation split only (never test), by minimising its NLL: their test scores are after scaling, the "
           "last two columns give the mean T (above 1 softens an over-confident model; a chunk's predicted genre "
           "never changes, a track's rarely can, as its chunks' probabilities are averaged) and the test ECE "
           "before scaling. — means the variant fitted no temperature." if scaled else "")),
        Table(headers, rows)]
    missing = [str(lab) for lab in ctx.summary.index if lab not in points.index]
    if missing:
        blocks.append(Para(f"No calibration metrics (runs logged before them): {', '.join(missing)}."))
    return blocks + _reliability_blocks(ctx, [str(lab) for lab in points.index])


def _reliability_blocks(ctx: Context, labels: list[str]) -> list[Block]:
    pooled = {}
    for label in labels:
        confidence, correct, read = analysis.pooled_confidence(ctx.runs, label, ctx.artifacts)
        if read:
            pooled[f"{label} ({read} run{'s' if read > 1 else ''})"] = (confidence, correct)
    if not pooled:
        return [Para("No run has a `predictions_test.csv` artifact: no reliability diagram.")]
    path = figures.reliability(pooled, ctx.figure_path("reliability"))
    return [Heading("Reliability diagrams (test, track level)", 3), Para(
        "Per variant, the test tracks of all its runs pooled into the same 15 confidence bins: each bar is the "
        "accuracy of a bin, the number above it the tracks in it, and the dashed diagonal a perfectly calibrated "
        "model; bars below it mean over-confidence, above it under-confidence. The ECE in a panel's title is of the "
        "pooled tracks, so it can differ a little from the table's mean over seeds."),
        ctx.image(path, "reliability diagram per variant, test tracks pooled over seeds")]
