"""A resolved deformation: spec + family + validated parameters; its hash, provenance and audio."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mertbench.deform import ops
from mertbench.deform.errors import DeformationError
from mertbench.deform.spec import PARAMS_OF_KIND, DeformationSpec, FamilySpec, load_families
from mertbench.provenance import config_hash


def example_seed(seed: int, example_id: str) -> int:
    """The seed of a deformation on one example: from (spec seed, example id), so every clip gets
    its own noise and a rerun the same noise (stable across processes and machines)."""
    digest = hashlib.sha256(f"{int(seed)}\x1f{example_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def pick_noise_source(example_id: str, candidates: Sequence[str], seed: int = 0, *, exclude: str | None = None) -> str:
    """A seeded choice among ``candidates`` (e.g. the ids or stem paths of other tracks) for the
    ``stem_noise`` source of ``example_id``: the same on every rerun, never ``exclude`` (the
    example's own track)."""
    pool = sorted(c for c in candidates if c != (exclude if exclude is not None else example_id))
    if not pool:
        raise DeformationError(f"no noise source to choose for {example_id!r}: no other track among the candidates")
    return pool[int(np.random.default_rng(example_seed(seed, example_id)).integers(len(pool)))]


@dataclass(frozen=True)
class Deformation:
    """One deformation of the vocabulary, ready to run."""

    spec: DeformationSpec
    family: FamilySpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind or self.family.kind

    @property
    def version(self) -> int:
        return self.spec.version

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def params(self) -> Any:
        """The validated parameter model of the kind (defaults filled in)."""
        return PARAMS_OF_KIND[self.kind].model_validate(self.spec.params)

    @property
    def uses_seed(self) -> bool:
        return self.kind in ("noise", "stem_noise")

    @property
    def needs_noise_source(self) -> bool:
        return self.kind == "stem_noise"

    def hashed(self) -> dict[str, Any]:
        """Everything that changes the audio: kind, version, parameters (defaults filled in), seed,
        the implementation number of the kind and the versions of the libraries it runs on. Not the
        name, the description or the label rules (they change no audio)."""
        return {"kind": self.kind, "version": self.version, "params": self.params.model_dump(), "seed": self.seed,
                "implementation": ops.IMPLEMENTATION[self.kind], "libraries": ops.library_versions(self.kind)}

    @property
    def hash(self) -> str:
        return config_hash(self.hashed())

    def provenance(self) -> dict[str, Any]:
        """What a results file records about this deformation."""
        return {"name": self.name, "family": self.family.family, "family_version": self.family.version,
                **self.hashed(), "hash": self.hash}

    def apply(self, audio: np.ndarray, sample_rate: int, *, example_id: str | None = None, seed: int | None = None,
              noise: np.ndarray | str | os.PathLike | None = None) -> np.ndarray:
        """Deform ``audio`` (``[N]`` or ``[C, N]``) at ``sample_rate``.

        Args:
            example_id: the example's id; the random draws use :func:`example_seed` of it (give
                ``seed`` instead to pass an already derived one).
            noise: for ``stem_noise``: the noise source (an array at ``sample_rate`` or an audio
                file, read and resampled to it), e.g. the drums stem of another track; it is cut at
                a seeded random offset (or tiled) to the clip's length and mixed at the SNR.

        Raises:
            DeformationInvalid: this clip cannot be deformed so (a silent clip under an SNR).
            DeformationError: bad input (no noise source, a corner above Nyquist, ...).
        """
        kind, p = self.kind, self.params
        if seed is None:
            if self.uses_seed and example_id is None:
                raise DeformationError(f"{self.name}: pass example_id (or seed): its noise is drawn per example")
            seed = example_seed(self.seed, example_id or "")
        rng = np.random.default_rng(seed)
        if kind == "identity":
            return np.asarray(audio).copy()
        if kind == "gain":
            return ops.gain(audio, p.gain_db)
        if kind == "noise":
            return ops.add_noise(audio, rng, p.color, p.snr_db)
        if kind == "stem_noise":
            if noise is None:
                raise DeformationError(f"{self.name}: needs a noise source (the {p.stem!r} stem of another track)")
            if isinstance(noise, (str, os.PathLike, Path)):
                from mertbench.audio import load_audio

                noise, _ = load_audio(noise, sample_rate, mono=np.asarray(audio).ndim == 1)
            return ops.mix_at_snr(audio, ops.fit_noise_source(audio, noise, rng), p.snr_db)
        if kind == "filter":
            return ops.butter_filter(audio, sample_rate, p)
        if kind == "codec":
            return ops.codec_roundtrip(audio, sample_rate, p.format, p.bitrate_kbps)
        if kind == "reverb":
            return ops.reverb(audio, sample_rate, p)
        if kind == "time_stretch":
            return ops.stretch(audio, sample_rate, rate=p.rate, use_long_fft_window=p.use_long_fft_window)
        if kind == "pitch_shift":
            return ops.stretch(audio, sample_rate, semitones=p.semitones, use_long_fft_window=p.use_long_fft_window)
        raise DeformationError(f"unknown deformation kind {kind!r}")  # pragma: no cover (the schema forbids it)


def list_deformations(folder: str | Path | None = None) -> list[Deformation]:
    """Every deformation of the vocabulary (default: the shipped ``deformations/``), family by family."""
    return [Deformation(d, fam) for fam in load_families(folder) for d in fam.deformations]


def get_deformation(name: str, folder: str | Path | None = None) -> Deformation:
    """The deformation called ``name``; unknown names are errors listing close matches."""
    found = {d.name: d for d in list_deformations(folder)}
    if name in found:
        return found[name]
    import difflib

    close = difflib.get_close_matches(name, list(found), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(found))}"
    raise DeformationError(f"unknown deformation {name!r}{hint}")
