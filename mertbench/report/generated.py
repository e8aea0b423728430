"""Tables that documents embed, generated from a results folder: ``mertbench report --write / --check``.

A results folder that is checked in (this repository's ``results/``) carries a ``tables.yaml``
naming each table a document shows: which file, which models and tasks, which protocol. Each
table sits in its file between two markers::

    <!-- mertbench-report:begin ID (generated from results/ by `mertbench report --write`; do not edit) -->
    ...
    <!-- mertbench-report:end ID -->

:func:`sync_tables` regenerates every block from the results (``write=True``) or only compares
(``--check``: CI fails when a checked-in table differs from what ``report`` produces, so a table
can never drift from the data). A table is the markdown leaderboard of :func:`build_report`
without the compile-time notes (which name the time of compiling), so it depends on the results
files alone. Paths in ``tables.yaml`` are relative to the folder that holds the results folder
(the repository root).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mertbench.errors import SpecError
from mertbench.io import atomic_write_bytes, atomic_write_text
from mertbench.tasks.protocol import explain_validation
from mertbench.tasks.spec import read_yaml

TABLES_FILE = "tables.yaml"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def begin_marker(table_id: str) -> str:
    return (f"<!-- mertbench-report:begin {table_id} (generated from results/ by `mertbench report --write`; "
            "do not edit) -->")


def end_marker(table_id: str) -> str:
    return f"<!-- mertbench-report:end {table_id} -->"


class TableTarget(BaseModel):
    """One generated table: where it goes and what :func:`build_report` puts in it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="lower-case name used in the file's markers")
    file: str = Field(description="document holding the markers, relative to the repository root")
    models: list[str] | None = Field(None, description="rows in this order (default: every model with results)")
    tasks: list[str] | None = Field(None, description="only these tasks (default: all of the suite)")
    suite: str = Field("all", description="official | render | custom | all")
    protocol: str | None = Field(None, description="only results of this protocol")
    reference: str | None = Field(None, description="'paper': add MERT Table 1's published rows")
    reference_models: list[str] | None = None
    decimals: int = Field(1, ge=0, le=6)
    layer_tags: bool = Field(True, description="show @Lk after each value")
    provenance: bool = Field(True, description="keep the table's notes and provenance lines under it")
    part: Literal["leaderboard", "robustness", "all"] = Field(
        "leaderboard", description="the leaderboards, the robustness section (mertbench robustness), or both")
    heatmap: str | None = Field(None, description="--write also saves the robustness heat map here (PNG, relative "
                                                  "to the repository root; not compared by --check)")


class TablesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tables: list[TableTarget]


def load_tables(path: str | Path) -> list[TableTarget]:
    """Read ``tables.yaml``; errors name the file and the field."""
    path = Path(path)
    data = read_yaml(path, "list of generated tables (tables.yaml)")
    try:
        tables = TablesFile.model_validate(data).tables
    except ValidationError as exc:
        raise SpecError(f"{path}: {explain_validation(exc, 'tables.yaml')}") from exc
    seen: set[str] = set()
    for t in tables:
        if not _ID.match(t.id):
            raise SpecError(f"{path}: table id {t.id!r}: use lower-case letters, digits and '-'")
        if t.id in seen:
            raise SpecError(f"{path}: table id {t.id!r} appears twice")
        seen.add(t.id)
    return tables


def render_table(target: TableTarget, results_dir: Path, collection=None):  # noqa: ANN001 - a report Collection
    """``(block, report)``: the markdown block of ``target`` (markers excluded: tables, notes and
    provenance) and the report it comes from. ``collection``: the results already read (default:
    read ``results_dir``).

    Malformed results files are an error (a checked-in table must not silently lose a row)."""
    from mertbench.report.build import build_report

    report = build_report(results_dir=results_dir, models=target.models, tasks=target.tasks, suite=target.suite,
                          reference=target.reference, reference_models=target.reference_models,
                          decimals=target.decimals, strict=True, protocol=target.protocol, collection=collection)
    text = report.to_markdown(show_layer=target.layer_tags)
    text = text.split("\n## Report notes")[0]
    if target.part == "leaderboard":
        text = text.split("\n## Robustness")[0]
    elif target.part == "robustness":
        if "\n## Robustness" not in text:
            raise SpecError(f"table {target.id!r}: no robustness results for its models and tasks under "
                            f"{results_dir}/robustness (run `mertbench robustness`)")
        text = "## Robustness" + text.split("\n## Robustness", 1)[1]
    lines = text.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    body = "\n".join(lines).strip()
    if not target.provenance:
        body = "\n".join(ln for ln in body.splitlines() if not ln.startswith("- ") and ln != "Provenance (runs shown):")
        body = re.sub(r"\n{3,}", "\n\n", body).strip()
    return body, report


@dataclass(frozen=True)
class TableStatus:
    """One table after a sync: ``state`` is ``current``, ``updated`` or ``stale`` (check mode)."""

    id: str
    file: Path
    state: str
    diff: str = ""


def _block_bounds(text: str, target: TableTarget, file: Path) -> tuple[int, int]:
    """Where ``target``'s begin marker starts and its end marker starts in ``text`` (SpecError if absent)."""
    begin, end = begin_marker(target.id), end_marker(target.id)
    start = text.find(begin)
    stop = text.find(end)
    if start < 0 or stop < 0 or stop < start:
        raise SpecError(f"{file}: markers of table {target.id!r} not found; add the two lines\n{begin}\n{end}\n"
                        "where the table goes, then run `mertbench report --write`")
    return start, stop


def sync_tables(results_dir: str | Path, tables_file: str | Path | None = None, *, write: bool = False,
                root: str | Path | None = None) -> list[TableStatus]:
    """Regenerate (``write``) or compare every table of ``tables_file`` (default
    ``<results_dir>/tables.yaml``) in its document under ``root`` (default: the results folder's parent)."""
    from mertbench.report.collect import collect_results

    results_dir = Path(results_dir)
    tables_file = Path(tables_file) if tables_file is not None else results_dir / TABLES_FILE
    root = Path(root) if root is not None else results_dir.resolve().parent
    out: list[TableStatus] = []
    texts: dict[Path, str] = {}
    heatmaps: list[tuple[Path, bytes]] = []
    collection = collect_results(results_dir)  # read once for every table
    for target in load_tables(tables_file):
        file = root / target.file
        if file not in texts:
            try:
                texts[file] = file.read_text(encoding="utf-8")
            except FileNotFoundError as exc:
                raise SpecError(f"{tables_file}: table {target.id!r}: file {file} not found") from exc
        old = texts[file]
        start, stop = _block_bounds(old, target, file)  # the markers first: a missing one is named before any work
        block, report = render_table(target, results_dir, collection)
        new = old[:start] + begin_marker(target.id) + "\n\n" + block + "\n\n" + old[stop:]
        if write and target.heatmap:
            plot = next((p for p in report.plots() if p.stem == "robustness_heatmap"), None)
            if plot is not None:
                heatmaps.append((root / target.heatmap, plot.png))
        if new == old:
            out.append(TableStatus(target.id, file, "current"))
            continue
        texts[file] = new
        diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"{target.file} (checked in)",
                                            f"{target.file} (from {results_dir})", n=1))
        out.append(TableStatus(target.id, file, "updated" if write else "stale", diff))
    if write:
        for file, text in texts.items():
            if any(s.file == file and s.state == "updated" for s in out):
                atomic_write_text(file, text)
        for path, png in heatmaps:
            atomic_write_bytes(path, png)
    return out
