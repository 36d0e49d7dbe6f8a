"""Augmentation (the `augment` section): what each transform does, that only training batches see it, that it is
off by default at no cost, and that a resumed run with all of it on equals an uninterrupted one on CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_folder
from torch import nn
from torch.utils.data import RandomSampler

from genrebench.config import SpecAugmentConfig
from genrebench.data import prepare_data
from genrebench.data.dataset import ChunkDataset, ChunkItem, with_gain
from genrebench.data.features import DB_FLOOR, slice_chunk
from genrebench.errors import UserError
from genrebench.loader import load_experiment
from genrebench.train import augment, fit, loop
from genrebench.train.checkpoint import Interrupted, load_checkpoint, save_checkpoint

SPEC = "augment.specaugment={time_masks: 2, time_width: 6, freq_masks: 1, freq_width: 4}"
EVERYTHING = ["augment.random_crop=true", SPEC, "augment.mixup_alpha=0.4", "augment.gain_db=6",
              "features.normalization=global"]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("tones") / "data", labels=("low", "mid", "high"), per_label=4,
                       seconds=4.0)


def tiny(root, *sets, epochs=2):
    """One variant of the quick baseline on `root`: 1 s chunks of 4 s tones (7 fixed windows per track)."""
    return load_experiment("baseline", quick=True, epochs=epochs, sets=[
        f"data.source={root}", "data.workers=1", "features.chunk_seconds=1", "train.batch_size=8", *sets])[0].config


def _prep(cfg):
    return prepare_data(cfg.data, cfg.features, progress=False)


def _no_timing(d):
    return {k: v for k, v in d.items() if "second" not in k and k != "predict_ms"}


def _same_result(a, b):
    assert [_no_timing(h) for h in a.history] == [_no_timing(h) for h in b.history]
    assert _no_timing(a.final) == _no_timing(b.final)
    np.testing.assert_array_equal(a.test.track_probs, b.test.track_probs)


# ---- SpecAugment ----------------------------------------------------------------------------------------

def test_masks_change_whole_bands_within_their_widths_and_nothing_else():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 1, 20, 50)
    spec = SpecAugmentConfig(time_masks=2, time_width=6, freq_masks=1, freq_width=4)
    out = augment.spec_masks(augment.Batch(x, torch.zeros(16), torch.zeros(16)), gen, spec).x
    changed = out != x
    assert changed.any()
    for b in range(16):
        rows, cols = changed[b, 0].all(dim=1), changed[b, 0].all(dim=0)
        # What changed is exactly a union of whole mel bands and whole frame spans, set to the chunk's mean.
        assert torch.equal(changed[b, 0], rows[:, None] | cols[None, :])
        assert rows.sum() <= 1 * 4 and cols.sum() <= 2 * 6
        assert torch.allclose(out[b][changed[b]], x[b].mean().expand(int(changed[b].sum())))
    # Widths are drawn in [0, width]: over many draws both bounds occur, none beyond.
    widths = augment.band_mask(4000, 50, 1, 6, gen, CPU).sum(dim=1)
    assert widths.min() == 0 and widths.max() == 6


def test_no_masks_is_the_identity_and_builds_no_transform():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 1, 8, 10)
    off = SpecAugmentConfig(time_masks=0, time_width=5, freq_masks=3, freq_width=0)
    assert torch.equal(augment.spec_masks(augment.Batch(x, x, x), gen, off).x, x)
    cfg = tiny("data", "augment.specaugment={time_masks: 0, time_width: 5, freq_masks: 3, freq_width: 0}")
    assert augment._masks_from(cfg.augment, 3) is None


# ---- mixup ----------------------------------------------------------------------------------------------

def test_mixup_targets_sum_to_one_and_label_the_dominant_class(monkeypatch):
    lam = torch.tensor([0.9, 0.2, 0.5, 0.6])
    monkeypatch.setattr(augment, "beta_draws", lambda alpha, n, gen: lam)
    y = torch.tensor([0, 1, 2, 0])
    partner = torch.randperm(4, generator=torch.Generator().manual_seed(3))
    x = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 2, 3)
    out = augment.mixup(augment.Batch(x, y, y), torch.Generator().manual_seed(3), alpha=0.4, classes=3)
    torch.testing.assert_close(out.target.sum(dim=1), torch.ones(4))
    for i in range(4):
        own, other = int(y[i]), int(y[partner[i]])
        expected = torch.zeros(3)
        expected[own] += lam[i]
        expected[other] += 1 - lam[i]
        torch.testing.assert_close(out.target[i], expected)
        torch.testing.assert_close(out.x[i], lam[i] * x[i] + (1 - lam[i]) * x[partner[i]])
        assert out.label[i] == (own if lam[i] >= 0.5 else other)


class _Fixed(nn.Module):
    """Logits that ignore the input (class 0 for the first two chunks, class 1 for the others)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.scale * torch.tensor([[2.0, 0.0], [2.0, 0.0], [0.0, 2.0], [0.0, 2.0]]) + 0 * x.sum()


