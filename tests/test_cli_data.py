"""The data commands driven through the real CLI in subprocesses, as a user runs them."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import tone, without_progress, write_audio

GB = [sys.executable, "-m", "genrebench"]


def run(*args, cwd=None):
    return subprocess.run([*GB, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def messy(tmp_path):
    """Mixed formats and every kind of problem file the inspector must name."""
    root = tmp_path / "messy"
    write_audio(root / "blues" / "pcm16.wav", tone(4, 110), subtype="PCM_16")
    write_audio(root / "blues" / "pcm24.wav", tone(4, 120), subtype="PCM_24")
    write_audio(root / "blues" / "float.wav", tone(4, 130), subtype="FLOAT")
    write_audio(root / "blues" / "sun.au", tone(4, 140), subtype="PCM_16", fmt="AU")
    write_audio(root / "rock" / "stereo48k.flac", tone(4, 300, sr=48000, channels=2), sr=48000, fmt="FLAC")
    write_audio(root / "rock" / "vorbis.ogg", tone(4, 310), subtype="VORBIS", fmt="OGG")
    write_audio(root / "rock" / "ñandú-ü.wav", tone(4, 320))
    write_audio(root / "rock" / "two_seconds.wav", tone(2, 330))
    write_audio(root / "rock" / "silent.wav", np.zeros(4 * 22050, dtype=np.float32))
    write_audio(root / "rock" / ".hidden.wav", tone(4, 340))
    (root / "rock" / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" + bytes(range(256)) * 4)
    (root / "rock" / "empty.wav").write_bytes(b"")
    (root / "rock" / "notes.txt").write_text("liner notes")
    return root


def test_synth_writes_identical_files_for_the_same_seed(tmp_path):
    for name in ("s1", "s2"):
        res = run("data", "synth", "--out", str(tmp_path / name), "--tracks-per-genre", "3", "--seconds", "12")
        assert res.returncode == 0, res.stderr
    folders = sorted(p.name for p in (tmp_path / "s1").iterdir() if p.is_dir())
    assert len(folders) == 10 and "jazz" in folders
    files1 = sorted((tmp_path / "s1").rglob("*.wav"))
    assert len(files1) == 30
    for f in files1:
        assert f.read_bytes() == (tmp_path / "s2" / f.relative_to(tmp_path / "s1")).read_bytes()


def test_inspect_lists_every_problem_with_its_reason(messy):
    res = run("data", "inspect", str(messy), "--workers", "2")
    assert res.returncode == 0, res.stderr
    text = " ".join(res.stdout.split())
    for name, reason in [("corrupt.wav", "unreadable"), ("empty.wav", "unreadable"),
                         ("two_seconds.wav", "too_short"), ("silent.wav", "silent")]:
        line = next(ln for ln in res.stdout.splitlines() if name in ln)
        assert reason in line, line
    assert "4 problem file(s)" in text
    assert "hidden" not in res.stdout
    assert "ignored 1 non-audio file(s), e.g. rock/notes.txt" in text
    assert "48000" in text and "22050" in text  # native rates of the flac and the wavs


def test_inspect_strict_exits_2_with_one_line(messy):
    res = run("data", "inspect", str(messy), "--strict")
    assert res.returncode == 2
    err = without_progress(res.stderr)  # piped, the inspection's progress lines come first
    assert len(err) == 1 and err[0].startswith("error: 4 problem file(s)")
    assert "Traceback" not in res.stderr


def test_bad_root_is_one_line_exit_2(tmp_path):
    res = run("data", "inspect", str(tmp_path / "nowhere"))
    assert res.returncode == 2 and res.stderr.strip() == f"error: dataset root not found: {tmp_path / 'nowhere'}"


def test_data_cache_skips_problem_files_then_reuses_everything(messy, tmp_path):
    for li, label in enumerate(("blues", "rock")):  # enough usable tracks per label for a train/val/test split
        for i in range(3):
            write_audio(messy / label / f"extra{i}.wav", tone(4, 500 + 10 * i + 100 * li))
    cache = tmp_path / "c"
    first = run("data", "cache", str(messy), "--cache-dir", str(cache), "--n-mels", "16", "--chunk-seconds", "3")
    assert first.returncode == 0, first.stderr
    assert "skipping rock/corrupt.wav: unreadable" in " ".join(first.stderr.split())
    out = " ".join(first.stdout.split())
    assert "13 usable tracks, 4 skipped" in out and "decoded 17, reused 0" in out
    second = run("data", "cache", str(messy), "--cache-dir", str(cache), "--n-mels", "16", "--chunk-seconds", "3")
    assert "decoded 0, reused 17" in " ".join(second.stdout.split())
    strict = run("data", "cache", str(messy), "--cache-dir", str(cache), "--n-mels", "16", "--strict")
    assert strict.returncode == 2 and len(strict.stderr.strip().splitlines()) == 1


def test_invalid_option_value_names_the_key(tmp_path):
    res = run("data", "cache", str(tmp_path), "--overlap", "1.5")
    assert res.returncode == 2 and "overlap" in res.stderr and "Traceback" not in res.stderr
