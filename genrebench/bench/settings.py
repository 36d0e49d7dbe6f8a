"""What a bench run measures on: the user's settings and the two size profiles (quick for CI, full for a machine)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class BenchSizes:
    """Dataset and repetition counts of one profile; only these differ between `--quick` and the full bench."""

    genres: int
    tracks_per_genre: int
    seconds: float
    # Tracks timed through one extraction worker (a subset: the all-workers figure covers the whole set).
    extract_tracks: int
    # Training steps (batches) run before timing, timed per repeat, and repeats (the best repeat counts:
    # other processes only ever slow a measurement down).
    warmup_steps: int
    train_steps: int
    repeats: int
    eval_batches: int
    matmul_n: int
    matmul_reps: int
    # 30 s files written for predict: the first is timed alone, all of them as one batch.
    predict_files: int
    predict_repeats: int
    # `--set` overrides of the memory run: a small model, so one epoch over every chunk stays short; the
    # features (what memory-mapping is about) are the experiment's own.
    memory_sets: tuple[str, ...] = ("model.name=vgg_small", "model.channels=[4]", "model.hidden=[]")

    def as_dict(self) -> dict:
        return asdict(self)


SIZES: dict[str, BenchSizes] = {
    # A smoke test for CI: a few 10 s tracks, the quick model, every stage exercised in well under a minute.
    "quick": BenchSizes(genres=4, tracks_per_genre=4, seconds=10, extract_tracks=16, warmup_steps=1,
                        train_steps=3, repeats=2, eval_batches=2, matmul_n=1024, matmul_reps=3,
                        predict_files=4, predict_repeats=3),
    # GTZAN's size (10 genres x 100 tracks x 30 s); step counts sized for about 5 minutes on 2 CPU cores
    # (audio generation included; measured 5.0 min).
    "full": BenchSizes(genres=10, tracks_per_genre=100, seconds=30, extract_tracks=100, warmup_steps=2,
                       train_steps=3, repeats=3, eval_batches=2, matmul_n=2048, matmul_reps=5,
                       predict_files=8, predict_repeats=5),
}


@dataclass(frozen=True)
class BenchSettings:
    """The `genrebench bench` options."""

    quick: bool = False
    device: str = "auto"
    # The experiment whose model, features and batch size are measured (NAME or PATH.yaml).
    experiment: str = "baseline"
    # Generated audio is kept here and reused by later bench runs; None: a temp folder, removed afterwards.
    work_dir: Path | None = None
    tracking_uri: str | None = None

    @property
    def profile(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def sizes(self) -> BenchSizes:
        return SIZES[self.profile]
