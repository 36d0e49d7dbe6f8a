"""`genrebench bench --models`: what each registered model costs in this harness, one model after another on one
small generated dataset (it only feeds the training loop), judged per model and logged as one MLflow parent run
with a child run per model.

Each model runs as the experiment's base config with `model.name` set through the loader (so `--quick` applies
that model's own quick preset). Its training loop is timed twice: with augmentation off, and with augmentation on,
which is the experiment's own `augment:` section when that turns anything on, else `RECIPE`.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from genrebench.bench.audio import ensure_synthetic
from genrebench.bench.figures import MODEL_FIGURES, figure_rows
from genrebench.bench.inference import measure_eval, predict_latency, write_bench_bundle
from genrebench.bench.run import DATA_SEED, EXPERIMENT, PREDICT_SEED, bench_config, environment, work_folders
from genrebench.bench.settings import BenchSettings, ModelBenchSizes
from genrebench.bench.training import flop_figures, matmul_peak, measure_training
from genrebench.config import ExperimentConfig
from genrebench.data.prepare import PreparedData, prepare_data
from genrebench.errors import UserError
from genrebench.models import count_parameters, forward_macs, select_models
from genrebench.train.augment import augments
from genrebench.train.cost import chunks_per_track

# Augmentation on, for an experiment that augments nothing: every augmentation at once, as the all-on variant of
# `ablation_augment.yaml` sets it. Mask widths up to 40 frames (0.9 s of a 10 s chunk) and 16 mel bands.
RECIPE: dict = {"random_crop": True, "mixup_alpha": 0.2, "gain_db": 6.0,
                "specaugment": {"time_masks": 2, "time_width": 40, "freq_masks": 2, "freq_width": 16}}


def augmentation_on(cfg: ExperimentConfig) -> dict:
    """What "augmentation on" means for `cfg`: `{"source": "experiment" | "recipe", "config": augment section,
    "left_out": [why a part of the recipe was left out]}`.

    The recipe leaves out what the experiment's config refuses: a gain under the per-chunk z-score (which
    removes it), random crops under a chunk-level split (which would reach validation windows).
    """
    if augments(cfg.augment):
        return {"source": "experiment", "config": cfg.augment.model_dump(mode="json"), "left_out": []}
    recipe, left_out = json.loads(json.dumps(RECIPE)), []
    if cfg.features.normalization == "per_chunk":
        recipe["gain_db"] = 0.0
        left_out.append("gain_db: features.normalization per_chunk removes a gain")
    if cfg.data.split.unit == "chunk":
        recipe["random_crop"] = False
        left_out.append("random_crop: data.split.unit chunk")
    return {"source": "recipe", "config": recipe, "left_out": left_out}


def with_augment(cfg: ExperimentConfig, augment: dict) -> ExperimentConfig:
    """`cfg` with its `augment` section replaced, validated again as a whole."""
    return ExperimentConfig.model_validate({**cfg.model_dump(mode="json"), "augment": augment})


def measure_model(name: str, cfg: ExperimentConfig, prepared: PreparedData, device: torch.device,
                  sizes: ModelBenchSizes, peak_gflops: float, predict_file: Path, scratch: Path) -> dict:
    """Every per-model figure of one model: `{"model", "augment", "seconds", "figures", "rows"}`."""
    start = time.perf_counter()
    aug = augmentation_on(cfg)
    off = with_augment(cfg, {})
    figures, state = measure_training(off, prepared, device, sizes, augmented=with_augment(cfg, aug["config"]))
    model = state["model"]
    macs = forward_macs(model, (1, getattr(model, "in_channels", 1), prepared.input_rows, prepared.layout.frames))
    figures.update(params=float(count_parameters(model)), model_macs=float(macs),
                   track_macs=float(macs * chunks_per_track(cfg)),
                   **flop_figures(macs, figures["train_loop_samples_per_s"], peak_gflops),
                   **measure_eval(state, off, device, sizes.eval_batches))
    bundle = write_bench_bundle(off, prepared, state["ds"]["normalizer"].state(),
                                scratch / "bundles" / name / "model_bundle.pt")
    figures["predict_latency_ms"] = 1000 * predict_latency(bundle, predict_file, device,
                                                           sizes.predict_repeats)["predict_latency_s"]
    return {"model": name, "augment": aug, "seconds": time.perf_counter() - start, "figures": figures,
            "rows": figure_rows(figures, MODEL_FIGURES)}


def measure_models(settings: BenchSettings, names: list[str], device: torch.device, say: Callable[[str], None],
                   progress: bool) -> tuple[list[dict], dict, dict]:
    """Every model in turn on one dataset; returns (per-model results, bench-wide figures, data info)."""
    sizes, clock = settings.model_sizes, time.perf_counter()

    def stage(text: str) -> None:
        say(f"[{time.perf_counter() - clock:7.1f} s] {text}")

    with work_folders(settings.work_dir) as (audio, scratch):
        root = audio / f"models-{settings.profile}-{sizes.genres}x{sizes.tracks_per_genre}x{sizes.seconds:g}s"
        # Every config first: a model the experiment cannot build fails before any audio is written.
        configs = {m: bench_config(settings, root, (f"model.name={m}",)) for m in names}
        stage(f"audio: {sizes.genres} genres x {sizes.tracks_per_genre} tracks x {sizes.seconds:g} s "
              f"(+ one 30 s file for predict) in {audio}")
        data = ensure_synthetic(root, sizes.genres, sizes.tracks_per_genre, sizes.seconds, DATA_SEED, progress)
        pred = ensure_synthetic(audio / "predict-2x30s", 2, 1, 30.0, PREDICT_SEED, progress)
        # Only model.* differs between the configs, so one feature cache serves every model. Extraction is not
        # measured here, and for this small set one process beats starting a pool whose workers import librosa.
        first = configs[names[0]]
        prepared = prepare_data(first.data.model_copy(update={"cache_dir": str(scratch / "cache"), "workers": 1}),
                                first.features, progress=False)
        peak = matmul_peak(device, sizes.matmul_n, sizes.matmul_reps)
        stage(f"features of {len(prepared.tracks)} tracks cached; matmul peak {peak['matmul_peak_gflops']:.1f} "
              f"GFLOP/s; {len(names)} model(s), batch {first.train.batch_size}, on {device}")
        results = []
        for i, name in enumerate(names, 1):
            res = measure_model(name, configs[name], prepared, device, sizes, peak["matmul_peak_gflops"],
                                pred["files"][0], scratch)
            results.append(res)
            f = res["figures"]
            stage(f"{i}/{len(names)} {name}: {res['seconds']:.1f} s; loop/bare {f['train_loop_ratio']:.3f} "
                  f"(augmentation on {f['train_loop_aug_ratio']:.3f}), augmentation cost {f['augment_cost']:.1%}")
    info = {"tracks": len(prepared.tracks), "audio_hours": data["audio_seconds"] / 3600,
            "generate_seconds": data["generate_seconds"] + pred["generate_seconds"],
            "chunks": prepared.summary()["chunks"], "experiment": first.name, "batch_size": first.train.batch_size,
            "n_mels": prepared.input_rows, "frames": prepared.layout.frames,
            "bench_seconds": time.perf_counter() - clock}
    return results, peak, info


def log_models_to_mlflow(result: dict, tracking_uri: str | None) -> str:
    """One parent run in experiment `benchmarks` (settings as params, the matmul peak, the JSON as `bench.json`)
    and one child run per model (tag `model`, its figures as metrics), so MLflow's UI compares the models."""
    from genrebench.tracking.tracker import MlflowTracker

    env, s = result["environment"], result["settings"]
    params = {"quick": s["quick"], "device": env["device"], "torch_version": env["torch_version"],
              "cpu_count": env["cpu_count"], "experiment": s["experiment"], "models": ",".join(s["models"]),
              "sizes": result["sizes"]}
    tags = {"genrebench.role": "bench", "genrebench.version": env["genrebench_version"],
            "git.commit": env["git_commit"], "device": env["device"]}
    # The runs are written after the measurement: a system-metrics sampler would record only the logging.
    tracker = MlflowTracker(tracking_uri, system_metrics_seconds=None)
    with tracker.run(EXPERIMENT, f"bench-models-{result['profile']}-{env['device']}", params, tags) as run_id:
        tracker.log_metrics(result["figures"])
        for row in result["models"]:
            aug = row["augment"]
            with tracker.run(EXPERIMENT, row["model"], {**params, "model": row["model"], "augment": aug["config"],
                                                        "augment_source": aug["source"]},
                             {**tags, "model": row["model"]}, parent_run_id=run_id) as child:
                tracker.log_metrics(row["figures"])
            row["run_id"] = child
        with tempfile.TemporaryDirectory(prefix="genrebench-bench-") as tmp:
            (Path(tmp) / "bench.json").write_text(json.dumps({**result, "run_id": run_id}, indent=2, default=str))
            tracker.log_artifacts_dir(tmp)
    return run_id


