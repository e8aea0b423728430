"""Benchmark ``audio``: decode + resample throughput, mertbench.audio vs the scipy way."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from mertbench.bench import BenchResult, register_benchmark
from mertbench.constants import SAMPLE_RATE


@register_benchmark("audio", "decode 44.1 kHz stereo wav + resample to 24 kHz mono: "
                    "mertbench.audio (soundfile+soxr) vs soundfile+scipy.signal.resample_poly")
def bench_audio(files: int = 8, seconds: float = 30.0, repeats: int = 3) -> BenchResult:
    import soundfile as sf
    from scipy.signal import resample_poly

    from mertbench.audio import load_audio

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(files):
            x = (rng.standard_normal((int(44100 * seconds), 2)) * 0.1).astype(np.float32)
            p = Path(tmp) / f"f{i}.wav"
            sf.write(p, x, 44100, subtype="PCM_16")
            paths.append(p)

        def ours() -> float:
            t = time.perf_counter()
            for p in paths:
                load_audio(p, SAMPLE_RATE)
            return time.perf_counter() - t

        def reference() -> float:
            t = time.perf_counter()
            for p in paths:
                data, sr = sf.read(p, dtype="float32", always_2d=True)
                resample_poly(data.mean(axis=1), 80, 147).astype(np.float32)  # 44100 * 80/147 = 24000
            return time.perf_counter() - t

        ours(), reference()  # warm-up
        t_ours = min(ours() for _ in range(repeats))
        t_ref = min(reference() for _ in range(repeats))
    audio_s = files * seconds
    return BenchResult(
        figure=t_ref / t_ours,
        meaning="x speed of mertbench.audio vs soundfile+resample_poly (ours / reference throughput)",
        details={"audio_seconds": audio_s, "ours_audio_s_per_s": audio_s / t_ours,
                 "reference_audio_s_per_s": audio_s / t_ref},
    )
