"""HTML rendering: one self-contained page (inline CSS, figures embedded as base64 PNG or
inline SVG), well-formed XML so that it parses with any XML parser."""
from __future__ import annotations

import base64
import re
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

from mertbench._version import __version__
from mertbench.report.formatting import avg_text, cell_text, layer_tag, robust_text
from mertbench.report.plots import Plot
from mertbench.report.table import Cell, Column, Row, Table

if TYPE_CHECKING:
    from mertbench.report.base import ReportData as Report

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
.scroll { overflow-x: auto; }
table.leaderboard { border-collapse: collapse; font-size: 0.85em; white-space: nowrap; }
table.leaderboard th, table.leaderboard td { padding: 0.25em 0.5em; border-bottom: 1px solid #ddd; text-align: right; }
table.leaderboard th.model { text-align: left; position: sticky; left: 0; z-index: 1; background: #fff;
  white-space: normal; min-width: 9em; max-width: 15em; box-shadow: 1px 0 0 #ddd; }
table.leaderboard thead th { background: #f4f4f4; text-align: center; white-space: normal; }
table.leaderboard thead th.model { background: #f4f4f4; z-index: 2; }
tr.published th.model { background: #fafafa; }
tr.published { font-style: italic; color: #555; background: #fafafa; }
tr.aggregate { color: #888; }
.badge { font-size: 0.7em; font-style: normal; background: #ddd; border-radius: 3px; padding: 0 0.3em; }
.ci { color: #777; font-size: 0.85em; } sup.layer { color: #36c; font-size: 0.7em; }
td.blank { color: #bbb; }
ul.notes { font-size: 0.85em; color: #444; }
ul.toc { font-size: 0.9em; } span.files { white-space: nowrap; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; max-width: 100%; } figure img, figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.8em; color: #555; max-width: 40em; }
"""


def _cell_title(row: Row, col: Column, cell: Cell) -> str:
    if row.published:
        return f"{row.name}: published{' (taken from earlier publications)' if cell.earlier else ''}"
    if cell.value is None:
        return f"{row.name}, {col.task}: {cell.note or 'no value'}"
    if cell.caveat:
        return f"{row.name}, {col.task}: {cell.caveat}"
    sel = row.selections.get(col.task)
    parts = [f"{row.name}, {col.task} {col.metric}", f"layer {layer_tag(cell.layer)}", f"{cell.n} seed(s)"]
    if sel is not None:
        res = sel.chosen.result
        parts += [f"run {res.run_id}", f"created {res.provenance.created}",
                  f"mertbench {res.provenance.mertbench_version}", f"git {res.provenance.git_hash or 'unknown'}",
                  f"task version {res.task_version}"]
    return "; ".join(parts)


def html_cell(row: Row, col: Column, cell: Cell, decimals: int, show_layer: bool = True) -> str:
    t = cell_text(cell, decimals, show_layer)
    title = escape(_cell_title(row, col, cell), quote=True)
    if t.empty:
        return f'<td class="blank" title="{title}">–</td>'
    inner = f"<strong>{t.value}</strong>" if t.best else t.value
    if t.earlier:
        inner += "<sup>*</sup>"
    if t.caveat:
        inner += '<sup class="caveat">‡</sup>'
    if t.ci:
        inner += f' <span class="ci">± {t.ci}</span>'
    if t.layer:
        inner += f' <sup class="layer">{escape(t.layer)}</sup>'
    return f'<td title="{title}">{inner}</td>'


def table_html(table: Table, show_layer: bool = True) -> str:
    avg = table.avg_enabled
    h1 = ['<th rowspan="2" class="model">Model</th>']
    h1 += [f'<th colspan="{len(g.columns)}">{escape(g.task)}</th>' for g in table.groups]
    if avg:
        h1.append('<th rowspan="2">Avg</th>')
    if table.robust_enabled:
        h1.append('<th rowspan="2" title="mean retention of the primary metric under the deformations, %">Robust.</th>')
    h2 = [f"<th>{escape(c.label)}</th>" for c in table.columns]
    body = []
    for row in table.rows:
        cls = " ".join(x for x in ("published" if row.published else "measured",
                                    "aggregate" if row.aggregate else "") if x)
        name = escape(row.name)
        if row.published:
            name += ' <span class="badge" title="published, not measured by mertbench">published †</span>'
        cells = [f'<th scope="row" class="model">{name}</th>']
        cells += [html_cell(row, c, row.cell(c.id), table.decimals, show_layer) for c in table.columns]
        if avg:
            a = avg_text(row, table)
            cells.append(f"<td><strong>{a}</strong></td>" if row.avg_best and row.avg is not None
                         else f'<td class="{"blank" if row.avg is None else ""}">{a}</td>')
        if table.robust_enabled:
            cells.append(f'<td class="{"blank" if row.robustness is None else ""}">{robust_text(row, table)}</td>')
        body.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>")
    parts = [f"<h2>{escape(table.title)}</h2>",
             '<div class="scroll"><table class="leaderboard">',
             "<thead><tr>" + "".join(h1) + "</tr><tr>" + "".join(h2) + "</tr></thead>",
             "<tbody>" + "\n".join(body) + "</tbody></table></div>",
             '<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in table.notes) + "</ul>"]
    if table.provenance:
        parts.append("<details><summary>Provenance of the runs shown</summary><ul class=\"notes\">"
                     + "".join(f"<li>{escape(p)}</li>" for p in table.provenance) + "</ul></details>")
    return "\n".join(parts)


_SVG_ID = re.compile(r'\bid="([^"]+)"')


def inline_svg(svg: str, prefix: str) -> str:
    """Matplotlib SVG made embeddable: XML declaration and DOCTYPE dropped, ids prefixed so that
    several figures in one page do not share ids."""
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("not an SVG document")
    svg = svg[start:]
    for ident in sorted(set(_SVG_ID.findall(svg)), key=len, reverse=True):
        new = f"{prefix}{ident}"
        svg = svg.replace(f'id="{ident}"', f'id="{new}"').replace(f'"#{ident}"', f'"#{new}"') \
                 .replace(f"url(#{ident})", f"url(#{new})")
    return svg


def figure_html(plot: Plot, embed: str, file_stem: str | None = None) -> str:
    """One figure; with ``file_stem`` (``<plots dir>/<stem>``, relative to the page) its caption
    links the saved PNG and SVG files."""
    if embed == "svg":
        content = inline_svg(plot.svg, re.sub(r"[^A-Za-z0-9]", "", plot.stem) + "-")
    else:
        content = png_img(plot.png, plot.title)
    links = ""
    if file_stem:
        href = quote(file_stem)
        links = (f' <span class="files">(<a href="{escape(href, quote=True)}.png">PNG</a>, '
                 f'<a href="{escape(href, quote=True)}.svg">SVG</a>)</span>')
    return f'<figure id="fig-{escape(plot.stem, quote=True)}">{content}<figcaption>{escape(plot.caption)}{links}</figcaption></figure>'


def _nav(report: "Report") -> str:
    """Links to the page's sections."""
    items = [(f"table-{t.key}", t.title) for t in report.tables]
    if report.pretrain_runs:
        items.append(("pretraining", "Pretraining"))
    items.append(("notes", "Report notes"))
    return '<nav><ul class="toc">' + "".join(
        f'<li><a href="#{escape(ident, quote=True)}">{escape(title)}</a></li>' for ident, title in items) + "</ul></nav>"


def png_img(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as base64."""
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{escape(alt, quote=True)}"/>'



def report_html(report: "Report", plots: list[Plot] | None = None, embed: str = "png",
                show_layer: bool = True, file_links: dict[str, str] | None = None) -> str:
    """The page. ``plots`` default: :meth:`Report.plots`; ``embed``: ``png`` (base64) or ``svg``;
    ``file_links``: plot stem -> saved files' path without suffix (see :func:`figure_html`).
    The page loads nothing from the network: styles inline, figures embedded, links local."""
    if embed not in ("png", "svg"):
        raise ValueError(f"embed must be 'png' or 'svg', got {embed!r}")
    plots = report.plots() if plots is None else plots
    parts = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8"/>',
             '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
             f'<meta name="generator" content="mertbench {escape(__version__)}"/>',
             "<title>mertbench report</title>", f"<style>{CSS}</style></head><body>",
             "<h1>mertbench report</h1>", _nav(report)]
    for table in report.tables:
        parts.append(f'<section id="table-{escape(table.key)}">')
        parts.append(table_html(table, show_layer))
        figs = [p for p in plots if p.table == table.key]
        if figs:
            parts.append("<h3>Figures</h3><div class=\"figures\">" + "\n".join(figure_html(p, embed, (file_links or {}).get(p.stem)) for p in figs)
                         + "</div>")
        parts.append("</section>")
    section = ""
    if report.robustness is not None:
        from mertbench.report.robustness import robustness_html

        tasks, names, decimals = report.robust_args()
        section = robustness_html(report.robustness, tasks, report.specs, decimals, names)
    if section:
        figs = [p for p in plots if p.table == "robustness"]
        parts.append('<section id="robustness"><h2>Robustness</h2>')
        if figs:
            parts.append("<div class=\"figures\">" + "\n".join(figure_html(p, embed, (file_links or {}).get(p.stem))
                                                       for p in figs) + "</div>")
        parts.append(section + "</section>")
    if report.pretrain_runs:
        parts.append('<section id="pretraining"><h2>Pretraining</h2><div class="figures">')
        for run in report.pretrain_runs:
            img = png_img((run / "eval_curves.png").read_bytes(), f"training curve of {run.name}")
            parts.append(f"<figure>{img}<figcaption>{escape(str(run))}: online evaluation during "
                         "pretraining: validation accuracy of per-layer ridge probes on time-mean features (best "
                         "layer; dashed: the random-init model at step 0) and teacher cross-entropy on held-out "
                         "corpus clips against the label prior (docs/pretrain.md).</figcaption></figure>")
        parts.append("</div></section>")
    parts.append('<section id="notes"><h2>Report notes</h2><ul class="notes">'
                 + "".join(f"<li>{escape(n)}</li>" for n in report.notes) + "</ul></section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
