"""What a bench run measures on: the user's settings and the two size profiles (quick for CI, full for a machine)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class ModelBenchSizes:
    """Dataset and repetition counts of one profile: `bench --models` uses these alone (its small dataset only feeds
    the training loop); the harness bench adds its own stages' counts (`BenchSizes`)."""

    genres: int
    tracks_per_genre: int
    seconds: float
    # Training steps (batches) run before timing, timed per repeat, and repeats (the best repeat counts:
    # other processes only ever slow a measurement down).
    warmup_steps: int
    train_steps: int
    repeats: int
    eval_batches: int
    # One matmul peak for the whole bench: every model's FLOP/s is a fraction of the same number.
    matmul_n: int
    matmul_reps: int
    # 30 s files timed for predict after a first call, median of this many.
    predict_repeats: int
    # Steps per timed repeat: at least `train_steps`, more for a cheap model (up to `max_steps`) so that a repeat
    # lasts about `min_repeat_seconds` (models here span six orders of magnitude of MACs: one step of the
    # mel-statistics floor is over before the timer's resolution matters, one of musicnn takes seconds).
    # 0: every timed repeat runs `train_steps` steps.
    min_repeat_seconds: float = 0.0
    max_steps: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class BenchSizes(ModelBenchSizes):
    """The harness bench's profile: the model bench's counts plus extraction, predict and memory stages; only these
    differ between `--quick` and the full bench."""

    # Tracks timed through one extraction worker (a subset: the all-workers figure covers the whole set).
    extract_tracks: int
    # 30 s files written for predict: the first is timed alone, all of them as one batch.
    predict_files: int
    # `--set` overrides of the memory run: a small model, so one epoch over every chunk stays short; the
    # features (what memory-mapping is about) are the experiment's own.
    memory_sets: tuple[str, ...] = ("model.name=vgg_small", "model.channels=[4]", "model.hidden=[]")


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


MODEL_SIZES: dict[str, ModelBenchSizes] = {
    # CI and the tests: every registered model at its --quick size on 24 tracks of 15 s (two 10 s chunks each,
    # so random crops have room; about one batch of training chunks). `--models all`: 37 s wall on 2 CPU cores
    # that another job kept busy (26 s measuring, the rest start-up and MLflow).
    "quick": ModelBenchSizes(genres=4, tracks_per_genre=6, seconds=15, warmup_steps=1, train_steps=1,
                             min_repeat_seconds=0.2, max_steps=10, repeats=2, eval_batches=1, matmul_n=1024,
                             matmul_reps=3, predict_repeats=2),
    # Every model at its full size on the experiment's input: 80 tracks of 30 s (about 280 training chunks). The
    # big models take 0.1 to 0.5 s per training sample on 2 CPU cores, so one step per repeat: 3 x 3 steps of
    # 32 chunks per model (bare, loop, loop with augmentation), then 2 x 128 evaluation chunks. Measured: 19 min
    # 15 s for all ten models on this project's idle 2-core machine, 8 min of it musicnn (0.8 samples/s).
    "full": ModelBenchSizes(genres=10, tracks_per_genre=8, seconds=30, warmup_steps=1, train_steps=1,
                            min_repeat_seconds=1.0, max_steps=50, repeats=2, eval_batches=1, matmul_n=2048,
                            matmul_reps=5, predict_repeats=3),
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
    # `--models`: names or fnmatch patterns (`all`); measure each model's cost instead of the harness stages.
    models: tuple[str, ...] = ()

    @property
    def profile(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def sizes(self) -> BenchSizes:
        return SIZES[self.profile]

    @property
    def model_sizes(self) -> ModelBenchSizes:
        return MODEL_SIZES[self.profile]
