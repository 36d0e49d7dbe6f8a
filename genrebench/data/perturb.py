"""Audio degradations for robustness evaluation: a registry of perturbations and the SPEC strings naming them.

A perturbation is a function `(y, sample_rate, rng, **params) -> y'` on mono float32 audio, registered with
`@register_perturbation(name, params={...})` (the pattern of `models/_registry.py`: the name is the key, the
docstring's first line the description, a duplicate name is refused). Everything else refers to it by a SPEC:
`name` or `name:param=value,param=value` (`noise:snr=10`, `gain:db=-12`), parsed by `parse_spec` into a
`Perturbation` with every parameter filled in, so `noise` and `noise:snr=20` are the same perturbation, with the
same `slug` and the same cache key.

Libraries, and why: the effects are Spotify's pedalboard (MP3 via LAME, GSM 06.10, Freeverb, Rubber Band pitch
shift and time stretch, gain, clipping), except two:
- `noise` is white Gaussian noise drawn from a seeded `numpy.random.Generator`. audiomentations'
  `AddGaussianSNR` would do the same, but it draws from the global `random` and `numpy.random` state (so
  reproducibility would mean re-seeding process-wide state in every worker) and brings four compiled packages
  (numpy-minmax, numpy-rms, python-stretch, and soxr pinned below 1.0, a downgrade here) for one line of numpy.
- `lowpass` is an 8th-order Butterworth from scipy.signal (48 dB/octave): pedalboard's `LowpassFilter` is
  first-order (6 dB/octave), which at a 4 kHz cutoff takes only 7 dB off 8 kHz, a tilt rather than the lost
  bandwidth the test means; its `LadderFilter` is steeper but saturates (a Moog model), so the result would
  depend on the track's level.

Seeding: `Perturbation.apply` seeds its generator from the perturbation's key and a caller's `seed_material` (the
feature cache passes the audio file's content digest), so one file under one spec always gives bit-identical
output (with one numpy version), and two files get different noise.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import numpy as np

from genrebench.errors import UserError, did_you_mean

PerturbFn = Callable[..., np.ndarray]
_F = TypeVar("_F", bound=PerturbFn)

IDENTITY = "identity"
# Names of perturbations and parameters become parts of slugs and file names.
_NAME = re.compile(r"[a-z][a-z0-9]*")
# The rates LAME encodes (MPEG-1, 2 and 2.5). pedalboard's own error message names only the MPEG-1 three.
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


@dataclass(frozen=True)
class Param:
    """One numeric parameter: its default and the range a value must lie in."""

    default: float
    low: float = -math.inf
    high: float = math.inf
    # `low` itself excluded (a cutoff or a rate of 0 means nothing).
    low_open: bool = False
    # Must also be below sample_rate / 2; checked once the rate is known (`Perturbation.check_rate`).
    below_nyquist: bool = False

    def problem(self, value: float) -> str | None:
        """Why `value` is not allowed, or None."""
        if not math.isfinite(value):
            return "must be a finite number"
        too_low = value <= self.low if self.low_open else value < self.low
        return f"must be {self.range_text()}" if too_low or value > self.high else None

    def range_text(self) -> str:
        """`between 0 and 10`, `> 0`, ... as an error message words it."""
        low, high = _number(self.low), _number(self.high)
        if math.isfinite(self.low) and math.isfinite(self.high):
            return f"> {low} and <= {high}" if self.low_open else f"between {low} and {high}"
        if math.isfinite(self.low):
            return f"> {low}" if self.low_open else f">= {low}"
        return f"<= {high}" if math.isfinite(self.high) else "a finite number"


@dataclass(frozen=True)
class _Registered:
    fn: PerturbFn
    params: dict[str, Param]
    description: str


class PerturbationInfo(NamedTuple):
    """One row of `list_perturbations`: what a CLI listing shows."""

    name: str
    params: dict[str, float]
    description: str


_REGISTRY: dict[str, _Registered] = {}


def register_perturbation(name: str, *, params: dict[str, Param] | None = None) -> Callable[[_F], _F]:
    """Register a perturbation `fn(y, sample_rate, rng, **params) -> y'` under `name`.

    Args:
        name: The SPEC name (lower-case letters and digits: it starts every slug).
        params: Each parameter's default and range; the function must accept each as a keyword.

    Returns:
        A decorator that returns the function unchanged; its docstring's first line is the description.

    Raises:
        ValueError: On a duplicate name (two effects under one name would make two evaluations under one
            label measure different things), a malformed name, or a parameter the function does not take.
    """

    def decorator(fn: _F) -> _F:
        if name in _REGISTRY:
            raise ValueError(f"perturbation {name!r} is already registered")
        spec = dict(params or {})
        accepted = inspect.signature(fn).parameters
        for key in [name, *spec]:
            if not _NAME.fullmatch(key):
                raise ValueError(f"perturbation {name!r}: {key!r} is not lower-case letters and digits")
        missing = [p for p in spec if p not in accepted]
        if missing:
            raise ValueError(f"perturbation {name!r}: {fn.__name__} takes no parameter {', '.join(missing)}")
        doc = inspect.getdoc(fn) or ""
        _REGISTRY[name] = _Registered(fn, spec, doc.splitlines()[0].strip() if doc else "")
        return fn

    return decorator


def list_perturbations() -> list[PerturbationInfo]:
    """(name, parameters with their defaults, one-line description) of every perturbation, by name."""
    return [PerturbationInfo(n, {p: s.default for p, s in r.params.items()}, r.description)
            for n, r in sorted(_REGISTRY.items())]


# ---- SPEC strings and the Perturbation value ---------------------------------------------------------------


def _number(value: float) -> str:
    """A float as a user wrote it: `10`, `0.9`, `-12`; never an exponent (slugs and messages read it)."""
    return np.format_float_positional(value, trim="-")


def _spec_text(name: str, values: dict[str, Any]) -> str:
    items = ",".join(f"{k}={_number(v) if isinstance(v, float) else v}" for k, v in values.items())
    return f"{name}:{items}" if items else name


def _resolve(name: str, values: dict[str, Any], spec: str) -> dict[str, float]:
    """Every parameter of `name` as a float, defaults filled in, in registration order; one-line errors."""
    entry = _REGISTRY.get(name)
    if entry is None:
        known = sorted(_REGISTRY)
        raise UserError(f"unknown perturbation {name!r}{did_you_mean(name, known)} (known: {', '.join(known)})")
    for key in values:
        if key not in entry.params:
            takes = f"{name} takes {', '.join(entry.params)}" if entry.params else f"{name} takes no parameters"
            raise UserError(f"perturbation {spec!r}: unknown parameter {key!r}{did_you_mean(key, entry.params)} "
                            f"({takes})")
    resolved = {}
    for key, param in entry.params.items():
        raw = values.get(key, param.default)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise UserError(f"perturbation {spec!r}: {key} must be a number (got {raw!r})") from None
        if (problem := param.problem(value)) is not None:
            shown = _number(raw) if isinstance(raw, float) else raw
            raise UserError(f"perturbation {spec!r}: {key} {problem} (got {shown})")
        resolved[key] = value + 0.0  # -0.0 -> 0.0: one value, one slug
    return resolved


def _slug_value(value: float) -> str:
    text = _number(value).replace(".", "p")
    return f"_m{text[1:]}" if text.startswith("-") else text


@dataclass(frozen=True)
class Perturbation:
    """A registered perturbation with every parameter set (defaults filled in on construction).

    Build one with `parse_spec("noise:snr=10")`, or `Perturbation("noise", {"snr": 10})`, or from a `key()`
    with `Perturbation.from_key`. Two values with the same name and parameters are equal and share a slug.
    """

    name: str
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        given = dict(self.params)
        object.__setattr__(self, "params", _resolve(self.name, given, _spec_text(self.name, given)))

    def __hash__(self) -> int:
        return hash(self.slug)

    @classmethod
    def from_key(cls, key: dict) -> Perturbation:
        """The perturbation a `key()` describes (how worker processes get it: dicts pickle everywhere)."""
        return cls(key["name"], key.get("params", {}))

    @property
    def is_identity(self) -> bool:
        return self.name == IDENTITY

    @property
    def spec(self) -> str:
        """The canonical SPEC, every parameter spelled out: `noise:snr=20`."""
        return _spec_text(self.name, self.params)

    @property
    def slug(self) -> str:
        """Letters, digits and underscores naming it in file and run names.

        The rule: the name, then per parameter (in registration order) `_`, the parameter's name and its value,
        written without an exponent or trailing zeros, `.` as `p` and a leading `-` as `_m`:
        `noise_snr10`, `stretch_rate0p9`, `gain_db_m12`; a perturbation without parameters is its name.
        """
        return self.name + "".join(f"_{k}{_slug_value(v)}" for k, v in self.params.items())

    def key(self) -> dict:
        """Canonical, JSON-able identity: what cache keys and seeds are computed from."""
        return {"name": self.name, "params": dict(self.params)}

    def check_rate(self, sample_rate: int) -> None:
        """Raise the one-line error a parameter gives at this rate (a cutoff at or above Nyquist)."""
        for key, param in _REGISTRY[self.name].params.items():
            if param.below_nyquist and self.params[key] >= sample_rate / 2:
                raise UserError(f"perturbation {self.spec!r}: {key} must be below the Nyquist frequency "
                                f"{_number(sample_rate / 2)} Hz at sample rate {sample_rate} "
                                f"(got {_number(self.params[key])})")

    def rng(self, seed_material: str) -> np.random.Generator:
        """The generator `apply` uses: seeded from this perturbation's key and `seed_material`."""
        blob = json.dumps(self.key(), sort_keys=True) + "\n" + seed_material
        return np.random.default_rng(int.from_bytes(hashlib.sha256(blob.encode()).digest()[:16], "little"))

    def apply(self, y: np.ndarray, sample_rate: int, seed_material: str) -> np.ndarray:
        """Degrade mono audio `y`; float32, 1-D, finite. The same `seed_material` (a file's content digest)
        gives bit-identical output; `stretch` changes the length, every other perturbation keeps it."""
        self.check_rate(sample_rate)
        x = np.ascontiguousarray(y, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"perturbation {self.spec!r} takes mono 1-D audio, got shape {x.shape}")
        out = _REGISTRY[self.name].fn(x, sample_rate, self.rng(seed_material), **self.params)
        out = np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1))
        if not np.all(np.isfinite(out)):
            raise ValueError(f"perturbation {self.spec!r} produced non-finite samples")
        return out


