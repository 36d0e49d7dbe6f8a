"""Training throughput: the bare model step against the real loop over cached features, and FLOP/s against a
matmul peak measured in the same process, on the same device and precision."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from genrebench.bench.settings import BenchSizes
from genrebench.config import ExperimentConfig
from genrebench.data.prepare import PreparedData
from genrebench.models import forward_macs
from genrebench.train import loop


def sync(device: torch.device) -> None:
    """Wait for queued GPU work: without it a timer stops while kernels are still running."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of `fn()`, with the device drained before and after."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def sample_subset(ds: Dataset, n: int, seed: int) -> Subset:
    """`n` random items of `ds` (drawn with replacement when it has fewer), so a timed loop has a fixed length
    whatever the split's size."""
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(ds), generator=gen)[:n] if n <= len(ds) else torch.randint(len(ds), (n,), generator=gen)
    return Subset(ds, pick.tolist())


def matmul_peak(device: torch.device, n: int, reps: int) -> dict:
    """GFLOP/s of the best of `reps` n x n matmuls, under the same autocast as training (so the peak is in
    the precision the model actually computes in: float32 on CPU, bf16 on CUDA)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    with loop.autocast_for(device):
        for _ in range(2):  # warm-up: thread pools, GPU clocks, cuBLAS handles
            timed(lambda: a @ b, device)
        best = min(timed(lambda: a @ b, device) for _ in range(reps))
    return {"matmul_peak_gflops": 2 * n**3 / best / 1e9}


def bare_steps(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               device: torch.device, steps: int) -> float:
    """Samples/s of the model step alone: `train_one_epoch`'s per-batch work on tensors already on the device."""
    model.train()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")

    def run() -> None:
        for _ in range(steps):
            with loop.autocast_for(device):
                logits = model(x)
                loss = loss_fn(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            (loss / len(y)).backward()
            optimizer.step()

    return steps * len(y) / timed(run, device)


def net(state: dict) -> nn.Module:
    """The module fit runs batches through (compiled when `train.compile`), else its model."""
    return state.get("net", state["model"])


def loop_steps(state: dict, cfg: ExperimentConfig, device: torch.device, steps: int, seed: int) -> float:
    """Samples/s of `train_one_epoch` over `steps` batches of real training chunks, through fit's own loader.

    Timed from outside with a device sync: the loop's own `epoch_seconds` stops its clock before the last
    GPU kernels finish.
    """
    t = cfg.train
    subset = sample_subset(state["ds"]["train"], steps * t.batch_size, seed)
    loader = loop.make_loader(subset, t.batch_size, True, torch.Generator().manual_seed(seed), t.num_workers, device)
    return len(subset) / timed(lambda: loop.train_one_epoch(net(state), loader, state["optimizer"], device),
                               device)


def measure_training(cfg: ExperimentConfig, prepared: PreparedData, device: torch.device,
                     sizes: BenchSizes) -> tuple[dict, dict]:
    """Bare step vs real loop (alternating, best of `sizes.repeats` each), FLOPs and the matmul peak.

    Returns the figures and fit's loop state (model, datasets, loaders), which evaluation reuses.
    """
    # fit's own set-up: seeding (deterministic algorithms on CPU), datasets, model (in fit's memory format,
    # compiled if configured), loaders, optimizer. The bare step drives the very same model and optimizer,
    # so the two figures differ only by what the loop adds around the step.
    state = loop.setup_loop(cfg, prepared, device)
    t, frames = cfg.train, prepared.layout.frames
    x = torch.randn((t.batch_size, 1, cfg.features.n_mels, frames), device=device)
    y = torch.randint(len(prepared.labels), (t.batch_size,), device=device)
    bare_steps(net(state), state["optimizer"], x, y, device, sizes.warmup_steps)
    loop_steps(state, cfg, device, sizes.warmup_steps, seed=0)
    bare_rate = loop_rate = 0.0
    for r in range(sizes.repeats):  # interleaved, so a slow spell of the machine hits both alike
        bare_rate = max(bare_rate, bare_steps(net(state), state["optimizer"], x, y, device, sizes.train_steps))
        loop_rate = max(loop_rate, loop_steps(state, cfg, device, sizes.train_steps, seed=r + 1))
    gflop = 3 * 2 * forward_macs(state["model"], (1, 1, cfg.features.n_mels, frames)) / 1e9  # forward + 2x backward
    peak = matmul_peak(device, sizes.matmul_n, sizes.matmul_reps)
    figures = {"train_bare_samples_per_s": bare_rate, "train_loop_samples_per_s": loop_rate,
               "train_loop_ratio": loop_rate / bare_rate, "train_gflop_per_sample": gflop,
               "train_achieved_gflops": loop_rate * gflop, **peak,
               "train_fraction_of_peak": loop_rate * gflop / peak["matmul_peak_gflops"]}
    return figures, state
