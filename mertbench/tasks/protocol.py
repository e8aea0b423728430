"""Evaluation protocols as data: ``protocols/<name>.yaml`` (shipped), refined per task in its spec.

A protocol names the harness-wide settings that change results (:class:`ProtocolSettings`) and
the *choices* where it knowingly differs from MARBLE or the MERT paper (:class:`Choice`: what
MARBLE does, what the paper says, what this protocol does, and why). Two ship:

- ``mertbench`` (the default): MARBLE v1's task settings with probe inputs standardised;
- ``marble-v1``: MARBLE v1 as far as ``shared/reference/marble_tasks.md`` documents it;
- ``mertbench-cpu``: ``mertbench`` with the frame-level probes (beat, separation) on a CPU budget
  (:class:`ProbeBudget`): the protocol of the checked-in reference results (``results/``).

A task spec refines a protocol in its ``protocols:`` block (settings and extra choices for that
task). :func:`resolve_protocol` merges protocol defaults with the spec's refinement; the probe
records the result in each results file (``provenance.protocol``, ``hyperparameters.protocol``)
and in the config hash. :func:`deviations` lists, per task, every difference between ``mertbench``
and ``marble-v1`` and every recorded choice: the source of ``mertbench tasks --deviations`` and
of ``docs/protocol.md``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mertbench.errors import SpecError
from mertbench.paths import resource_dir
from mertbench.tasks.types import TaskType as TaskTypeName

DEFAULT_PROTOCOL = "mertbench"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProbeBudget(_Strict):
    """A protocol's cap on the probe training of one task type (a compute budget, named and recorded).

    Unset fields keep the task spec's own settings. An explicit ``lrs`` / ``max_epochs`` / option
    given to :func:`mertbench.probe.run.run_probe` still wins; ``seeds`` caps the caller's seeds.
    """

    seeds: int | None = Field(None, ge=1, description="at most this many probe seeds (the first ones)")
    lr_grid: list[float] | None = Field(None, min_length=1, description="learning rates instead of the spec's grid")
    max_epochs: int | None = Field(None, ge=1, description="epochs instead of the spec's probe.max_epochs")
    options: dict[str, Any] = Field(default_factory=dict, description="probe options over the spec's probe.options")


#: settings a protocol file may leave out (absent: nothing changes, and nothing is recorded)
OPTIONAL_SETTINGS = frozenset({"probe_budget"})


class ProtocolSettings(_Strict):
    """Harness-wide settings that change results. ``None`` in a refinement: keep the protocol's."""

    standardize: bool | None = Field(
        None, description="standardise probe inputs with the training split's per-dimension moments")
    probe_budget: dict[TaskTypeName, ProbeBudget] | None = Field(
        None, description="per task type: a compute budget for its probes (seeds, lr grid, epochs, options); "
                          "types without one keep their spec's settings")


class Choice(_Strict):
    """A recorded difference from MARBLE (and the paper): never silent, always with its reason."""

    id: str
    setting: str = Field(description="what the choice is about, e.g. 'training batches'")
    marble: str = Field(description="what MARBLE v1 does (per the reference notes)")
    paper: str | None = Field(None, description="what the MARBLE/MERT paper states, where it differs from the code")
    here: str = Field(description="what this protocol does")
    reason: str
    tasks: list[str] | None = Field(None, description="tasks it applies to (None: every task of `types`)")
    types: list[str] | None = Field(None, description="task types it applies to (None: every type)")

    def applies(self, task: str, task_type: str) -> bool:
        return (self.tasks is None or task in self.tasks) and (self.types is None or task_type in self.types)


class ProtocolSpec(_Strict):
    """One ``protocols/<name>.yaml``."""

    name: str
    version: int = Field(ge=1, description="bump when a setting changes results")
    description: str
    citation: str | None = None
    inherits: str | None = Field(None, description="another protocol whose choices also apply to this one")
    settings: ProtocolSettings
    reasons: dict[str, str] = Field(default_factory=dict, description="setting -> why this protocol sets it so")
    choices: list[Choice] = Field(default_factory=list)


