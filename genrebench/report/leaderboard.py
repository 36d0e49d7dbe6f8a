"""`genrebench leaderboard`: one page over every experiment in the store, ranked per dataset.

Runs are grouped as reports group them (data fingerprint and evaluation protocol: runs on different data are never
ranked together) and counted as reports count them (FINISHED only, the latest of a variant and seed, study and
k-fold parents left out). An entry is one variant of one experiment: its test track accuracy with the summary's
95% interval (Student's t over seeds, the corrected one over folds), seeds, folds, the mean robustness change,
ECE, parameters, MACs and training time, with links to its report and to the MLflow UI. Runs split by chunk are
marked LEAKY and never ranked. Runs without a test score (benchmarks) are not entries.

The page is one self-contained HTML file (inline style and script, no figures), readable straight from disk;
the columns sort on a click. `leaderboard.csv` beside it holds the unrounded numbers.
"""

from __future__ import annotations

import html
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from genrebench.errors import UserError
from genrebench.metrics import fmt_si
from genrebench.report import analysis, collect
from genrebench.report.datasets import DatasetGroup, dataset_groups
from genrebench.report.render import fmt
from genrebench.store_urls import redact_uri

DEFAULT_OUT = Path("reports") / "index.html"
DEFAULT_UI = "http://127.0.0.1:5000"
# (key, heading, kind): kind `num` sorts as numbers, `text` as text.
COLUMNS = [("rank", "rank", "num"), ("entry", "experiment / variant", "text"), ("model", "model (front-end)", "text"),
           ("acc", "test track acc", "num"),
           ("ci", "95% CI", "num"), ("seeds", "seeds", "num"), ("folds", "folds", "num"),
           ("robust", "robustness change", "num"), ("ece", "test ECE", "num"), ("params", "params", "num"),
           ("macs", "MACs / 30 s", "num"), ("train", "training (s)", "num"), ("links", "links", "text")]


def _mean(group: pd.DataFrame, metric: str) -> float:
    values = pd.to_numeric(group.get(f"metrics.{metric}", pd.Series(dtype=float)), errors="coerce").dropna()
    return float(values.mean()) if len(values) else math.nan


def entries(group: DatasetGroup) -> pd.DataFrame:
    """One row per variant of one dataset group with a test score: the summary's numbers, ranked by mean test track
    accuracy among the honest (non-LEAKY) variants; LEAKY ones after them, unranked."""
    runs = group.runs.assign(label=group.runs["experiment"].astype(str) + " / " + group.runs["variant"].astype(str))
    summary = analysis.summary_table(runs, baseline="")
    summary = summary[summary["test_track_acc_n"] > 0]
    rows = []
    for label, s in summary.iterrows():
        mine = runs[runs["label"] == label]
        rows.append({"entry": label, "model": s["model"], "experiment": str(mine["experiment"].iloc[0]),
                     "experiment_id": str(mine["experiment_id"].iloc[0]), "leaky": bool(s["leaky"]),
                     "acc": s["test_track_acc_mean"], "ci_low": s["test_track_acc_ci_low"],
                     "ci_high": s["test_track_acc_ci_high"], "seeds": int(s["seeds"]), "folds": int(s["folds"]),
                     "robust": _mean(mine, "test_robust_delta"),
                     "robust_runs": int(mine.get("metrics.test_robust_delta", pd.Series(dtype=float)).notna().sum()),
                     "ece": s.get("test_ece_mean", math.nan), "params": s.get("model_parameters_mean", math.nan),
                     "macs": s.get("track_macs_mean", math.nan), "train": s.get("train_seconds_mean", math.nan),
                     "runs": len(mine)})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.sort_values(["leaky", "acc"], ascending=[True, False], kind="stable").reset_index(drop=True)
    honest = ~frame["leaky"]
    frame["rank"] = pd.Series(range(1, int(honest.sum()) + 1), index=frame.index[honest]).astype("Int64")
    return frame


