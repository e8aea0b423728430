"""Compile results JSONs (and optionally the published rows) into report tables.

:func:`build_report` is the Python entry point behind ``mertbench report``; it returns a
:class:`~mertbench.report.document.Report` that renders to markdown, LaTeX, CSV or HTML.

Which number a cell shows: the run's **test** metric at its ``selected_layer`` (chosen on the
validation primary metric by the probe), ± the 95% CI when the run has several seeds, with the
layer noted. When a (model, task) pair has several runs, runs made with the current task-spec
version are preferred and the newest (``provenance.created``) is shown (``pick="best-valid"``:
the best validation primary metric instead); the others are counted in the notes.
"""
from __future__ import annotations

import difflib
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Mapping

from mertbench._version import __version__
from mertbench.errors import ResultsError, SpecError
from mertbench.provenance import git_hash, now_iso
from mertbench.report.collect import PICKS, Collection, RunRecord, Selection, collect_results, recency_key, select_run
from mertbench.report.consistency import check_column
from mertbench.report.document import Report
from mertbench.report.formatting import layer_tag
from mertbench.report.layout import official_groups, suite_groups, table_of
from mertbench.report.reference import OFFICIAL_TASKS, PublishedRow, reference_rows
from mertbench.report.table import Cell, Row, Table, TaskGroup, display_factor, finalize
from mertbench.results import RunResult
from mertbench.tasks.protocol import DEFAULT_PROTOCOL, get_protocol
from mertbench.tasks.spec import TaskSpec

SUITES = ("official", "render", "custom", "all")
TITLES = {
    "official": "Table 1: the 14 official tasks (MARBLE protocol)",
    "render": "Rendered suite",
    "custom": "Other tasks",
}
MAX_LISTED = 12  # notes list at most this many items of one kind, then a count


def _registry_specs() -> dict[str, TaskSpec]:
    from mertbench.tasks.registry import all_tasks

    return {name: task.spec for name, task in all_tasks().items()}


def _split_names(values: Iterable[str] | None) -> list[str] | None:
    """Accept repeated options and comma-separated lists alike; None when nothing given."""
    if not values:
        return None
    out: list[str] = []
    for v in values:
        out += [p.strip() for p in str(v).split(",") if p.strip()]
    return list(dict.fromkeys(out)) or None


def _numeric_layers(run: RunResult) -> list[str]:
    return sorted((k for k in run.layers if k.isdigit()), key=int) + [k for k in run.layers if not k.isdigit()]


def resolve_layer(run: RunResult, layer: str) -> tuple[str | None, str | None]:
    """The layer key whose test metrics a cell shows, and a note when the report had to decide.

    ``layer`` is ``"selected"`` (the run's selected layer; if the run records none, the best
    validation primary metric is picked here), ``"weighted"`` or a layer index.
    """
    if layer != "selected":
        return (layer, None) if layer in run.layers else (None, f"run {run.run_id} has no layer {layer!r}")
    if run.selected_layer is not None:
        return run.selected_layer, None
    direction = run.metric_directions.get(run.primary_metric, "max")
    scored = []
    for key in _numeric_layers(run):
        mv = run.layers[key].get("valid", {}).get(run.primary_metric)
        if mv is not None:
            scored.append((mv.mean if direction == "max" else -mv.mean, key))
    if not scored:
        return None, (f"run {run.run_id} records no selected layer and no validation {run.primary_metric!r} "
                      "to choose one")
    best = max(scored, key=lambda s: s[0])[1]
    return best, f"run {run.run_id} records no selected layer; the report chose {layer_tag(best)} on validation"


def _measured_cells(row: Row, group: TaskGroup, sel: Selection, layer: str, notes: list[str]) -> None:
    run = sel.chosen.result
    key, note = resolve_layer(run, layer)
    if note:
        notes.append(f"{row.name}, {group.task}: {note}.")
    for col in group.columns:
        if col.metric is None:
            row.cells[col.id] = Cell(note="no task spec fills this column")
            continue
        if key is None:
            row.cells[col.id] = Cell(note=note)
            continue
        mv = run.layers.get(key, {}).get("test", {}).get(col.metric)
        if mv is None:
            msg = f"run {run.run_id} has no test {col.metric!r} at {layer_tag(key)}"
            notes.append(f"{row.name}, {group.task}: {msg} (blank).")
            row.cells[col.id] = Cell(note=msg, run_id=run.run_id)
            continue
        f = display_factor(col.scale)
        ci = mv.ci95 * f if (mv.n > 1 and mv.ci95 is not None) else None
        row.cells[col.id] = Cell(value=mv.mean * f, ci95=ci, n=mv.n, layer=key, run_id=run.run_id)


