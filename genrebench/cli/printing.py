"""Everything the CLI prints: the two consoles, warning lines, and one printer per kind of result."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from genrebench.metrics import fmt_si
from genrebench.tracking.tags import LEAKY

# Piped or redirected, rich would size everything for 80 columns, folding or cutting with "…" the variant names
# and run ids people copy from a log. A width no output reaches lets every table and line take its natural
# width (tables never stretch to the console width); on a terminal, the terminal's width is kept.
PIPE_WIDTH = 1_000_000
out = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)
err = Console(stderr=True)


def print_json(value) -> None:
    """`value` as indented JSON on stdout: NaN and infinities become null (JSON has neither), numpy scalars
    numbers, anything else unknown its string."""
    import json

    print(json.dumps(_jsonable(value), indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _jsonable(value):
    import dataclasses
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # a numpy scalar, which may itself be NaN
        return _jsonable(value.item())
    return value


def warn(text: str) -> None:
    """One yellow `warning:` line on stderr."""
    err.print(f"[yellow]warning:[/yellow] {text}", highlight=False, soft_wrap=True)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Replacement for `warnings.showwarning`: Python warnings as one warning line each."""
    warn(message)


def say_interrupted(exc: BaseException) -> None:
    """Tell how a Ctrl-C left things: the KILLED run and how to resume it, when there is one."""
    run_id, fold_set, queue = getattr(exc, "run_id", None), getattr(exc, "fold_set", None), getattr(exc, "queue", None)
    if queue:
        line = (f"interrupted: queue {queue} keeps the unfinished tickets; run the same command again to continue "
                "(a KILLED run continues from its checkpoint)")
    elif run_id and fold_set:
        line = (f"interrupted: fold run {run_id} ended KILLED with its checkpoint after epoch "
                f"{exc.checkpoint['epoch']}; continue the fold set with: genrebench run --resume {fold_set}")
    elif fold_set:
        line = f"interrupted: fold set {fold_set} ended KILLED; continue it with: genrebench run --resume {fold_set}"
    elif run_id:
        line = (f"interrupted: run {run_id} ended KILLED with its checkpoint after epoch "
                f"{exc.checkpoint['epoch']}; continue it with: genrebench run --resume {run_id}")
    else:
        line = "interrupted: any open run was ended KILLED"
    # Plain write, not rich: the interruption may have hit inside a rich print, whose console then
    # keeps its output in a buffer that is never flushed.
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def print_inspection(res: dict) -> None:
    """`data inspect`: a table per label, then the problem files."""
    table = Table(title=f"dataset {res['root']}")
    for col in ("label", "files", "usable", "minutes", "mean s", "sample rates", "channels"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, s in res["labels"].items():
        table.add_row(label, str(s["files"]), str(s["usable"]), f"{s['minutes']:.1f}", f"{s['mean_seconds']:.1f}",
                      ",".join(map(str, s["sample_rates"])) or "?", ",".join(map(str, s["channels"])) or "?")
    out.print(table)
    if res["problems"]:
        problems = Table(title=f"{len(res['problems'])} problem file(s), skipped by runs (--strict makes them errors)")
        for col in ("file", "reason", "detail"):
            problems.add_column(col)
        for p in res["problems"]:
            problems.add_row(p["path"], p["reason"], p["detail"])
        out.print(problems)
    else:
        out.print("no problem files")
    if res["ignored"]:
        out.print(f"ignored {len(res['ignored'])} non-audio file(s), e.g. {res['ignored'][0]}")


def print_audit(res: dict) -> None:
    """`data audit`: the twin pairs as a table, then what was read and where the CSV went."""
    pairs = res["pairs"]
    if pairs:
        table = Table(title=f"{len(pairs)} twin pair(s) among {res['tracks']} tracks in {res['root']}")
        for col in ("a", "b", "kind", "similarity", "offset s", "label conflict"):
            table.add_column(col, justify="right" if col in ("similarity", "offset s") else "left")
        for p in pairs:
            table.add_row(escape(p["a"]), escape(p["b"]), p["kind"], f"{p['similarity']:.3f}",
                          f"{p['offset_seconds']:.2f}", "yes" if p["label_conflict"] else "")
        out.print(table)
    else:
        out.print(f"no twins among {res['tracks']} tracks in {res['root']}", highlight=False)
    left_out = f"; {res['unusable']} unusable file(s) left out" if res["unusable"] else ""
    out.print(f"features: decoded {res['decoded']}, reused {res['cached']}{left_out}; wrote {res['csv']}",
              highlight=False, soft_wrap=True, markup=False)


def print_runs(rows: list[dict]) -> None:
    """The runs just trained: test metrics per variant and seed (and fold), each run id on a plain line, then what
    the numbers can and cannot say (chance level, splits too small) on stderr."""
    from genrebench.chance import at_chance

    folds = any("fold" in r for r in rows)
    table = Table(title="runs (test metrics use the best validation checkpoint; * = at chance level)")
    for col in ("variant", *(["fold"] if folds else []), "seed", "test track acc", "test chunk acc", "test macro-F1",
                "best epoch", "run id"):
        # Fold, never truncate, the variant: sweep variants differ only at the end of their names.
        table.add_column(col, justify="left" if col in ("variant", "run id") else "right",
                         overflow="fold" if col == "variant" else "ellipsis")
    for r in rows:
        star = "*" if at_chance(r["test_track_acc"], r["counts"]) else ""
        table.add_row(_variant_cell(r), *([str(r.get("fold", ""))] if folds else []), str(r["seed"]),
                      f"{r['test_track_acc']:.3f}{star}", f"{r['test_chunk_acc']:.3f}",
                      f"{r['test_track_macro_f1']:.3f}", str(int(r["best_epoch"])), r["run_id"])
    out.print(table)
    # Plain lines too: a table narrower than a 32-character id would truncate it, and ids get copied into predict.
    for r in rows:
        print(f"run id {_which(r)}: {r['run_id']}")
    _print_meaning(rows)


def _which(row: dict) -> str:
    """`variant seed N`, or `variant fold F seed N` for a fold run."""
    fold = f" fold {row['fold']}" if "fold" in row else ""
    return f"{row['variant']}{fold} seed {row['seed']}"


def print_fold_sets(sets: list[dict]) -> None:
    """Per k-fold set: the mean over folds with its corrected 95% CI, and the parent run's id."""
    table = Table(title="k-fold sets (mean over folds of seed-averaged scores, 95% CI corrected for overlapping "
                        "training sets)")
    for col in ("variant", "folds", "seeds", "test track acc", "test macro-F1", "parent run id"):
        table.add_column(col, justify="left" if col in ("variant", "parent run id") else "right",
                         overflow="fold" if col == "variant" else "ellipsis")
    for s in sets:
        table.add_row(s["variant"], str(s["folds"]), str(s["seeds"]), _mean_ci(s, "test_track_acc"),
                      _mean_ci(s, "test_track_macro_f1"), s["run_id"])
    out.print(table)
    for s in sets:
        print(f"fold set {s['variant']}: {s['run_id']}")


def _mean_ci(summary: dict, metric: str) -> str:
    return (f"{summary[f'{metric}_mean']:.3f} [{summary[f'{metric}_ci_low']:.3f}, "
            f"{summary[f'{metric}_ci_high']:.3f}]")


def _variant_cell(row: dict) -> str:
    return f"{row['variant']} {LEAKY}" if row.get("leaky") else row["variant"]


def _print_meaning(rows: list[dict]) -> None:
    """Per run, the test accuracy with its interval and chance level; once, the splits too small to judge."""
    from genrebench.chance import accuracy_note, at_chance, size_notes

    for r in rows:
        line = f"test track acc of {_which(r)}: {accuracy_note(r['test_track_acc'], r['counts'])}"
        warn(line) if at_chance(r["test_track_acc"], r["counts"]) else say(line)
    if any(r.get("leaky") for r in rows):
        warn(f"{LEAKY}: runs split by chunk (data.split.unit=chunk) test on windows of songs they trained on; their "
             "accuracy is inflated and measures the leak, not the model")
    seen: list[str] = []
    for r in rows:
        seen += [n for n in size_notes(r["counts"]) if n not in seen]
    for note in seen:
        warn(note)


def say(text: str) -> None:
    """One plain informational line on stderr (logs and hints, never results)."""
    err.print(text, highlight=False, soft_wrap=True, markup=False)


def print_next_steps(rows: list[dict], fold_sets: list[dict] | None = None) -> None:
    """After a run: the commands that look at what it produced."""
    if not rows and not fold_sets:
        return
    experiments = " ".join(dict.fromkeys(r["experiment"] for r in [*rows, *(fold_sets or [])] if r.get("experiment")))
    steps = [(f"genrebench report {experiments}", "tables, statistics and figures")] if experiments else []
    if rows:  # a fold set's parent run holds no model: name a fold run's
        steps.append((f"genrebench predict song.wav --run {rows[0]['run_id'][:8]}", "classify audio with this model"))
    steps.append(("genrebench ui", "compare runs in the MLflow UI"))
    width = max(len(cmd) for cmd, _ in steps)
    say("next:")
    for cmd, why in steps:
        say(f"  {cmd.ljust(width)}   # {why}")


def print_study(s: dict) -> None:
    """A study's summary: trial counts, the best trial and where its config was written."""
    def say(text: str) -> None:
        out.print(text, highlight=False, soft_wrap=True)

    counts = ", ".join(f"{v} {k.lower()}" for k, v in s["counts"].items() if v)
    say(f"study {s['study']} ({s['storage']}): {s['n_trials']} trials: {counts}; {s['new_trials']} run now; "
        f"{s['epochs_spent']} epochs spent in all")
    if s["pareto"]:
        _print_pareto(s)
    elif s["best_value"] is None:
        say("no complete trial yet")
        return
    else:
        params = ", ".join(_param_text(k, v) for k, v in s["best_params"].items())
        say(f"best: trial {s['best_trial']}, {s['objectives'][0]} {s['best_value']:.4f}, {params}")
        say(f"best config: {s['best_config']}   (genrebench run {s['best_config']} --seeds 3)")
    print(f"parent run id: {s['parent_run_id']}")
    if s["skipped_figures"]:
        say("figures skipped: " + "; ".join(f"{k} ({v})" for k, v in s["skipped_figures"].items()))


def _param_text(key: str, value: object) -> str:
    return f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"


def _print_pareto(s: dict) -> None:
    """A multi-objective study's Pareto front: one line per trial (objectives, params, its config file)."""
    out.print(f"Pareto front ({len(s['pareto'])} trials; {', '.join(s['objectives'])}):", highlight=False,
              soft_wrap=True)
    for row in s["pareto"]:
        scores = "  ".join(f"{name} {fmt_si(row[name])}" for name in s["objectives"])
        params = " ".join(_param_text(k, v) for k, v in row.items()
                          if k not in ("trial", "mlflow_run_id", "config", *s["objectives"]))
        out.print(f"  trial {row['trial']:>3}  {scores}  {params}  {row['config']}", highlight=False, soft_wrap=True)


def print_run_list(res: dict) -> None:
    """`runs`: tracked runs as plain aligned lines, newest first."""
    from datetime import datetime

    # Plain aligned lines rather than a table: ids are copied into --resume and predict, so they must
    # never be cut or wrapped, whatever the terminal width.
    out.print(f"runs in {res['store']} (newest first)", highlight=False, soft_wrap=True)
    rows = [("run id", "state", "started", "min", "acc", "experiment/run", "note")]
    for r in res["runs"]:
        started = datetime.fromtimestamp(r["start_ms"] / 1000).strftime("%Y-%m-%d %H:%M") if r["start_ms"] else ""
        acc = r["test_track_acc"] if r["test_track_acc"] is not None else r["val_best_track_acc"]
        note = (_resume_note(r) if r["status"] == "KILLED" and r["checkpoint_epoch"]
                else r["failure"] or (f"pid {r['owner']}" if r["status"] == "RUNNING" else r["role"]))
        note = f"{LEAKY} (split by chunk) {note}" if r.get("leaky") else note
        rows.append((r["run_id"], r["status"], started, f"{r['seconds'] / 60:.1f}" if r["seconds"] is not None else "",
                     f"{acc:.3f}" if acc is not None else "", f"{r['experiment']}/{r['name']}", note or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows if res["runs"] else []:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    if not res["runs"]:
        out.print("no runs")


def print_queue_end(s: dict) -> None:
    """After a queued run set: where its tickets stand, what this command trained, what failed and what to do."""
    c = s["counts"]
    say(f"queue {s['queue']} ({s['storage']}): {s['tickets']} tickets: {c['COMPLETE']} finished, "
        f"{c['FAIL']} failed, {c['RUNNING']} running, {c['WAITING']} waiting; {s['trained_here']} trained here")
    for text in s["failed"]:
        warn(f"failed: {text}")
    if s["failed"]:
        warn("run the same command again to retry the failed tickets (a KILLED run continues from its checkpoint)")
    elif c["RUNNING"] or c["WAITING"]:
        say(f"other workers are still on it: genrebench runs --queue {s['storage']} shows them")


def print_queues(queues: list[dict]) -> None:
    """`runs --queue URL`: per run queue, its counts, then one plain line per ticket (ids must not be cut)."""
    if not queues:
        out.print("no run queues in this storage")
    for q in queues:
        counts = ", ".join(f"{v} {k.lower()}" for k, v in q["counts"].items() if v) or "no tickets"
        out.print(f"queue {q['queue']} ({q['experiment']}): {counts}", highlight=False, soft_wrap=True, markup=False)
        rows = [("ticket", "state", "run", "acc", "tries", "worker", "run id")]
        for t in q["tickets"]:
            fold = "" if t["fold"] is None else f" fold {t['fold']}"
            rows.append((str(t["ticket"]), t["state"], f"{t['variant']}{fold} seed {t['seed']}",
                         "" if t["test_track_acc"] is None else f"{t['test_track_acc']:.3f}", str(t["attempts"]),
                         t["worker"], t["run_id"] + (f"  {t['error']}" if t["state"] == "FAIL" and t["error"] else "")))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])


def _resume_note(row: dict) -> str:
    if row.get("queue"):
        return f"resume: run the command of queue {row['queue']} again"
    return f"resume: genrebench run --resume {row['run_id']}"


def print_experiments(rows: list[dict], folders: list[str], spaces: list[dict]) -> None:
    """`list`: one row per experiment name (the file that wins, and where it comes from), then the search spaces."""
    table = Table(title=f"experiments, first found wins: {', '.join(folders)}", title_justify="left")
    for col in ("experiment", "variants", "model", "source", "description"):
        table.add_column(col, no_wrap=col in ("experiment", "source"))
    for r in rows:
        variants = ", ".join(r["variants"]) if len(r["variants"]) > 1 else "(one)"
        table.add_row(*(escape(cell) for cell in (r["name"], variants, r["model"], r["source"], r["description"])))
    out.print(table)
    listed = "; ".join(f"{s['name']}: {s['source']}" for s in spaces)
    out.print(f"search spaces (genrebench study --space NAME): {listed or 'none'}", highlight=False,
              soft_wrap=True, markup=False)


def print_models(rows: list[dict], n_mels: int, frames: int) -> None:
    """`models`: parameters and MACs per registered model."""
    table = Table(title=f"models (MACs for one 1 x {n_mels} x {frames} chunk)")
    for col in ("name", "params", "MACs", "description"):
        table.add_column(col, justify="right" if col in ("params", "MACs") else "left")
    for row in rows:
        table.add_row(row["name"], f"{row['params']:,}", fmt_si(row["macs"]), row["description"])
    out.print(table)


def print_protocols(rows: list[dict]) -> None:
    """`protocols`: one row per named split protocol."""
    table = Table(title="split protocols (data.split.method: NAME)")
    for col in ("name", "dataset", "fixes", "source"):
        table.add_column(col, no_wrap=col == "name")
    for row in rows:
        table.add_row(*(escape(row[col]) for col in ("name", "dataset", "fixes", "source")))
    out.print(table)


def print_bench(res: dict) -> None:
    """`bench`: every figure against its target, as a table and as greppable plain lines."""
    env = res["environment"]
    table = Table(title=f"genrebench bench ({res['profile']}, {env['device']}, {env['cpu_count']} CPU cores, "
                        f"torch {env['torch_version']})")
    for col in ("figure", "value", "unit", "target", "ok"):
        table.add_column(col, justify="right" if col == "value" else "left")
    verdict = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: ""}
    for r in res["rows"]:
        table.add_row(r["label"], f"{r['value']:.4g}", r["unit"], r["target"], verdict[r["ok"]])
    out.print(table)
    # Plain lines too: greppable in CI logs and never cut by a narrow terminal.
    for r in res["rows"]:
        ok = {True: "pass", False: "FAIL", None: "-"}[r["ok"]]
        print(f"bench {r['name']} {r['value']:.6g} {r['unit'].replace(' ', '_')} target {r['target'] or '-'} {ok}")
    print(f"mlflow run id (experiment benchmarks): {res['run_id']}")


