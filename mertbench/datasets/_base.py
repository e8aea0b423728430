"""Shared machinery of the official-layout loaders: problem collection and small readers.

Every official loader is written once as ``impl(root, spec, collector) -> LoadedDataset`` and
registered with :func:`official_loader`, which

- registers a strict loader under the name (``mertbench.tasks.loaders.register_loader``): it raises
  :class:`~mertbench.errors.DataError` listing every error-level problem (missing files, broken
  annotations, overlapping splits, ...) and copies warnings into ``LoadedDataset.problems``;
- keeps ``impl`` in :data:`IMPLS` so that ``mertbench data check`` can run it in collecting mode
  (``strict=False``): problems are gathered instead of raised and loading goes as far as it can.

Problems have a severity: ``error`` (the copy cannot be used as is), ``warning`` (usable, but
results may not be comparable with MARBLE, e.g. split counts differ from the official ones) and
``info`` (a known defect of the official copy, handled as MARBLE does, e.g. a corrupt file left out).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Literal

from mertbench.errors import DataError
from mertbench.tasks.data import LoadedDataset
from mertbench.tasks.loaders import register_loader

if TYPE_CHECKING:
    from mertbench.tasks.spec import TaskSpec

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Problem:
    """One problem with a dataset copy; ``file`` names the file or folder concerned."""

    severity: Severity
    file: str | None
    message: str

    def render(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{self.severity}: {where}{self.message}"

    def to_json(self) -> dict:
        return {"severity": self.severity, "file": self.file, "message": self.message}


@dataclass
class Collector:
    """Gathers problems while a loader runs.

    In strict mode :meth:`fatal` raises at once and :meth:`finish` raises if any error was
    recorded; in collecting mode (``strict=False``, used by ``data check``) nothing is raised by
    :meth:`finish` and loaders skip the items concerned and go on.
    """

    strict: bool = True
    problems: list[Problem] = field(default_factory=list)

    def error(self, file: object, message: str) -> None:
        self.problems.append(Problem("error", None if file is None else str(file), message))

    def warn(self, file: object, message: str) -> None:
        self.problems.append(Problem("warning", None if file is None else str(file), message))

    def info(self, file: object, message: str) -> None:
        self.problems.append(Problem("info", None if file is None else str(file), message))

    def fatal(self, file: object, message: str) -> DataError:
        """Record an error that stops loading; returns the exception for the caller to raise."""
        self.error(file, message)
        where = f"{file}: " if file is not None else ""
        return DataError(f"{where}{message}")

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def require(self, path: Path, what: str) -> bool:
        """True if ``path`` exists; else records an error naming it (``what`` says what it is)."""
        if path.exists():
            return True
        self.error(path, f"missing {what}")
        return False

    def finish(self, ds: LoadedDataset, root: Path, dataset: str) -> LoadedDataset:
        """Strict mode: raise DataError listing the errors. Always: copy the rest into ``ds.problems``."""
        errors = self.errors
        if self.strict and errors:
            shown = "\n  ".join(p.render() for p in errors[:15])
            more = f"\n  ... and {len(errors) - 15} more" if len(errors) > 15 else ""
            raise DataError(
                f"{dataset} copy at {root} is not usable ({len(errors)} problem(s)):\n  {shown}{more}\n"
                f"Run `mertbench data check <task> --root {root}` for the full report."
            )
        ds.problems.extend(p.render() for p in self.problems if p.severity != "error")
        return ds


Impl = Callable[[Path, "TaskSpec", Collector], LoadedDataset]

#: loader name -> collecting implementation (used by ``mertbench data check``).
IMPLS: dict[str, Impl] = {}


def official_loader(name: str) -> Callable[[Impl], Impl]:
    """Register ``impl`` as loader ``name`` (strict wrapper) and keep it for ``data check``."""

    def deco(impl: Impl) -> Impl:
        def loader(root: Path, spec: "TaskSpec") -> LoadedDataset:
            col = Collector(strict=True)
            ds = impl(Path(root), spec, col)
            return col.finish(ds, Path(root), name)

        loader.__name__ = f"load_{name}"
        loader.__doc__ = impl.__doc__
        register_loader(name)(loader)
        IMPLS[name] = impl
        return impl

    return deco


# ---------------------------------------------------------------------------------------------
# small readers shared by the dataset modules


def read_lines(path: Path) -> list[str]:
    """Non-empty lines of a text file with ``\\r`` and surrounding whitespace removed (CRLF or LF)."""
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    return [ln.strip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if ln.strip()]


def read_text(path: Path) -> str:
    """Whole file as text, CRLF normalised to LF (BOM removed)."""
    return path.read_bytes().decode("utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def sha1_int(text: str) -> int:
    """Integer value of the SHA-1 of ``text`` (UTF-8) — the hash jukemir/MARBLE split by."""
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16)


def first_existing(candidates: Iterable[Path]) -> Path | None:
    """The first path of ``candidates`` that exists, else None."""
    for c in candidates:
        if c.exists():
            return c
    return None


def split_name_map(spec: "TaskSpec", official: dict[str, str]) -> dict[str, str]:
    """Map the spec's split names to the dataset's own names (e.g. ``valid -> validation``)."""
    out = {}
    for s in spec.splits:
        if s not in official:
            raise DataError(f"task {spec.name}: split {s!r} is not one of {sorted(official)} for this dataset")
        out[s] = official[s]
    return out


def check_disjoint(splits: dict[str, list], col: Collector, key: Callable = lambda ex: ex.path, what: str = "file") -> None:
    """Record an error for every item that appears in more than one split."""
    seen: dict[object, str] = {}
    for name, exs in splits.items():
        for ex in exs:
            k = key(ex)
            if k in seen and seen[k] != name:
                col.error(k if isinstance(k, (str, Path)) else None,
                          f"{what} {k} is in both split {seen[k]!r} and split {name!r} (wrong split list?)")
            seen.setdefault(k, name)