def _published_row(ref: PublishedRow, table: Table) -> Row:
    row = Row(model=ref.model, source="published", aggregate=ref.aggregate, citation=ref.citation)
    for col in table.columns:
        pv = ref.values.get(col.id)
        row.cells[col.id] = Cell(value=pv.value, earlier=pv.earlier) if pv else Cell(note="not reported")
    return row


def _short_git(h: str | None) -> str:
    if not h:
        return "unknown"
    dirty = h.endswith("-dirty")
    return h[:10] + ("-dirty" if dirty else "")


def _provenance_line(model: str, selections: dict[str, Selection]) -> str:
    recs = [s.chosen for s in selections.values()]
    prov = [r.result.provenance for r in recs]
    times = sorted(p.created for p in prov)
    span = times[0][:10] if times[0][:10] == times[-1][:10] else f"{times[0][:10]} to {times[-1][:10]}"
    versions = ", ".join(sorted({p.mertbench_version for p in prov}))
    gits = ", ".join(sorted({_short_git(p.git_hash) for p in prov}))
    seeds = sorted({", ".join(map(str, r.result.seeds)) or "unrecorded" for r in recs})
    tasks = ", ".join(f"{t} v{s.chosen.result.task_version}" for t, s in selections.items())
    devices = ", ".join(sorted({p.device for p in prov if p.device})) or "unrecorded"
    return (f"{model}: {len(recs)} run(s) created {span}; mertbench {versions}; git {gits}; "
            f"seeds {' / '.join(seeds)}; device {devices}; task versions: {tasks}.")


def run_protocol(res: RunResult) -> str:
    """The protocol a result was made with (results from before protocols ran ``mertbench``'s)."""
    return res.provenance.protocol or DEFAULT_PROTOCOL


def _protocol_label(res: RunResult) -> str:
    """``name vN``; results written before protocols existed ran ``mertbench`` v1's settings."""
    version = res.provenance.protocol_version
    if res.provenance.protocol is None:
        version = 1
    return run_protocol(res) + (f" v{version}" if version is not None else "")


def _mixed_protocols(group: TaskGroup, rows: list[Row]) -> str:
    """``""`` when the shown runs of ``group`` share one protocol and task version, else which rows differ."""
    by: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        sel = row.selections.get(group.task)
        if sel is not None:
            res = sel.chosen.result
            by[(_protocol_label(res), res.task_version)].append(row.name)
    if len(by) < 2:
        return ""
    return f"{group.task}: " + ", ".join(f"protocol {p}, task version {v}: {', '.join(ms)}"
                                         for (p, v), ms in sorted(by.items()))


def _how_chosen(sel: Selection, group: TaskGroup) -> str:
    """How the shown run was chosen, true to what :func:`select_run` did: the newest *of the
    current task version* when a newer run of another version was set aside."""
    if sel.pick != "newest":
        how = "the best on validation"
    else:
        newest = max([sel.chosen, *sel.others], key=recency_key)
        how = "the newest" if newest is sel.chosen else f"the newest of task version {group.version}"
    if sel.stale_version:
        how += " (no run has the current task version)"
    return how


def _limited(items: list[str], what: str) -> list[str]:
    if len(items) <= MAX_LISTED:
        return items
    return items[:MAX_LISTED] + [f"... and {len(items) - MAX_LISTED} more {what}."]