# `bench --models`: (figure, column header, format) in table order; a figure with a target shows its verdict.
_MODEL_COLUMNS = (("params", "params", fmt_si), ("model_macs", "MACs/chunk", fmt_si),
                  ("track_macs", "MACs/30 s", fmt_si), ("train_bare_samples_per_s", "bare /s", "{:.4g}"),
                  ("train_loop_samples_per_s", "loop /s", "{:.4g}"),
                  ("train_loop_aug_samples_per_s", "loop+aug /s", "{:.4g}"),
                  ("train_loop_ratio", "loop/bare", "{:.3f}"), ("train_loop_aug_ratio", "+aug loop/bare", "{:.3f}"),
                  ("augment_cost", "aug cost", "{:.1%}"), ("train_achieved_gflops", "GFLOP/s", "{:.4g}"),
                  ("train_fraction_of_peak", "of peak", "{:.2f}"), ("eval_samples_per_s", "eval /s", "{:.4g}"),
                  ("predict_latency_ms", "predict ms", "{:.4g}"))


def print_bench_models(res: dict) -> None:
    """`bench --models`: one row per model (targets judged in their cells), then greppable plain lines."""
    env = res["environment"]
    table = Table(title=f"genrebench bench --models ({res['profile']}, {env['device']}, {env['cpu_count']} CPU "
                        f"cores, torch {env['torch_version']}, experiment {res['info']['experiment']}, batch "
                        f"{res['info']['batch_size']})")
    table.add_column("model")
    for _, header, _ in _MODEL_COLUMNS:
        table.add_column(header, justify="right")
    verdict = {True: " [green]pass[/green]", False: " [red]FAIL[/red]", None: ""}
    for m in res["models"]:
        rows = {r["name"]: r for r in m["rows"]}
        cells = [(fmt(rows[name]["value"]) if callable(fmt) else fmt.format(rows[name]["value"]))
                 + verdict[rows[name]["ok"]] for name, _, fmt in _MODEL_COLUMNS]
        table.add_row(m["model"], *cells)
    out.print(table)
    for m in res["models"]:
        for r in m["rows"]:
            ok = {True: "pass", False: "FAIL", None: "-"}[r["ok"]]
            print(f"bench {m['model']} {r['name']} {r['value']:.6g} {r['unit'].replace(' ', '_')} "
                  f"target {r['target'] or '-'} {ok}")
    print(f"matmul peak: {res['figures']['matmul_peak_gflops']:.4g} GFLOP/s")
    for text in sorted({_augment_text(m["augment"]) for m in res["models"]}):
        print(f"augmentation on: {text}")
    print(f"mlflow run id (experiment benchmarks): {res['run_id']} (one child run per model)")


