"""Synthesis: MIDI -> midirenderer (48 kHz stereo PCM16) -> mono 24 kHz -> PCM16 WAV.

midirenderer (a Rust SoundFont synthesiser) is deterministic: the same MIDI bytes and soundfont
give the same samples. The post-processing here is deterministic too (channel mean, soxr HQ
resampling, a fixed gain, rounding to 16 bits), so equal scores give byte-identical files.

Levels: every task multiplies the synthesiser output by a fixed gain (no per-clip loudness
normalisation, so velocity keeps meaning loudness). If a clip would exceed :data:`PEAK_LIMIT`
it is scaled down as a whole to that peak and reported as ``limited``.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mertbench.constants import SAMPLE_RATE
from mertbench.render.score import PREROLL_S, Score, to_midi_bytes

#: Output sample rate of every rendered file (Hz).
#: midirenderer's fixed output rate (Hz).
SYNTH_RATE = 48_000
#: Highest allowed absolute sample value (float, full scale 1.0) after the gain.
PEAK_LIMIT = 0.98


@dataclass
class Rendered:
    """A rendered mono clip: float32 samples in [-1, 1] at :data:`SAMPLE_RATE` and level facts."""

    audio: np.ndarray
    limited: bool = False

    @property
    def peak(self) -> float:
        return float(np.abs(self.audio).max()) if self.audio.size else 0.0

    @property
    def rms(self) -> float:
        return float(np.sqrt(np.mean(self.audio.astype(np.float64) ** 2))) if self.audio.size else 0.0


def wav_pcm16(wav: bytes) -> tuple[np.ndarray, int]:
    """``(int16 [N, C], sample_rate)`` of a PCM16 RIFF/WAVE byte string (walks the chunks)."""
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise RuntimeError("synthesiser output is not a RIFF/WAVE file")
    pos, channels, sr, bits = 12, 0, 0, 0
    while pos + 8 <= len(wav):
        cid, size = wav[pos:pos + 4], struct.unpack("<I", wav[pos + 4:pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            fmt, channels, sr = struct.unpack("<HHI", wav[body:body + 8])
            bits = struct.unpack("<H", wav[body + 14:body + 16])[0]
            if fmt != 1 or bits != 16:
                raise RuntimeError(f"synthesiser output is format {fmt}/{bits}-bit, expected PCM16")
        elif cid == b"data":
            n = min(size, len(wav) - body) // (2 * channels) * (2 * channels)
            return np.frombuffer(wav, dtype="<i2", count=n // 2, offset=body).reshape(-1, channels), sr
        pos = body + size + (size & 1)
    raise RuntimeError("synthesiser output has no data chunk")


def synthesize(score: Score) -> np.ndarray:
    """Raw synthesiser output of ``score`` as float32 mono at 24 kHz, exactly ``duration`` long."""
    import midirenderer

    from mertbench.audio import resample
    from mertbench.render.soundfont import soundfont_bytes

    wav = midirenderer.render_wave_from(soundfont_bytes(), to_midi_bytes(score))
    data, sr = wav_pcm16(wav)
    if sr != SYNTH_RATE:  # pragma: no cover - midirenderer always renders at 48 kHz
        raise RuntimeError(f"midirenderer returned {sr} Hz audio, expected {SYNTH_RATE}")
    mono = data.astype(np.float32).mean(axis=1) / np.float32(32768.0)
    y = resample(mono, SYNTH_RATE, SAMPLE_RATE)
    start = int(round(PREROLL_S * SAMPLE_RATE))
    n = int(round(score.duration * SAMPLE_RATE))
    out = y[start:start + n]
    if out.shape[0] < n:
        out = np.pad(out, (0, n - out.shape[0]))
    return np.ascontiguousarray(out, dtype=np.float32)


def render(score: Score, gain: float) -> Rendered:
    """Synthesise ``score``, apply ``gain`` and the peak limit."""
    y = synthesize(score) * np.float32(gain)
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak > PEAK_LIMIT:
        return Rendered((y * np.float32(PEAK_LIMIT / peak)).astype(np.float32), limited=True)
    return Rendered(y.astype(np.float32))


def render_stems(stems: dict[str, Score], gain: float) -> tuple[dict[str, np.ndarray], np.ndarray, bool]:
    """Render each stem alone; the mixture is the exact sum of the 16-bit stems.

    Returns ``(stems_pcm16, mixture_pcm16, limited)`` as int16 arrays. One common scale keeps
    both every stem and the mixture within :data:`PEAK_LIMIT`, so the mixture needs no clipping
    and ``mixture == sum(stems)`` holds sample by sample in the files.
    """
    floats = {name: synthesize(s) * np.float32(gain) for name, s in stems.items()}
    mix = np.sum(list(floats.values()), axis=0)
    peak = max([float(np.abs(mix).max())] + [float(np.abs(v).max()) for v in floats.values()])
    limited = peak > PEAK_LIMIT
    scale = PEAK_LIMIT / peak if limited else 1.0
    pcm = {name: to_pcm16(v * np.float32(scale)) for name, v in floats.items()}
    mix_pcm = np.sum([p.astype(np.int32) for p in pcm.values()], axis=0)
    if np.abs(mix_pcm).max(initial=0) > 32767:  # pragma: no cover - excluded by the scale above
        raise RuntimeError("stem sum overflows 16 bits")
    return pcm, mix_pcm.astype(np.int16), limited


def to_pcm16(y: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> int16 (round half to even, clip to the int16 range)."""
    return np.clip(np.rint(y * 32767.0), -32768, 32767).astype(np.int16)


def write_wav(path: str | os.PathLike, pcm: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write int16 samples as a mono PCM16 WAV at ``path`` (the caller makes it atomic)."""
    import soundfile as sf

    sf.write(str(Path(path)), pcm, sample_rate, subtype="PCM_16", format="WAV")
