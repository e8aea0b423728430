"""Test-time audio deformations as data (the robustness axis; docs/robustness.md).

The vocabulary lives in ``deformations/<family>.yaml`` (shipped like ``tasks/``); each deformation
has a name, a version, parameters and a seed, and a hash over everything that changes its audio
(library versions included). Label rules say, per task type and task, whether the ground truth is
kept, transformed (beat times, key, MIDI pitch, separation stems) or the pair is invalid.
"""
from __future__ import annotations

from mertbench.deform.apply import DeformedExample, apply_to_example
from mertbench.deform.deformation import (
    Deformation,
    example_seed,
    get_deformation,
    list_deformations,
    pick_noise_source,
)
from mertbench.deform.errors import DeformationError, DeformationInvalid
from mertbench.deform.labels import check_valid, rule_for, transform_label, transpose_key, transpose_midi
from mertbench.deform.spec import DeformationSpec, FamilySpec, load_families, load_family, parse_family

__all__ = [
    "Deformation", "DeformationError", "DeformationInvalid", "DeformationSpec", "DeformedExample", "FamilySpec",
    "apply_to_example", "check_valid", "example_seed", "get_deformation", "list_deformations", "load_families",
    "load_family", "parse_family", "pick_noise_source", "rule_for", "transform_label", "transpose_key", "transpose_midi",
]
