"""The one train/eval loop: `fit()` serves `run`, `study` and the tests.

It knows a Tracker protocol and per-epoch callbacks, never mlflow or optuna. The test split is scored
once, at the end, with the best validation checkpoint.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

from genrebench import metrics as registry
from genrebench.config import ExperimentConfig
from genrebench.data.dataset import build_datasets, collate
from genrebench.data.prepare import PreparedData
from genrebench.models import create_model
from genrebench.progress import VERBOSE, Display, display
from genrebench.train.augment import BatchAugment, build_augmentation
from genrebench.train.bundle import make_bundle
from genrebench.train.calibration import (
    calibration_scores,
    fit_temperature,
    negative_log_likelihood,
    scaled_chunk_probs,
)
from genrebench.train.checkpoint import Interrupted, deferred_interrupts, set_rng_state, snapshot, stop_requested
from genrebench.train.cost import model_cost
from genrebench.train.embeddings import penultimate, track_means
from genrebench.train.metrics import split_eval, track_probabilities
from genrebench.train.result import Result, SplitEval

Callback = Callable[[int, Mapping[str, float]], None]


def resolve_device(name: str, what: str = "train.device") -> torch.device:
    """`auto` picks cuda > mps > cpu; an explicit name must be available (a UserError naming `what` and the
    device says why not and what to use instead). Cheap: callers check before any data is prepared."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    from genrebench.errors import UserError

    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise UserError(f"{what}: unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from exc
    why = _unavailable(dev)
    if why:
        raise UserError(f"{what} {name}: {why}; use --device cpu or auto")
    return dev


def _unavailable(dev: torch.device) -> str | None:
    """Why `dev` cannot be used on this machine, or None when it can."""
    if dev.type == "cuda":
        if torch.version.cuda is None:
            return f"CUDA is not available on this machine (torch {torch.__version__} is built without CUDA)"
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return "CUDA is not available on this machine (no GPU found, or none visible in CUDA_VISIBLE_DEVICES)"
        if dev.index is not None and dev.index >= count:
            return f"this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        return "MPS is not available on this machine (it needs Apple silicon and a torch built with MPS)"
    return None


def seed_everything(seed: int, device: torch.device) -> None:
    """Same seed -> same weights, same batch order, same metrics (bit-exact on CPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)


def make_loader(ds, batch_size: int, shuffle: bool, gen: torch.Generator, workers: int,
                device: torch.device, sampler: Sampler | None = None) -> DataLoader:
    """The DataLoader the loop uses (the bench measures the same one); `sampler` (the augmenting one, which
    draws the shuffle's order from `gen` itself) replaces the shuffle."""
    # Each loader owns its generator: a checkpoint saves and restores them, so a resumed run shuffles
    # exactly as an uninterrupted one would. A training epoch that would end on a batch of one chunk drops it:
    # BatchNorm over a batch of one fails in a dense head (and is a one-sample gradient step anyway); the
    # shuffle gives that chunk its turn in other epochs. Any other remainder is kept, so most runs are unchanged.
    drop_last = shuffle and len(ds) % batch_size == 1 and len(ds) > 1
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      generator=gen, num_workers=workers, pin_memory=device.type == "cuda", collate_fn=collate,
                      persistent_workers=workers > 0, drop_last=drop_last)


def autocast_for(device: torch.device):
    """The autocast context of the loop: bf16 on CUDA, off elsewhere."""
    # bf16 autocast pays off on CUDA; on CPU it is slower for these convolutions, so it stays off.
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    device: torch.device, shown: Display | None = None,
                    augment: BatchAugment | None = None) -> dict[str, float]:
    """One pass over the training chunks; sums stay on the device so there is no per-step sync.

    `shown` draws the batches as a bar (terminal) or, with `-v`, as lines (log); None draws nothing.
    `augment` transforms each batch on the device (mixup, masks); None leaves batches as they come.
    """
    model.train()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n, start = 0, time.perf_counter()
    task = shown.task("train", len(loader), "batches", log_from=VERBOSE) if shown is not None else None
    for step, (x, y, _) in enumerate(loader):
        if stop_requested():  # a signal whose KeyboardInterrupt was swallowed (see stop_requested)
            raise KeyboardInterrupt("stop requested")
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        # Mixed, the loss is against probabilities and accuracy against each mix's dominant label.
        x, target, y = augment(x, y) if augment is not None else (x, y, y)
        with autocast_for(device):
            logits = model(x)
            loss = loss_fn(logits.float(), target)
        optimizer.zero_grad(set_to_none=True)
        (loss / len(y)).backward()
        optimizer.step()
        loss_sum += loss.detach()
        correct += (logits.argmax(1) == y).sum()
        n += len(y)
        if task is not None and (step % 10 == 0 or step == len(loader) - 1):
            # A sync every 10 steps keeps the live numbers honest at negligible cost.
            task.update(step + 1, f"loss {loss_sum.item() / n:.3f} acc {correct.item() / n:.3f}")
    # .item() waits for the device: the clock stops after the epoch's queued work, not before (CUDA).
    loss, acc = loss_sum.item() / max(n, 1), correct.item() / max(n, 1)
    seconds = time.perf_counter() - start
    if task is not None:
        task.close()
    return {"train_loss": loss, "train_chunk_acc": acc, "epoch_seconds": seconds,
            "samples_per_second": n / seconds if seconds > 0 else 0.0}