def parse_spec(spec: str) -> Perturbation:
    """`name` or `name:param=value,...` -> a Perturbation; a UserError naming the spec for anything wrong."""
    text = spec.strip()
    name, colon, rest = text.partition(":")
    if not name.strip():
        raise UserError(f"perturbation spec {spec!r} names no perturbation (e.g. noise or noise:snr=10)")
    values: dict[str, str] = {}
    for item in rest.split(",") if colon and rest.strip() else []:
        key, eq, value = (part.strip() for part in item.partition("="))
        if not eq or not key or not value:
            raise UserError(f"perturbation {text!r}: expected param=value, got {item.strip()!r}")
        if key in values:
            raise UserError(f"perturbation {text!r}: {key} is given twice")
        values[key] = value
    return Perturbation(name.strip(), _resolve(name.strip(), values, text))


# The default robustness suite, every value spelled out so it never moves with a default. The clip threshold,
# -12 dBFS (0.25 of full scale), clips most music: a track at -16 dBFS RMS sends about one sample in ten past it,
# a quieter one at -20 dBFS still a few percent of its peaks; -6 dBFS would leave a quiet track untouched.
DEFAULT_SUITE: tuple[str, ...] = (
    "identity",
    "noise:snr=20", "noise:snr=10",
    "mp3:quality=9",
    "lowpass:cutoff=4000", "lowpass:cutoff=2000",
    "gsm",
    "gain:db=12", "gain:db=-12",
    "reverb:room=0.5",
    "pitch:semitones=2", "pitch:semitones=-2",
    "stretch:rate=0.9", "stretch:rate=1.1",
    "clip:db=-12",
)
SUITES: dict[str, tuple[str, ...]] = {"default": DEFAULT_SUITE}


