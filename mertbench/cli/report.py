"""`mertbench report`: compile results JSONs into Table-1 style leaderboards (issue #8)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def _cmd(
        models: Optional[List[str]] = typer.Option(
            None, "--models", "-m", help="Models to show, in this order (repeat or comma-separate). Default: all."),
        tasks: Optional[List[str]] = typer.Option(
            None, "--tasks", "-t", help="Only these tasks (repeat or comma-separate). Avg needs every task."),
        suite: str = typer.Option("all", "--suite", help="official (Table 1) | render | custom | all"),
        fmt: Optional[str] = typer.Option(None, "--format", "-f",
                                          help="md | latex | csv | html (default: from --out's suffix, else md)"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write here (default: print to stdout)."),
        reference: Optional[str] = typer.Option(
            None, "--reference", help="'paper': add the published rows of MERT Table 1 (marked, not measured)."),
        reference_models: Optional[List[str]] = typer.Option(
            None, "--reference-models", help="Only these published rows (names as in baselines/mert_table1.csv)."),
        results: Optional[Path] = typer.Option(
            None, "--results", help="Results folder holding runs/ (default: $MERTBENCH_RESULTS or ./results)."),
        pick: str = typer.Option("newest", "--pick",
                                 help="Run shown when a model/task pair has several: newest | best-valid"),
        layer: str = typer.Option("selected", "--layer",
                                  help="Layer a cell shows: selected (on validation) | weighted | N"),
        decimals: int = typer.Option(1, "--decimals", min=0, max=6, help="Digits after the point (% and dB)."),
        plots: bool = typer.Option(True, "--plots/--no-plots",
                                   help="With --out: save figures to <out stem>_plots/ (embedded in HTML)."),
        embed: str = typer.Option("png", "--embed", help="HTML figure embedding: png (base64) | svg (inline)"),
        layer_tags: bool = typer.Option(True, "--layer-tags/--no-layer-tags", help="Show @Lk after each value."),
        strict: bool = typer.Option(False, "--strict", help="Fail on a malformed results file instead of listing it."),
        standalone: bool = typer.Option(False, "--standalone", help="LaTeX: a complete compilable document."),
        pretrain_runs: Optional[List[Path]] = typer.Option(
            None, "--pretrain-run", help="HTML: show this pretraining run's online-evaluation curve (repeatable)."),
        protocol: Optional[str] = typer.Option(
            None, "--protocol", help="Only results of this evaluation protocol (mertbench | marble-v1; default: all)."),
        mix_protocols: bool = typer.Option(
            False, "--mix-protocols", help="Allow a column to mix protocols or task versions (noted) instead of refusing."),
        write_tables: bool = typer.Option(
            False, "--write", help="Regenerate every table named in RESULTS/tables.yaml inside its document "
                                   "(between its mertbench-report markers)."),
        check_tables: bool = typer.Option(
            False, "--check", help="Compare those tables with what report produces from RESULTS; exit 1 and "
                                   "show the difference when one is stale (CI)."),
        tables_file: Optional[Path] = typer.Option(
            None, "--tables", help="--write/--check: the tables file (default RESULTS/tables.yaml; paths in it "
                                   "are relative to RESULTS's parent folder)."),
    ) -> None:
        """Compile results into MERT Table-1 leaderboards (md, LaTeX, CSV or a self-contained HTML page).

        Each cell is the test metric at the layer selected on validation, ± the 95% CI over seeds,
        with the layer noted; best per column in bold; Avg by MARBLE's rule. See docs/report.md.
        """
        from rich.markup import escape as rich_escape

        from mertbench.progress import console

        if write_tables or check_tables:
            if write_tables and check_tables:
                raise typer.BadParameter("--write and --check exclude each other")
            _sync(results, tables_file, write_tables)
            return
        from mertbench.report import build_report, write_report
        from mertbench.report.document import format_for

        out_fmt = format_for(out, fmt)
        if embed not in ("png", "svg"):
            raise typer.BadParameter("--embed must be png or svg")
        report = build_report(results_dir=results, models=models, tasks=tasks, suite=suite, reference=reference,
                              reference_models=reference_models, pick=pick, layer=layer, decimals=decimals,
                              strict=strict, pretrain_runs=pretrain_runs, protocol=protocol,
                              mix_protocols=mix_protocols)
        for bad in report.malformed:
            console.print(f"[yellow]warning:[/] malformed results file not used: {rich_escape(bad.error)}",
                          highlight=False, markup=True, soft_wrap=True)
        if out is None:
            if out_fmt == "html":
                text = report.to_html(embed=embed, plots=plots, show_layer=layer_tags)
            elif out_fmt == "latex":
                text = report.to_latex(standalone=standalone, show_layer=layer_tags)
            elif out_fmt == "md":
                text = report.to_markdown(show_layer=layer_tags)
            else:
                text = report.to_csv()
            typer.echo(text, nl=False)
        else:
            written = write_report(report, out, out_fmt, plots=plots, embed=embed, show_layer=layer_tags,
                                   standalone=standalone)
            written_plots = written.plots_dir
            console.print(f"wrote {out_fmt} report to {out}" + (f" (figures in {written_plots})" if written_plots else ""),
                          highlight=False, markup=False, soft_wrap=True)
        console.print(report.summary(), highlight=False, markup=False, soft_wrap=True)


def _sync(results: Optional[Path], tables_file: Optional[Path], write: bool) -> None:
    """``--write`` / ``--check``: the generated tables of a results folder (mertbench.report.generated)."""
    from mertbench.paths import results_root
    from mertbench.report.generated import sync_tables

    folder = Path(results) if results is not None else results_root()
    statuses = sync_tables(folder, tables_file, write=write)
    stale = [s for s in statuses if s.state == "stale"]
    for s in statuses:
        typer.echo(f"{s.state:8s} {s.id} in {s.file}")
    for s in stale:
        typer.echo(s.diff, err=True)
    if stale:
        typer.echo(f"{len(stale)} of {len(statuses)} generated table(s) differ from {folder}: run "
                   f"`mertbench report --write{'' if results is None else f' --results {folder}'}` and commit",
                   err=True)
        raise typer.Exit(1)
