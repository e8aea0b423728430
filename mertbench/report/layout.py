"""Which columns each table has, derived from the task specs.

- **official** (Table 1): the columns of ``baselines/mert_table1.csv`` in its order. A column is
  filled by the official-suite task whose ``report_columns`` maps a metric to it; tasks are
  ordered by their first column. Columns no spec claims keep the paper's task and label
  (:data:`~mertbench.report.reference.TABLE1_COLUMNS`) so published rows still show them.
- **render** / **custom**: one group per task (sorted by name). A task's columns are the metrics
  listed in its ``report_columns`` (the spec author's choice of the Table-1-like metrics, e.g.
  both ROC and AP for tagging, the four stems for separation), or all its metrics when it
  declares none.
"""
from __future__ import annotations

from mertbench.errors import SpecError
from mertbench.report.reference import TABLE1_COLUMNS, table1_header
from mertbench.report.table import Column, TaskGroup
from mertbench.tasks.spec import TaskSpec


def _group_for(spec: TaskSpec, columns: list[Column]) -> TaskGroup:
    primary = spec.metric(spec.primary_metric)
    return TaskGroup(task=spec.name, columns=columns, version=str(spec.version),
                     primary_metric=primary.name, primary_scale=primary.scale,
                     primary_label=primary.label or primary.name)


def official_groups(specs: dict[str, TaskSpec]) -> list[TaskGroup]:
    """Table 1's task groups in the paper's column order (see module docstring).

    Raises SpecError when a spec maps a metric to a column that is not in the Table-1 CSV or
    two specs claim the same column.
    """
    header = table1_header()
    builtin = {c.id: c for c in TABLE1_COLUMNS}
    claims: dict[str, tuple[TaskSpec, str]] = {}
    for spec in specs.values():
        if spec.suite != "official":
            continue
        for metric, col in spec.report_columns.items():
            if col not in header:
                raise SpecError(f"task {spec.name}: report_columns maps {metric!r} to {col!r}, which is not "
                                f"a Table-1 column; known columns: {', '.join(header)}")
            if col in claims and claims[col][0].name != spec.name:
                raise SpecError(f"Table-1 column {col!r} is claimed by tasks {claims[col][0].name} and "
                                f"{spec.name}; fix report_columns in one of them")
            claims[col] = (spec, metric)
    order: list[str] = []
    cols: dict[str, list[Column]] = {}
    task_spec: dict[str, TaskSpec] = {}
    for col_id in header:
        if col_id in claims:
            spec, metric = claims[col_id]
            m = spec.metric(metric)
            fallback = builtin.get(col_id)
            label = m.label or (fallback.label if fallback else metric)
            column = Column(col_id, spec.name, metric, label, m.scale, m.direction)
            task_spec[spec.name] = spec
        else:
            b = builtin.get(col_id)
            column = (Column(col_id, b.task, None, b.label, b.scale, "max") if b
                      else Column(col_id, col_id, None, col_id, "unit", "max"))
        if column.task not in cols:
            order.append(column.task)
            cols[column.task] = []
        cols[column.task].append(column)
    groups = []
    for task in order:
        spec = task_spec.get(task) or specs.get(task)
        if spec is not None and spec.suite == "official" and spec.report_columns:
            groups.append(_group_for(spec, cols[task]))
        else:
            groups.append(TaskGroup(task=task, columns=cols[task]))
    return groups


def suite_groups(specs: dict[str, TaskSpec], suite: str) -> list[TaskGroup]:
    """Task groups of a non-Table-1 suite (``render`` or ``custom``), sorted by task name.

    ``custom`` also receives official-suite specs that declare no ``report_columns``.
    """
    groups = []
    for name in sorted(specs):
        spec = specs[name]
        in_suite = spec.suite == suite or (suite == "custom" and spec.suite == "official" and not spec.report_columns)
        if not in_suite:
            continue
        chosen = [m for m in spec.metrics if m.name in spec.report_columns] if spec.report_columns else list(spec.metrics)
        columns = [Column(spec.report_columns.get(m.name, f"{spec.name}:{m.name}"), spec.name, m.name,
                          m.label or m.name, m.scale, m.direction) for m in chosen]
        groups.append(_group_for(spec, columns))
    return groups


def table_of(spec: TaskSpec) -> str:
    """The table a task's results go to: ``official`` (Table-1 tasks), ``render`` or ``custom``."""
    if spec.suite == "official" and spec.report_columns:
        return "official"
    if spec.suite == "render":
        return "render"
    return "custom"
