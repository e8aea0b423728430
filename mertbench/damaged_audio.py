"""A corpus of damaged and awkward audio files, to check that every stage names or reads each one.

:func:`write_damaged_corpus` writes one file per case into a folder and returns what each case is
and what a correct pipeline must do with it (:class:`DamagedFile`): ``read`` (decoded correctly:
resampled, down-mixed, whatever its length) or ``skip`` (left out, listed with its path and
reason, counted). The hardening tests run this corpus through extraction, probing and
pretraining; users can run it through their own encoders the same way.

Cases: zero bytes; WAV, FLAC, OGG and MP3 cut in the middle; text named ``.wav``; FLAC bytes named
``.wav``; NaN and inf samples; one sample (decodable, but shorter than any encoder's receptive
field: skipped as too short); digital silence; ten minutes; 8 kHz; 8 channels; and a clean MP3.
(The MP3s are written by libsndfile with a Xing header, which declares the frame count, so a cut
MP3 is detected as truncated; an MP3 without one would be read as a shorter clip.)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Expect = Literal["read", "skip"]


@dataclass(frozen=True)
class DamagedFile:
    """One case: its file, what a pipeline must do with it, and what is wrong or unusual."""

    path: Path
    expect: Expect
    what: str


def _tone(seconds: float, sr: int, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    """``[samples, channels]`` float32 sine at 0.5 amplitude (channels at slightly other pitches)."""
    t = np.arange(int(round(seconds * sr))) / sr
    cols = [0.5 * np.sin(2 * np.pi * freq * (1 + 0.01 * c) * t) for c in range(channels)]
    return np.stack(cols, axis=1).astype(np.float32)


def _write(path: Path, audio: np.ndarray, sr: int, fmt: str, subtype: str | None = None) -> Path:
    import soundfile as sf

    sf.write(str(path), audio, sr, format=fmt, subtype=subtype)
    return path


def _truncate(path: Path, keep: float = 0.55) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_damaged_corpus(folder: str | Path, sr: int = 16000, seconds: float = 2.0,
                         long_minutes: float = 10.0) -> list[DamagedFile]:
    """Write the corpus into ``folder`` (created); returns one :class:`DamagedFile` per file.

    Args:
        folder: destination. sr: sample rate of the ordinary cases (Hz). seconds: their length.
        long_minutes: length of the long case (written at 8 kHz, 16-bit, to stay small on disk:
            10 minutes = 9.6 MB).
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tone = _tone(seconds, sr)
    cases: list[DamagedFile] = []

    def add(name: str, expect: Expect, what: str) -> Path:
        path = out / name
        cases.append(DamagedFile(path, expect, what))
        return path

    add("zero_bytes.wav", "skip", "an empty file").write_bytes(b"")
    _truncate(_write(add("truncated.wav", "skip", "a WAV cut in the middle"), tone, sr, "WAV", "PCM_16"))
    _truncate(_write(add("truncated.flac", "skip", "a FLAC cut in the middle"), tone, sr, "FLAC"))
    _truncate(_write(add("truncated.ogg", "skip", "an OGG Vorbis cut in the middle"), tone, sr, "OGG", "VORBIS"))
    _truncate(_write(add("truncated.mp3", "skip", "an MP3 cut in the middle (its Xing header declares the length)"),
                     tone, sr, "MP3", "MPEG_LAYER_III"))
    add("text_named.wav", "skip", "a text file named .wav").write_text("this is not audio\n" * 20)
    _write(add("flac_named.wav", "read", "FLAC bytes in a file named .wav"), tone, sr, "FLAC")
    nan = tone.copy()
    nan[len(nan) // 3, 0] = np.nan
    _write(add("nan.wav", "skip", "a float WAV with a NaN sample"), nan, sr, "WAV", "FLOAT")
    inf = tone.copy()
    inf[len(inf) // 2, 0] = np.inf
    _write(add("inf.wav", "skip", "a float WAV with an infinite sample"), inf, sr, "WAV", "FLOAT")
    _write(add("one_sample.wav", "skip", "a WAV of one sample (too short to encode)"), tone[:1], sr, "WAV", "PCM_16")
    _write(add("silent.wav", "read", "digital silence"), np.zeros_like(tone), sr, "WAV", "PCM_16")
    _write(add("ten_minutes.wav", "read", f"{long_minutes:g} minutes at 8 kHz"),
           _tone(long_minutes * 60, 8000), 8000, "WAV", "PCM_16")
    _write(add("rate_8k.wav", "read", "8 kHz sample rate"), _tone(seconds, 8000), 8000, "WAV", "PCM_16")
    _write(add("eight_channels.wav", "read", "8 channels"), _tone(seconds, sr, channels=8), sr, "WAV", "PCM_16")
    _write(add("clean.mp3", "read", "an ordinary MP3"), tone, sr, "MP3", "MPEG_LAYER_III")
    return cases
