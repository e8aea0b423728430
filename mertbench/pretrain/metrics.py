"""Training metrics: a CSV file (always) and TensorBoard event files (when ``tensorboard`` is installed).

``runs/X/metrics.csv`` has one row per logging interval; values are means over the interval's
finite steps (``step`` is the interval's last step). On resume, rows after the resumed step are
dropped first, so the file never holds a step twice.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from mertbench.io import atomic_write_text


class MetricsLogger:
    """Append rows to ``metrics.csv`` (+ TensorBoard scalars)."""

    def __init__(self, folder: Path, columns: list[str], *, resume_step: int | None = None,
                 tensorboard: bool = True, enabled: bool = True) -> None:
        self.path = folder / "metrics.csv"
        self.columns = ["step"] + [c for c in columns if c != "step"]
        self.enabled = enabled
        self.tb = None
        if not enabled:
            return
        folder.mkdir(parents=True, exist_ok=True)
        rows: list[dict[str, str]] = []
        if resume_step is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow(r)
        atomic_write_text(self.path, buf.getvalue())
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(folder / "tb"), purge_step=None if resume_step is None else resume_step + 1)
            except Exception:  # tensorboard not installed
                self.tb = None

    def log(self, row: dict[str, Any]) -> None:
        """Append one row (missing columns stay empty)."""
        if not self.enabled:
            return
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore").writerow(
                {k: _fmt(v) for k, v in row.items()})
        if self.tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(k, v, int(row["step"]))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    return v


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """Rows of a metrics.csv as floats (empty cells dropped)."""
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]