@torch.no_grad()
def predict_chunks(model: nn.Module, loader: DataLoader, device: torch.device, embed: bool = False) -> dict:
    """Logits and softmax of every chunk, with labels, track ids and the mean cross-entropy; with `embed`, also
    each chunk's penultimate features (`embeddings`; `model` must then be the plain module, not a compiled one)."""
    if embed:
        with penultimate(model) as captured:
            out = predict_chunks(model, loader, device)
        return {**out, "embeddings": torch.cat(captured).numpy()}
    model.eval()
    logits_out, probs, labels, tracks = [], [], [], []
    loss_sum = torch.zeros((), device=device)
    for x, y, t in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast_for(device):
            logits = model(x).float()
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum")
        probs.append(torch.softmax(logits, dim=1).cpu())
        logits_out.append(logits.cpu())
        labels.append(y.cpu())
        tracks.append(t)
    n = sum(len(y) for y in labels)
    return {"logits": torch.cat(logits_out).numpy(), "probs": torch.cat(probs).numpy(),
            "labels": torch.cat(labels).numpy(), "tracks": torch.cat(tracks).numpy(),
            "loss": loss_sum.item() / max(n, 1)}


def _track_labels(prepared: PreparedData) -> np.ndarray:
    return np.asarray([prepared.label_index(t) for t in prepared.tracks])


def split_at(out: dict, prepared: PreparedData, temperature: float | None = None) -> SplitEval:
    """Chunk- and track-level metrics of `predict_chunks` output, at a temperature when one is given (the chunk
    loss too, recomputed from the scaled softmax); None scores the model's own softmax, bit for bit as before."""
    probs, loss = out["probs"], out["loss"]
    if temperature is not None:
        probs = scaled_chunk_probs(out["logits"], temperature)
        loss = negative_log_likelihood(probs, out["labels"])
    ev = split_eval(probs, out["labels"], out["tracks"], _track_labels(prepared), prepared.labels, loss)
    if "embeddings" in out:
        ev.embeddings = track_means(out["embeddings"], out["tracks"])
    return ev


def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, prepared: PreparedData) -> SplitEval:
    """Chunk- and track-level metrics of one split."""
    return split_at(predict_chunks(model, loader, device), prepared)


def _scheduler(cfg: ExperimentConfig, optimizer: torch.optim.Optimizer):
    t = cfg.train
    if t.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t.epochs)
    if t.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, t.epochs // 3), gamma=0.1)
    if t.scheduler == "plateau":
        mode = registry.get_metric(t.monitor).direction
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, patience=3)
    return None


