"""Evaluation throughput and `predict`: model loading apart, one-file latency, batch throughput."""

from __future__ import annotations

import statistics
from pathlib import Path

import torch

from genrebench.bench.training import net, sample_subset, timed
from genrebench.config import ExperimentConfig
from genrebench.data import PreparedData
from genrebench.models import create_model
from genrebench.predict import predict_files
from genrebench.train import loop
from genrebench.train.bundle import make_bundle, save_bundle


def measure_eval(state: dict, cfg: ExperimentConfig, device: torch.device, batches: int) -> dict:
    """Chunks/s of `predict_chunks` (what `evaluate` runs) over validation chunks through fit's eval loader;
    the first batch only warms up."""
    t = cfg.train
    subset = sample_subset(state["ds"]["val"], batches * t.eval_batch_size, seed=0)
    loader = loop.make_loader(subset, t.eval_batch_size, False, torch.Generator().manual_seed(0), t.num_workers, device)
    warm = loop.make_loader(sample_subset(state["ds"]["val"], t.eval_batch_size, seed=1), t.eval_batch_size, False,
                        torch.Generator().manual_seed(0), t.num_workers, device)
    loop.predict_chunks(net(state), warm, device)
    return {"eval_samples_per_s": len(subset) / timed(lambda: loop.predict_chunks(net(state), loader, device),
                                                      device)}


def write_bench_bundle(cfg: ExperimentConfig, prepared: PreparedData, normalizer: dict, path: Path) -> Path:
    """An untrained model of the experiment's architecture, bundled as `fit` bundles a trained one: predict's
    cost does not depend on the weights' values."""
    kwargs, labels = loop.model_kwargs(cfg, prepared), prepared.labels
    model = create_model(cfg.model.name, **kwargs)
    bundle = make_bundle(model, cfg.model.name, kwargs, labels, cfg.data.audio.model_dump(mode="json"),
                         cfg.features.model_dump(mode="json"), normalizer, cfg.model_dump(mode="json"))
    return save_bundle(bundle, path)


def predict_latency(bundle_path: Path, file: Path, device: torch.device, repeats: int) -> dict:
    """One file through `predict_files` (the `genrebench predict` path), using the `seconds` (decode, features,
    model) and `load_seconds` (bundle and model) it reports: each the median of `repeats` after a first call
    that pays one-off costs."""
    loads, latencies = [], []
    for _ in range(repeats + 1):
        (row,) = predict_files([file], model_path=str(bundle_path), device=str(device))
        loads.append(row["load_seconds"])
        latencies.append(row["seconds"])
    return {"predict_model_load_s": statistics.median(loads[1:]), "predict_latency_s": statistics.median(latencies[1:])}


def measure_predict(bundle_path: Path, files: list[Path], device: torch.device, repeats: int) -> dict:
    """Model loading apart, one file's latency (`predict_latency`), and a batch's files/s (best of two)."""
    one = predict_latency(bundle_path, files[0], device, repeats)
    rates = [len(files) / sum(r["seconds"] for r in predict_files(files, model_path=str(bundle_path),
                                                                  device=str(device)))
             for _ in range(2)]
    return {**one, "predict_files_per_s": max(rates)}