def test_train_accuracy_counts_the_dominant_label_and_the_loss_the_soft_targets():
    soft = torch.tensor([[0.7, 0.3], [0.4, 0.6], [0.45, 0.55], [0.5, 0.5]])
    dominant = torch.tensor([0, 1, 1, 0])

    def mixed(x, y):
        return x, soft, dominant

    loader = [(torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long))]
    model = _Fixed()
    m = loop.train_one_epoch(model, loader, torch.optim.SGD(model.parameters(), lr=0.0), CPU, augment=mixed)
    assert m["train_chunk_acc"] == 0.5  # predicted 0, 0, 1, 1 against 0, 1, 1, 0
    logp = torch.log_softmax(model(torch.zeros(1)).detach(), dim=1)
    assert m["train_loss"] == pytest.approx(float(-(soft * logp).sum(dim=1).mean()))


# ---- gain -----------------------------------------------------------------------------------------------

def test_gain_moves_every_value_above_the_silence_floor_by_the_drawn_amount():
    chunk = np.array([[-20.0, DB_FLOOR, -97.0], [0.0, -50.0, DB_FLOOR]], dtype=np.float32)
    np.testing.assert_array_equal(with_gain(chunk, 6.0), [[-14.0, DB_FLOOR, -91.0], [6.0, -44.0, DB_FLOOR]])
    # Quieter, a value clips at the floor as mel_db clips; silence stays silence either way.
    np.testing.assert_array_equal(with_gain(chunk, -6.0), [[-26.0, DB_FLOOR, DB_FLOOR], [-6.0, -56.0, DB_FLOOR]])


def test_the_dataset_applies_the_gain_before_normalization(tones):
    cfg = tiny(tones, "features.normalization=global")
    ds = loop.setup_loop(cfg, _prep(cfg), CPU)["ds"]
    train, norm = ds["train"], ds["normalizer"]
    track, start = (int(v) for v in train.index[5])
    plain, louder = train[ChunkItem(5, start, 0.0)][0], train[ChunkItem(5, start, 4.5)][0]
    assert torch.equal(plain, train[5][0])
    # Global z-score: a gain of g dB moves the input by g / std.
    torch.testing.assert_close(louder - plain, torch.full_like(plain, 4.5 / norm.std), rtol=1e-4, atol=1e-5)


def test_meaningless_augmentation_is_refused_when_the_experiment_loads():
    # before any data is prepared: the source does not even exist
    with pytest.raises(UserError, match=r"^--set augment.gain_db: augment.gain_db has no effect .*per_chunk"):
        tiny("no/such/folder", "augment.gain_db=3")
    with pytest.raises(UserError, match=r"augment.random_crop cannot follow data.split.unit chunk"):
        tiny("no/such/folder", "augment.random_crop=true", "data.split.unit=chunk")


# ---- random crops and the sampler -----------------------------------------------------------------------

