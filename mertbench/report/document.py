"""The :class:`Report` object and :func:`write_report`."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mertbench.errors import MertbenchError
from mertbench.io import atomic_write_bytes
from mertbench.report.base import ReportData
from mertbench.report.csv_table import report_csv
from mertbench.report.html_page import report_html
from mertbench.report.latex import report_latex
from mertbench.report.markdown import report_markdown

FORMATS = ("md", "latex", "csv", "html")
SUFFIX_FORMAT = {".md": "md", ".markdown": "md", ".tex": "latex", ".csv": "csv", ".html": "html", ".htm": "html"}


class Report(ReportData):
    """Compiled tables plus what was read; render with ``to_markdown/to_latex/to_csv/to_html``."""

    def to_markdown(self, plot_links: dict[str, str] | None = None, show_layer: bool = True) -> str:
        return report_markdown(self, plot_links, show_layer)

    def to_latex(self, standalone: bool = False, show_layer: bool = True,
                 plot_paths: dict[str, str] | None = None) -> str:
        return report_latex(self, standalone, show_layer, plot_paths)

    def to_csv(self) -> str:
        return report_csv(self)

    def to_html(self, plots_dir: str | os.PathLike | None = None, embed: str = "png", plots: bool = True,
                show_layer: bool = True, file_links: dict[str, str] | None = None) -> str:
        """Self-contained page with the figures embedded; with ``plots_dir`` the figures are also
        saved there as PNG and SVG files. ``file_links`` maps plot stems to the path (relative to
        the page, without suffix) of their saved files, linked under each figure."""
        if plots and plots_dir is not None:
            self.save_plots(plots_dir)
        return report_html(self, self.plots() if plots else [], embed, show_layer, file_links)

    def render(self, fmt: str, **kwargs: Any) -> str:
        """Render in ``fmt`` (``md``, ``latex``, ``csv``, ``html``)."""
        if fmt == "md":
            return self.to_markdown(**kwargs)
        if fmt == "latex":
            return self.to_latex(**kwargs)
        if fmt == "csv":
            return self.to_csv()
        if fmt == "html":
            return self.to_html(**kwargs)
        raise MertbenchError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")


@dataclass
class WrittenReport:
    """What :func:`write_report` wrote."""

    path: Path
    format: str
    plots_dir: Path | None
    plot_files: list[Path]


def format_for(out: str | os.PathLike | None, fmt: str | None) -> str:
    """The format: ``fmt`` if given, else from ``out``'s suffix, else markdown. A mismatch between
    an explicit format and a known suffix is an error."""
    suffix_fmt = SUFFIX_FORMAT.get(Path(out).suffix.lower()) if out is not None else None
    if fmt is None:
        return suffix_fmt or "md"
    if fmt not in FORMATS:
        raise MertbenchError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if suffix_fmt is not None and suffix_fmt != fmt:
        raise MertbenchError(f"--format {fmt} does not match the file name {out} (a {suffix_fmt} suffix); "
                             "change one of them")
    return fmt


def plots_dir_for(out: str | os.PathLike) -> Path:
    """``<out stem>_plots/`` next to ``out``."""
    out = Path(out)
    return out.with_name(f"{out.stem}_plots")


def write_report(report: Report, out: str | os.PathLike, fmt: str | None = None, plots: bool = True,
                 embed: str = "png", show_layer: bool = True, standalone: bool = False) -> WrittenReport:
    """Write ``report`` to ``out`` atomically in ``fmt`` (default: from the suffix).

    With ``plots`` (ignored for CSV) the figures are saved as PNG and SVG in
    ``<out stem>_plots/``; HTML embeds them (self-contained page), markdown links them and
    LaTeX includes the PNGs as figures (``standalone``: a complete document).
    """
    out = Path(out)
    fmt = format_for(out, fmt)
    plot_dir: Path | None = None
    files: list[Path] = []
    if plots and fmt != "csv" and report.plots():
        plot_dir = plots_dir_for(out)
        files = report.save_plots(plot_dir)
    rel = {p.stem: f"{plot_dir.name}/{p.stem}.png" for p in report.plots()} if plot_dir else None
    if fmt == "html":
        stems = {p.stem: f"{plot_dir.name}/{p.stem}" for p in report.plots()} if plot_dir else None
        text = report.to_html(embed=embed, plots=plots, show_layer=show_layer, file_links=stems)
    elif fmt == "md":
        text = report.to_markdown(plot_links=rel, show_layer=show_layer)
    elif fmt == "latex":
        text = report.to_latex(standalone=standalone, show_layer=show_layer, plot_paths=rel)
    else:
        text = report.to_csv()
    atomic_write_bytes(out, text.encode("utf-8"))
    return WrittenReport(out, fmt, plot_dir, files)
