"""Does a score mean anything? Chance level, the interval of a test accuracy, and splits too small to judge.

A `--quick` run on a tiny dataset can score exactly what guessing would, and a test split of 20 tracks moves
accuracy by 0.05 per track. The run summary says so, in numbers, instead of letting 0.10 or 0.95 pass as a
result. Accuracy here is per track (what `test_track_acc` counts), so every count is of tracks, not chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

# Fewer tracks than this per class in a split, and one track moves that class's recall by more than 20 %:
# per-class scores (macro-F1, the confusion matrix) are then mostly noise.
MIN_TRACKS_PER_CLASS = 5
# Fewer training chunks than this per class and a network of any size memorises them.
MIN_TRAIN_CHUNKS_PER_CLASS = 20
LEVEL = 0.95


@dataclass(frozen=True)
class SplitCounts:
    """Tracks per label in each split, and training chunks per label: what the notes are computed from."""

    tracks: dict[str, dict[str, int]]  # {label: {"train": n, "val": n, "test": n}}
    train_chunks: dict[str, int]  # {label: n}

    @property
    def classes(self) -> int:
        return len(self.tracks)

    def total(self, split: str) -> int:
        return sum(c[split] for c in self.tracks.values())

    def chance(self) -> float:
        """The accuracy of always answering the most common test label: 1 / classes on a balanced split."""
        n = self.total("test")
        return max(c["test"] for c in self.tracks.values()) / n if n else 0.0


def accuracy_interval(accuracy: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of an accuracy measured on `n` tracks (exact counts: `accuracy * n` correct)."""
    from scipy.stats import binomtest

    correct = round(accuracy * n)
    ci = binomtest(correct, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def at_chance(accuracy: float, counts: SplitCounts, level: float = LEVEL) -> bool:
    """True when the test accuracy's interval reaches down to chance: it cannot be told apart from guessing."""
    n = counts.total("test")
    return n == 0 or accuracy_interval(accuracy, n, level)[0] <= counts.chance()


def accuracy_note(accuracy: float, counts: SplitCounts) -> str:
    """`0.100 (95% CI 0.03-0.30 on 20 tracks; chance for 10 classes is 0.10: at chance level)` or the same
    without the verdict when the score is clear of chance."""
    n = counts.total("test")
    if n == 0:
        return "no test tracks"
    lo, hi = accuracy_interval(accuracy, n)
    verdict = ": at chance level" if at_chance(accuracy, counts) else ""
    return (f"{accuracy:.3f} ({LEVEL:.0%} CI {lo:.2f}-{hi:.2f} on {n} tracks; chance for {counts.classes} "
            f"classes is {counts.chance():.2f}{verdict})")


def size_notes(counts: SplitCounts) -> list[str]:
    """One line per split too small to mean much, naming the smallest class and what it costs."""
    notes = []
    for split in ("train", "val", "test"):
        label, n = min(((lab, c[split]) for lab, c in counts.tracks.items()), key=lambda x: x[1])
        if n < MIN_TRACKS_PER_CLASS:
            total = counts.total(split)
            step = f"; one track moves its accuracy by {1 / total:.2f}" if split != "train" and total else ""
            notes.append(f"{split} split has only {n} track(s) of {label!r} (fewer than {MIN_TRACKS_PER_CLASS} per "
                         f"class){step}: too few for per-class scores to mean much")
    if counts.train_chunks:
        label, n = min(counts.train_chunks.items(), key=lambda x: x[1])
        if n < MIN_TRAIN_CHUNKS_PER_CLASS:
            notes.append(f"train split has only {n} chunk(s) of {label!r} (fewer than {MIN_TRAIN_CHUNKS_PER_CLASS} "
                         "per class): the model can memorise them")
    return notes
