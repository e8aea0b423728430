"""Table 1 of the MERT paper: its column layout and the published rows (``baselines/mert_table1.csv``).

The CSV header fixes the official column order. Each column belongs to one of the 14 official
tasks; the task specs declare which of their metrics fills which column (``report_columns``).
:data:`TABLE1_COLUMNS` repeats that assignment as a fallback so the published rows can still be
laid out when a spec is absent (for example a trimmed spec folder).

Published values are percentages except the MUSDB SDR columns (dB). A trailing ``*`` marks a
number the paper took from earlier publications; it is kept. Empty cells mean "not reported".
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mertbench.errors import SpecError
from mertbench.paths import resource_dir

#: Citation of the published rows.
PAPER_CITATION = ("Li et al., \"MERT: Acoustic Music Understanding Model with Large-Scale "
                  "Self-supervised Training\", ICLR 2024 (arXiv:2306.00107), Table 1")

#: Name of the reference set accepted by ``--reference``.
REFERENCE_SETS = ("paper",)

#: Row of the CSV that gathers the best published number per column from different systems.
AGGREGATE_ROWS = ("previous SOTA",)


@dataclass(frozen=True)
class Table1Column:
    """One column of Table 1: its id (CSV header), the official task, a short label, the scale."""

    id: str
    task: str
    label: str
    scale: Literal["unit", "db"]


def _c(id_: str, task: str, label: str, scale: Literal["unit", "db"] = "unit") -> Table1Column:
    return Table1Column(id_, task, label, scale)


#: Table 1's columns in the paper's order (the CSV header) with their task and label.
TABLE1_COLUMNS: tuple[Table1Column, ...] = (
    _c("mtt_roc", "mtt-tagging", "ROC"), _c("mtt_ap", "mtt-tagging", "AP"),
    _c("gs_key_refined_acc", "gs-key", "Acc (refined)"),
    _c("gtzan_genre_acc", "gtzan-genre", "Acc"),
    _c("gtzan_beat_f1", "gtzan-beat", "F1 (beat)"),
    _c("emo_r2_valence", "emo", "R² V"), _c("emo_r2_arousal", "emo", "R² A"),
    _c("nsynth_instrument_acc", "nsynth-instrument", "Acc"),
    _c("nsynth_pitch_acc", "nsynth-pitch", "Acc"),
    _c("vocalset_technique_acc", "vocalset-technique", "Acc"),
    _c("vocalset_singer_acc", "vocalset-singer", "Acc"),
    _c("mtg_instrument_roc", "mtg-instrument", "ROC"), _c("mtg_instrument_ap", "mtg-instrument", "AP"),
    _c("mtg_moodtheme_roc", "mtg-moodtheme", "ROC"), _c("mtg_moodtheme_ap", "mtg-moodtheme", "AP"),
    _c("mtg_genre_roc", "mtg-genre", "ROC"), _c("mtg_genre_ap", "mtg-genre", "AP"),
    _c("mtg_top50_roc", "mtg-top50", "ROC"), _c("mtg_top50_ap", "mtg-top50", "AP"),
    _c("musdb_sdr_vocals", "musdb-separation", "SDR vocals", "db"),
    _c("musdb_sdr_drums", "musdb-separation", "SDR drums", "db"),
    _c("musdb_sdr_bass", "musdb-separation", "SDR bass", "db"),
    _c("musdb_sdr_other", "musdb-separation", "SDR other", "db"),
)

#: The 14 official tasks in Table-1 order.
OFFICIAL_TASKS: tuple[str, ...] = tuple(dict.fromkeys(c.task for c in TABLE1_COLUMNS))


@dataclass(frozen=True)
class PublishedValue:
    """A published number on the display scale (percent or dB); ``earlier`` = trailing ``*``."""

    value: float
    earlier: bool = False


@dataclass
class PublishedRow:
    """One published row of Table 1 (not measured by mertbench)."""

    model: str
    values: dict[str, PublishedValue] = field(default_factory=dict)
    aggregate: bool = False
    citation: str = PAPER_CITATION


def table1_csv_path() -> Path:
    """The shipped copy of Table 1 (``baselines/mert_table1.csv``)."""
    return resource_dir("baselines") / "mert_table1.csv"


def table1_header(path: str | Path | None = None) -> list[str]:
    """Column ids of Table 1 in the paper's order (the CSV header without ``model``)."""
    path = Path(path) if path is not None else table1_csv_path()
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), None)
    if not header or header[0] != "model":
        raise SpecError(f"{path}: first column must be 'model' (found {header[:1] if header else 'nothing'})")
    return header[1:]


def _parse_cell(text: str, path: Path, line: int, column: str) -> PublishedValue | None:
    text = text.strip()
    if not text:
        return None
    earlier = text.endswith("*")
    try:
        value = float(text.rstrip("*").strip())
    except ValueError:
        raise SpecError(f"{path}: line {line}, column {column}: {text!r} is not a number "
                        "(expected e.g. 90.6 or 90.6*)") from None
    return PublishedValue(value, earlier)


def load_published_rows(path: str | Path | None = None) -> list[PublishedRow]:
    """Rows of ``mert_table1.csv`` in file order; bad cells raise SpecError with line and column."""
    path = Path(path) if path is not None else table1_csv_path()
    header = table1_header(path)
    rows: list[PublishedRow] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        for line, cells in enumerate(reader, start=2):
            if not cells or not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header) + 1:
                raise SpecError(f"{path}: line {line} has {len(cells)} cells, the header has {len(header) + 1}")
            name = cells[0].strip()
            values = {}
            for col, text in zip(header, cells[1:]):
                parsed = _parse_cell(text, path, line, col)
                if parsed is not None:
                    values[col] = parsed
            rows.append(PublishedRow(name, values, aggregate=name in AGGREGATE_ROWS))
    return rows


def reference_rows(name: str | None, models: list[str] | None = None) -> list[PublishedRow]:
    """Published rows of reference set ``name`` (``"paper"``), optionally only ``models``."""
    if name is None:
        return []
    if name not in REFERENCE_SETS:
        raise SpecError(f"unknown reference set {name!r}; available: {', '.join(REFERENCE_SETS)}")
    rows = load_published_rows()
    if models:
        known = {r.model for r in rows}
        unknown = [m for m in models if m not in known]
        if unknown:
            raise SpecError(f"reference rows {unknown} not in {table1_csv_path()}; "
                            f"available: {', '.join(sorted(known))}")
        rows = [r for r in rows if r.model in models]
    return rows
