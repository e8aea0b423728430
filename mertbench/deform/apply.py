"""Deform one :class:`~mertbench.tasks.data.Example`: its audio and, by the label rules, its label."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mertbench.deform.deformation import Deformation, example_seed
from mertbench.deform.errors import DeformationInvalid
from mertbench.deform.labels import check_valid, rule_for, transform_label
from mertbench.tasks.data import Example


@dataclass
class DeformedExample:
    """The deformed audio and the label to score it against.

    ``label`` has the task type's shape (for separation with ``apply_to_stems``: stem name -> the
    deformed stem array; with ``keep``: the example's clean stems, as given). ``reason`` is the rule
    that was applied, in words; ``provenance`` the deformation's block plus the example's seed.
    """

    audio: np.ndarray
    label: Any
    meta: dict[str, Any]
    reason: str
    provenance: dict[str, Any] = field(default_factory=dict)


def apply_to_example(deformation: Deformation, example: Example, task: Any, audio: np.ndarray, sample_rate: int,
                     *, stems: Mapping[str, np.ndarray] | None = None,
                     noise: np.ndarray | str | os.PathLike | None = None) -> DeformedExample:
    """Deform ``audio`` (the example's decoded excerpt at ``sample_rate``) and its label.

    Args:
        task: a ``Task``, a ``TaskSpec`` or ``(name, type)``: whose label rules apply.
        stems: separation only: stem name -> decoded stem excerpt; read from the label's paths
            (like the mixture: ``start_s``, ``duration_s``, channels of ``audio``) when not given.
        noise: the noise source of a ``stem_noise`` deformation (array or audio file).

    Raises:
        DeformationInvalid: the pair is invalid for the task, or this example cannot be deformed
            (MIDI pitch out of range, silent clip under an SNR); ``.reason`` says which.
    """
    valid, reason = check_valid(deformation, task)
    if not valid:
        raise DeformationInvalid(reason)
    seed = example_seed(deformation.seed, example.id)
    out = deformation.apply(audio, sample_rate, seed=seed, noise=noise)
    prov = {**deformation.provenance(), "example_seed": seed}
    if rule_for(deformation, task).rule != "apply_to_stems":
        label, meta = transform_label(deformation, task, example.label, example.meta, start_s=example.start_s)
        return DeformedExample(out, label, meta, reason, prov)
    if stems is None:
        if not isinstance(example.label, Mapping):
            raise DeformationInvalid(f"{deformation.name}: a separation label must map stem names to audio")
        from mertbench.audio import load_audio

        mono = np.asarray(audio).ndim == 1
        stems = {name: load_audio(Path(p), sample_rate, mono=mono, start_s=example.start_s,
                                  duration_s=example.duration_s)[0] for name, p in example.label.items()}
    deformed = {name: deformation.apply(s, sample_rate, seed=seed, noise=noise) for name, s in stems.items()}
    return DeformedExample(out, deformed, dict(example.meta), reason, prov)
