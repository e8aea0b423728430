"""Number and label formatting shared by the output formats."""
from __future__ import annotations

from dataclasses import dataclass

from mertbench.report.table import Cell, Column, Row, Table


def layer_tag(layer: str | None) -> str:
    """Short label of a results-file layer key: ``"7"`` -> ``L7``, ``"weighted"`` -> ``W``."""
    if layer is None:
        return ""
    if layer == "weighted":
        return "W"
    return f"L{layer}" if layer.isdigit() else layer


def fmt_num(value: float | None, decimals: int) -> str:
    """``value`` with ``decimals`` digits after the point ("" for None); -0.0 prints as 0.0."""
    if value is None:
        return ""
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


@dataclass(frozen=True)
class CellText:
    """The pieces of one cell as text: value, CI half-width, layer tag, published ``*`` mark."""

    value: str
    ci: str
    layer: str
    earlier: bool
    best: bool
    caveat: bool = False  # ``‡``: not comparable with its column (see the table notes)

    @property
    def empty(self) -> bool:
        return not self.value


def cell_text(cell: Cell, decimals: int, show_layer: bool = True) -> CellText:
    """Split a cell into its printable pieces (CI only when n > 1)."""
    return CellText(
        value=fmt_num(cell.value, decimals),
        ci=fmt_num(cell.ci95, decimals) if cell.value is not None and cell.ci95 is not None and cell.n > 1 else "",
        layer=layer_tag(cell.layer) if show_layer and cell.value is not None else "",
        earlier=cell.earlier and cell.value is not None,
        best=cell.best and cell.value is not None,
        caveat=cell.caveat is not None and cell.value is not None,
    )


def plain_cell(cell: Cell, decimals: int, show_layer: bool = True) -> str:
    """Plain-text rendering: ``81.2 ± 1.3 @L7``, ``90.6*``, or ``-`` when blank."""
    t = cell_text(cell, decimals, show_layer)
    if t.empty:
        return "-"
    out = t.value + ("*" if t.earlier else "") + ("‡" if t.caveat else "")
    if t.ci:
        out += f" ± {t.ci}"
    if t.layer:
        out += f" @{t.layer}"
    return out


def header_label(column: Column) -> str:
    """``task metric-label`` (one-line header used by markdown and CSV)."""
    return f"{column.task} {column.label}"


def row_label(row: Row) -> str:
    """Model name, with ``†`` for published rows."""
    return row.name + (" †" if row.published else "")


def avg_text(row: Row, table: Table) -> str:
    return fmt_num(row.avg, table.decimals) if row.avg is not None else "-"


def robust_text(row: Row, table: Table) -> str:
    """The Robust. cell: mean retention in % (``-`` without robustness results)."""
    return fmt_num(100.0 * row.robustness, table.decimals) if row.robustness is not None else "-"
