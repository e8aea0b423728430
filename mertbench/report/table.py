"""The table model shared by every output format.

A :class:`Table` has task groups of columns, rows (measured or published) of cells, an optional
Avg column and notes. Cell values are on the *display* scale: percent for ``unit`` metrics
(stored in [0, 1] in results, multiplied by 100 here), dB for ``db`` metrics, as stored for
``raw``. Formatters (markdown, LaTeX, CSV, HTML) only lay these values out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from mertbench.report.collect import Selection

Scale = Literal["unit", "db", "raw"]
Direction = Literal["max", "min"]


def display_factor(scale: str) -> float:
    """Multiplier from the stored scale to the display scale (100 for ``unit``, else 1)."""
    return 100.0 if scale == "unit" else 1.0


def unit_suffix(scale: str) -> str:
    """``%`` for unit metrics, ``dB`` for SDR-like metrics, empty for raw."""
    return {"unit": "%", "db": "dB"}.get(scale, "")


@dataclass(frozen=True)
class Column:
    """One table column: a metric of a task.

    ``metric`` is the metric name in results files, or None for a Table-1 column that no task
    spec fills (published rows can still show it; measured rows are blank there).
    """

    id: str
    task: str
    metric: str | None
    label: str
    scale: Scale = "unit"
    direction: Direction = "max"


@dataclass
class TaskGroup:
    """The columns of one task (Table 1 groups ROC/AP of a tagging task under one heading)."""

    task: str
    columns: list[Column]
    version: str | None = None  # current spec version (None: no spec)
    primary_metric: str | None = None
    primary_scale: Scale = "unit"
    primary_label: str | None = None


@dataclass
class Cell:
    """One number. ``value``/``ci95`` on the display scale; ``layer`` is the results-file layer
    key that produced it ("7", "weighted"); ``earlier`` marks a published number the paper took
    from earlier publications (``*``); ``note`` explains a blank cell."""

    value: float | None = None
    ci95: float | None = None
    n: int = 1
    layer: str | None = None
    earlier: bool = False
    best: bool = False
    note: str | None = None
    run_id: str | None = None
    #: why this measured value is not comparable with its column (different data, many skipped
    #: examples); such a cell is marked ``‡``, never bold, and the table notes say why
    caveat: str | None = None


@dataclass
class Row:
    """One model. ``source`` is ``measured`` (from results files) or ``published``."""

    model: str
    source: Literal["measured", "published"]
    cells: dict[str, Cell] = field(default_factory=dict)
    selections: dict[str, Selection] = field(default_factory=dict)  # task -> run shown
    avg: float | None = None
    avg_best: bool = False
    aggregate: bool = False  # e.g. "previous SOTA": best numbers of different systems
    citation: str | None = None
    label: str = ""  # the display name (mertbench.models.naming); the model id when empty
    #: robustness score (mean relative retention, 1.0 = nothing lost; mertbench.report.robustness) or None
    robustness: float | None = None

    @property
    def published(self) -> bool:
        return self.source == "published"

    @property
    def name(self) -> str:
        """What tables and plots show: the display name, else the model id."""
        return self.label or self.model

    def cell(self, column_id: str) -> Cell:
        return self.cells.get(column_id) or Cell()


@dataclass
class Table:
    """One leaderboard (official Table 1, the rendered suite, or other tasks)."""

    key: str
    title: str
    groups: list[TaskGroup]
    rows: list[Row] = field(default_factory=list)
    avg_enabled: bool = False
    avg_reason: str = ""  # why Avg is not shown when disabled
    robust_enabled: bool = False  # a Robust. column after Avg (some row has robustness results)
    notes: list[str] = field(default_factory=list)
    provenance: list[str] = field(default_factory=list)
    decimals: int = 1

    @property
    def columns(self) -> list[Column]:
        return [c for g in self.groups for c in g.columns]

    @property
    def tasks(self) -> list[str]:
        return [g.task for g in self.groups]

    def group(self, task: str) -> TaskGroup:
        for g in self.groups:
            if g.task == task:
                return g
        raise KeyError(task)


def task_score(row: Row, group: TaskGroup) -> float | None:
    """MARBLE's per-task score: the mean of the task's columns on the display scale (percent
    for unit metrics, raw dB for SDR). None if any column is blank."""
    values = [row.cell(c.id).value for c in group.columns]
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)  # type: ignore[arg-type]


def marble_average(row: Row, groups: list[TaskGroup]) -> float | None:
    """Avg by MARBLE's rule: each task's metrics averaged first (:func:`task_score`), then the
    mean over the tasks. None unless the row has every task."""
    scores = [task_score(row, g) for g in groups]
    if not scores or any(s is None for s in scores):
        return None
    return sum(scores) / len(scores)  # type: ignore[arg-type]


def _best_flags(values: list[float | None], direction: str, decimals: int) -> list[bool]:
    """True for entries equal (at the displayed precision) to the best entry."""
    shown = [round(v, decimals) if v is not None and math.isfinite(v) else None for v in values]
    present = [v for v in shown if v is not None]
    if not present:
        return [False] * len(values)
    best = max(present) if direction == "max" else min(present)
    return [v is not None and v == best for v in shown]


def finalize(table: Table) -> Table:
    """Compute Avg and the bold-best flags in place.

    Best per column is direction-aware and compared at the displayed precision (ties are all
    bold). Measured and published rows compete; aggregate rows ("previous SOTA") neither win
    bold nor get an Avg, because they combine different systems; a cell with a ``caveat``
    (measured on other data) never wins bold, nor does the Avg of a row that has one.
    """
    competing = [r for r in table.rows if not r.aggregate]
    for col in table.columns:
        cells = [r.cell(col.id) for r in competing]
        values = [None if c.caveat else c.value for c in cells]
        for cell, flag in zip(cells, _best_flags(values, col.direction, table.decimals)):
            cell.best = flag
    for row in table.rows:
        row.avg = marble_average(row, table.groups) if table.avg_enabled and not row.aggregate else None
    avgs = [None if any(c.caveat for c in r.cells.values()) else r.avg for r in competing]
    for row, flag in zip(competing, _best_flags(avgs, "max", table.decimals)):
        row.avg_best = flag
    return table
