"""Audio perturbations for robustness evaluation: SPEC parsing, slugs, errors, determinism, what each effect does
(checked against an independent measurement), and the feature cache keyed on the perturbation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SR, make_folder, tone, write_audio

from genrebench.config import AudioConfig, FeatureConfig
from genrebench.data import cache as cache_mod
from genrebench.data.cache import FeatureCache, params_key
from genrebench.data.perturb import (
    DEFAULT_SUITE,
    SUITES,
    Param,
    Perturbation,
    list_perturbations,
    parse_spec,
    parse_specs,
    register_perturbation,
)
from genrebench.data.prepare import extract_features
from genrebench.errors import UserError

FEAT = FeatureConfig(chunk_seconds=1.0, n_mels=16)
NAMES = [row.name for row in list_perturbations()]


def sines(seconds: float = 2.0, freqs: tuple[float, ...] = (220.0, 440.0, 1000.0), sr: int = SR,
          amp: float = 0.3, seed: int = 0) -> np.ndarray:
    """A few sines plus a little noise: broadband enough for codecs, never silent."""
    t = np.arange(int(round(seconds * sr))) / sr
    y = sum(amp / len(freqs) * np.sin(2 * np.pi * f * t) for f in freqs)
    return (y + 0.005 * np.random.default_rng(seed).standard_normal(t.size)).astype(np.float32)


def power(y: np.ndarray) -> float:
    return float(np.mean(np.square(y, dtype=np.float64)))


def band_energy(y: np.ndarray, low: float, high: float, sr: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(y.size, 1 / sr)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


# ---- specs, slugs, errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "slug", "params"), [
    ("identity", "identity", {}),
    ("noise:snr=10", "noise_snr10", {"snr": 10.0}),
    ("noise", "noise_snr20", {"snr": 20.0}),
    ("mp3:quality=9", "mp3_quality9", {"quality": 9.0}),
    ("gain:db=-12", "gain_db_m12", {"db": -12.0}),
    ("gain:db=+12", "gain_db12", {"db": 12.0}),
    ("gain:db=-0", "gain_db0", {"db": 0.0}),
    ("stretch:rate=0.9", "stretch_rate0p9", {"rate": 0.9}),
    ("pitch:semitones=-2.5", "pitch_semitones_m2p5", {"semitones": -2.5}),
    (" lowpass : cutoff = 2e3 ", "lowpass_cutoff2000", {"cutoff": 2000.0}),
    ("gsm", "gsm", {}),
    ("gsm:", "gsm", {}),
    ("clip:db=-0.000001", "clip_db_m0p000001", {"db": -1e-6}),
])
def test_spec_parses_to_full_params_and_slug(spec, slug, params):
    p = parse_spec(spec)
    assert p.slug == slug and p.params == params
    assert all(c.isalnum() or c == "_" for c in p.slug)
    # The canonical spec parses back to the same perturbation, and the key survives JSON.
    assert parse_spec(p.spec) == p and Perturbation.from_key(json.loads(json.dumps(p.key()))) == p


def test_same_meaning_same_slug_key_and_hash():
    spellings = ["noise", "noise:snr=20", "noise:snr=20.0", "noise:snr=2e1", "noise: snr=+20"]
    perturbations = [parse_spec(s) for s in spellings] + [Perturbation("noise"), Perturbation("noise", {"snr": 20})]
    assert {p.slug for p in perturbations} == {"noise_snr20"}
    assert {json.dumps(p.key(), sort_keys=True) for p in perturbations} == {
        '{"name": "noise", "params": {"snr": 20.0}}'}
    assert len(set(perturbations)) == 1
    assert parse_spec("noise:snr=10") != parse_spec("noise:snr=20")


def test_default_suite_order_and_dedup():
    slugs = [p.slug for p in parse_specs(suite="default")]
    assert slugs == ["identity", "noise_snr20", "noise_snr10", "mp3_quality9", "lowpass_cutoff4000",
                     "lowpass_cutoff2000", "gsm", "gain_db12", "gain_db_m12", "reverb_room0p5", "pitch_semitones2",
                     "pitch_semitones_m2", "stretch_rate0p9", "stretch_rate1p1", "clip_db_m12"]
    assert SUITES == {"default": DEFAULT_SUITE}
    # Suite first, then the specs; a spec meaning a suite member (or another spec) is dropped.
    more = parse_specs(["noise:snr=10.0", "noise:snr=5", "gsm", "reverb", "noise:snr=5"], "default")
    assert [p.slug for p in more] == [*slugs, "noise_snr5"]
    assert [p.slug for p in parse_specs(["gain:db=3", "identity"])] == ["gain_db3", "identity"]
    assert parse_specs() == []


@pytest.mark.parametrize(("spec", "message"), [
    ("nosie", "unknown perturbation 'nosie'; did you mean noise? (known: clip, gain, gsm, identity, lowpass, mp3, "
              "noise, pitch, reverb, stretch)"),
    ("xyzzy:a=1", "unknown perturbation 'xyzzy' (known: clip, gain, gsm, identity, lowpass, mp3, noise, pitch, "
                  "reverb, stretch)"),
    ("noise:sn=3", "perturbation 'noise:sn=3': unknown parameter 'sn'; did you mean snr? (noise takes snr)"),
    ("gsm:quality=2", "perturbation 'gsm:quality=2': unknown parameter 'quality' (gsm takes no parameters)"),
    ("mp3:quality=11", "perturbation 'mp3:quality=11': quality must be between 0 and 9.999 (got 11)"),
    ("mp3:quality=-1", "perturbation 'mp3:quality=-1': quality must be between 0 and 9.999 (got -1)"),
    ("noise:snr=ten", "perturbation 'noise:snr=ten': snr must be a number (got 'ten')"),
    ("noise:snr=nan", "perturbation 'noise:snr=nan': snr must be a finite number (got nan)"),
    ("gain:db=inf", "perturbation 'gain:db=inf': db must be a finite number (got inf)"),
    ("stretch:rate=0", "perturbation 'stretch:rate=0': rate must be between 0.1 and 10 (got 0)"),
    ("stretch:rate=-1", "perturbation 'stretch:rate=-1': rate must be between 0.1 and 10 (got -1)"),
    ("lowpass:cutoff=0", "perturbation 'lowpass:cutoff=0': cutoff must be > 0 (got 0)"),
    ("reverb:room=2", "perturbation 'reverb:room=2': room must be between 0 and 1 (got 2)"),
    ("clip:db=3", "perturbation 'clip:db=3': db must be between -60 and 0 (got 3)"),
    ("noise:snr", "perturbation 'noise:snr': expected param=value, got 'snr'"),
    ("noise:snr=", "perturbation 'noise:snr=': expected param=value, got 'snr='"),
    ("noise:snr=1,snr=2", "perturbation 'noise:snr=1,snr=2': snr is given twice"),
    ("", "perturbation spec '' names no perturbation (e.g. noise or noise:snr=10)"),
    (":snr=1", "perturbation spec ':snr=1' names no perturbation (e.g. noise or noise:snr=10)"),
])
def test_bad_spec_is_one_line_user_error(spec, message):
    with pytest.raises(UserError) as err:
        parse_spec(spec)
    assert str(err.value) == message and "\n" not in message


def test_direct_construction_is_checked_too():
    expected = r"^perturbation 'mp3:quality=12': quality must be between 0 and 9\.999 \(got 12\)$"
    with pytest.raises(UserError, match=expected):
        Perturbation("mp3", {"quality": 12.0})
    with pytest.raises(UserError, match="unknown perturbation 'nosie'; did you mean noise"):
        Perturbation.from_key({"name": "nosie", "params": {}})


def test_unknown_suite_and_bad_spec_in_list():
    with pytest.raises(UserError, match=r"^unknown perturbation suite 'defualt'; did you mean default\? "
                                        r"\(known: default\)$"):
        parse_specs(["noise"], "defualt")
    with pytest.raises(UserError, match="unknown perturbation 'nosie'"):
        parse_specs(["noise", "nosie"], "default")


def test_cutoff_at_or_above_nyquist_fails_at_apply_and_cache_time(tmp_path):
    too_high = parse_spec("lowpass:cutoff=11025")
    message = ("perturbation 'lowpass:cutoff=11025': cutoff must be below the Nyquist frequency 11025 Hz at "
               "sample rate 22050 (got 11025)")
    with pytest.raises(UserError) as err:
        too_high.apply(sines(0.1), SR, "x")
    assert str(err.value) == message
    with pytest.raises(UserError, match="below the Nyquist frequency 8000 Hz at sample rate 16000"):
        FeatureCache(tmp_path, AudioConfig(sample_rate=16000), FEAT, parse_spec("lowpass:cutoff=9000"))
    assert parse_spec("lowpass:cutoff=11000").apply(sines(0.1), SR, "x").shape == (2205,)


def test_registry_refuses_duplicates_and_malformed_names():
    with pytest.raises(ValueError, match="'noise' is already registered"):
        register_perturbation("noise")(lambda y, sample_rate, rng: y)
    with pytest.raises(ValueError, match="'Bad_Name' is not lower-case letters and digits"):
        register_perturbation("Bad_Name")(lambda y, sample_rate, rng: y)
    with pytest.raises(ValueError, match="takes no parameter level"):
        register_perturbation("mismatch", params={"level": Param(1.0)})(lambda y, sample_rate, rng: y)
    assert "mismatch" not in [row.name for row in list_perturbations()]


def test_listing_has_every_perturbation_with_defaults_and_description():
    rows = list_perturbations()
    assert [r.name for r in rows] == sorted(["identity", "noise", "mp3", "lowpass", "gsm", "gain", "reverb", "pitch",
                                             "stretch", "clip"])
    for name, params, description in rows:
        assert description and "\n" not in description
        assert Perturbation(name).params == params  # the listed defaults are valid and complete


# ---- every perturbation: contract and determinism --------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_perturbation_returns_finite_mono_float32_deterministically(name):
    y = sines(1.5)
    p = Perturbation(name)
    out = p.apply(y, SR, "digest-a")
    assert out.dtype == np.float32 and out.ndim == 1 and np.all(np.isfinite(out))
    if name != "stretch":
        assert out.size == y.size
    np.testing.assert_array_equal(out, p.apply(y, SR, "digest-a"))
    np.testing.assert_array_equal(y, sines(1.5))  # the input is never written to
    if name != "identity":
        assert not np.array_equal(out, y)


def test_identity_returns_the_input():
    y = sines(0.5)
    np.testing.assert_array_equal(parse_spec("identity").apply(y, SR, "d"), y)


def test_noise_differs_per_seed_material_and_per_spec():
    y = sines(1.0)
    p = parse_spec("noise:snr=10")
    a, b = p.apply(y, SR, "file-a"), p.apply(y, SR, "file-b")
    assert not np.array_equal(a, b)
    # Another SNR is another draw too (the key seeds), not the same noise scaled.
    c = parse_spec("noise:snr=20").apply(y, SR, "file-a")
    residual_a, residual_c = (a - y).astype(np.float64), (c - y).astype(np.float64)
    assert abs(np.corrcoef(residual_a, residual_c)[0, 1]) < 0.1


# ---- what each one does, measured independently ----------------------------------------------------------------


@pytest.mark.parametrize("snr", [20.0, 10.0, 0.0, -5.0])
def test_noise_has_the_asked_snr(snr):
    y = sines(2.0)
    out = parse_spec(f"noise:snr={snr}").apply(y, SR, "d")
    added = out.astype(np.float64) - y
    assert 10 * np.log10(power(y) / power(added)) == pytest.approx(snr, abs=0.5)
    # White: the added noise is flat, about as much power above 5.5 kHz as below (Nyquist 11025 Hz).
    assert band_energy(added, 5512.5, SR / 2) / band_energy(added, 0, 5512.5) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("db", [-12.0, 12.0])
def test_gain_scales_rms_without_clipping(db):
    y = sines(1.0, amp=0.9)
    out = parse_spec(f"gain:db={db}").apply(y, SR, "d")
    assert np.sqrt(power(out) / power(y)) == pytest.approx(10 ** (db / 20), rel=1e-4)
    assert np.max(np.abs(out)) == pytest.approx(np.max(np.abs(y)) * 10 ** (db / 20), rel=1e-4)
    if db > 0:
        assert np.max(np.abs(out)) > 1.0


def test_lowpass_removes_energy_above_the_cutoff():
    y = sines(2.0, freqs=(440.0, 6000.0))
    out = parse_spec("lowpass:cutoff=2000").apply(y, SR, "d")
    assert band_energy(out, 3000, SR / 2) < 1e-3 * band_energy(y, 3000, SR / 2)
    assert band_energy(out, 400, 480) == pytest.approx(band_energy(y, 400, 480), rel=0.05)


@pytest.mark.parametrize("db", [-12.0, -6.0])
def test_clip_bounds_the_peak_at_the_threshold(db):
    y = sines(1.0, amp=0.9)
    threshold = 10 ** (db / 20)
    out = parse_spec(f"clip:db={db}").apply(y, SR, "d")
    assert np.max(np.abs(out)) == pytest.approx(threshold, rel=1e-4)
    below = np.abs(y) < 0.9 * threshold
    np.testing.assert_allclose(out[below], y[below], atol=1e-6)  # hard clipping leaves the rest alone


@pytest.mark.parametrize("rate", [0.9, 1.1, 2.0])
def test_stretch_changes_length_by_one_over_rate(rate):
    y = sines(2.0)
    out = parse_spec(f"stretch:rate={rate}").apply(y, SR, "d")
    # pedalboard's stretch_factor is a speed: 2.0 halves the length (like librosa's `rate`).
    assert out.size == pytest.approx(y.size / rate, rel=0.01)


@pytest.mark.parametrize(("semitones", "expected"), [(2.0, 440 * 2 ** (2 / 12)), (-2.0, 440 * 2 ** (-2 / 12))])
def test_pitch_moves_the_spectral_peak(semitones, expected):
    y = sines(3.0, freqs=(440.0,))
    out = parse_spec(f"pitch:semitones={semitones}").apply(y, SR, "d")
    steady = out[SR // 2:]  # past the shifter's start-up
    freqs = np.fft.rfftfreq(steady.size, 1 / SR)
    peak = freqs[np.argmax(np.abs(np.fft.rfft(steady)))]
    assert peak == pytest.approx(expected, abs=3.0)


def test_reverb_adds_a_tail_after_the_sound_stops():
    y = sines(1.0)
    y[SR // 2:] = 0.0
    out = parse_spec("reverb").apply(y, SR, "d")
    tail = slice(SR // 2 + SR // 20, SR)  # 50 ms after the last sample of sound
    assert power(out[tail]) > 1e-3 * power(y[: SR // 2])
    assert parse_spec("reverb:room=0.9").apply(y, SR, "d")[tail].std() > out[tail].std()


@pytest.mark.parametrize(("spec", "sample_rate"), [("mp3:quality=9", SR), ("mp3:quality=2", 44100),
                                                   ("mp3:quality=9", 20000), ("gsm", SR), ("gsm", 16000)])
def test_codecs_keep_length_and_resemble_the_input(spec, sample_rate):
    y = tone(2.0, 220.0, sr=sample_rate)
    out = parse_spec(spec).apply(y, sample_rate, "d")
    assert out.size == y.size
    assert not np.allclose(out, y, atol=1e-4)
    # Aligned (no encoder delay left): correlated sample for sample.
    assert np.corrcoef(out, y)[0, 1] > 0.8


@pytest.mark.parametrize(("spec", "sample_rate"), [("mp3:quality=9", SR), ("mp3:quality=9", 20000), ("gsm", SR)])
def test_codecs_leave_no_encoder_delay(spec, sample_rate):
    from scipy.signal import correlate, correlation_lags

    # Broadband noise between silences: its cross-correlation peaks sharply at the codec's delay.
    y = (0.1 * np.random.default_rng(1).standard_normal(2 * sample_rate)).astype(np.float32)
    y[: sample_rate // 4] = y[-sample_rate // 4:] = 0.0
    out = parse_spec(spec).apply(y, sample_rate, "d")
    lags = correlation_lags(out.size, y.size)
    window = np.abs(lags) <= 4000
    assert lags[window][np.argmax(correlate(out, y)[window])] == 0


def test_mp3_quality_matters():
    y = sines(2.0, freqs=(220.0, 1000.0, 5000.0))
    errors = [power(parse_spec(f"mp3:quality={q}").apply(y, SR, "d") - y) for q in (0, 9)]
    assert errors[1] > errors[0]


# ---- the feature cache -----------------------------------------------------------------------------------------


def test_identity_keeps_the_clean_key_and_folder(tmp_path):
    # The key of the default settings before perturbations existed: existing caches stay valid.
    assert params_key(AudioConfig(), FeatureConfig()) == "7db62b7a52b67ea0"
    assert params_key(AudioConfig(), FeatureConfig(), parse_spec("identity")) == "7db62b7a52b67ea0"
    clean = FeatureCache(tmp_path, AudioConfig(), FEAT)
    assert FeatureCache(tmp_path, AudioConfig(), FEAT, parse_spec("identity")).dir == clean.dir
    noisy = FeatureCache(tmp_path, AudioConfig(), FEAT, parse_spec("noise:snr=10"))
    assert noisy.dir != clean.dir and noisy.dir.parent == clean.dir.parent
    assert FeatureCache(tmp_path, AudioConfig(), FEAT, parse_spec("noise:snr=10.0")).dir == noisy.dir
    assert FeatureCache(tmp_path, AudioConfig(), FEAT, parse_spec("noise:snr=20")).dir != noisy.dir


def test_perturbed_extraction_is_cached_apart_and_warm_pass_decodes_nothing(tmp_path, monkeypatch, capsys):
    paths = sorted(make_folder(tmp_path / "d", per_label=2, seconds=2.0).rglob("*.wav"))
    decodes = []
    real = cache_mod.load_checked
    monkeypatch.setattr(cache_mod, "load_checked", lambda *a: decodes.append(a[0]) or real(*a))
    noisy = FeatureCache(tmp_path / "c", AudioConfig(), FEAT, parse_spec("noise:snr=10"))
    first = extract_features(paths, noisy, workers=1, progress=True)
    assert first["decoded"] == 6 and len(decodes) == 6
    assert "extract noise_snr10 (1 worker): 6/6 files" in capsys.readouterr().err
    respelled = FeatureCache(tmp_path / "c", AudioConfig(), FEAT, parse_spec("noise:snr=10.0"))
    again = extract_features(paths, respelled, workers=1, progress=False)
    assert again["decoded"] == 0 and len(decodes) == 6
    # The clean features are another folder: a miss, and different mels from the same files.
    clean = extract_features(paths, FeatureCache(tmp_path / "c", AudioConfig(), FEAT), workers=1, progress=True)
    assert clean["decoded"] == 6
    assert "extract (1 worker): 6/6 files" in capsys.readouterr().err
    for a, b in zip(first["entries"], clean["entries"], strict=True):
        assert a.digest == b.digest and a.npy.parent.parent != b.npy.parent.parent
        assert not np.array_equal(a.load(), b.load())


def test_noise_in_cached_mels_is_identical_across_cold_caches_and_workers(tmp_path):
    paths = sorted(make_folder(tmp_path / "d", per_label=2, seconds=2.0).rglob("*.wav"))
    spec = parse_spec("noise:snr=10")
    one = extract_features(paths, FeatureCache(tmp_path / "c1", AudioConfig(), FEAT, spec), workers=1, progress=False)
    # Worker processes get the perturbation as its key and rebuild it: the same draw per file.
    two = extract_features(paths, FeatureCache(tmp_path / "c2", AudioConfig(), FEAT, spec), workers=2, progress=False)
    assert one["decoded"] == two["decoded"] == 6 and two["workers"] == 2
    mels = [e.load() for e in one["entries"]]
    for mel, entry in zip(mels, two["entries"], strict=True):
        np.testing.assert_array_equal(mel, entry.load())
    assert not np.array_equal(mels[0], mels[1])


def test_problem_check_is_on_the_clean_audio_and_stretch_sets_the_length(tmp_path):
    quiet = write_audio(tmp_path / "d" / "quiet.wav", tone(2.0, 220.0) * 0.0005, subtype="FLOAT")  # about -79 dBFS
    loud = write_audio(tmp_path / "d" / "loud.wav", tone(2.0, 220.0), subtype="FLOAT")
    # +60 dB would lift the quiet file above the silence threshold, but the check sees the file as it is.
    boosted = extract_features([quiet], FeatureCache(tmp_path / "c", AudioConfig(), FEAT, parse_spec("gain:db=60")),
                               workers=1, progress=False)
    assert boosted["entries"][0].problem.reason == "silent"
    slow = extract_features([loud], FeatureCache(tmp_path / "c", AudioConfig(), FEAT, parse_spec("stretch:rate=0.5")),
                            workers=1, progress=False)["entries"][0]
    assert slow.n_samples == pytest.approx(4 * SR, rel=0.01)
    assert slow.n_frames == 1 + slow.n_samples // FEAT.hop_length