def _build_table(key: str, groups: list[TaskGroup], avg_enabled: bool, avg_reason: str,
                 runs: dict[str, dict[str, list[RunRecord]]], models: list[str], requested_models: bool,
                 refs: list[PublishedRow], pick: str, layer: str, decimals: int,
                 mix_protocols: bool = False) -> Table:
    table = Table(key=key, title=TITLES[key], groups=groups, avg_enabled=avg_enabled,
                  avg_reason=avg_reason, decimals=decimals)
    tasks = set(table.tasks)
    table.rows += [_published_row(r, table) for r in refs]
    missing, several, stale, other = [], [], [], []
    from mertbench.models.naming import display_names

    labels = display_names(list(models))
    for model in models:
        model_runs = runs.get(model, {})
        if not requested_models and not any(t in model_runs for t in tasks):
            continue
        row = Row(model=model, source="measured", label=labels[model])
        shown = row.name
        for group in groups:
            recs = model_runs.get(group.task)
            if not recs:
                for col in group.columns:
                    row.cells[col.id] = Cell(note="no results")
                continue
            sel = select_run(recs, group.version, pick)  # type: ignore[arg-type]
            row.selections[group.task] = sel
            if sel.others:
                several.append(f"{shown}, {group.task}: {len(recs)} runs; showing {_how_chosen(sel, group)} "
                               f"(run {sel.chosen.result.run_id}, created {sel.chosen.result.provenance.created}); "
                               f"{len(sel.others)} set aside.")
            if sel.stale_version:
                stale.append(f"{shown}, {group.task}: run {sel.chosen.result.run_id} used task version "
                             f"{sel.chosen.result.task_version}, the current spec is version {group.version}; "
                             "re-run the probe to compare like with like.")
            _measured_cells(row, group, sel, layer, other)
        absent = [g.task for g in groups if g.task not in row.selections]
        if len(absent) == len(groups):
            missing.append(f"{shown}: no results for any task of this table (row left blank).")
        elif absent:
            missing.append(f"{shown}: no results for {', '.join(absent)} (blank).")
        table.rows.append(row)
        if row.selections:
            table.provenance.append(_provenance_line(shown if shown == model else f"{shown} ({model})", row.selections))
    unfilled = [g.task for g in groups if any(c.metric is None for c in g.columns)]
    notes = table.notes
    caveats = [n for g in groups for n in check_column(g, table.rows)]
    mixed = [m for g in groups if (m := _mixed_protocols(g, table.rows))]
    if mixed and not mix_protocols:
        raise SpecError(f"{table.title}: results of different protocols or task versions in one column: "
                        + "; ".join(mixed) + ". Re-run the probes so that every row uses one protocol and the "
                        "current task version, choose one with --protocol NAME, or put them side by side anyway "
                        "with --mix-protocols")
    used = sorted({_protocol_label(r.selections[g.task].chosen.result) for g in groups for r in table.rows
                   if g.task in r.selections})
    if used:
        notes.append("Protocol: " + (f"{used[0]} for every measured cell" if len(used) == 1 else
                                     ", ".join(used) + " (mixed, --mix-protocols)") + " (docs/protocol.md).")
    notes += [f"Mixed in one column (--mix-protocols): {m}." for m in mixed]
    if layer == "selected":
        notes.append("Cells: test-set value at the layer selected on validation; the layer follows the value "
                     "(Lk = hidden layer k, W = learned weighted sum of all layers); "
                     "± = 95% confidence half-width over n seeds (Student t), shown when n > 1.")
    else:
        notes.append(f"Cells: test-set value at layer {layer_tag(layer)} for every run (--layer {layer}); "
                     "± = 95% confidence half-width over n seeds (Student t), shown when n > 1.")
    scales = {c.scale for c in table.columns}
    notes.append("Units: " + "; ".join(x for x in (
        "accuracy, ROC-AUC, AP, R², F1 and scores in % (stored in [0, 1], × 100)" if "unit" in scales else "",
        "SDR in dB" if "db" in scales else "", "raw metrics as stored" if "raw" in scales else "") if x) + ".")
    has_agg = any(r.aggregate for r in table.rows)
    notes.append("Bold: best value per column (higher is better unless the metric's direction is min; "
                 "compared at the displayed precision, ties all bold). Measured and published rows compete"
                 + ("; 'previous SOTA' does not, as it gathers the best numbers of different systems." if has_agg else "."))
    if avg_enabled:
        notes.append(f"Avg: MARBLE's rule: each task's metrics are averaged first (percent; SDR in raw dB), "
                     f"then the mean over the {len(groups)} tasks; only for rows that have every task.")
    elif avg_reason:
        notes.append(f"No Avg column: {avg_reason}.")
    if refs:
        notes.append(f"† published, not measured by mertbench: {refs[0].citation}. "
                     "* = number the paper took from earlier publications; - = not reported.")
    if unfilled:
        notes.append(f"No task spec fills the Table-1 columns of {', '.join(unfilled)}; measured rows are "
                     "blank there (add the spec or its report_columns).")
    notes += _limited(missing, "models with missing tasks")
    notes += _limited(several, "pairs with several runs")
    if several and pick == "newest":
        notes.append("Choose the best run on validation instead with --pick best-valid.")
    notes += _limited(stale, "stale runs")
    notes += _limited(caveats, "data notes")
    notes += _limited(other, "notes")
    return finalize(table)


def _check_tasks(requested: list[str], specs: Mapping[str, TaskSpec]) -> None:
    known = set(specs) | set(OFFICIAL_TASKS)
    for name in requested:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise SpecError(f"unknown task {name!r}.{hint} See `mertbench tasks`.")


