"""The study section: an Optuna study as MLflow left it (parent run + one child run per trial).

Read tolerantly, since studies from older versions may store things differently: best params from
`best.<param>` tags, params or metrics; best value from the `best_value` metric (or a tag/param); trial
counts from `genrebench.trials.<STATE>` tags, checked against the child runs' `genrebench.trial_state`.
"""

from __future__ import annotations

import shutil

import pandas as pd

from genrebench.errors import UserError
from genrebench.metrics import fmt_si, get_metric
from genrebench.report import figures
from genrebench.report.collect import ui_link
from genrebench.report.render import Block, Cell, Heading, Para, Table, fmt, fmt_count
from genrebench.report.sections import Context

STUDY_FIGURES = [("optimization_history", "optimization history"), ("param_importances", "parameter importances"),
                 ("slice", "slice plot"), ("contour", "contour plot")]
# Drawn only for studies of several objectives.
PARETO_FIGURE = ("pareto_front", "Pareto front")
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


def objectives(parent: pd.Series) -> list[str]:
    """The study's objectives in order (`genrebench.objectives`; studies from before it had one objective)."""
    tag = parent.get("tags.genrebench.objectives")
    return str(tag).split(",") if isinstance(tag, str) and tag else ["val_track_acc"]


def trial_frame(children: pd.DataFrame) -> pd.DataFrame:
    """One row per trial run: trial number, state, objective (the first), each objective of a study of several
    (`objective.<name>` metrics), searched params (`genrebench.param.*` tags)."""
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
        if col.startswith("metrics.objective."):
            frame[col[len("metrics.objective."):]] = pd.to_numeric(children[col], errors="coerce")
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
    for name, title in [*STUDY_FIGURES, *([PARETO_FIGURE] if len(objectives(parent)) > 1 else [])]:
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


def _overview(ctx: Context, parent: pd.Series, names: list[str]) -> Table:
    link = ui_link(ctx.tracking_uri, str(parent["experiment_id"]), str(parent["run_id"]))
    rows = [["parent run", Cell(str(parent["run_id"]), href=link)],
            ["experiment", str(parent.get("experiment_name"))], ["status", str(parent.get("status"))],
            ["dataset fingerprint", str(parent.get("tags.dataset.fingerprint", "unknown"))]]
    if len(names) > 1:
        rows += [["objectives", ", ".join(f"{n} ({_direction_word(n)})" for n in names)],
                 ["Pareto-optimal trials", str(parent.get("tags.genrebench.pareto_trials") or "no complete trial")]]
    else:
        value = best_value(parent)
        label = "validation track accuracy" if names == ["val_track_acc"] else names[0]
        rows += [[f"best value ({label})", fmt(value) if value is not None else "no complete trial"],
                 ["best trial", str(parent.get("tags.genrebench.best_trial", "—"))]]
    rows += [[label, str(parent[key])] for label, key in _SETTINGS if pd.notna(parent.get(key))]
    return Table(["item", "value"], rows)


def _direction_word(name: str) -> str:
    try:
        return "higher is better" if get_metric(name).direction == "max" else "lower is better"
    except UserError:  # a metric a later version may add: say nothing rather than guess
        return "direction unknown"


def _score(value: float) -> str:
    """An objective's value: costs (MACs, parameters) with SI prefixes, scores with three decimals."""
    return fmt_si(value) if pd.notna(value) and abs(value) >= 1000 else fmt(value)


def _pareto_blocks(ctx: Context, parent: pd.Series, names: list[str]) -> list[Block]:
    """The Pareto front as the study logged it (`pareto.csv`): objectives with SI prefixes, params, config."""
    front = ctx.artifacts.csv(str(parent["run_id"]), "pareto.csv")
    if front is None:
        return [Heading("Pareto front", 3), Para("The parent run holds no pareto.csv (no complete trial yet).")]
    extra = [c for c in front.columns if c not in ("trial", "mlflow_run_id", *names)]
    rows = [[fmt_count(r["trial"]), *(_score(r[n]) for n in names),
             *(str(r[c]) for c in extra)] for _, r in front.iterrows()]
    return [Heading("Pareto front", 3),
            Para("Trials no other trial beats on every objective at once; each has its config file, to run with "
                 "seeds and test."),
            Table(["trial", *names, *extra], rows)]


def study_section(ctx: Context, study: str, parent: pd.Series, children: pd.DataFrame) -> list[Block]:
    trials = trial_frame(children)
    names = objectives(parent)
    blocks: list[Block] = [Heading(f"Study: {study}"), _overview(ctx, parent, names)]
    if len(names) > 1:
        blocks += _pareto_blocks(ctx, parent, names)
    else:
        params = best_params(parent)
        blocks += [Heading("Best params", 3),
                   Table(["param", "value"], [[k, v] for k, v in params.items()]) if params
                   else Para("The parent run records no best params.")]
    counts = state_counts(parent, trials)
    blocks += [Heading("Trials by state", 3), Table(list(counts.columns), [[str(c) for c in r] for r in
                                                                          counts.itertuples(index=False)])]
    ascending = _direction_word(names[0]) == "lower is better"
    top = trials.dropna(subset=["objective"]).sort_values("objective", ascending=ascending, kind="stable").head(10)
    if not top.empty:
        scores = [n for n in names if n in top.columns] if len(names) > 1 else ["objective"]
        extra = [c for c in top.columns if c not in ("trial", "state", "objective", "run_id", *scores)]
        rows = [[fmt_count(r["trial"]), str(r["state"]), *(_score(r[c]) for c in scores), *(str(r[c]) for c in extra)]
                for _, r in top.iterrows()]
        headers = ["trial", "state", *(names if len(names) > 1 else names[:1]), *extra]
        blocks += [Heading(f"Top trials (by {names[0]})", 3), Table(headers, rows)]
    figs = _figure_blocks(ctx, parent, trials)
    if figs:
        blocks += [Heading("Study figures", 3), *figs]
    return blocks
