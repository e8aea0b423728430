"""Markdown rendering (GitHub-flavoured tables; also readable as plain text in a terminal)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from mertbench.report.formatting import avg_text, cell_text, header_label, row_label
from mertbench.report.table import Cell, Table

if TYPE_CHECKING:
    from mertbench.report.base import ReportData as Report


def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_cell(cell: Cell, decimals: int, show_layer: bool = True) -> str:
    """``**81.2** ± 1.3 @L7`` (bold when best), ``90.6*``, ``-`` when blank."""
    t = cell_text(cell, decimals, show_layer)
    if t.empty:
        return "-"
    out = f"**{t.value}**" if t.best else t.value
    if t.earlier:
        out += "\\*"
    if t.ci:
        out += f" ± {t.ci}"
    if t.layer:
        out += f" @{t.layer}"
    return out


def table_markdown(table: Table, show_layer: bool = True) -> str:
    """One table with its notes and provenance as markdown."""
    head = ["Model"] + [header_label(c) for c in table.columns] + (["Avg"] if table.avg_enabled else [])
    lines = [f"## {table.title}", "",
             "| " + " | ".join(_esc(h) for h in head) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(head) - 1)) + "|"]
    for row in table.rows:
        cells = [_esc(row_label(row))] + [md_cell(row.cell(c.id), table.decimals, show_layer) for c in table.columns]
        if table.avg_enabled:
            avg = avg_text(row, table)
            cells.append(f"**{avg}**" if row.avg_best and row.avg is not None else avg)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {_esc(n)}" for n in table.notes]
    if table.provenance:
        lines += ["", "Provenance (runs shown):", ""] + [f"- {_esc(p)}" for p in table.provenance]
    return "\n".join(lines) + "\n"


def report_markdown(report: "Report", plot_links: dict[str, str] | None = None, show_layer: bool = True) -> str:
    """The whole report; ``plot_links`` maps plot stems to (relative) image paths to link."""
    parts = ["# mertbench report", ""]
    for table in report.tables:
        parts.append(table_markdown(table, show_layer))
        if plot_links:
            figs = [p for p in report.plots() if p.table == table.key and p.stem in plot_links]
            if figs:
                parts.append(f"### Figures ({table.title})\n")
                parts += [f"![{p.title}]({plot_links[p.stem]})\n\n*{p.caption}*\n" for p in figs]
    parts += ["## Report notes", ""] + [f"- {_esc(n)}" for n in report.notes]
    return "\n".join(parts) + "\n"
