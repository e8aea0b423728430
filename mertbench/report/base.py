"""The report's data (:class:`ReportData`): what the format modules (markdown, latex, csv, html)
read. It lives below them so that :mod:`mertbench.report.document`, which dispatches to the
formats, and the formats never import each other in a circle."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mertbench.io import atomic_write_bytes
from mertbench.report.collect import Collection
from mertbench.report.plots import Plot, render_plots
from mertbench.report.table import Table


@dataclass
class ReportData:
    """Compiled tables plus what was read (the data every format module renders); the public
    :class:`mertbench.report.document.Report` adds the ``to_markdown/to_latex/to_csv/to_html`` methods."""

    tables: list[Table]
    collection: Collection
    notes: list[str] = field(default_factory=list)
    specs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    #: pretraining run folders (or shipped model folders) whose ``eval_curves.png`` the HTML page shows
    pretrain_runs: list[Path] = field(default_factory=list)
    #: results of ``mertbench robustness`` for the models and tasks shown (mertbench.report.robustness)
    robustness: Any = None
    _plots: list[Plot] | None = field(default=None, repr=False)

    def robust_args(self) -> tuple[list[str], dict[str, str], int]:
        """``(tasks shown, model -> display name, decimals)`` for the robustness section."""
        tasks = [t for table in self.tables for t in table.tasks]
        names = {r.model: r.name for table in self.tables for r in table.rows}
        decimals = self.tables[0].decimals if self.tables else 1
        return tasks, names, decimals

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
            if self.robustness is not None:
                from mertbench.report.robustness import robustness_heatmap

                tasks, names, _ = self.robust_args()
                hm = robustness_heatmap(self.robustness, tasks, names)
                if hm is not None:
                    self._plots.append(hm)
        return self._plots

    def save_plots(self, directory: str | os.PathLike) -> list[Path]:
        """Write every figure as PNG and SVG into ``directory`` plus ``manifest.json`` (what each
        figure shows, the runs drawn, provenance); figures of an earlier report that this one no
        longer has are removed. Returns the figure paths."""
        from mertbench._version import __version__
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

    def summary(self) -> str:
        """One line: tables, rows, malformed files."""
        parts = [f"{t.key}: {sum(not r.published for r in t.rows)} measured + "
                 f"{sum(r.published for r in t.rows)} published row(s) x {len(t.groups)} task(s)"
                 for t in self.tables]
        msg = "; ".join(parts)
        if self.malformed:
            msg += f"; {len(self.malformed)} malformed results file(s) not used (listed in the report notes)"
        return msg