def parse_specs(specs: Sequence[str] = (), suite: str | None = None) -> list[Perturbation]:
    """The suite's perturbations then those of `specs`, each once (by slug), in that order.

    Raises:
        UserError: On an unknown suite name or a bad spec.
    """
    if suite is not None and suite not in SUITES:
        raise UserError(f"unknown perturbation suite {suite!r}{did_you_mean(suite, SUITES)} "
                        f"(known: {', '.join(SUITES)})")
    chosen: dict[str, Perturbation] = {}
    for spec in [*(SUITES[suite] if suite is not None else ()), *specs]:
        perturbation = parse_spec(spec)
        chosen.setdefault(perturbation.slug, perturbation)
    return list(chosen.values())


# ---- the perturbations ---------------------------------------------------------------------------------------
# Defaults are the first value the default suite uses, so a bare name means what the suite means by it.


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad to `n` samples. pedalboard already removes a codec's delay (it compensates the latency
    its plugins report), but its contract allows a plugin to return fewer samples than it was given."""
    y = np.asarray(y, dtype=np.float32).reshape(-1)[:n]
    return np.pad(y, (0, n - len(y))) if len(y) < n else y


def _resample(y: np.ndarray, orig: int, target: int) -> np.ndarray:
    import librosa

    return y if orig == target else librosa.resample(y, orig_sr=orig, target_sr=target)


@register_perturbation(IDENTITY)
def identity(y: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """The clean audio, unchanged: the baseline every other score is compared with."""
    return y


@register_perturbation("noise", params={"snr": Param(20.0)})
def noise(y: np.ndarray, sample_rate: int, rng: np.random.Generator, snr: float) -> np.ndarray:
    """White Gaussian noise at `snr` dB below the track's mean power."""
    if y.size == 0:
        return y
    white = rng.standard_normal(y.size)
    signal_power = float(np.mean(np.square(y, dtype=np.float64)))
    # Scaled by the draw's own power, not its expectation, so the SNR is exact on every track, short ones too.
    scale = math.sqrt(signal_power / 10 ** (snr / 10) / float(np.mean(np.square(white))))
    return (y + scale * white).astype(np.float32)


