"""Markdown rendering (GitHub-flavoured tables; also readable as plain text in a terminal)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from mertbench.report.formatting import avg_text, cell_text, header_label, robust_text, row_label
from mertbench.report.table import Cell, Table

if TYPE_CHECKING:
    from mertbench.report.base import ReportData as Report


#: characters that start markdown/inline-HTML syntax in a GitHub-flavoured table cell
_MD_SPECIAL = frozenset("\\`*_<|~&")


def _esc(text: str) -> str:
    """Plain text safe in a markdown table cell or list item: markdown and HTML metacharacters
    are backslash-escaped, as are a ``]`` that would close a link (``](`` or ``][``), the ``:`` of
    ``scheme://`` and the dot of ``www.`` (GFM autolinks), so a model name can open no link,
    image, emphasis or tag (``<`` is escaped, so ``>`` and lone brackets stay as they are); an ``_`` between two
    letters or digits opens no emphasis in CommonMark and stays as it is; newlines become spaces."""
    text = text.replace("\r", " ").replace("\n", " ")
    out = []
    for i, ch in enumerate(text):
        intraword = ch == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
        closes_link = ch == "]" and text[i + 1:i + 2] in ("(", "[")  # [text](url), ![alt](src), [text][ref]
        if (ch in _MD_SPECIAL and not intraword) or closes_link or (ch == ":" and text.startswith("//", i + 1)) \
                or (ch == "." and text[max(0, i - 3):i].lower() == "www"):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _link(target: str) -> str:
    """A link destination: as it is, or in ``<...>`` when it holds spaces or parentheses."""
    if any(ch in target for ch in " ()<>"):
        return "<" + target.replace("<", "%3C").replace(">", "%3E") + ">"
    return target


def md_cell(cell: Cell, decimals: int, show_layer: bool = True) -> str:
    """``**81.2** ± 1.3 @L7`` (bold when best), ``90.6*``, ``-`` when blank."""
    t = cell_text(cell, decimals, show_layer)
    if t.empty:
        return "-"
    out = f"**{t.value}**" if t.best else t.value
    if t.earlier:
        out += "\\*"
    if t.caveat:
        out += "‡"
    if t.ci:
        out += f" ± {t.ci}"
    if t.layer:
        out += f" @{t.layer}"
    return out


def table_markdown(table: Table, show_layer: bool = True) -> str:
    """One table with its notes and provenance as markdown."""
    head = ["Model"] + [header_label(c) for c in table.columns] + (["Avg"] if table.avg_enabled else []) \
        + (["Robust."] if table.robust_enabled else [])
    lines = [f"## {_esc(table.title)}", "",
             "| " + " | ".join(_esc(h) for h in head) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(head) - 1)) + "|"]
    for row in table.rows:
        cells = [_esc(row_label(row))] + [md_cell(row.cell(c.id), table.decimals, show_layer) for c in table.columns]
        if table.avg_enabled:
            avg = avg_text(row, table)
            cells.append(f"**{avg}**" if row.avg_best and row.avg is not None else avg)
        if table.robust_enabled:
            cells.append(robust_text(row, table))
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
                parts.append(f"### Figures ({_esc(table.title)})\n")
                parts += [f"![{_esc(p.title)}]({_link(plot_links[p.stem])})\n\n*{_esc(p.caption)}*\n" for p in figs]
    if report.robustness is not None:
        from mertbench.report.robustness import robustness_markdown

        tasks, names, decimals = report.robust_args()
        section = robustness_markdown(report.robustness, tasks, report.specs, decimals, names, esc=_esc)
        if section:
            parts.append(section)
    parts += ["## Report notes", ""] + [f"- {_esc(n)}" for n in report.notes]
    return "\n".join(parts) + "\n"
