"""Training throughput: the bare model step against the real loop over cached features, and FLOP/s against a
matmul peak measured in the same process, on the same device and precision."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from genrebench.bench.settings import ModelBenchSizes
from genrebench.config import ExperimentConfig
from genrebench.data.prepare import PreparedData
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


class FirstBatches:
    """The first `steps` batches of a loader, as `train_one_epoch` iterates a loader: when the loader runs out it
    starts again (a new epoch, as `fit` would start one). `samples` counts what the last pass handed out."""

    def __init__(self, loader: DataLoader, steps: int) -> None:
        if len(loader) == 0:
            raise RuntimeError("bench: the training loader is empty")
        self.loader, self.steps, self.samples = loader, steps, 0

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator:
        self.samples, given = 0, 0
        while True:
            for batch in self.loader:
                self.samples += len(batch[1])
                given += 1
                yield batch
                if given == self.steps:
                    return


def loop_steps(state: dict, device: torch.device, steps: int, feed: dict | None = None) -> float:
    """Samples/s of `train_one_epoch` over `steps` batches of fit's own training loader, driving `state`'s model
    and optimizer.

    The loader and the augment step are those `setup_loop` made for `feed` (default `state`): with `feed` the
    loop state of the same experiment with augmentation on, the batches come through fit's augmenting sampler
    and its batch step, while the model and optimizer stay those the bare step drives. Timed from outside with
    a device sync: the loop's own `epoch_seconds` stops its clock before the last GPU kernels finish.
    """
    feed = state if feed is None else feed
    batches = FirstBatches(feed["loaders"]["train"], steps)
    seconds = timed(lambda: loop.train_one_epoch(net(state), batches, state["optimizer"], device,
                                                 augment=feed["augment"]), device)
    return batches.samples / seconds


def steps_per_repeat(sizes: ModelBenchSizes, batch_size: int, slowest_rate: float) -> int:
    """`sizes.train_steps`, or more (up to `sizes.max_steps`) where that many steps of the slowest timed kind
    would last less than `sizes.min_repeat_seconds`."""
    wanted = math.ceil(sizes.min_repeat_seconds * slowest_rate / batch_size)
    return max(sizes.train_steps, min(sizes.max_steps, wanted))


def measure_training(cfg: ExperimentConfig, prepared: PreparedData, device: torch.device,
                     sizes: ModelBenchSizes,
                     augmented: ExperimentConfig | None = None) -> tuple[dict, dict]:
    """Bare step vs real loop (alternating, best of `sizes.repeats` each); with `augmented` (the same experiment
    with augmentation on) also the real loop with augmentation and its cost over the loop without.

    Returns the figures and fit's loop state of `cfg` (model, datasets, loaders), which evaluation reuses.
    """
    # fit's own set-up: seeding (deterministic algorithms on CPU), datasets, model (in fit's memory format,
    # compiled if configured), loaders, optimizer. The bare step drives the very same model and optimizer,
    # so the figures differ only by what the loop adds around the step.
    state = loop.setup_loop(cfg, prepared, device)
    t, frames = cfg.train, prepared.layout.frames
    x = torch.randn((t.batch_size, 1, prepared.input_rows, frames), device=device)
    y = torch.randint(len(prepared.labels), (t.batch_size,), device=device)
    kinds: dict[str, Callable[[int], float]] = {
        "train_bare_samples_per_s": lambda n: bare_steps(net(state), state["optimizer"], x, y, device, n),
        "train_loop_samples_per_s": lambda n: loop_steps(state, device, n)}
    if augmented is not None:
        # Only its loader and augment step are used; its model is never run.
        feed = loop.setup_loop(augmented, prepared, device)
        kinds["train_loop_aug_samples_per_s"] = lambda n: loop_steps(state, device, n, feed)
    warm = [run(sizes.warmup_steps) for run in kinds.values()]
    steps = steps_per_repeat(sizes, t.batch_size, min(warm))
    best = dict.fromkeys(kinds, 0.0)
    for _ in range(sizes.repeats):  # interleaved, so a slow spell of the machine hits every kind alike
        for name, run in kinds.items():
            best[name] = max(best[name], run(steps))
    figures = {**best, "train_loop_ratio": best["train_loop_samples_per_s"] / best["train_bare_samples_per_s"]}
    if augmented is not None:
        aug = best["train_loop_aug_samples_per_s"]
        figures.update(train_loop_aug_ratio=aug / best["train_bare_samples_per_s"],
                       augment_cost=1 - aug / best["train_loop_samples_per_s"])
    return figures, state


def flop_figures(macs: int, loop_rate: float, peak_gflops: float) -> dict:
    """Training FLOPs per sample (forward + 2x backward, 2 FLOPs a MAC) and what the real loop achieves, also as
    a fraction of the matmul peak."""
    gflop = 3 * 2 * macs / 1e9
    return {"train_gflop_per_sample": gflop, "train_achieved_gflops": loop_rate * gflop,
            "train_fraction_of_peak": loop_rate * gflop / peak_gflops}
