"""The :class:`Report` object and :func:`write_report`."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mertbench.errors import MertbenchError
from mertbench.io import atomic_write_bytes
from mertbench.report.collect import Collection
from mertbench.report.plots import Plot, render_plots
from mertbench.report.table import Table

FORMATS = ("md", "latex", "csv", "html")
SUFFIX_FORMAT = {".md": "md", ".markdown": "md", ".tex": "latex", ".csv": "csv", ".html": "html", ".htm": "html"}


@dataclass
class Report:
    """Compiled tables plus what was read; render with ``to_markdown/to_latex/to_csv/to_html``."""

    tables: list[Table]
    collection: Collection
    notes: list[str] = field(default_factory=list)
    specs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    _plots: list[Plot] | None = field(default=None, repr=False)

    def table(self, key: str) -> Table:
        """The table ``official``, ``render`` or ``custom``."""
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(f"no {key!r} table in this report (tables: {[t.key for t in self.tables]})")

    @property
    def malformed(self) -> list:
        """Results files that could not be read (path, reason)."""
        return self.collection.malformed

    def plots(self) -> list[Plot]:
        """Rendered figures (heatmap and layer-wise per table); rendered once, then cached."""
        if self._plots is None:
            self._plots = render_plots(self.tables)
        return self._plots

    def save_plots(self, directory: str | os.PathLike) -> list[Path]:
        """Write every figure as PNG and SVG into ``directory`` plus ``manifest.json`` (what each
        figure shows, the runs drawn, provenance); figures of an earlier report that this one no
        longer has are removed. Returns the figure paths."""
        from mertbench import __version__
        from mertbench.provenance import git_hash, now_iso
        from mertbench.report.plots import PLOT_FILE

        directory = Path(directory)
        paths: list[Path] = []
        for plot in self.plots():
            paths += plot.save(directory)
        keep = {p.name for p in paths}
        for old in directory.iterdir():
            if PLOT_FILE.match(old.name) and old.name not in keep:
                old.unlink()
        manifest = {"mertbench_version": __version__, "git_hash": git_hash(), "created": now_iso(),
                    "results": str(self.collection.root), "options": self.options,
                    "figures": [{"stem": p.stem, "title": p.title, "caption": p.caption, "kind": p.kind,
                                 "table": p.table, "files": [x.name for x in p.paths], "runs": p.runs}
                                for p in self.plots()]}
        atomic_write_bytes(directory / "manifest.json",
                        (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        return paths

    def to_markdown(self, plot_links: dict[str, str] | None = None, show_layer: bool = True) -> str:
        from mertbench.report.markdown import report_markdown

        return report_markdown(self, plot_links, show_layer)

    def to_latex(self, standalone: bool = False, show_layer: bool = True,
                 plot_paths: dict[str, str] | None = None) -> str:
        from mertbench.report.latex import report_latex

        return report_latex(self, standalone, show_layer, plot_paths)

    def to_csv(self) -> str:
        from mertbench.report.csv_table import report_csv

        return report_csv(self)

    def to_html(self, plots_dir: str | os.PathLike | None = None, embed: str = "png", plots: bool = True,
                show_layer: bool = True) -> str:
        """Self-contained page with the figures embedded; with ``plots_dir`` the figures are also
        saved there as PNG and SVG files."""
        from mertbench.report.html_page import report_html

        if plots and plots_dir is not None:
            self.save_plots(plots_dir)
        return report_html(self, self.plots() if plots else [], embed, show_layer)

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

    def summary(self) -> str:
        """One line: tables, rows, malformed files."""
        parts = [f"{t.key}: {sum(not r.published for r in t.rows)} measured + "
                 f"{sum(r.published for r in t.rows)} published row(s) x {len(t.groups)} task(s)"
                 for t in self.tables]
        msg = "; ".join(parts)
        if self.malformed:
            msg += f"; {len(self.malformed)} malformed results file(s) not used (listed in the report notes)"
        return msg


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
        text = report.to_html(embed=embed, plots=plots, show_layer=show_layer)
    elif fmt == "md":
        text = report.to_markdown(plot_links=rel, show_layer=show_layer)
    elif fmt == "latex":
        text = report.to_latex(standalone=standalone, show_layer=show_layer, plot_paths=rel)
    else:
        text = report.to_csv()
    atomic_write_bytes(out, text.encode("utf-8"))
    return WrittenReport(out, fmt, plot_dir, files)