def test_random_crops_move_every_epoch_within_the_track_in_the_plain_order(tones):
    cfg = tiny(tones, "augment.random_crop=true", "augment.gain_db=3", "features.normalization=none")
    prepared = _prep(cfg)
    state = loop.setup_loop(cfg, prepared, CPU)
    train: ChunkDataset = state["ds"]["train"]
    sampler = state["loaders"]["train"].sampler
    epochs = [list(sampler) for _ in range(3)]
    plain = RandomSampler(range(len(train)), generator=torch.Generator().manual_seed(cfg.train.seed))
    last = train.last_starts()
    for items in epochs:
        # One item per fixed chunk, in the order a plain shuffle draws: augmentation never changes the batches.
        assert [it.index for it in items] == list(plain)
        assert all(0 <= it.start <= last[it.index] for it in items)
        assert all(-3 <= it.gain_db <= 3 for it in items) and len({it.gain_db for it in items}) == len(items)
    starts = [{it.index: it.start for it in items} for items in epochs]
    assert starts[0] != starts[1] != starts[2]
    # Starts land all over the tracks, not only on the fixed windows' grid.
    fixed = set(train.index[:, 1].tolist())
    drawn = {s for epoch in starts for s in epoch.values()}
    assert len(drawn - fixed) > len(fixed)
    # A crop is the track's own frames at its start (no padding: these tracks are longer than a chunk).
    it = epochs[0][0]
    mel = prepared.entries[int(train.index[it.index, 0])].load()
    expected = with_gain(slice_chunk(mel, it.start, train.frames), it.gain_db)
    assert mel.shape[1] >= it.start + train.frames
    np.testing.assert_array_equal(train[it][0][0].numpy(), expected)
    assert train[it][1:] == train[it.index][1:]  # same label and track as the fixed chunk


def test_a_track_shorter_than_a_chunk_is_cropped_at_0_and_padded_as_before(tones):
    cfg = tiny(tones, "features.chunk_seconds=5", "augment.random_crop=true")
    state = loop.setup_loop(cfg, _prep(cfg), CPU)
    train = state["ds"]["train"]
    assert (train.last_starts() == 0).all()
    for it in state["loaders"]["train"].sampler:
        assert it.start == 0 and torch.equal(train[it][0], train[it.index][0])


def test_validation_and_test_are_never_augmented(tones, monkeypatch):
    cfg = tiny(tones, *EVERYTHING)
    prepared = _prep(cfg)
    plain = tiny(tones, "features.normalization=global")
    on, off = loop.setup_loop(cfg, prepared, CPU), loop.setup_loop(plain, prepared, CPU)
    for split in ("val", "test"):
        assert isinstance(on["loaders"][split].sampler, torch.utils.data.SequentialSampler)
        # The same chunks, normalized with statistics of the same (unaugmented) training chunks.
        for a, b in zip(on["loaders"][split], off["loaders"][split], strict=True):
            assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    seen: dict[str, set[type]] = {"train": set(), "val": set(), "test": set()}
    real_get = ChunkDataset._raw

    def spy(self, item):
        seen[self.split].add(type(item))
        return real_get(self, item)

    calls = []
    real_call = augment.BatchAugment.__call__
    monkeypatch.setattr(ChunkDataset, "_raw", spy)
    monkeypatch.setattr(augment.BatchAugment, "__call__", lambda self, x, y: calls.append(1) or real_call(self, x, y))
    fit(cfg, prepared, progress=False)
    assert seen == {"train": {ChunkItem}, "val": {int}, "test": {int}}
    assert len(calls) == cfg.train.epochs * len(on["loaders"]["train"])


# ---- off by default, reproducible when on ---------------------------------------------------------------

