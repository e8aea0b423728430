"""Label rules: what a deformation does to a task's ground truth, or why the pair is invalid.

The rules are data (each family's ``labels:`` block in ``deformations/<family>.yaml``: a rule per
task type, overridden per task name); this module looks them up and carries out the transforms:

- ``keep``: the label does not change (genre under a gain);
- ``scale_times`` (time stretch by tempo factor r): beat and downbeat times ``t -> start + (t - start) / r``
  (``start``: the excerpt's ``start_s``), a ``tempo``/``bpm`` in ``meta`` x r;
- ``transpose_key`` (pitch shift by k semitones): the tonic moves k semitones round the octave, the
  mode stays (``"A major"`` +2 -> ``"B major"``, ``"B minor"`` +1 -> ``"C minor"``);
- ``transpose_midi``: a MIDI-number class ``"69"`` -> ``"71"``; outside 0..127 the example is invalid;
- ``apply_to_stems`` (separation): the stems are deformed exactly as the mixture is;
- ``invalid``: the pair is never scored; the reason says why.
"""
from __future__ import annotations

from typing import Any

from mertbench.deform.deformation import Deformation
from mertbench.deform.errors import DeformationInvalid
from mertbench.deform.spec import LabelRule

_RULE_TEXT = {
    "keep": "labels unchanged",
    "scale_times": "beat times scaled by 1/rate",
    "transpose_key": "key tonic transposed, mode kept",
    "transpose_midi": "MIDI pitch class transposed",
    "apply_to_stems": "stems deformed like the mixture",
}


def task_name_type(task: Any) -> tuple[str, str]:
    """``(name, type)`` of a :class:`~mertbench.tasks.registry.Task`, a ``TaskSpec`` or a
    ``(name, type)`` pair."""
    if isinstance(task, tuple):
        return str(task[0]), str(task[1])
    spec = getattr(task, "spec", task)
    return str(spec.name), str(spec.type)


def rule_for(deformation: Deformation, task: Any) -> LabelRule:
    """The rule of ``deformation`` for ``task``: the task's own override, else its type's."""
    name, task_type = task_name_type(task)
    rules = deformation.family.labels
    if name in rules.tasks:
        return rules.tasks[name]
    return rules.types[task_type]


def check_valid(deformation: Deformation, task: Any) -> tuple[bool, str]:
    """``(valid, reason)``: whether ``deformation`` may be scored on ``task``, and why (the rule and
    its reason). Per-example failures (a MIDI pitch pushed out of range, a silent clip under an SNR)
    surface as :class:`DeformationInvalid` from :func:`transform_label` / the audio instead."""
    name, task_type = task_name_type(task)
    rule = rule_for(deformation, task)
    where = f"{deformation.name} on {name} ({task_type})"
    if rule.rule == "invalid":
        return False, f"{where}: invalid: {rule.reason}"
    if rule.rule in ("transpose_key", "transpose_midi"):
        k = deformation.params.semitones
        if float(k) != int(k):
            return False, (f"{where}: invalid: a shift of {k} semitones moves the labels off the "
                           "semitone grid, so they cannot be transformed")
    if rule.rule == "scale_times" and task_type != "beat":
        return False, f"{where}: invalid: scale_times is defined for beat labels, not {task_type}"
    if rule.rule == "apply_to_stems" and task_type != "separation":
        return False, f"{where}: invalid: apply_to_stems is defined for separation, not {task_type}"
    text = _RULE_TEXT[rule.rule] + (f" ({rule.reason})" if rule.reason else "")
    return True, f"{where}: {rule.rule}: {text}"


def transpose_key(label: str, semitones: int) -> str:
    """``"A major"`` +2 -> ``"B major"``; tonics spelled as in the key vocabulary (C Db D ... B)."""
    from mertbench.metrics.key import TONICS, normalize_key

    tonic, mode = normalize_key(label).split()
    return f"{TONICS[(TONICS.index(tonic) + int(semitones)) % 12]} {mode}"


def transpose_midi(label: Any, semitones: int) -> str:
    pitch = int(str(label)) + int(semitones)
    if not 0 <= pitch <= 127:
        raise DeformationInvalid(f"MIDI pitch {label} shifted by {semitones:+d} semitones is {pitch}, "
                                 "outside the 128 classes 0..127")
    return str(pitch)


def scale_times(times: Any, rate: float, start_s: float = 0.0) -> list[float]:
    return [start_s + (float(t) - start_s) / rate for t in times]


def transform_label(deformation: Deformation, task: Any, label: Any, meta: dict[str, Any] | None = None,
                    *, start_s: float = 0.0) -> tuple[Any, dict[str, Any]]:
    """``(label, meta)`` after ``deformation``, for a task whose rule is not ``apply_to_stems``
    (stems need their audio: :func:`mertbench.deform.apply.apply_to_example`).

    Raises:
        DeformationInvalid: the pair is invalid (with the reason), or this label cannot move (a MIDI
            pitch shifted out of range).
    """
    valid, reason = check_valid(deformation, task)
    if not valid:
        raise DeformationInvalid(reason)
    meta = dict(meta or {})
    rule = rule_for(deformation, task).rule
    if rule == "keep":
        return label, meta
    if rule == "transpose_key":
        return transpose_key(label, int(deformation.params.semitones)), meta
    if rule == "transpose_midi":
        return transpose_midi(label, int(deformation.params.semitones)), meta
    if rule == "scale_times":
        rate = deformation.params.rate
        for key in ("downbeats",):
            if meta.get(key) is not None:
                meta[key] = scale_times(meta[key], rate, start_s)
        for key in ("tempo", "bpm"):
            if isinstance(meta.get(key), (int, float)):
                meta[key] = float(meta[key]) * rate
        return scale_times(label, rate, start_s), meta
    raise DeformationInvalid(f"{deformation.name}: rule {rule!r} needs the stems' audio: use apply_to_example")