# ---- HTML ---------------------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 1.5em auto;
       padding: 0 .8em; color: #222; line-height: 1.45; overflow-wrap: anywhere; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; margin: .6em 0 1.4em; }
table { border-collapse: collapse; font-size: .88em; white-space: nowrap; }
th, td { border: 1px solid #ccc; padding: .3em .55em; text-align: right; overflow-wrap: normal; }
td.text, th.text { text-align: left; }
th { background: #f3f3f3; position: sticky; top: 0; }
th button { all: unset; cursor: pointer; display: block; width: 100%; }
th button:focus-visible { outline: 2px solid #06c; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; font-size: .7em; }
th[aria-sort="descending"] button::after { content: " \\25BC"; font-size: .7em; }
tr.leaky td { background: #fff4e5; color: #744; }
.tag { background: #f0a020; color: #fff; border-radius: 3px; padding: 0 .3em; font-size: .8em; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
.note { color: #555; font-size: .9em; }
"""

# Sorts a table's body by the clicked column: numbers by `data-sort` (empty last either way), text by its text.
SCRIPT = """
document.querySelectorAll("table.board").forEach(function (table) {
  var heads = table.querySelectorAll("th");
  heads.forEach(function (th, col) {
    th.querySelector("button").addEventListener("click", function () {
      var state = th.getAttribute("aria-sort");
      // A first click puts the best first (highest, or lowest where lower is better); a second turns it round.
      var down = state === "none" ? th.dataset.type === "num" && th.dataset.better !== "low" : state === "ascending";
      heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", down ? "descending" : "ascending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[col];
        if (th.dataset.type !== "num") { return cell.textContent.trim().toLowerCase(); }
        var v = parseFloat(cell.dataset.sort);
        return isNaN(v) ? null : v;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === y) { return 0; }
        if (x === null) { return 1; }
        if (y === null) { return -1; }
        return (x < y ? -1 : 1) * (down ? -1 : 1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

LEAKY_ROW = ' class="leaky"'
# Columns where lower is better: a first click sorts them ascending.
LOWER_BETTER = {"rank", "ece", "params", "macs", "train"}


def _number(value) -> str:
    return "" if value is None or pd.isna(value) else repr(float(value))


def _links(row: pd.Series, out: Path, ui: str) -> str:
    report = Path("reports") / row["experiment"] / "index.html"
    parts = []
    if report.is_file():
        href = os.path.relpath(report.resolve(), out.parent.resolve())
        parts.append(f'<a href="{html.escape(Path(href).as_posix())}">report</a>')
    else:
        parts.append(f'<span title="genrebench report {html.escape(row["experiment"])}">no report yet</span>')
    parts.append(f'<a href="{html.escape(ui)}/#/experiments/{quote(str(row["experiment_id"]))}">MLflow</a>')
    return " · ".join(parts)


def _cells(row: pd.Series, out: Path, ui: str) -> list[tuple[str, str, str]]:
    """(sort value, shown html, css class) per column."""
    ci = "—" if pd.isna(row["ci_low"]) else f"[{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
    name = html.escape(row["entry"]) + (' <span class="tag">LEAKY</span>' if row["leaky"] else "")
    robust = "—" if pd.isna(row["robust"]) else f"{row['robust']:+.3f}"
    if row["robust_runs"] and row["robust_runs"] < row["runs"]:
        robust += f" ({row['robust_runs']} of {row['runs']} runs)"
    return [(_number(row["rank"]), "—" if pd.isna(row["rank"]) else str(int(row["rank"])), "num"),
            ("", name, "text"), ("", html.escape(str(row["model"])), "text"),
            (_number(row["acc"]), fmt(row["acc"]), "num"),
            (_number(row["ci_low"]), ci, "num"), (str(row["seeds"]), str(row["seeds"]), "num"),
            (str(row["folds"]), str(row["folds"]) if row["folds"] > 1 else "—", "num"),
            (_number(row["robust"]), robust, "num"), (_number(row["ece"]), fmt(row["ece"]), "num"),
            (_number(row["params"]), fmt_si(row["params"]), "num"), (_number(row["macs"]), fmt_si(row["macs"]), "num"),
            (_number(row["train"]), fmt(row["train"], 1), "num"), ("", _links(row, out, ui), "text")]


def _table(frame: pd.DataFrame, out: Path, ui: str) -> str:
    heads = "".join(
        f'<th class="{kind}" data-type="{kind}" data-better="{"low" if key in LOWER_BETTER else "high"}" '
        f'aria-sort="none" scope="col"><button type="button">{html.escape(title)}</button></th>'
        for key, title, kind in COLUMNS)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(f'<td class="{cls}" data-sort="{html.escape(sort)}">{shown}</td>'
                        for sort, shown, cls in _cells(row, out, ui))
        body.append(f"<tr{LEAKY_ROW if row['leaky'] else ''}>{cells}</tr>")
    return (f'<div class="scroll"><table class="board"><thead><tr>{heads}</tr></thead>\n<tbody>\n'
            + "\n".join(body) + "\n</tbody></table></div>")


def _group_title(group: DatasetGroup) -> str:
    return html.escape(group.title()).replace("`", "")


def render(parts: list[tuple[DatasetGroup, pd.DataFrame]], uri: str, out: Path, ui: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    experiments = sorted({e for _, frame in parts for e in frame["experiment"]})
    intro = (f"Generated {when} from the MLflow store <code>{html.escape(redact_uri(uri))}</code> with "
             f"<code>genrebench leaderboard</code>: {sum(len(f) for _, f in parts)} variant(s) of "
             f"{len(experiments)} experiment(s) on {len(parts)} dataset(s). Ranked by mean test track accuracy "
             "within a dataset (fingerprint and protocol) only; runs on different data are never compared. The "
             "95% CI is Student's t over seeds (the corrected resampled interval over folds for k-fold variants); "
             "robustness change is the mean accuracy change under the perturbations each run was evaluated on "
             "(<code>genrebench evaluate</code>; — when none was). LEAKY rows split songs across train and test "
             "(chunk split): shown, never ranked. Click a column heading to sort.")
    sections = "\n".join(f"<section><h2>{_group_title(g)}</h2>\n{_table(f, out, ui)}</section>" for g, f in parts)
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>genrebench leaderboard</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f'<h1>genrebench leaderboard</h1>\n<p class="note">{intro}</p>\n{sections}\n'
            f"<script>{SCRIPT}</script>\n</body>\n</html>\n")


def build_leaderboard(out: Path | str = DEFAULT_OUT, tracking_uri: str | None = None, ui: str = DEFAULT_UI) -> dict:
    """Write the leaderboard page `out` (and `leaderboard.csv` beside it) over every experiment in the store.

    Returns {"html", "csv" (paths), "entries", "datasets", "experiments"}.

    Raises:
        UserError: a store that does not exist, or no finished run with a test score in it.
    """
    out = Path(out)
    client, uri = collect.open_store(tracking_uri)
    frame = collect.search_runs(client, [e.experiment_id for e in client.search_experiments()])
    runs, excluded, _ = analysis.variant_runs(frame)
    parts = [(g, entries(g)) for g in dataset_groups(runs, excluded)]
    parts = [(g, f) for g, f in parts if not f.empty]
    if not parts:
        raise UserError(f"no finished run with a test score in {redact_uri(uri)}: nothing to rank "
                        "(genrebench run baseline --quick makes one)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(parts, uri, out, ui), encoding="utf-8")
    table = pd.concat([f.assign(dataset=g.name) for g, f in parts], ignore_index=True)
    csv = out.with_name("leaderboard.csv")
    table[["dataset", "rank", "entry", "model", "leaky", "acc", "ci_low", "ci_high", "seeds", "folds", "robust", "ece",
           "params", "macs", "train", "runs"]].to_csv(csv, index=False)
    return {"html": out, "csv": csv, "entries": len(table), "datasets": len(parts),
            "experiments": int(table["experiment"].nunique())}