class ProtocolRefinement(_Strict):
    """A task spec's refinement of one protocol (``protocols: {<name>: {...}}`` in the spec)."""

    settings: ProtocolSettings = Field(default_factory=ProtocolSettings)
    reasons: dict[str, str] = Field(default_factory=dict)
    choices: list[Choice] = Field(default_factory=list)


@dataclass(frozen=True)
class ResolvedProtocol:
    """A protocol as it applies to one task: settings after the spec's refinement, and choices."""

    name: str
    version: int
    settings: dict[str, Any]
    choices: list[Choice] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """What results files store (and the config hash covers)."""
        return {"name": self.name, "version": self.version, "settings": dict(self.settings),
                "choices": [c.id for c in self.choices]}


def explain_validation(exc: ValidationError, schema: str) -> str:
    """``field a.b: message; ...`` for every error of a strict-schema file (``schema``: its name in
    the "unknown key" message, e.g. ``task``)."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = f"unknown key (not part of the {schema} schema)" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"field {loc}: {msg}")
    return "; ".join(parts)


def load_protocol_file(path: str | Path) -> ProtocolSpec:
    """Read and validate one protocol YAML; errors name the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: invalid YAML ({exc})") from exc
    try:
        spec = ProtocolSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{path}: {explain_validation(exc, 'protocol')}") from exc
    if spec.name != path.stem:
        raise SpecError(f"{path}: field name: {spec.name!r} must equal the file name {path.stem!r}")
    missing = [k for k, v in spec.settings.model_dump().items() if v is None and k not in OPTIONAL_SETTINGS]
    if missing:
        raise SpecError(f"{path}: settings: {', '.join(missing)} must be set (a protocol defines every setting)")
    return spec


@lru_cache(maxsize=1)
def all_protocols() -> dict[str, ProtocolSpec]:
    """Every shipped protocol by name."""
    folder = resource_dir("protocols")
    return {p.stem: load_protocol_file(p) for p in sorted(folder.glob("*.yaml"))}


def get_protocol(name: str) -> ProtocolSpec:
    """A shipped protocol; an unknown name is a SpecError listing the known ones."""
    protocols = all_protocols()
    if name not in protocols:
        raise SpecError(f"unknown protocol {name!r}; choose one of {', '.join(sorted(protocols))} "
                        "(docs/protocol.md)")
    return protocols[name]


def resolve_protocol(spec: Any, name: str | None = None) -> ResolvedProtocol:
    """``name`` (default :data:`DEFAULT_PROTOCOL`) as it applies to task ``spec`` (a TaskSpec)."""
    proto = get_protocol(name or DEFAULT_PROTOCOL)
    refinements = getattr(spec, "protocols", {}) or {}
    unknown = sorted(set(refinements) - set(all_protocols()))
    if unknown:
        raise SpecError(f"task {spec.name}: protocols: {unknown} are not protocols; choose from "
                        f"{', '.join(sorted(all_protocols()))}")
    settings = proto.settings.model_dump(exclude_none=True)
    chain, seen = [proto], {proto.name}
    while chain[-1].inherits:
        parent = get_protocol(chain[-1].inherits)
        if parent.name in seen:
            raise SpecError(f"protocol {proto.name}: inherits forms a cycle through {parent.name}")
        seen.add(parent.name)
        chain.append(parent)
    choices = [c for p in reversed(chain) for c in p.choices if c.applies(spec.name, spec.type)]
    ref = refinements.get(proto.name)
    if ref is not None:
        settings.update(ref.settings.model_dump(exclude_none=True))
        choices += ref.choices
    # a budget is recorded only for the task type it applies to (results of other types stay as without it)
    budget = settings.pop("probe_budget", None) or {}
    if spec.type in budget:
        settings["probe_budget"] = budget[spec.type]
    return ResolvedProtocol(proto.name, proto.version, settings, choices)


