"""`run_bench`: every measurement in one process on generated audio, judged against its target, logged to MLflow."""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from genrebench import __version__
from genrebench.bench.audio import ensure_synthetic
from genrebench.bench.extraction import measure_cache, measure_one_worker, spread
from genrebench.bench.figures import figure_rows
from genrebench.bench.inference import measure_eval, measure_predict, write_bench_bundle
from genrebench.bench.memory import measure_run_memory, run_command
from genrebench.bench.settings import BenchSettings
from genrebench.bench.startup import measure_startup
from genrebench.bench.training import flop_figures, matmul_peak, measure_training
from genrebench.config import ExperimentConfig
from genrebench.loader import find_experiment, load_experiment
from genrebench.models import forward_macs

EXPERIMENT = "benchmarks"
# Seeds of the generated audio: the dataset, and the 30 s files predict classifies (not in the dataset).
DATA_SEED, PREDICT_SEED = 0, 1


def _quiet(_: str) -> None:
    """Default progress sink: say nothing."""


@contextmanager
def work_folders(work_dir: Path | None) -> Iterator[tuple[Path, Path]]:
    """(audio folder, scratch folder). Audio in `work_dir` outlives the bench so the next one reuses it; caches,
    bundles and the memory run's store are scratch: always fresh (a warm cache would fake the cold figures)
    and removed at the end, even on Ctrl-C."""
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="genrebench-bench-", dir=work_dir))
    try:
        yield (work_dir / "audio" if work_dir is not None else scratch / "audio"), scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def bench_config(settings: BenchSettings, data_root: Path, sets: tuple[str, ...] = ()) -> ExperimentConfig:
    """The experiment's base variant (with `--quick`, its quick profile) reading the generated dataset, with
    `sets` (`key=value`, as `--set` gives them) applied by the loader."""
    variants = load_experiment(find_experiment(settings.experiment).resolve(), sets=sets, quick=settings.quick,
                               options={"data.source": str(data_root), "train.device": settings.device})
    return next((v for v in variants if v.is_base), variants[0]).config


def environment(device: torch.device) -> dict:
    """Where the figures were measured: they mean little without it."""
    from genrebench.tracking.provenance import git_commit

    return {"genrebench_version": __version__, "git_commit": git_commit(), "torch_version": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count() or 1, "device": str(device),
            "python": platform.python_version(), "platform": platform.platform()}