def _epoch_line(cfg: ExperimentConfig, epoch: int, m: dict[str, float], best_epoch: int) -> str:
    """The line each epoch leaves on stderr, on a terminal and in a log alike."""
    fold = f" fold {cfg.data.split.fold}" if cfg.data.split.method == "kfold" else ""
    return (f"{cfg.name}{fold} seed {cfg.train.seed}  epoch {epoch}/{cfg.train.epochs}  "
            f"train loss {m['train_loss']:.3f} acc {m['train_chunk_acc']:.3f}  "
            f"val loss {m['val_loss']:.3f} chunk acc {m['val_chunk_acc']:.3f} track acc {m['val_track_acc']:.3f}  "
            f"lr {m['lr']:.3g}  {m['epoch_seconds']:.1f} s  best epoch {best_epoch}")


def _epoch_metrics(loop: dict, device, prepared, shown: Display) -> dict[str, float]:
    model, loaders, optimizer = loop["net"], loop["loaders"], loop["optimizer"]
    metrics = train_one_epoch(model, loaders["train"], optimizer, device, shown, loop["augment"])
    val = evaluate(model, loaders["val"], device, prepared)
    return {**metrics, **_named("val", val, registry.metric_names("epoch", "val")),
            "lr": optimizer.param_groups[0]["lr"]}


def _named(split: str, ev: SplitEval, names: list[str], prefix: str = "") -> dict[str, float]:
    """A split's values under their registry names: `track_acc` of val -> `val_track_acc` (or `val_best_...`)."""
    head = f"{split}_{prefix}"
    return {name: ev.metrics[name[len(head):]] for name in names}


def model_kwargs(cfg: ExperimentConfig, prepared: PreparedData) -> dict:
    """What the model is built with: the experiment's arguments, sized to the data's inputs (the rows of a chunk
    are the mel bands, or an embedding front-end's vector length, known once the data is prepared)."""
    return {**cfg.model_kwargs(len(prepared.labels)), "n_mels": prepared.input_rows}


def setup_loop(cfg: ExperimentConfig, prepared: PreparedData, device: torch.device) -> dict:
    """Seeded model, loaders, optimizer and scheduler, plus the empty best-so-far state: the loop's state."""
    seed_everything(cfg.train.seed, device)
    t = cfg.train
    ds = build_datasets(prepared, cfg.features.normalization)
    model = create_model(cfg.model.name, **model_kwargs(cfg, prepared)).to(device)
    if t.channels_last:
        model = model.to(memory_format=torch.channels_last)
    # `net` runs the batches; `model` holds the weights (a compiled module prefixes its state_dict keys).
    net = torch.compile(model) if t.compile else model
    generators = {s: torch.Generator().manual_seed(t.seed) for s in ("train", "val", "test")}
    # Training batches only; None when nothing is augmented (then no generator, sampler or step is added).
    aug = build_augmentation(cfg, ds["train"], generators["train"], len(prepared.labels))
    if aug is not None:
        generators["augment"] = aug.generator  # saved and restored with the loaders' by the checkpoint
    loaders = {s: make_loader(ds[s], t.batch_size if s == "train" else t.eval_batch_size, s == "train", generators[s],
                              t.num_workers, device, aug.sampler if aug is not None and s == "train" else None)
               for s in ("train", "val", "test")}
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    return {"ds": ds, "model": model, "net": net, "loaders": loaders, "generators": generators, "optimizer": optimizer,
            "augment": aug.batch if aug is not None else None,
            "scheduler": _scheduler(cfg, optimizer), "epoch": 0, "best": None, "best_epoch": 0, "best_state": None,
            "stale": 0, "history": [], "seconds": 0.0, "config": cfg.model_dump(mode="json"),
            "fingerprint": prepared.fingerprint}