@dataclass(frozen=True)
class Deviation:
    """One row of the deviations table."""

    task: str
    kind: str  # "mertbench vs marble-v1" or "marble-v1 vs MARBLE" / "mertbench vs MARBLE"
    setting: str
    marble: str
    here: str
    reason: str
    paper: str | None = None


def _reason(proto: ProtocolSpec, spec: Any, key: str) -> str:
    ref = (getattr(spec, "protocols", {}) or {}).get(proto.name)
    if ref is not None and key in ref.reasons:
        return ref.reasons[key]
    return proto.reasons.get(key, "")


def deviations(spec: Any) -> list[Deviation]:
    """Every difference, for task ``spec``: settings where ``mertbench`` and ``marble-v1`` differ,
    then the recorded choices of each protocol (how it differs from MARBLE or the paper)."""
    ours, marble = resolve_protocol(spec, "mertbench"), resolve_protocol(spec, "marble-v1")
    rows: list[Deviation] = []
    ours_spec = get_protocol("mertbench")
    for key, value in ours.settings.items():
        if marble.settings.get(key) != value:
            rows.append(Deviation(spec.name, "mertbench vs marble-v1", key, f"{key}: {marble.settings.get(key)}",
                                  f"{key}: {value}", _reason(ours_spec, spec, key)))
    shared = {c.id for c in marble.choices} & {c.id for c in ours.choices}
    for c in marble.choices:
        kind = "both vs MARBLE" if c.id in shared else "marble-v1 vs MARBLE"
        rows.append(Deviation(spec.name, kind, c.setting, c.marble, c.here, c.reason, c.paper))
    for c in ours.choices:
        if c.id not in shared:
            rows.append(Deviation(spec.name, "mertbench vs MARBLE", c.setting, c.marble, c.here, c.reason, c.paper))
    return rows


def deviations_markdown(specs: list[Any]) -> str:
    """docs/protocol.md: the protocols' settings, then one table per task (generated; do not edit)."""
    lines = ["# Evaluation protocols and their deviations", "",
             "<!-- generated by `mertbench tasks --deviations --markdown > docs/protocol.md`; "
             "tests/test_protocols.py checks it is current -->", "",
             "`mertbench probe --protocol NAME` (default `mertbench`). Each results file records the protocol, "
             "its version and its resolved settings; `mertbench report` refuses to put results of different "
             "protocols or task versions in one column unless `--mix-protocols` is given.", ""]
    for proto in all_protocols().values():
        lines += [f"## `{proto.name}` (version {proto.version})", "", proto.description, ""]
        lines += [f"- `{k}`: {v}" + (f" ({proto.reasons[k]})" if k in proto.reasons else "")
                  for k, v in proto.settings.model_dump(exclude_none=True).items()]
        lines.append("")
    lines += ["## Per task", "", "Rows: settings where `mertbench` and `marble-v1` differ, then the recorded "
              "choices where a protocol differs from MARBLE v1 (and, where stated, the paper): *both* = "
              "`marble-v1` and `mertbench` (which inherits `marble-v1`'s choices).", ""]
    for spec in specs:
        rows = deviations(spec)
        lines += [f"### {spec.name} (version {spec.version})", ""]
        if not rows:
            lines += ["No deviation recorded.", ""]
            continue
        lines += ["| kind | setting | MARBLE (or marble-v1) | here | reason |", "| --- | --- | --- | --- | --- |"]
        for r in rows:
            marble = r.marble + (f" (paper: {r.paper})" if r.paper else "")
            lines.append("| " + " | ".join(x.replace("|", "\\|") for x in (r.kind, r.setting, marble, r.here, r.reason))
                         + " |")
        lines.append("")
    return "\n".join(lines)
