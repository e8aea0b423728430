"""Reading results JSONs for a report: every file is either used or counted as malformed.

:func:`collect_results` walks ``<results>/runs`` with :func:`mertbench.results.iter_results`;
files that do not validate are kept as :class:`Malformed` entries (path + reason) so the report
can list them. :func:`select_run` chooses the run shown when a (model, task) pair has several.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mertbench.errors import ResultsError
from mertbench.paths import results_root
from mertbench.results import RunResult, iter_results

#: How the run shown for a (model, task) pair with several runs is chosen.
Pick = Literal["newest", "best-valid"]
PICKS: tuple[str, ...] = ("newest", "best-valid")


@dataclass
class Malformed:
    """A results file that could not be read (the reason names the file and the field)."""

    path: Path
    error: str


@dataclass
class RunRecord:
    """A valid results file."""

    path: Path
    result: RunResult

    @property
    def created(self) -> _dt.datetime | None:
        """``provenance.created`` as an aware datetime (None if unparseable)."""
        return parse_time(self.result.provenance.created)


@dataclass
class Collection:
    """Everything found under one results folder."""

    root: Path
    runs: list[RunRecord] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)

    @property
    def files(self) -> int:
        """Number of results files seen (valid + malformed)."""
        return len(self.runs) + len(self.malformed)


def parse_time(text: str | None) -> _dt.datetime | None:
    """Parse an ISO-8601 time; naive times are taken as UTC. None when unparseable."""
    if not text:
        return None
    try:
        t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def resolve_results_dir(results_dir: str | Path | None) -> Path:
    """The results root: ``results_dir`` or ``$MERTBENCH_RESULTS``. A path ending in ``runs``
    that has no ``runs/`` below it is taken as the runs folder itself (its parent is the root)."""
    root = Path(results_dir).expanduser() if results_dir is not None else results_root()
    if root.name == "runs" and not (root / "runs").is_dir() and root.is_dir():
        root = root.parent
    return root


def collect_results(results_dir: str | Path | None = None) -> Collection:
    """Read every ``*.json`` under ``<results_dir>/runs``; malformed files are recorded, not dropped."""
    root = resolve_results_dir(results_dir)
    coll = Collection(root=root)
    for path, item in iter_results(root):
        if isinstance(item, ResultsError):
            coll.malformed.append(Malformed(path, str(item)))
        else:
            coll.runs.append(RunRecord(path, item))
    return coll


def recency_key(rec: RunRecord) -> tuple:
    """Sort key of recency: `provenance.created` (unparseable: oldest), then run id."""
    created = rec.created
    stamp = created.timestamp() if created is not None else float("-inf")
    return (stamp, rec.result.run_id)


def _valid_score(rec: RunResult) -> float | None:
    """The validation primary metric at the selected layer, sign-flipped for ``min`` metrics."""
    try:
        value = rec.metric("valid").mean
    except ResultsError:
        return None
    direction = rec.metric_directions.get(rec.primary_metric, "max")
    return value if direction == "max" else -value


@dataclass
class Selection:
    """The run shown for one (model, task) pair and what was set aside."""

    chosen: RunRecord
    others: list[RunRecord]
    stale_version: bool  # True when no run matches the current task spec version
    pick: str


def select_run(runs: list[RunRecord], task_version: str | None, pick: Pick = "newest") -> Selection:
    """Choose among the runs of one (model, task) pair.

    Runs whose ``task_version`` equals the current spec version are preferred; among them
    ``newest`` takes the latest ``provenance.created`` (ties: larger run id) and ``best-valid``
    the best validation primary metric at each run's selected layer (runs without one rank last,
    ties broken by recency).
    """
    if not runs:
        raise ValueError("select_run needs at least one run")
    if pick not in PICKS:
        raise ValueError(f"pick must be one of {PICKS}, got {pick!r}")
    current = [r for r in runs if task_version is None or r.result.task_version == str(task_version)]
    pool = current or list(runs)
    if pick == "newest":
        chosen = max(pool, key=recency_key)
    else:
        def key(rec: RunRecord) -> tuple:
            score = _valid_score(rec.result)
            return (score is not None, score if score is not None else 0.0, recency_key(rec))
        chosen = max(pool, key=key)
    others = [r for r in runs if r is not chosen]
    return Selection(chosen, others, stale_version=not current, pick=pick)
