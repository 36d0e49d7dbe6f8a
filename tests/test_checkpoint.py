"""Checkpoints: safe loading, atomic writes on a full disk, and exact RNG round trips."""

from __future__ import annotations

import errno
import pickle
import random

import numpy as np
import pytest
import torch

from genrebench.errors import UserError
from genrebench.train import checkpoint as ck


def test_rng_state_round_trip_reproduces_every_stream(tmp_path):
    gens = {"train": torch.Generator().manual_seed(3)}
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    saved = ck.save_checkpoint({"format": ck.CHECKPOINT_FORMAT, "rng": ck.rng_state(gens)}, tmp_path / "c.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item(), torch.randperm(10, generator=gens["train"]))
    ck.set_rng_state(ck.load_checkpoint(saved)["rng"], gens)
    again = (random.random(), np.random.rand(), torch.rand(1).item(), torch.randperm(10, generator=gens["train"]))
    assert expected[:3] == again[:3] and torch.equal(expected[3], again[3])


def test_full_disk_while_saving_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "ckpt" / "last.pt"

    def half_then_full(obj, path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(torch, "save", half_then_full)
    with pytest.raises(UserError, match="no space left.*last.pt"):
        ck.save_checkpoint({"format": ck.CHECKPOINT_FORMAT}, target)
    assert list(target.parent.iterdir()) == []


def test_a_checkpoint_never_unpickles_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"format": ck.CHECKPOINT_FORMAT, "x": Evil()}))
    with pytest.raises(UserError, match="cannot read checkpoint .*evil.pt"):
        ck.load_checkpoint(bad)
    other = tmp_path / "other.pt"
    torch.save({"format": "something else"}, other)
    with pytest.raises(UserError, match="not a genrebench checkpoint"):
        ck.load_checkpoint(other)
