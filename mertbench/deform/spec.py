"""Schema of the deformation vocabulary: ``deformations/<family>.yaml`` (shipped), strict.

One YAML file per *family* (``noise``, ``gain``, ``filter``, ...). A family lists its deformations
(each with a name, a version, its parameters and a seed) and the label rules shared by all of
them: for every task type (all of :data:`mertbench.tasks.spec.TaskType` must be listed, so no
type is ever handled by an implicit default) and, as overrides, for named tasks, what happens to
the ground truth: ``keep`` it, transform it (``scale_times``, ``transpose_key``,
``transpose_midi``, ``apply_to_stems``) or declare the pair ``invalid`` with a reason.

Unknown keys anywhere (the file, an entry, an entry's ``params``) are errors naming the field.
"""
from __future__ import annotations

import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mertbench.errors import SpecError
from mertbench.paths import resource_dir
from mertbench.tasks.protocol import explain_validation
from mertbench.tasks.spec import TaskType, read_yaml

Kind = Literal["identity", "gain", "noise", "stem_noise", "filter", "codec", "reverb", "time_stretch", "pitch_shift"]

RuleName = Literal["keep", "scale_times", "transpose_key", "transpose_midi", "apply_to_stems", "invalid"]

#: Which label transforms a kind may declare (``keep`` and ``invalid`` are always allowed).
RULES_OF_KIND: dict[str, set[str]] = {
    "identity": {"apply_to_stems"},
    "gain": {"apply_to_stems"},
    "noise": set(),
    "stem_noise": set(),
    "filter": {"apply_to_stems"},
    "codec": set(),
    "reverb": {"apply_to_stems"},
    "time_stretch": {"scale_times", "apply_to_stems"},
    "pitch_shift": {"transpose_key", "transpose_midi", "apply_to_stems"},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------------------- parameters per kind


class IdentityParams(_Strict):
    pass


class GainParams(_Strict):
    gain_db: float = Field(description="gain in dB (0: the input, bit for bit)")


class NoiseParams(_Strict):
    color: Literal["white", "pink"]
    snr_db: float = Field(description="signal-to-noise ratio over the whole clip, exact")


class StemNoiseParams(_Strict):
    stem: str = Field(description="which stem of another track is mixed under the signal, e.g. 'drums'")
    snr_db: float


class FilterParams(_Strict):
    type: Literal["lowpass", "highpass", "bandpass"]
    cutoff_hz: float | None = Field(None, gt=0, description="lowpass / highpass corner frequency")
    low_hz: float | None = Field(None, gt=0, description="bandpass lower corner")
    high_hz: float | None = Field(None, gt=0, description="bandpass upper corner")
    order: int = Field(4, ge=1, le=12, description="Butterworth order (applied forward and backward: zero phase)")

    @model_validator(mode="after")
    def _check(self) -> "FilterParams":
        if self.type == "bandpass":
            if self.low_hz is None or self.high_hz is None or self.cutoff_hz is not None:
                raise ValueError("a bandpass takes low_hz and high_hz (no cutoff_hz)")
            if self.low_hz >= self.high_hz:
                raise ValueError(f"low_hz {self.low_hz} must be below high_hz {self.high_hz}")
        elif self.cutoff_hz is None or self.low_hz is not None or self.high_hz is not None:
            raise ValueError(f"a {self.type} takes cutoff_hz (no low_hz / high_hz)")
        return self


VORBIS_KBPS = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 500)


class CodecParams(_Strict):
    format: Literal["mp3", "ogg"] = Field(description="mp3 (LAME) or ogg (Vorbis)")
    bitrate_kbps: int = Field(gt=0, description="constant bit rate (mp3) / nominal bit rate (Vorbis)")

    @model_validator(mode="after")
    def _check(self) -> "CodecParams":
        if self.format == "ogg" and self.bitrate_kbps not in VORBIS_KBPS:
            raise ValueError(f"Vorbis bit rate must be one of {list(VORBIS_KBPS)} kbps, got {self.bitrate_kbps}")
        return self


class ReverbParams(_Strict):
    room_size: float = Field(ge=0, le=1)
    damping: float = Field(0.5, ge=0, le=1)
    wet_level: float = Field(ge=0, le=1)
    dry_level: float = Field(ge=0, le=1)
    width: float = Field(1.0, ge=0, le=1)


class TimeStretchParams(_Strict):
    rate: float = Field(gt=0, description="tempo factor: 1.1 plays 10 % faster (durations x 1/rate)")
    use_long_fft_window: bool = Field(
        False, description="Rubber Band's long window; off keeps onsets within ~2 ms (on: up to 18 ms at 0.9)")


