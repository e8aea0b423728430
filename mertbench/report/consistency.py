"""Are the values of one column comparable? Same data, and not too much of it skipped.

Every measured cell of a task column comes from one results file. Two such files can disagree
on what they measured: another copy or version of the dataset (``provenance.dataset_fingerprint``
differs), or a run that could not read a good part of the split (``skipped``). Such cells are
still shown, but marked ``‡`` (:attr:`mertbench.report.table.Cell.caveat`), never bold, and the
table notes say which rows differ and why.
"""
from __future__ import annotations

from collections import Counter

from mertbench.report.table import Row, TaskGroup
from mertbench.results import RunResult

#: a run that skipped more than this share of its test split is flagged as not comparable
MAX_SKIPPED_SHARE = 0.05


def _short(fp: str | None) -> str:
    return fp[:10] if fp else "unrecorded"


def skipped_by_split(run: RunResult) -> dict[str, int]:
    """Skipped examples per split, from keys ``<split>/<reason>`` (keys without a split count
    under ``""``)."""
    out: Counter[str] = Counter()
    for key, n in run.skipped.items():
        split = key.split("/", 1)[0] if "/" in key else ""
        out[split] += int(n)
    return dict(out)


def skipped_share(run: RunResult, split: str = "test") -> float | None:
    """Share of ``split``'s examples that were skipped: skipped / (skipped + evaluated); None
    when the run does not record how many it evaluated (results written before 0.2)."""
    if split not in run.examples:
        return None
    skipped = skipped_by_split(run).get(split, 0)
    total = skipped + run.examples[split]
    return skipped / total if total else None


def check_column(group: TaskGroup, rows: list[Row]) -> list[str]:
    """Mark the not-comparable cells of one task group in place; returns the notes to print.

    The reference data of a column is the dataset fingerprint most rows share (ties: the first
    row's); a row measured on another fingerprint, or one that skipped more than
    :data:`MAX_SKIPPED_SHARE` of its test examples, gets a caveat on each of its cells of the task.
    """
    measured = [(row, row.selections[group.task].chosen.result) for row in rows
                if not row.published and group.task in row.selections]
    notes: list[str] = []
    if not measured:
        return notes
    prints = [run.provenance.dataset_fingerprint for _, run in measured]
    counts = Counter(prints)
    reference = max(counts, key=lambda fp: (counts[fp], -prints.index(fp)))
    for row, run in measured:
        reasons = []
        fp = run.provenance.dataset_fingerprint
        if len(counts) > 1 and fp != reference:
            reasons.append(f"measured on other data (dataset fingerprint {_short(fp)}; "
                           f"{counts[reference]} other row(s) used {_short(reference)})")
        skipped = {k: v for k, v in run.skipped.items() if v}
        if skipped:
            share = skipped_share(run)
            listed = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items()))
            if share is not None and share > MAX_SKIPPED_SHARE:
                reasons.append(f"{share:.0%} of the test examples skipped ({listed})")
            else:
                what = f"{share:.1%} of test" if share is not None else "share unknown"
                notes.append(f"{row.name}, {group.task}: run {run.run_id} skipped examples ({listed}; "
                             f"{what}); the value is over the examples it could read.")
        if reasons:
            caveat = "; ".join(reasons)
            for col in group.columns:
                cell = row.cells.get(col.id)
                if cell is not None and cell.value is not None:
                    cell.caveat = caveat
            notes.append(f"‡ {row.name}, {group.task}: run {run.run_id} {caveat}: not comparable "
                         "with the column, never bold, and its row's Avg is not bold.")
    return notes