def measure_all(settings: BenchSettings, device: torch.device, say: Callable[[str], None],
                progress: bool) -> tuple[dict, dict]:
    """Run every stage in order; returns (figures, info about the data measured on)."""
    sizes, clock = settings.sizes, time.perf_counter()

    def stage(text: str) -> None:
        say(f"[{time.perf_counter() - clock:7.1f} s] {text}")

    with work_folders(settings.work_dir) as (audio, scratch):
        root = audio / f"{settings.profile}-{sizes.genres}x{sizes.tracks_per_genre}x{sizes.seconds:g}s"
        cfg = bench_config(settings, root)  # first: a bad experiment fails before minutes of generating audio
        stage(f"audio: {sizes.genres} genres x {sizes.tracks_per_genre} tracks x {sizes.seconds:g} s "
              f"(+ {sizes.predict_files} x 30 s for predict) in {audio}")
        data = ensure_synthetic(root, sizes.genres, sizes.tracks_per_genre, sizes.seconds, DATA_SEED, progress)
        pred = ensure_synthetic(audio / f"predict-{sizes.predict_files}x30s", 2, math.ceil(sizes.predict_files / 2),
                                30.0, PREDICT_SEED, progress)
        subset = spread(data["files"], sizes.extract_tracks)
        stage(f"extraction: one worker over {len(subset)} tracks")
        figures = measure_one_worker(subset, scratch / "cache-one-worker", cfg.data, cfg.features)
        stage(f"cache: cold build of {len(data['files'])} tracks, then warm reuse")
        all_data = cfg.data.model_copy(update={"cache_dir": str(scratch / "cache"), "workers": 0})
        cache_figures, prepared = measure_cache(all_data, cfg.features)
        figures.update(cache_figures)
        stage(f"training: {cfg.model.name}, batch {cfg.train.batch_size}, {sizes.repeats} x {sizes.train_steps} "
              f"steps each of the bare step and the real loop on {device}")
        train_figures, state = measure_training(cfg, prepared, device, sizes)
        peak = matmul_peak(device, sizes.matmul_n, sizes.matmul_reps)
        macs = forward_macs(state["model"], (1, 1, prepared.input_rows, prepared.layout.frames))
        figures.update(train_figures, **peak, **flop_figures(macs, train_figures["train_loop_samples_per_s"],
                                                             peak["matmul_peak_gflops"]))
        stage("evaluation")
        figures.update(measure_eval(state, cfg, device, sizes.eval_batches))
        stage(f"predict: model loading, one 30 s file, a batch of {sizes.predict_files}")
        bundle = write_bench_bundle(cfg, prepared, state["ds"]["normalizer"].state(),
                                    scratch / "bundle" / "model_bundle.pt")
        figures.update(measure_predict(bundle, pred["files"][:sizes.predict_files], device, sizes.predict_repeats))
        del state  # no longer needed: free the model and datasets before the long memory run
        stage(f"memory: a genrebench run (1 epoch, small model) over all {len(prepared.tracks)} tracks, subprocess")
        cmd = run_command(find_experiment(settings.experiment).resolve(), data["root"], scratch / "cache",
                          f"sqlite:///{scratch / 'mlruns' / 'mlflow.db'}", settings.device, settings.quick,
                          sizes.memory_sets)
        figures.update(measure_run_memory(cmd, scratch / "memory-run.log", prepared))
        stage("start-up: --help, a usage error, and runs on the memory run's store (fresh processes)")
        figures.update(measure_startup(f"sqlite:///{scratch / 'mlruns' / 'mlflow.db'}", scratch))
        stage("done")
    info = {"tracks": len(data["files"]), "audio_hours": data["audio_seconds"] / 3600,
            "generate_seconds": data["generate_seconds"] + pred["generate_seconds"],
            "chunks": prepared.summary()["chunks"], "model": cfg.model.name, "experiment": cfg.name,
            "batch_size": cfg.train.batch_size, "n_mels": prepared.input_rows, "frames": prepared.layout.frames,
            "memory_run": " ".join(["genrebench", *cmd[3:]]), "bench_seconds": time.perf_counter() - clock}
    return figures, info


def log_to_mlflow(result: dict, tracking_uri: str | None) -> str:
    """One run in experiment `benchmarks`: settings as params, every figure as a metric, the JSON as an artifact."""
    from genrebench.tracking.tracker import MlflowTracker

    env, s = result["environment"], result["settings"]
    params = {"quick": s["quick"], "device": env["device"], "torch_version": env["torch_version"],
              "cpu_count": env["cpu_count"], "experiment": s["experiment"], "model": result["info"]["model"],
              "sizes": result["sizes"]}
    tags = {"genrebench.role": "bench", "genrebench.version": env["genrebench_version"],
            "git.commit": env["git_commit"], "device": env["device"]}
    tracker = MlflowTracker(tracking_uri)
    with tracker.run(EXPERIMENT, f"bench-{result['profile']}-{env['device']}", params, tags) as run_id:
        tracker.log_metrics(result["figures"])
        with tempfile.TemporaryDirectory(prefix="genrebench-bench-") as tmp:
            (Path(tmp) / "bench.json").write_text(json.dumps({**result, "run_id": run_id}, indent=2, default=str))
            tracker.log_artifacts_dir(tmp)
    return run_id


def run_bench(settings: BenchSettings, say: Callable[[str], None] = _quiet, progress: bool = False) -> dict:
    """Measure everything `genrebench bench` reports, and log it to MLflow (with the result as `bench.json`).

    Args:
        settings: Profile (quick or full), device, experiment, work and output locations.
        say: Receives one line per stage (the full bench takes minutes).
        progress: Show progress bars while generating audio.

    Returns:
        `{"mode": "stages", "profile", "settings", "sizes", "environment", "info", "figures": {name: value},
        "rows": [{name, label, value, unit, target, ok}], "run_id"}`.
    """
    from genrebench.train import resolve_device

    device = resolve_device(settings.device)
    figures, info = measure_all(settings, device, say, progress)
    result = {"mode": "stages", "profile": settings.profile,
              "settings": {"quick": settings.quick, "device": settings.device, "experiment": settings.experiment,
                           "work_dir": str(settings.work_dir) if settings.work_dir else None},
              "sizes": settings.sizes.as_dict(), "environment": environment(device), "info": info,
              "figures": figures, "rows": figure_rows(figures)}
    result["run_id"] = log_to_mlflow(result, settings.tracking_uri)
    return result