def build_report(results_dir=None, models: Iterable[str] | None = None, tasks: Iterable[str] | None = None,
                 suite: str = "all", reference: str | None = None, *,
                 reference_models: Iterable[str] | None = None, pick: str = "newest", layer: str = "selected",
                 decimals: int = 1, strict: bool = False,
                 specs: Mapping[str, TaskSpec] | None = None,
                 collection: Collection | None = None,
                 pretrain_runs: Iterable[str | Path] | None = None,
                 protocol: str | None = None, mix_protocols: bool = False) -> Report:
    """Compile a report.

    Args:
        results_dir: results root (holding ``runs/``); default ``$MERTBENCH_RESULTS``.
        models: measured models to include, in this order (default: all, sorted by name);
            a requested model without results gets a blank row and a note.
        tasks: only these tasks (default: all of the chosen suites). The Avg column needs every
            task of the suite, so it is omitted when tasks are left out.
        suite: ``official`` (Table 1), ``render``, ``custom`` or ``all`` (each table that has rows).
        reference: ``"paper"`` adds the published rows of Table 1 (marked, not measured).
        reference_models: only these published rows.
        pick: ``newest`` or ``best-valid``: which run to show when a pair has several.
        layer: ``selected`` (default), ``weighted`` or a layer index: the layer a cell shows.
        decimals: digits after the point on the display scale.
        strict: raise on the first malformed results file instead of listing it.
        specs: task specs by name (default: the task registry, including ``MERTBENCH_TASKS``).
        collection: already collected results (default: read ``results_dir``).
        pretrain_runs: pretraining run folders (``mertbench pretrain --out``) or shipped model
            folders: the HTML page shows each one's online-evaluation curve (``eval_curves.png``).
        protocol: only results of this evaluation protocol (default: every protocol found).
        mix_protocols: allow one column to hold results of different protocols or task versions
            (otherwise that is a SpecError naming the rows; with it, a note names them).

    Raises:
        ResultsError: nothing to report (no results and no reference rows), or a malformed file
            with ``strict``.
        SpecError: unknown task, suite, reference set, pick or protocol; a column mixing
            protocols or task versions without ``mix_protocols``.
    """
    if suite not in SUITES:
        raise SpecError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    if pick not in PICKS:
        raise SpecError(f"unknown pick {pick!r}; choose one of {', '.join(PICKS)}")
    if layer != "selected" and layer != "weighted" and not str(layer).isdigit():
        raise SpecError(f"layer must be 'selected', 'weighted' or a layer index, got {layer!r}")
    layer = str(layer)
    specs = dict(specs) if specs is not None else _registry_specs()
    model_list = _split_names(models)
    task_list = _split_names(tasks)
    if task_list:
        _check_tasks(task_list, specs)
    refs = reference_rows(reference, _split_names(reference_models))
    coll = collection if collection is not None else collect_results(results_dir)
    if strict and coll.malformed:
        bad = coll.malformed[0]
        raise ResultsError(f"malformed results file (strict mode): {bad.error}")

    # runs by table -> model -> task
    by_table: dict[str, dict[str, dict[str, list[RunRecord]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    unknown: dict[str, int] = defaultdict(int)
    filtered_models = filtered_tasks = other_protocol = 0
    if protocol is not None:
        get_protocol(protocol)  # unknown name: SpecError listing the protocols
    for rec in coll.runs:
        res = rec.result
        if protocol is not None and run_protocol(res) != protocol:
            other_protocol += 1
            continue
        spec = specs.get(res.task)
        if spec is None:
            unknown[res.task] += 1
            continue
        if model_list is not None and res.model not in model_list:
            filtered_models += 1
            continue
        if task_list is not None and res.task not in task_list:
            filtered_tasks += 1
            continue
        by_table[table_of(spec)][res.model][res.task].append(rec)

    wanted = ["official", "render", "custom"] if suite == "all" else [suite]
    tables: list[Table] = []
    for key in wanted:
        if key == "official":
            groups = official_groups(specs)
            suite_size = len(groups)
        else:
            groups = suite_groups(specs, key)
            suite_size = len(groups)
        if task_list is not None:
            groups = [g for g in groups if g.task in task_list]
        runs = by_table.get(key, {})
        has_runs = any(runs.values())
        if key == "custom" and task_list is None:
            groups = [g for g in groups if any(g.task in m for m in runs.values())]
        if not groups:
            continue
        explicit = suite == key or (task_list is not None)
        if not has_runs and not (key == "official" and refs) and not (explicit and model_list):
            continue
        if key == "custom":
            avg_enabled, reason = False, "no Avg for tasks outside a benchmark suite"
        elif len(groups) < suite_size:
            avg_enabled, reason = False, (f"it needs every task of the suite ({suite_size}); "
                                          f"this table shows {len(groups)} (--tasks)")
        elif any(c.direction == "min" for g in groups for c in g.columns):
            avg_enabled, reason = False, "some columns are lower-is-better, so a plain mean is meaningless"
        else:
            avg_enabled, reason = True, ""
        models_here = model_list if model_list is not None else sorted(runs)
        tables.append(_build_table(key, groups, avg_enabled, reason, runs, models_here,
                                   model_list is not None, refs if key == "official" else [],
                                   pick, layer, decimals, mix_protocols))

    if not any(r.selections or r.published for t in tables for r in t.rows):
        where = coll.root / "runs"
        detail = f"{coll.files} results file(s) read, {len(coll.malformed)} malformed"
        if unknown:
            detail += f", {sum(unknown.values())} for tasks without a spec ({', '.join(sorted(unknown))})"
        filt = []
        if model_list:
            filt.append(f"models {', '.join(model_list)}")
        if task_list:
            filt.append(f"tasks {', '.join(task_list)}")
        if suite != "all":
            filt.append(f"suite {suite}")
        raise ResultsError(f"nothing to report: no results under {where}" + (f" for {'; '.join(filt)}" if filt else "")
                           + f" ({detail}). Run `mertbench probe --model M --task T` first, point --results "
                             "at the folder holding runs/, or add --reference paper for the published rows.")

    notes = [f"Compiled by mertbench {__version__} (git {_short_git(git_hash())}) on {now_iso()} from "
             f"{coll.root / 'runs'}: {coll.files} results file(s), {len(coll.runs)} valid, "
             f"{len(coll.malformed)} malformed."]
    if coll.malformed:
        notes += _limited([f"Malformed results file (not used): {m.error}" for m in coll.malformed],
                          "malformed files")
    if unknown:
        notes.append("Results of tasks without a spec (not used; add their spec folder to MERTBENCH_TASKS): "
                     + ", ".join(f"{t} ({n} run(s))" for t, n in sorted(unknown.items())) + ".")
    if other_protocol:
        notes.append(f"Left out: {other_protocol} run(s) of protocols other than {protocol} (--protocol).")
    if filtered_models or filtered_tasks:
        notes.append(f"Left out by the filters: {filtered_models} run(s) of other models, "
                     f"{filtered_tasks} run(s) of other tasks.")
    runs_shown: list[Path] = []
    for run in pretrain_runs or []:
        folder = Path(run).expanduser()
        if not folder.is_dir():
            raise SpecError(f"pretraining run {folder}: not a folder; pass the --out folder of `mertbench pretrain`")
        if (folder / "eval_curves.png").is_file():
            runs_shown.append(folder)
        else:
            notes.append(f"Pretraining run {folder}: no eval_curves.png (trained without run.eval_every); "
                         "no training curve shown.")
    robust = _robustness(tables, coll.root, model_list, protocol, notes)
    return Report(tables=tables, collection=coll, notes=notes, specs=specs, pretrain_runs=runs_shown, robustness=robust,
                  options={"suite": suite, "reference": reference, "pick": pick, "layer": layer,
                           "models": model_list, "tasks": task_list})


def _robustness(tables: list[Table], root: Path, models: list[str] | None, protocol: str | None,
                notes: list[str]):
    """Robustness results of the models and tasks shown: the Robust. column of each table and the
    notes (None when there are none)."""
    from mertbench.report.robustness import collect_robustness, robustness_scores

    view = collect_robustness(root, models, protocol)
    if view.malformed:
        notes += _limited([f"Malformed robustness file (not used): {m}" for m in view.malformed], "robustness files")
    if not view.results:
        return None
    for table in tables:
        scores = robustness_scores(view, table.tasks)
        if not scores:
            continue
        table.robust_enabled = True
        parts = []
        for row in table.rows:
            if row.model in scores:
                score, n, left = scores[row.model]
                row.robustness = score
                parts.append(f"{row.name}: {n} pair(s)" + (f", {left} without a ratio" if left else ""))
        table.notes.append("Robust.: mean relative retention (%) of each task's primary metric under the test-time "
                           "deformations of `mertbench robustness` (deformed / clean at the layer selected on clean "
                           "validation; 100 = nothing lost), over the scored task-deformation pairs of this table's "
                           "tasks (" + "; ".join(parts) + "); a row's pairs may cover fewer tasks than its Avg. "
                           "Details in the Robustness section.")
    return view
