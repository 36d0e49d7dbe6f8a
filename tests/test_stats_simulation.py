"""The report's statistics checked by simulation and against hand computations, never against a copy of their
own resampling code.

The simulated benchmark: 150 test tracks drawn from a population (a track's difficulty is shared by both
systems), each system with its own per-track tendencies (two architectures err on different tracks), and seed
noise: every seed's model gets each track right with its own coin flip, and may train a little better or worse
overall. A comparison is 3 matched seeds of the two systems on one test set.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import expit

from genrebench.report import stats as rstats

TRACKS, SEEDS, SIMS = 150, 3, 1000
MU, SPREAD = 1.2, 1.5  # about 70% accuracy, tracks from easy to hard


def _system(rng, z, tendency, run_sd, shift=0.0):
    """(seeds, tracks) correctness of one system: difficulty + its own per-track tendency + run effect."""
    own = tendency * rng.standard_normal(z.size)
    run = run_sd * rng.standard_normal((SEEDS, 1))
    return rng.random((SEEDS, z.size)) < expit(MU + shift + z + own + run)


def _comparison(rng, tendency, run_sd, shift=0.0):
    z = SPREAD * rng.standard_normal(TRACKS)
    return _system(rng, z, tendency, run_sd), _system(rng, z, tendency, run_sd, shift)


def _true_difference(tendency, run_sd, shift, n=2_000_000):
    """Expected accuracy difference over the population of tracks and seeds, by plain Monte Carlo."""
    rng = np.random.default_rng(99)
    z = SPREAD * rng.standard_normal(n)
    p = [expit(MU + s + z + tendency * rng.standard_normal(n) + run_sd * rng.standard_normal(n))
         for s in (0.0, shift)]
    return float(np.mean(p[1] - p[0]))


def _pooled_mcnemar(a, b) -> float:
    """The old report's test: every (seed, track) cell as an independent paired track, exact McNemar (scipy)."""
    worse, better = int(np.sum(a & ~b)), int(np.sum(~a & b))
    return sps.binomtest(min(worse, better), worse + better, 0.5).pvalue if worse + better else 1.0


def test_equally_good_systems_false_positive_rate_is_at_most_6_percent_and_pooling_fails():
    rng = np.random.default_rng(2026)
    ours = pooled = 0
    for i in range(SIMS):
        a, b = _comparison(rng, tendency=2.0, run_sd=0.0)
        ours += rstats.sign_flip_test(a, b, n_perm=1000, seed=i)["p_value"] < 0.05
        pooled += _pooled_mcnemar(a, b) < 0.05
    # measured: 0.042 for the track-unit test; 0.123 when a track counts once per seed
    assert ours / SIMS <= 0.06
    assert pooled / SIMS > 0.08


def test_two_level_interval_covers_a_known_difference_93_to_97_percent():
    tendency, run_sd, shift = 1.0, 0.05, 0.4
    truth = _true_difference(tendency, run_sd, shift)
    assert 0.04 < truth < 0.07
    rng = np.random.default_rng(7)
    covered = 0
    for i in range(SIMS):
        a, b = _comparison(rng, tendency, run_sd, shift)
        out = rstats.two_level_bootstrap(a, b, n_boot=2000, seed=i)
        covered += out["ci_low"] <= truth <= out["ci_high"]
    assert 0.93 <= covered / SIMS <= 0.97  # measured: 0.955


def test_two_level_bootstrap_values_and_edge_cases():
    a = np.array([[1, 0, 1, 1], [1, 1, 0, 1]], dtype=bool)
    v = np.array([[1, 1, 1, 1], [0, 1, 1, 1]], dtype=bool)
    out = rstats.two_level_bootstrap(a, v)
    assert (out["n_seeds"], out["n_tracks"]) == (2, 4)
    assert out["diff"] == pytest.approx(1 / 8) and out["base_acc"] == 0.75 and out["variant_acc"] == 0.875
    assert out["ci_low"] <= out["diff"] <= out["ci_high"]
    same = rstats.two_level_bootstrap(a, a)
    assert same["diff"] == 0 and (same["ci_low"], same["ci_high"]) == (0.0, 0.0)
    better = rstats.two_level_bootstrap(np.zeros((3, 5), bool), np.ones((3, 5), bool))
    assert better["ci_low"] == better["ci_high"] == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        rstats.two_level_bootstrap(a, v[:, :3])


