"""Statistics for reports: pure numpy/scipy functions on plain arrays, each checkable by hand.

- `mean_ci`: mean, sample std and a t-based confidence interval over seeds (none for a single seed).
- `paired_bootstrap`: the accuracy difference of two classifiers scored on the same tracks, with a
  percentile bootstrap CI from resampling tracks (pairs kept together), seeded so reports are reproducible.
- `mcnemar_exact`: McNemar's test on the discordant pairs, exact (two-sided binomial), which stays valid
  for the small test sets a genre benchmark has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05
BOOTSTRAP_SAMPLES = 10_000
BOOTSTRAP_SEED = 0
# Resamples are drawn in blocks of about this many indices so memory stays bounded on large test sets;
# numpy's Generator yields the same stream whether drawn at once or in blocks, so results do not change.
_BLOCK_ELEMENTS = 4_000_000


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean, sample std (ddof=1) and the Student-t interval `mean +- t(1-a/2, n-1) * std / sqrt(n)`.

    With one value the std and the interval are NaN: one seed says nothing about seed-to-seed spread.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return {"n": 0, "mean": math.nan, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                "half_width": math.nan}
    mean = float(x.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                "half_width": math.nan}
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "half_width": half}


def _as_bool(correct: Sequence[bool] | np.ndarray) -> np.ndarray:
    return np.asarray(correct, dtype=bool).ravel()


def paired_bootstrap(base_correct: Sequence[bool], variant_correct: Sequence[bool],
                     n_boot: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED,
                     confidence: float = 0.95) -> dict[str, float]:
    """Accuracy difference (variant - baseline) with a percentile bootstrap CI over paired tracks.

    Each resample draws `n` track indices with replacement, `rng.integers(0, n, size=(n_boot, n))` from
    `np.random.default_rng(seed)`, and takes the difference of the two accuracies on the same indices.
    The interval is `np.percentile(diffs, [2.5, 97.5])` for 95%.
    """
    a, b = _as_bool(base_correct), _as_bool(variant_correct)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in length: {a.size} vs {b.size}")
    n = int(a.size)
    if n == 0:
        raise ValueError("paired_bootstrap needs at least one track")
    d = b.astype(float) - a.astype(float)
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_ELEMENTS // n)
    diffs = np.concatenate([d[rng.integers(0, n, size=(min(block, n_boot - i), n))].mean(axis=1)
                            for i in range(0, n_boot, block)])
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return {"n": n, "base_acc": float(a.mean()), "variant_acc": float(b.mean()), "diff": float(d.mean()),
            "ci_low": float(low), "ci_high": float(high), "n_boot": n_boot, "seed": seed}


def mcnemar_exact(base_correct: Sequence[bool], variant_correct: Sequence[bool]) -> dict[str, float]:
    """Exact McNemar test: `b` = baseline right and variant wrong, `c` = the reverse.

    Under the null each discordant track is a fair coin, so p = min(1, 2 * P[Binomial(b + c, 1/2) <= min(b, c)]);
    with no discordant track p = 1.
    """
    a, v = _as_bool(base_correct), _as_bool(variant_correct)
    if a.shape != v.shape:
        raise ValueError(f"paired arrays differ in length: {a.size} vs {v.size}")
    b = int(np.sum(a & ~v))
    c = int(np.sum(~a & v))
    n = b + c
    p = 1.0 if n == 0 else float(min(1.0, 2.0 * stats.binom.cdf(min(b, c), n, 0.5)))
    return {"b": b, "c": c, "discordant": n, "p_value": p}


def verdict(p_value: float, diff: float, alpha: float = ALPHA) -> str:
    """Plain words for a paired test at level `alpha`."""
    level = f"{alpha * 100:g}%"
    if math.isnan(p_value) or p_value >= alpha:
        return f"no significant difference at {level}"
    return f"significantly {'better' if diff > 0 else 'worse'} than the baseline at {level}"