def _augment_text(aug: dict) -> str:
    import json

    left = f"; left out: {'; '.join(aug['left_out'])}" if aug["left_out"] else ""
    return f"{aug['source']} {json.dumps(aug['config'], sort_keys=True)}{left}"


def print_predictions(res: list[dict], chunks: bool) -> None:
    """`predict`: the top genres per file, and with `chunks` the per-chunk timeline."""
    for r in res:
        # Escaped: a file name in brackets ("[live].wav") must print as itself, not vanish as rich markup.
        out.print(f"[bold]{escape(r['file'])}[/bold]: " + ", ".join(f"{lab} {p:.2f}" for lab, p in r["top"]),
                  highlight=False, soft_wrap=True)
        if chunks:
            for c in r["chunks"]:
                out.print(f"  {c['start_seconds']:7.2f}-{c['end_seconds']:7.2f} s  {c['label']:<12} {c['prob']:.2f}",
                          highlight=False)


def error_line(message: str) -> None:
    """`error: message` on stderr, the one format of every user error."""
    # Escaped: a path or value in brackets ("[rock]") must print as itself, not vanish as rich markup.
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def print_file_errors(errors: list[dict]) -> None:
    """`error: FILE: reason` on stderr, one line per input that could not be used."""
    for e in errors:
        error_line(f"{e['file']}: {e['error']}")


