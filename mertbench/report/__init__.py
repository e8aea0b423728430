"""Leaderboards from results JSONs: MERT Table 1, the rendered suite, other tasks.

Python API (used by ``mertbench report`` and ``mertbench demo``)::

    from mertbench.report import build_report, write_report

    report = build_report(results_dir="results", suite="all", reference="paper")
    print(report.to_markdown())
    write_report(report, "results/report.html")   # + results/report_plots/*.png|svg

Modules: :mod:`~mertbench.report.collect` (reading results, malformed files kept),
:mod:`~mertbench.report.reference` (Table 1 layout and published rows),
:mod:`~mertbench.report.layout` (columns from task specs), :mod:`~mertbench.report.table`
(table model, Avg rule, bold-best), :mod:`~mertbench.report.build` (compiling),
:mod:`~mertbench.report.plots` (figures) and one module per output format.
"""
from __future__ import annotations

from mertbench.report.build import build_report
from mertbench.report.document import FORMATS, Report, WrittenReport, write_report
from mertbench.report.table import Cell, Column, Row, Table, TaskGroup, marble_average, task_score

__all__ = ["build_report", "write_report", "Report", "WrittenReport", "FORMATS", "Table", "TaskGroup",
           "Column", "Row", "Cell", "marble_average", "task_score"]