def _restore(loop: dict, ckpt: dict) -> None:
    """Put a checkpoint's state into a freshly set-up loop (same config and data, checked by the caller)."""
    loop["model"].load_state_dict(ckpt["model"])
    loop["optimizer"].load_state_dict(ckpt["optimizer"])
    if loop["scheduler"] is not None and ckpt["scheduler"] is not None:
        loop["scheduler"].load_state_dict(ckpt["scheduler"])
    set_rng_state(ckpt["rng"], loop["generators"])
    loop.update({k: ckpt[k] for k in ("epoch", "best", "best_epoch", "best_state", "stale", "seconds")})
    loop["history"] = list(ckpt["history"])


def _end_epoch(loop: dict, metrics: dict[str, float], t) -> None:
    """Record an epoch: best checkpoint, patience, scheduler step; afterwards the state is resumable."""
    value = metrics[t.monitor]
    if registry.get_metric(t.monitor).better(value, loop["best"]):
        loop.update(best=value, best_epoch=metrics["epoch"], stale=0,
                    best_state=copy.deepcopy(loop["model"].state_dict()))
    else:
        loop["stale"] += 1
    if t.scheduler == "plateau":
        loop["scheduler"].step(value)
    elif loop["scheduler"] is not None:
        loop["scheduler"].step()
    loop["history"].append(metrics)
    loop["epoch"] = int(metrics["epoch"])


def fit(cfg: ExperimentConfig, prepared: PreparedData, tracker=None, callbacks: list[Callback] | None = None,
        progress: bool = True, evaluate_test: bool = True, *, resume: dict | None = None) -> Result:
    """Train `cfg` on `prepared`, keep the best validation checkpoint, and test it.

    Args:
        cfg: The resolved experiment (one variant).
        prepared: Data from `genrebench.data.prepare_data`, split per track.
        tracker: Anything with `log_metrics(dict, step)`; None logs nothing.
        callbacks: Called as `cb(epoch, metrics)` after each epoch; one may raise to stop (search pruning).
        progress: Report progress on stderr: live bars on a terminal, one line per epoch in a log
            (`genrebench.progress` decides which, and keeps quiet when asked to).
        evaluate_test: False leaves the test split untouched (search must never look at it); then
            `Result.test` is None and `Result.final` holds validation numbers only.
        resume: A checkpoint (see `genrebench.train.checkpoint`) to continue from instead of epoch 0.

    Raises:
        Interrupted: on Ctrl-C or SIGTERM, carrying the checkpoint of the last completed epoch.
    """
    device = resolve_device(cfg.train.device)
    loop = setup_loop(cfg, prepared, device)
    if resume is not None:
        _restore(loop, resume)
    t = cfg.train
    start = time.perf_counter() - loop["seconds"]
    last = snapshot(loop)  # the resume point while the first epoch runs
    try:
        with display(progress) as shown:
            # In a log the epoch lines below are the progress: the epochs task draws only as a bar.
            epochs_task = shown.task(f"{cfg.name} epochs", t.epochs, "epochs", log_from=None)
            epochs_task.update(loop["epoch"])
            while loop["epoch"] < t.epochs and not (t.early_stopping and loop["stale"] >= t.early_stopping):
                metrics = {"epoch": loop["epoch"] + 1, **_epoch_metrics(loop, device, prepared, shown)}
                # Checkpoint and metrics of an epoch go together: an interruption in between would make
                # a resumed run log an epoch twice or skip one.
                with deferred_interrupts():
                    _end_epoch(loop, metrics, t)
                    loop["seconds"] = time.perf_counter() - start
                    last = snapshot(loop)
                    if tracker is not None:
                        tracker.log_metrics({k: v for k, v in metrics.items() if k != "epoch"}, step=loop["epoch"])
                stats = f"val_track_acc {metrics['val_track_acc']:.3f} (best epoch {loop['best_epoch']})"
                epochs_task.update(loop["epoch"], stats)
                shown.line(_epoch_line(cfg, loop["epoch"], metrics, loop["best_epoch"]))
                for cb in callbacks or []:
                    cb(loop["epoch"], metrics)
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted):
            raise
        raise Interrupted(last, str(exc) or "interrupted") from exc
    loop["model"].load_state_dict(loop["best_state"])
    return _finish(cfg, prepared, loop, device, time.perf_counter() - start, evaluate_test)


