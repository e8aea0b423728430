"""Maintenance: measure which notes of each GM preset sound at their MIDI pitch.

Some TimGM6mb presets sound an octave away from the key played (organs with a 16' stop, guitar
harmonics, the "5th saw"), and most presets go out of tune or lose their fundamental at the
extremes of their range. render-pitch must only use notes whose sounding pitch equals the label,
so :data:`mertbench.render.instruments.PITCH_SAFE_RANGE` holds, per program, the longest run of
consecutive notes whose lowest strong partial lies within ``tolerance`` semitones of the note at
every checked velocity.

Regenerate (takes a few minutes) and paste the printed table into ``instruments.py``::

    python -m mertbench.render.calibrate
"""
from __future__ import annotations

import math
import sys

import numpy as np

from mertbench.render import instruments as gm


def lowest_partial(y: np.ndarray, sr: int, start_s: float = 0.2, end_s: float = 1.2, rel: float = 0.1,
                   fmin: float = 25.0) -> float:
    """Fractional MIDI number of the lowest spectral peak >= ``rel`` x the strongest (NaN if none)."""
    seg = y[int(start_s * sr):int(end_s * sr)].astype(np.float64)
    n = 8 * len(seg)
    mags = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n))
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    keep = freqs >= fmin
    freqs, mags = freqs[keep], mags[keep]
    if mags.size < 3 or mags.max() <= 0:
        return float("nan")
    thr = rel * mags.max()
    for i in range(1, len(mags) - 1):
        if mags[i] >= thr and mags[i] >= mags[i - 1] and mags[i] >= mags[i + 1]:
            a, b, c = (math.log(mags[j] + 1e-12) for j in (i - 1, i, i + 1))
            den = a - 2 * b + c
            f = freqs[i] + (0.5 * (a - c) / den if den else 0.0) * (freqs[1] - freqs[0])
            return float(12 * math.log2(f / 440.0) + 69)
    return float("nan")


#: velocities checked (render-pitch uses 25, 50, 75, 100, 127; the loudest layers differ most)
CHECK_VELOCITIES = (25, 75, 127)


def note_ok(program: int, pitch: int, tolerance: float = 0.3) -> bool:
    """True if ``pitch`` on ``program`` sounds within ``tolerance`` semitones of itself.

    Checked on a 2 s render-pitch clip at each of :data:`CHECK_VELOCITIES`, measured after the
    attack (0.2-1.2 s) so that attack noise does not count as a partial.
    """
    from mertbench.render.generators.notes import note_score
    from mertbench.render.synth import SAMPLE_RATE, synthesize

    for vel in CHECK_VELOCITIES:
        y = synthesize(note_score(program, pitch, vel, 2.0))
        m = lowest_partial(y, SAMPLE_RATE)
        if math.isnan(m) or abs(m - pitch) > tolerance:
            return False
    return True


def safe_range(program: int, tolerance: float = 0.3) -> tuple[int, int] | None:
    """Longest run of consecutive good notes inside the program's comfortable range (21..108)."""
    lo, hi = gm.program_range(program)
    lo, hi = max(lo, 21), min(hi, 108)
    ok = [note_ok(program, p, tolerance) for p in range(lo, hi + 1)]
    best, start = None, None
    for i, good in enumerate(ok + [False]):
        if good and start is None:
            start = i
        if not good and start is not None:
            if best is None or i - start > best[1] - best[0] + 1:
                best = (lo + start, lo + i - 1)
            start = None
    return best


def main() -> None:  # pragma: no cover - maintenance script
    from multiprocessing import Pool

    programs = [p for p in range(128) if p not in gm.UNPITCHED_PROGRAMS]
    with Pool() as pool:
        ranges = pool.map(safe_range, programs)
    print("PITCH_SAFE_RANGE: dict[int, tuple[int, int]] = {")
    for p, r in zip(programs, ranges):
        if r is not None and r[1] - r[0] >= 12:
            print(f"    {p}: {r},  # {gm.gm_name(p)}")
        else:
            print(f"    # {p}: excluded ({gm.gm_name(p)}: {r})", file=sys.stdout)
    print("}")


if __name__ == "__main__":  # pragma: no cover
    main()