def run_models_bench(settings: BenchSettings, say: Callable[[str], None] = lambda _: None,
                     progress: bool = False) -> dict:
    """Measure every model `settings.models` names (`genrebench bench --models`) and log it to MLflow.

    Args:
        settings: Profile, device, experiment, model names or patterns (`all`), work and output locations.
        say: Receives one line per stage and per model.
        progress: Show progress bars while generating audio.

    Returns:
        `{"mode": "models", "profile", "settings", "sizes", "environment", "info", "figures" (bench-wide:
        the matmul peak), "models": [{"model", "augment", "seconds", "figures", "rows", "run_id"}], "run_id"}`.

    Raises:
        UserError: A name or pattern matches no registered model (before anything is generated).
    """
    from genrebench.train import resolve_device

    try:
        names = select_models(settings.models)
    except UserError as exc:
        raise UserError(f"--models: {exc}") from exc
    device = resolve_device(settings.device)
    models, figures, info = measure_models(settings, names, device, say, progress)
    result = {"mode": "models", "profile": settings.profile,
              "settings": {"quick": settings.quick, "device": settings.device, "experiment": settings.experiment,
                           "models": names, "work_dir": str(settings.work_dir) if settings.work_dir else None},
              "sizes": settings.model_sizes.as_dict(), "environment": environment(device), "info": info,
              "figures": figures, "models": models}
    result["run_id"] = log_models_to_mlflow(result, settings.tracking_uri)
    return result