def test_with_everything_off_the_loop_adds_nothing_and_trains_as_before(tones, monkeypatch):
    cfg = tiny(tones)
    prepared = _prep(cfg)
    state = loop.setup_loop(cfg, prepared, CPU)
    assert state["augment"] is None and set(state["generators"]) == {"train", "val", "test"}
    assert type(state["loaders"]["train"].sampler) is RandomSampler
    plain = fit(cfg, prepared, progress=False)

    def never(*args, **kwargs):
        raise AssertionError("augmentation code ran with augmentation off")

    monkeypatch.setattr(augment.ChunkSampler, "__iter__", never)
    monkeypatch.setattr(augment.BatchAugment, "__call__", never)
    monkeypatch.setattr(ChunkDataset, "_augmented", never)
    # Settings that augment nothing (masks of width 0, gain 0) are off too: the same numbers, bit for bit.
    idle = tiny(tones, "augment.specaugment={time_masks: 2, time_width: 0, freq_masks: 0, freq_width: 3}",
                "augment.gain_db=0", "augment.mixup_alpha=0")
    _same_result(fit(idle, prepared, progress=False), plain)


def test_each_augmentation_changes_training(tones):
    prepared = _prep(tiny(tones))
    plain = fit(tiny(tones, "features.normalization=global", epochs=1), prepared, progress=False)
    for sets in (["augment.random_crop=true"], [SPEC], ["augment.mixup_alpha=0.4"], ["augment.gain_db=6"]):
        res = fit(tiny(tones, "features.normalization=global", *sets, epochs=1), prepared, progress=False)
        assert res.history[0]["train_loss"] != plain.history[0]["train_loss"], sets


def test_a_resumed_run_with_every_augmentation_equals_an_uninterrupted_one(tones, tmp_path, monkeypatch):
    cfg = tiny(tones, *EVERYTHING, epochs=3)
    prepared = _prep(cfg)
    reference = fit(cfg, prepared, progress=False)
    n_train = len(prepared.chunk_index("train"))
    calls = {"n": 0}
    real = ChunkDataset._augmented

    def stop_in_epoch_3(self, item):
        calls["n"] += 1
        if calls["n"] == 2 * n_train + 11:  # past epoch 3's first batch: its crops, gains, masks and mixes drawn
            raise KeyboardInterrupt("stop")
        return real(self, item)

    monkeypatch.setattr(ChunkDataset, "_augmented", stop_in_epoch_3)
    with pytest.raises(Interrupted) as stopped:
        fit(cfg, prepared, progress=False)
    monkeypatch.undo()
    ckpt = load_checkpoint(save_checkpoint(stopped.value.checkpoint, tmp_path / "last.pt"))
    assert ckpt["epoch"] == 2 and "augment" in ckpt["rng"]["loaders"]
    _same_result(fit(cfg, prepared, progress=False, resume=ckpt), reference)


def test_worker_processes_load_the_same_augmented_batches(tones):
    cfg = tiny(tones, "augment.random_crop=true", "augment.gain_db=6", "features.normalization=global", epochs=1)
    prepared = _prep(cfg)
    workers = cfg.model_copy(update={"train": cfg.train.model_copy(update={"num_workers": 1})})
    _same_result(fit(workers, prepared, progress=False), fit(cfg, prepared, progress=False))


@pytest.mark.parametrize("normalization", ["per_chunk", "per_band", "global", "none"])
def test_a_batch_read_at_once_equals_its_items_stacked(tones, normalization):
    """`__getitems__` (the loaders' path) gives exactly what collating `__getitem__`'s items gives, for fixed
    chunks and for drawn crops with gains; through `Subset` (the bench's) too."""
    cfg = tiny(tones, f"features.normalization={normalization}")
    train: ChunkDataset = loop.setup_loop(cfg, _prep(cfg), CPU)["ds"]["train"]
    starts = train.last_starts()[[0, 3, 5]] // 2
    crops = [ChunkItem(i, int(s), g) for i, s, g in zip((0, 3, 5), starts, (0.0, 6.0, -3.0), strict=True)]
    for items in ([4, 0, 2, 2], crops):
        batch = train.__getitems__(items)
        stacked = torch.utils.data.default_collate([train[i] for i in items])
        assert batch.x.shape == (len(items), 1, cfg.features.n_mels, train.frames)
        for got, want in zip(batch, stacked, strict=True):
            assert got.dtype == want.dtype and torch.equal(got, want)
    sub = torch.utils.data.Subset(train, [5, 1])
    assert torch.equal(sub.__getitems__([0, 1]).x, torch.stack([train[5][0], train[1][0]]))