def test_seed_component_keeps_a_real_seed_effect_and_drops_track_noise():
    """A seed that is better on every track is seed spread; rows that differ by chance on a few tracks are not."""
    shifted = np.zeros((3, 100))
    shifted[0] = 0.2
    assert np.allclose(rstats.seed_component(shifted), shifted.mean(axis=1) - shifted.mean())
    noise = np.zeros((3, 100))
    for seed, (up, down) in enumerate(((5, 4), (4, 5), (5, 4))):  # each seed moves its own few tracks
        noise[seed, 30 * seed:30 * seed + up] = 1
        noise[seed, 30 * seed + up:30 * seed + up + down] = -1
    assert np.allclose(rstats.seed_component(noise), 0)  # seed means differ by one track: noise, not seeds


def _exact_sign_flip(per_track: np.ndarray) -> float:
    """All 2^n sign patterns of the nonzero per-track differences, counted by hand."""
    x = per_track[per_track != 0]
    observed = abs(x.sum())
    patterns = list(itertools.product((-1, 1), repeat=x.size))
    return sum(abs(np.dot(s, x)) >= observed - 1e-12 for s in patterns) / len(patterns)


def test_sign_flip_is_exact_for_few_tracks_and_mcnemar_with_one_seed():
    base = np.array([[1, 0, 0, 1, 0, 1, 1, 0], [1, 0, 1, 1, 0, 0, 1, 1]], dtype=bool)
    var = np.array([[1, 1, 1, 1, 1, 1, 0, 1], [0, 1, 1, 1, 1, 1, 1, 1]], dtype=bool)
    per_track = var.mean(axis=0) - base.mean(axis=0)
    assert rstats.sign_flip_test(base, var)["p_value"] == pytest.approx(_exact_sign_flip(per_track))
    one_base = [True] * 1 + [False] * 9 + [True] * 5
    one_var = [False] * 1 + [True] * 9 + [True] * 5
    out = rstats.sign_flip_test(one_base, one_var)
    assert out["p_value"] == pytest.approx(sps.binomtest(1, 10, 0.5).pvalue) and out["discordant_tracks"] == 10
    assert rstats.sign_flip_test([True, False], [True, False])["p_value"] == 1.0
    assert rstats.verdict(0.0215, 0.5) == "significantly better than the baseline at 5%"
    assert rstats.verdict(0.5, -0.3) == "no significant difference at 5%"


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04); NaN stays NaN
    out = rstats.holm([0.04, 0.01, float("nan"), 0.03])
    assert out[0] == pytest.approx(0.06) and out[1] == pytest.approx(0.03) and np.isnan(out[2])
    assert out[3] == pytest.approx(0.06)
    assert rstats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_corrected_resampled_ttest_by_hand():
    # 5 folds, 800 train / 200 test tracks: mean 0.02, var 0.00025, se = sqrt((1/5 + 1/4) * 0.00025)
    out = rstats.corrected_resampled_ttest([0.01, 0.03, 0.02, 0.0, 0.04], n_train=800, n_test=200)
    se = np.sqrt(0.45 * 0.00025)
    assert out["t"] == pytest.approx(0.02 / se) and out["df"] == 4
    assert out["p_value"] == pytest.approx(0.13242, abs=1e-4)  # 2 * P[t(4) > 1.8856], from t tables
    half = 2.776445 * se  # t(0.975, 4)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((0.02 - half, 0.02 + half), abs=1e-6)
    plain = sps.ttest_1samp([0.01, 0.03, 0.02, 0.0, 0.04], 0.0).pvalue
    assert out["p_value"] > plain  # the overlap correction is what makes folds honest