def _uncalibrated(out: dict, prepared: PreparedData) -> dict[str, float]:
    """ECE, NLL and Brier of the model's own track probabilities, before any temperature."""
    _, true, probs = track_probabilities(out["probs"], out["tracks"], _track_labels(prepared))
    return calibration_scores(probs, true)


def _calibrated(cfg: ExperimentConfig, val_out: dict, prepared: PreparedData) -> tuple[float | None, dict]:
    """With `train.calibrate: temperature`: the T fitted on validation's chunks (never test's) and validation's
    scores before scaling; (None, {}) otherwise."""
    if cfg.train.calibrate != "temperature":
        return None, {}
    temperature = fit_temperature(val_out["logits"], val_out["tracks"], _track_labels(prepared))
    raw = _uncalibrated(val_out, prepared)
    return temperature, {"temperature": temperature, "val_ece_uncalibrated": raw["ece"],
                         "val_nll_uncalibrated": raw["nll"]}


def _test_scores(model, loaders: dict, device, prepared: PreparedData, temperature: float | None) -> tuple:
    """Test's SplitEval (at the temperature, if any, with each track's penultimate features) and its final
    metrics, with ECE before scaling. `model` is the plain module: a compiled one would not run the hook."""
    out = predict_chunks(model, loaders["test"], device, embed=True)
    test = split_at(out, prepared, temperature)
    names = registry.metric_names("final", "test", lambda s: not s.name.endswith("_uncalibrated"))
    final = _named("test", test, names)
    if temperature is not None:
        final["test_ece_uncalibrated"] = _uncalibrated(out, prepared)["ece"]
    return test, final


def _finish(cfg, prepared, loop: dict, device, seconds: float, evaluate_test: bool) -> Result:
    """Score val (and test, unless searching) with the restored best checkpoint and package everything."""
    net, model, loaders, ds, history, best_epoch = (loop[k] for k in ("net", "model", "loaders", "ds", "history",
                                                                      "best_epoch"))
    val_out = predict_chunks(net, loaders["val"], device)
    temperature, calibration = _calibrated(cfg, val_out, prepared)
    val = split_at(val_out, prepared, temperature)
    best_names = registry.metric_names("final", "val", lambda s: s.name.startswith("val_best_"))
    final = {**_named("val", val, best_names, "best_"), "val_ece": val.metrics["ece"], "val_nll": val.metrics["nll"],
             **calibration, "best_epoch": float(best_epoch), "epochs_run": float(len(history)),
             "train_seconds": seconds, "model_parameters": float(sum(p.numel() for p in model.parameters()))}
    if cfg.train.compile and len(history) > 1:
        later = float(np.median([h["epoch_seconds"] for h in history[1:]]))
        final["compile_seconds"] = max(0.0, history[0]["epoch_seconds"] - later)
    final.update(model_cost(model, cfg, device, prepared.input_rows, prepared.layout.frames))
    test = None
    if evaluate_test:
        test, test_final = _test_scores(model, loaders, device, prepared, temperature)
        final.update(test_final)
    config = cfg.model_dump(mode="json")
    bundle = make_bundle(model, cfg.model.name, model_kwargs(cfg, prepared),
                         prepared.labels, cfg.data.audio.model_dump(mode="json"),
                         cfg.features.model_dump(mode="json"), ds["normalizer"].state(), config,
                         temperature=temperature or 1.0)
    return Result(config=config, labels=list(prepared.labels), history=history, best_epoch=best_epoch, val=val,
                  test=test, final=final, model=model.cpu(), bundle=bundle, device=str(device), wall_seconds=seconds)
