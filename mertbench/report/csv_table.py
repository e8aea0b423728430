"""CSV rendering: one wide row per (table, model), Table-1 column ids as headers.

Columns: ``table, model, source`` then, for every column id ``C`` of every table, ``C`` (value on
the display scale: percent or dB; published values as printed in the paper, keeping a trailing ``*``), ``C_ci95`` (95% CI
half-width, empty for one seed) and ``C_layer`` (results-file layer key); then ``avg`` and, per
task ``T``, ``T_run_id`` (the run shown). Blank = no value. Measured values are written with 6
significant digits (not rounded to the displayed precision).
"""
from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from mertbench.report.formatting import fmt_num

if TYPE_CHECKING:
    from mertbench.report.base import ReportData as Report


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


def report_csv(report: "Report") -> str:
    """All tables in one CSV (columns of the other tables are blank in a table's rows)."""
    col_ids: list[str] = []
    tasks: list[str] = []
    for table in report.tables:
        for c in table.columns:
            if c.id not in col_ids:
                col_ids.append(c.id)
        for t in table.tasks:
            if t not in tasks:
                tasks.append(t)
    header = ["table", "model", "source"]
    for c in col_ids:
        header += [c, f"{c}_ci95", f"{c}_layer"]
    header += ["avg", "robustness"] + [f"{t}_run_id" for t in tasks]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for table in report.tables:
        ids = {c.id for c in table.columns}
        for row in table.rows:
            line = [table.key, row.model, row.source]
            for c in col_ids:
                cell = row.cell(c) if c in ids else None
                if cell is None or cell.value is None:
                    line += ["", "", ""]
                    continue
                value = (fmt_num(cell.value, table.decimals) + ("*" if cell.earlier else "")) if row.published else _num(cell.value)
                line += [value, _num(cell.ci95) if cell.n > 1 else "", cell.layer or ""]
            line.append(_num(row.avg))
            line.append(_num(None if row.robustness is None else 100.0 * row.robustness))
            line += [row.selections[t].chosen.result.run_id if t in row.selections else "" for t in tasks]
            writer.writerow(line)
    return out.getvalue()