@register_perturbation("mp3", params={"quality": Param(9.0, 0.0, 9.999)})
def mp3(y: np.ndarray, sample_rate: int, rng: np.random.Generator, quality: float) -> np.ndarray:
    """MP3 encode and decode (LAME VBR; quality 0 best to 9.999 worst) at the track's rate or the next MP3 rate."""
    from pedalboard import MP3Compressor

    # LAME refuses rates outside MPEG's list: encode at the next one up (48 kHz above it) and come back.
    rate = next((r for r in _MP3_RATES if r >= sample_rate), _MP3_RATES[-1])
    coded = MP3Compressor(vbr_quality=quality)(_resample(y, sample_rate, rate), rate)
    return _fit_length(_resample(coded, rate, sample_rate), y.size)


@register_perturbation("lowpass", params={"cutoff": Param(4000.0, 0.0, low_open=True, below_nyquist=True)})
def lowpass(y: np.ndarray, sample_rate: int, rng: np.random.Generator, cutoff: float) -> np.ndarray:
    """8th-order Butterworth low-pass (scipy; -3 dB at `cutoff` Hz, 48 dB/octave): lost bandwidth."""
    from scipy.signal import butter, sosfilt

    sos = butter(8, cutoff, btype="low", fs=sample_rate, output="sos")
    return sosfilt(sos, y).astype(np.float32)


@register_perturbation("gsm")
def gsm(y: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """GSM 06.10 full-rate codec (a 2G phone line: 8 kHz, speech-tuned) encode and decode."""
    from pedalboard import GSMFullRateCompressor

    return _fit_length(GSMFullRateCompressor()(y, sample_rate), y.size)


@register_perturbation("gain", params={"db": Param(12.0, -60.0, 60.0)})
def gain(y: np.ndarray, sample_rate: int, rng: np.random.Generator, db: float) -> np.ndarray:
    """Level change by `db` decibels; float samples, so nothing clips (see `clip` for that)."""
    from pedalboard import Gain

    return Gain(gain_db=db)(y, sample_rate)


@register_perturbation("reverb", params={"room": Param(0.5, 0.0, 1.0)})
def reverb(y: np.ndarray, sample_rate: int, rng: np.random.Generator, room: float) -> np.ndarray:
    """Freeverb room reverb (room size 0-1; pedalboard's wet 0.33, dry 0.4), the tail cut at the track's end."""
    from pedalboard import Reverb

    return Reverb(room_size=room)(y, sample_rate)


@register_perturbation("pitch", params={"semitones": Param(2.0, -72.0, 72.0)})
def pitch(y: np.ndarray, sample_rate: int, rng: np.random.Generator, semitones: float) -> np.ndarray:
    """Pitch shift by `semitones` (Rubber Band), same length and tempo."""
    from pedalboard import PitchShift

    return _fit_length(PitchShift(semitones=semitones)(y, sample_rate), y.size)


@register_perturbation("stretch", params={"rate": Param(0.9, 0.1, 10.0)})
def stretch(y: np.ndarray, sample_rate: int, rng: np.random.Generator, rate: float) -> np.ndarray:
    """Tempo change by `rate` (Rubber Band), pitch kept: rate 0.9 is slower and 1/0.9 times as long."""
    from pedalboard import time_stretch

    return time_stretch(y, sample_rate, stretch_factor=rate)


@register_perturbation("clip", params={"db": Param(-12.0, -60.0, 0.0)})
def clip(y: np.ndarray, sample_rate: int, rng: np.random.Generator, db: float) -> np.ndarray:
    """Hard clipping at `db` dBFS: every sample beyond the threshold is cut to it."""
    from pedalboard import Clipping

    return Clipping(threshold_db=db)(y, sample_rate)