def print_robustness(res: dict) -> None:
    """`evaluate`: this evaluation's rows, then where the run's whole table went."""
    table = Table(title=f"robustness of run {res['run_id']} (test tracks; delta against identity, the clean audio)")
    for col in ("perturbation", "spec", "test track acc", "macro-F1", "tracks", "delta", "decoded", "seconds"):
        table.add_column(col, justify="left" if col in ("perturbation", "spec") else "right")
    for r in res["rows"]:
        table.add_row(r.perturbation, escape(r.spec), f"{r.test_track_acc:.3f}", f"{r.test_macro_f1:.3f}",
                      str(r.n_tracks), f"{r.delta_vs_identity:+.3f}", str(r.decoded), f"{r.seconds:.1f}")
    out.print(table)
    out.print(f"logged to run {res['run_id']}: robustness.csv ({len(res['table'])} perturbations), metrics "
              "robust/<perturbation>/test_track_acc and test_robust_delta", highlight=False, soft_wrap=True)


def print_perturbations(rows: list[dict], suites: dict[str, list[str]]) -> None:
    """`perturbations`: the registry, then each suite's SPECs."""
    table = Table(title="perturbations (genrebench evaluate --perturb name[:param=value,...])")
    for col in ("name", "parameters (defaults)", "what it does"):
        table.add_column(col, no_wrap=col == "name")
    for row in rows:
        params = ", ".join(f"{k}={v:g}" for k, v in row["params"].items()) or "-"
        table.add_row(row["name"], params, escape(row["description"]))
    out.print(table)
    for name, specs in suites.items():
        out.print(f"suite {name}: {' '.join(specs)}", highlight=False, soft_wrap=True)


def print_frontends(rows: list[dict]) -> None:
    """`frontends`: each SPEC form with its parameters and what it gives."""
    table = Table(title="front-ends (features.frontend SPEC[?param=value&...]; probes read the embeddings)")
    for col in ("spec", "parameters (defaults)", "what it gives"):
        table.add_column(col, no_wrap=col == "spec")
    for row in rows:
        params = ", ".join(f"{k}={v}" if v != "" else k for k, v in row["params"].items()) or "-"
        table.add_row(escape(row["spec"]), params, escape(row["description"]))
    out.print(table)
