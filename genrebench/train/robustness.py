"""Robustness: a trained model's test tracks re-scored under audio degradations (`genrebench evaluate`, and the
`evaluate:` section of a run).

A perturbation (`genrebench.data.perturb`) degrades each test track's audio before its log-mel. The degraded mels
are cached like clean ones (keyed by content + perturbation + parameters, extracted by worker processes), then
scored exactly as `fit` scores the clean test split: the same chunk layout, the training split's normalizer from
the model bundle, the same weights, memory format, eval batch size and temperature. `identity` reads the clean
cache and the run's own chunks, so its row is the run's `test_track_acc`, bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch

from genrebench.config import ExperimentConfig
from genrebench.data.cache import FeatureCache, default_cache_dir
from genrebench.data.dataset import ChunkDataset
from genrebench.data.embed import embed_entries
from genrebench.data.features import Normalizer, chunk_layout, create_normalizer, min_samples
from genrebench.data.perturb import IDENTITY, Perturbation, parse_spec, parse_specs
from genrebench.data.prepare import PreparedData, extract_features
from genrebench.errors import UserError
from genrebench.progress import duration, line
from genrebench.train.bundle import model_from_bundle
from genrebench.train.loop import make_loader, predict_chunks, split_at
from genrebench.train.result import SplitEval

# robustness.csv, column for column (the contract: reports and the leaderboard read these names).
COLUMNS = ("perturbation", "test_track_acc", "test_macro_f1", "n_tracks", "delta_vs_identity")


@dataclass(frozen=True)
class RobustRow:
    """One perturbation's scores on the test tracks: `perturbation` is its slug (`noise_snr10`), `spec` the SPEC
    it came from, `delta_vs_identity` its track accuracy minus the clean one (negative: a drop)."""

    perturbation: str
    spec: str
    test_track_acc: float
    test_macro_f1: float
    n_tracks: int
    delta_vs_identity: float
    decoded: int
    seconds: float

    def cells(self) -> list:
        return [self.perturbation, self.test_track_acc, self.test_macro_f1, self.n_tracks, self.delta_vs_identity]


@dataclass
class Scorer:
    """What scores a split as `fit` scores test: the bundle's model and normalizer, the run's temperature (None
    when it calibrated nothing, so the softmax is the model's own), eval batch size, loader workers, device."""

    model: torch.nn.Module
    normalizer: Normalizer
    temperature: float | None
    batch_size: int
    workers: int
    device: torch.device

    @classmethod
    def from_bundle(cls, bundle: dict, cfg: ExperimentConfig, device: torch.device) -> Scorer:
        model = model_from_bundle(bundle).to(device)
        if cfg.train.channels_last:  # fit's memory format: the convolutions then sum in the same order
            model = model.to(memory_format=torch.channels_last)
        state = bundle["normalizer"]
        temperature = float(bundle["temperature"]) if cfg.train.calibrate == "temperature" else None
        return cls(model, create_normalizer(state["name"], state), temperature, cfg.train.eval_batch_size,
                   cfg.train.num_workers, device)

    def score(self, data: PreparedData) -> SplitEval:
        loader = make_loader(ChunkDataset(data, "test", self.normalizer), self.batch_size, False,
                             torch.Generator().manual_seed(0), self.workers, self.device)
        return split_at(predict_chunks(self.model, loader, self.device), data, self.temperature)


def perturbations_of(cfg: ExperimentConfig, specs: list[str] | tuple[str, ...] = (),
                     suite: str | None = None) -> list[Perturbation]:
    """`identity` first (the reference every delta is taken against), then the suite's, then the SPECs', each
    once; with neither given, the experiment's own `evaluate:` section."""
    if suite is None and not specs:
        suite, specs = cfg.evaluate.suite, cfg.evaluate.perturb
    chosen = parse_specs(specs, suite)
    identity = parse_spec(IDENTITY)
    return [identity, *(p for p in chosen if not p.is_identity)]


def clean_test_split(prepared: PreparedData) -> PreparedData:
    """The test split alone, as the run scored it: its tracks, clean entries and chunk starts."""
    ids = prepared.track_ids("test")
    return replace(prepared, tracks=[prepared.tracks[i] for i in ids], entries=[prepared.entries[i] for i in ids],
                   splits=["test"] * len(ids), starts=[prepared.starts[i] for i in ids], report=[], twin_report=[])


def degraded(clean: PreparedData, cfg: ExperimentConfig, perturbation: Perturbation,
             progress: bool) -> tuple[PreparedData, int]:
    """The test tracks under `perturbation`, cut into chunks anew (a stretched track is longer or shorter), and
    how many files were decoded for it (0 on a warm cache)."""
    if perturbation.is_identity:
        return clean, 0
    data, feat = cfg.data, cfg.features
    cache = FeatureCache(default_cache_dir(data.cache_dir), data.audio, feat, perturbation)
    extracted = extract_features([t.path for t in clean.tracks], cache, data.workers, progress)
    shortest = min_samples(data.audio, feat)
    layout = chunk_layout(feat, data.audio.sample_rate)
    starts = []
    for track, entry in zip(clean.tracks, extracted["entries"], strict=True):
        where = f"{clean.tracklist.relpath(track)} under {perturbation.spec}"
        if entry.problem is not None:
            raise UserError(f"{where}: {entry.problem.reason} ({entry.problem.detail})")
        starts.append(layout.starts(entry.n_samples, shortest))
        if not starts[-1]:
            raise UserError(f"{where}: {entry.n_samples / data.audio.sample_rate:.2f} s is too short to chunk")
    entries = extracted["entries"]
    if feat.embeds:  # the degraded mels (or audio) through the run's front-end, cached under the perturbation
        entries, _ = embed_entries([t.path for t in clean.tracks], entries, data, feat, cfg.train.device, progress,
                                   perturbation)
        starts = [[s // layout.stride for s in track_starts] for track_starts in starts]
    return replace(clean, entries=entries, starts=starts), extracted["decoded"]


def evaluate_robustness(scorer: Scorer, cfg: ExperimentConfig, prepared: PreparedData,
                        perturbations: list[Perturbation], progress: bool = True) -> list[RobustRow]:
    """One row per perturbation (`identity` must come first: `perturbations_of` puts it there), each with its
    difference from `identity`'s track accuracy. A line per perturbation on stderr, unless quiet."""
    if not perturbations or not perturbations[0].is_identity:
        raise ValueError("evaluate_robustness needs identity as its first perturbation")
    clean = clean_test_split(prepared)
    rows: list[RobustRow] = []
    for i, perturbation in enumerate(perturbations, start=1):
        start = time.perf_counter()
        data, decoded = degraded(clean, cfg, perturbation, progress)
        ev = scorer.score(data)
        acc = ev.metrics["track_acc"]
        reference = rows[0].test_track_acc if rows else acc
        rows.append(RobustRow(perturbation.slug, perturbation.spec, acc, ev.metrics["track_macro_f1"],
                              len(ev.track_ids), acc - reference, decoded, time.perf_counter() - start))
        if progress:
            line(f"robustness {i}/{len(perturbations)} {perturbation.slug}: test track acc {acc:.3f} "
                 f"({acc - reference:+.3f}), {decoded} file(s) decoded, {duration(rows[-1].seconds)}")
    return rows

