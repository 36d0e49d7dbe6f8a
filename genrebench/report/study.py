"""The study section: an Optuna study as MLflow left it (parent run + one child run per trial).

Read tolerantly, since studies from older versions may store things differently: best params from
`best.<param>` tags, params or metrics; best value from the `best_value` metric (or a tag/param); trial
counts from `genrebench.trials.<STATE>` tags, checked against the child runs' `genrebench.trial_state`.
"""

from __future__ import annotations

import shutil

import pandas as pd

from genrebench.report import figures
from genrebench.report.collect import ui_link
from genrebench.report.render import Block, Cell, Heading, Para, Table, fmt, fmt_count
from genrebench.report.sections import Context

STUDY_FIGURES = [("optimization_history", "optimization history"), ("param_importances", "parameter importances"),
                 ("slice", "slice plot"), ("contour", "contour plot")]
_SETTINGS = [("best config file", "tags.genrebench.best_config"), ("search space", "tags.genrebench.space"),
             ("sampler", "tags.genrebench.sampler"), ("pruner", "tags.genrebench.pruner")]
_BEST_PREFIXES = ("tags.best.", "params.best.", "metrics.best.")


def best_params(parent: pd.Series) -> dict[str, str]:
    """{param: value} of the best trial, from whichever of tags, params or metrics holds `best.<param>`."""
    out: dict[str, str] = {}
    for prefix in _BEST_PREFIXES:
        for key, value in parent.items():
            name = str(key)[len(prefix):]
            if str(key).startswith(prefix) and pd.notna(value) and name not in out and name != "value":
                out[name] = str(value)
    return out


def best_value(parent: pd.Series) -> float | None:
    for key in ("metrics.best_value", "tags.best_value", "params.best_value", "tags.genrebench.best_value"):
        value = pd.to_numeric(parent.get(key), errors="coerce")
        if pd.notna(value):
            return float(value)
    return None


def trial_frame(children: pd.DataFrame) -> pd.DataFrame:
    """One row per trial run: trial number, state, objective, searched params (`genrebench.param.*` tags)."""
    if children.empty:
        return pd.DataFrame(columns=["trial", "state", "objective", "run_id"])
    get = children.get
    frame = pd.DataFrame({
        "trial": pd.to_numeric(get("tags.genrebench.trial", pd.Series(index=children.index, dtype=object)),
                               errors="coerce"),
        "state": get("tags.genrebench.trial_state", children["status"]).fillna(children["status"]),
        "objective": pd.to_numeric(get("metrics.objective", pd.Series(index=children.index, dtype=float)),
                                   errors="coerce"),
        "run_id": children["run_id"]})
    for col in children.columns:
        if col.startswith("tags.genrebench.param."):
            frame[col[len("tags.genrebench.param."):]] = children[col]
    return frame.sort_values("trial", kind="stable").reset_index(drop=True)


def state_counts(parent: pd.Series, trials: pd.DataFrame) -> pd.DataFrame:
    """Trials per state as the study recorded them, next to the child runs MLflow actually holds."""
    logged = {str(k)[len("tags.genrebench.trials."):]: v for k, v in parent.items()
              if str(k).startswith("tags.genrebench.trials.") and pd.notna(v)}
    seen = trials["state"].value_counts().to_dict() if not trials.empty else {}
    states = list(dict.fromkeys([*logged, *seen]))
    return pd.DataFrame({"state": states, "study count": [logged.get(s, "—") for s in states],
                         "trial runs in MLflow": [int(seen.get(s, 0)) for s in states]})


def _figure_blocks(ctx: Context, parent: pd.Series, trials: pd.DataFrame) -> list[Block]:
    blocks: list[Block] = []
    missing = []
    for name, title in STUDY_FIGURES:
        found = ctx.artifacts.path(parent["run_id"], f"{name}.png")
        if found is not None:
            dst = ctx.figure_path(f"study-{name}")
            shutil.copyfile(found, dst)
            blocks += [Heading(title.capitalize(), 4), ctx.image(dst, title)]
            continue
        missing.append(title)
        done = trials.dropna(subset=["objective", "trial"])
        if name == "optimization_history" and not done.empty:
            path = figures.objective_history(done, ctx.figure_path("study-objective-history"))
            blocks += [Heading("Objective per trial (drawn from the trial runs)", 4), ctx.image(path, title)]
    if missing:
        blocks.insert(0, Para(f"Not logged on the study's parent run: {', '.join(missing)}."))
    return blocks


def study_section(ctx: Context, study: str, parent: pd.Series, children: pd.DataFrame) -> list[Block]:
    trials = trial_frame(children)
    link = ui_link(ctx.tracking_uri, str(parent["experiment_id"]), str(parent["run_id"]))
    value = best_value(parent)
    blocks: list[Block] = [Heading(f"Study: {study}"), Table(["item", "value"], [
        ["parent run", Cell(str(parent["run_id"]), href=link)],
        ["experiment", str(parent.get("experiment_name"))], ["status", str(parent.get("status"))],
        ["dataset fingerprint", str(parent.get("tags.dataset.fingerprint", "unknown"))],
        ["best value (validation track accuracy)", fmt(value) if value is not None else "no complete trial"],
        ["best trial", str(parent.get("tags.genrebench.best_trial", "—"))],
        *([label, str(parent[key])] for label, key in _SETTINGS if pd.notna(parent.get(key)))])]
    params = best_params(parent)
    blocks += [Heading("Best params", 3),
               Table(["param", "value"], [[k, v] for k, v in params.items()]) if params
               else Para("The parent run records no best params.")]
    counts = state_counts(parent, trials)
    blocks += [Heading("Trials by state", 3), Table(list(counts.columns), [[str(c) for c in r] for r in
                                                                          counts.itertuples(index=False)])]
    top = trials.dropna(subset=["objective"]).sort_values("objective", ascending=False, kind="stable").head(10)
    if not top.empty:
        extra = [c for c in top.columns if c not in ("trial", "state", "objective", "run_id")]
        rows = [[fmt_count(r["trial"]), str(r["state"]), fmt(r["objective"]), *(str(r[c]) for c in extra)]
                for _, r in top.iterrows()]
        blocks += [Heading("Top trials", 3), Table(["trial", "state", "objective", *extra], rows)]
    figs = _figure_blocks(ctx, parent, trials)
    if figs:
        blocks += [Heading("Study figures", 3), *figs]
    return blocks

