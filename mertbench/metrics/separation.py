"""Source-separation metrics: MARBLE/MDX global SDR and museval BSSEval v4 SDR.

Calling convention: ``y_true`` / ``y_pred`` are lists (one entry per track) of
``{stem: array}`` where each array is ``[C, N]`` (channels first) or ``[N]`` (mono); a track's
reference and estimate of a stem must have the same shape. ``stem=`` selects one stem; without it
the metric is the mean of the per-stem values over the stems present in every track.

- ``sdr_global`` (MARBLE, MDX-2021): per track ``10 log10((sum ref^2 + eps) / (sum (ref - est)^2
  + eps))`` over all samples and channels, ``eps = 1e-7``, then the **mean over tracks**.
  Computed at whatever rate the arrays are (MARBLE: 24 kHz).
- ``sdr_museval`` (SiSEC 2018 / BSSEval v4, ``museval.evaluate(mode="v4")``): framewise SDR on
  1 s windows with 1 s hop (``win = hop = sample_rate`` samples; ``sample_rate`` is required), per track the
  median over frames (NaN frames, e.g. silent references, ignored as museval's aggregation does),
  then the **median over tracks**. The SDR of a stem in v4 depends only on that stem's reference
  and estimate (the distortion filter is fitted on its own reference), so each stem is evaluated
  on its own; tests check equality with a joint ``museval.evaluate`` of all stems.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from mertbench.errors import SpecError
from mertbench.metrics import register_metric

SDR_EPS = 1e-7


def _as_2d(x: np.ndarray, where: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"{where}: expected [C, N] or [N] audio, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: contains NaN or inf")
    return a


def _stems(y_true: Sequence[Mapping], y_pred: Sequence[Mapping], stem: str | None) -> list[str]:
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} tracks, y_pred {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("no tracks to score")
    if stem is not None:
        for i, (t, p) in enumerate(zip(y_true, y_pred)):
            if stem not in t or stem not in p:
                raise ValueError(f"track {i}: stem {stem!r} missing from the reference or the estimate")
        return [stem]
    common = set(y_true[0])
    for t, p in zip(y_true, y_pred):
        common &= set(t) & set(p)
    if not common:
        raise ValueError("no stem is present in every reference and estimate")
    return sorted(common)


def _pair(t: Mapping, p: Mapping, stem: str, i: int) -> tuple[np.ndarray, np.ndarray]:
    ref = _as_2d(t[stem], f"track {i} reference {stem}")
    est = _as_2d(p[stem], f"track {i} estimate {stem}")
    if ref.shape != est.shape:
        raise ValueError(f"track {i} stem {stem}: reference {ref.shape} and estimate {est.shape} differ")
    return ref, est


def global_sdr(reference: np.ndarray, estimate: np.ndarray, eps: float = SDR_EPS) -> float:
    """MDX global SDR (dB) of one track and stem, summed over all samples and channels."""
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    num = np.sum(ref ** 2) + eps
    den = np.sum((ref - est) ** 2) + eps
    return float(10.0 * np.log10(num / den))


def _bsseval_module():  # noqa: ANN202 (museval's metrics module)
    """museval's BSSEval module (``museval/metrics.py``), loaded *without* running
    ``museval/__init__.py``: that file imports musdb and stempeg, which refuse to load without
    ffmpeg on PATH, while BSSEval itself needs only numpy and scipy. When museval is already
    imported, its own ``museval.metrics`` is used."""
    import importlib.util
    import sys

    loaded = sys.modules.get("museval.metrics")
    if loaded is not None:
        return loaded
    name = "mertbench._museval_bsseval"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("museval")
    folder = spec.submodule_search_locations if spec is not None else None
    if not folder:
        raise SpecError("the sdr_museval metric needs the museval package (BSSEval v4): pip install museval "
                        "(or pip install 'mertbench[separation]'); the sdr metric (MARBLE's global SDR) needs "
                        "nothing more")
    from pathlib import Path

    path = Path(list(folder)[0]) / "metrics.py"
    mod_spec = importlib.util.spec_from_file_location(name, path)
    if mod_spec is None or mod_spec.loader is None or not path.is_file():
        raise SpecError(f"museval is installed but {path} is missing; reinstall museval (pip install --force-reinstall museval)")
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[name] = module
    try:
        mod_spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def museval_track_sdr(reference: np.ndarray, estimate: np.ndarray, *, sample_rate: int) -> float:
    """Median over 1 s frames of the BSSEval v4 SDR (dB) of one track and stem (museval.evaluate)."""
    bsseval = _bsseval_module()

    ref = _as_2d(reference, "reference").T[None]  # museval wants [nsrc, nsampl, nchan]
    est = _as_2d(estimate, "estimate").T[None]
    if ref.shape != est.shape:
        raise ValueError(f"reference {ref.shape} and estimate {est.shape} differ")
    # what museval.evaluate(mode="v4") does for equal shapes (its padding is then a no-op)
    sdr, _isr, _sir, _sar, _perm = bsseval.bss_eval(ref, est, compute_permutation=False, window=int(sample_rate),
                                                    hop=int(sample_rate), framewise_filters=False,
                                                    bsseval_sources_version=False)
    frames = np.asarray(sdr[0], dtype=np.float64)
    if np.all(np.isnan(frames)):
        return float("nan")
    return float(np.nanmedian(frames))


@register_metric("sdr_global", "max", "db")
def sdr_global(y_true: Sequence[Mapping], y_pred: Sequence[Mapping], stem: str | None = None,
               eps: float = SDR_EPS) -> float:
    """MARBLE/MDX global SDR (dB): per-track global SDR, mean over tracks (mean over stems if no stem)."""
    per_stem = []
    for s in _stems(y_true, y_pred, stem):
        vals = [global_sdr(*_pair(t, p, s, i), eps=eps) for i, (t, p) in enumerate(zip(y_true, y_pred))]
        per_stem.append(float(np.mean(vals)))
    return float(np.mean(per_stem))


@register_metric("sdr_museval", "max", "db")
def sdr_museval(y_true: Sequence[Mapping], y_pred: Sequence[Mapping], stem: str | None = None,
                sample_rate: int | None = None) -> float:
    """BSSEval v4 SDR (dB): median over 1 s frames per track, median over tracks.

    ``sample_rate`` (Hz) of the arrays is required: museval's windows are 1 s = ``sample_rate``
    samples (the separation probe passes its evaluation rate; there is no 44.1 kHz default)."""
    if sample_rate is None or int(sample_rate) <= 0:
        raise SpecError("sdr_museval needs sample_rate= (Hz) of the audio: museval's 1 s windows are that many "
                        "samples; the separation probe passes its evaluation rate")
    per_stem = []
    for s in _stems(y_true, y_pred, stem):
        vals = np.array([museval_track_sdr(*_pair(t, p, s, i), sample_rate=sample_rate)
                         for i, (t, p) in enumerate(zip(y_true, y_pred))])
        per_stem.append(float(np.nanmedian(vals)) if not np.all(np.isnan(vals)) else float("nan"))
    return float(np.mean(per_stem))