class PitchShiftParams(_Strict):
    semitones: float = Field(description="shift in semitones; labels move only for whole semitones")
    use_long_fft_window: bool = False


PARAMS_OF_KIND: dict[str, type[_Strict]] = {
    "identity": IdentityParams, "gain": GainParams, "noise": NoiseParams, "stem_noise": StemNoiseParams,
    "filter": FilterParams, "codec": CodecParams, "reverb": ReverbParams, "time_stretch": TimeStretchParams,
    "pitch_shift": PitchShiftParams,
}


# ----------------------------------------------------------------------------- label rules


class LabelRule(_Strict):
    """What a deformation does to a task's ground truth."""

    rule: RuleName
    reason: str | None = Field(None, description="why (required for 'invalid')")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"rule": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _check(self) -> "LabelRule":
        if self.rule == "invalid" and not self.reason:
            raise ValueError("an 'invalid' rule needs a reason")
        return self


class LabelRules(_Strict):
    types: dict[str, LabelRule] = Field(description="every task type -> its rule")
    tasks: dict[str, LabelRule] = Field(default_factory=dict, description="task name -> rule (overrides its type)")

    @field_validator("types")
    @classmethod
    def _all_types(cls, value: dict[str, LabelRule]) -> dict[str, LabelRule]:
        known = set(typing.get_args(TaskType))
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown task types {unknown} (known: {sorted(known)})")
        missing = sorted(known - set(value))
        if missing:
            raise ValueError(f"every task type needs a rule; missing {missing}")
        return value


# ----------------------------------------------------------------------------- entries and families


class DeformationSpec(_Strict):
    """One deformation: name, version, kind, parameters, seed."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.+-]*$")
    version: int = Field(1, ge=1, description="bump when anything changing its audio or labels changes")
    kind: Kind | None = Field(None, description="default: the family's kind")
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = Field(0, ge=0, description="combined with each example id: every clip its own noise")


class FamilySpec(_Strict):
    """One ``deformations/<family>.yaml``."""

    family: str
    version: int = Field(ge=1)
    description: str
    kind: Kind
    labels: LabelRules
    deformations: list[DeformationSpec]

    @model_validator(mode="after")
    def _check(self) -> "FamilySpec":
        names = [d.name for d in self.deformations]
        if len(set(names)) != len(names):
            raise ValueError(f"deformations: duplicate names in {names}")
        for i, d in enumerate(self.deformations):
            kind = d.kind or self.kind
            try:
                PARAMS_OF_KIND[kind].model_validate(d.params)
            except ValidationError as exc:
                raise ValueError(f"deformations.{i} ({d.name}): "
                                 + explain_validation(exc, f"{kind} params").replace("field ", "field params.")) from exc
            allowed = RULES_OF_KIND[kind] | {"keep", "invalid"}
            for where, rules in (("types", self.labels.types), ("tasks", self.labels.tasks)):
                for key, r in rules.items():
                    if r.rule not in allowed:
                        raise ValueError(f"labels.{where}.{key}: rule {r.rule!r} is not defined for kind {kind!r} "
                                         f"(allowed: {sorted(allowed)})")
        return self


def parse_family(data: Any, source: str = "<family>") -> FamilySpec:
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a deformation family must be a mapping, got {type(data).__name__}")
    try:
        return FamilySpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{source}: {explain_validation(exc, 'deformation family')}") from exc


def load_family(path: str | Path) -> FamilySpec:
    """Read and validate one family YAML; its ``family`` must equal the file name."""
    path = Path(path)
    spec = parse_family(read_yaml(path, "deformation family"), str(path))
    if spec.family != path.stem:
        raise SpecError(f"{path}: field family: {spec.family!r} must equal the file name {path.stem!r}")
    return spec


@lru_cache(maxsize=4)
def _load_folder(folder: str) -> tuple[FamilySpec, ...]:
    families = tuple(load_family(p) for p in sorted(Path(folder).glob("*.yaml")))
    seen: dict[str, str] = {}
    for fam in families:
        for d in fam.deformations:
            if d.name in seen:
                raise SpecError(f"{folder}: deformation {d.name!r} is defined in both {seen[d.name]} and {fam.family}")
            seen[d.name] = fam.family
    return families


def load_families(folder: str | Path | None = None) -> tuple[FamilySpec, ...]:
    """Every family of ``folder`` (default: the shipped ``deformations/``)."""
    return _load_folder(str(Path(folder) if folder is not None else resource_dir("deformations")))
