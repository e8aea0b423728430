"""Dataset loader registry and the generic manifest loader.

A loader is ``fn(root: Path, spec: TaskSpec) -> LoadedDataset``. ``spec.dataset.loader`` names
it; loader modules register themselves with :func:`register_loader` and are listed in
:data:`LOADER_MODULES` so that they are imported on first use.

The manifest format (also what users write for their own datasets)
---------------------------------------------------------------------
A folder with the audio and one ``<split>.jsonl`` (or ``<split>.csv``) per split. Each JSONL
line / CSV row has:

- ``audio`` (required): path relative to the folder (or absolute);
- ``label`` (required): class name; for multilabel a list (CSV: ``;``-separated); for regression a
  list of numbers (CSV: ``;``-separated) in ``labels.names`` order; for key ``"<tonic> major|minor"``;
  for beat a list of beat times in seconds; for separation a mapping stem -> relative path;
- ``id`` (optional, default the audio path), ``start``/``end`` (optional, seconds),
  ``group`` (optional), anything else goes into ``meta``.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from mertbench.errors import DataError
from mertbench.registry import Registry
from mertbench.tasks.data import Example, LoadedDataset

if TYPE_CHECKING:
    from mertbench.tasks.spec import TaskSpec

Loader = Callable[[Path, "TaskSpec"], LoadedDataset]

#: Modules whose import registers loaders (imported on first lookup).
LOADER_MODULES: list[str] = ["mertbench.datasets"]

#: registered dataset loaders (built-ins plus plugins of the ``mertbench.loaders`` entry-point group)
LOADERS: Registry[Loader] = Registry("dataset loader", builtins=LOADER_MODULES, group="mertbench.loaders",
                                     error=DataError)


def register_loader(name: str) -> Callable[[Loader], Loader]:
    """Decorator: register a dataset loader under ``name``."""

    def deco(fn: Loader) -> Loader:
        if name in LOADERS._items and LOADERS._items[name] is not fn:
            raise ValueError(f"loader {name!r} registered twice")
        LOADERS.add(name, fn, same=lambda old, new: old is new)
        return fn

    return deco


def get_loader(name: str) -> Loader:
    """The loader registered under ``name`` (imports :data:`LOADER_MODULES` first)."""
    return LOADERS.get(name)


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


def _coerce_label(raw: object, task_type: str, where: str) -> object:
    if task_type in ("multiclass", "key"):
        if not isinstance(raw, (str, int)):
            raise DataError(f"{where}: field label must be a class name, got {raw!r}")
        return str(raw)
    if task_type == "multilabel":
        if isinstance(raw, str):
            return _split_list(raw)
        if isinstance(raw, list):
            return [str(x) for x in raw]
        raise DataError(f"{where}: field label must be a list of tags, got {raw!r}")
    if task_type in ("regression", "beat"):
        vals = _split_list(raw) if isinstance(raw, str) else raw
        if not isinstance(vals, list):
            raise DataError(f"{where}: field label must be a list of numbers, got {raw!r}")
        try:
            return [float(x) for x in vals]
        except (TypeError, ValueError):
            raise DataError(f"{where}: field label must hold numbers, got {raw!r}") from None
    if task_type == "separation":
        if not isinstance(raw, dict):
            raise DataError(f"{where}: field label must map stem names to audio paths, got {raw!r}")
        return {str(k): str(v) for k, v in raw.items()}
    raise DataError(f"{where}: unsupported task type {task_type!r}")


def _read_rows(path: Path) -> list[tuple[int, dict]]:
    rows: list[tuple[int, dict]] = []
    if path.suffix == ".jsonl":
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{i}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{i}: each line must be a JSON object")
            rows.append((i, obj))
    else:
        with open(path, newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f), start=2):
                rows.append((i, dict(row)))
    return rows


def _seconds(value: object, field: str, where: str) -> float | None:
    """A manifest time field in seconds: empty -> None; else a finite number >= 0 (DataError naming
    the file, line, field and value otherwise)."""
    if value in (None, ""):
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"{where}: field {field!r} is {value!r}; give seconds as a number "
                        f"(e.g. 12.5) or leave it empty") from None
    if isinstance(value, bool) or not np.isfinite(out) or out < 0:
        raise DataError(f"{where}: field {field!r} is {value!r}; it must be a finite number of seconds >= 0")
    return out


def read_manifest_split(folder: Path, split: str, task_type: str) -> list[Example]:
    """Read ``<folder>/<split>.jsonl`` (or ``.csv``) into Examples; errors name file and line."""
    path = folder / f"{split}.jsonl"
    if not path.exists():
        path = folder / f"{split}.csv"
    if not path.exists():
        raise DataError(f"{folder}: manifest for split {split!r} not found "
                        f"(expected {split}.jsonl or {split}.csv)")
    out: list[Example] = []
    seen: set[str] = set()
    for line_no, row in _read_rows(path):
        where = f"{path}:{line_no}"
        for key in ("audio", "label"):
            if key not in row or row[key] in (None, ""):
                raise DataError(f"{where}: missing field {key!r}")
        audio = Path(str(row.pop("audio")))
        audio = audio if audio.is_absolute() else folder / audio
        label = _coerce_label(row.pop("label"), task_type, where)
        if task_type == "separation":
            label = {k: str(folder / v) if not Path(v).is_absolute() else v for k, v in label.items()}
        rid = row.pop("id", None)
        if rid not in (None, ""):
            ex_id = str(rid)
        else:
            ex_id = str(audio.relative_to(folder)) if audio.is_relative_to(folder) else str(audio)
        if ex_id in seen:
            raise DataError(f"{where}: duplicate id {ex_id!r}")
        seen.add(ex_id)
        start = _seconds(row.pop("start", None), "start", where)
        start = 0.0 if start is None else start
        end = _seconds(row.pop("end", None), "end", where)
        if end is not None and end <= start:
            raise DataError(f"{where}: field 'end' ({end:g} s) must be after 'start' ({start:g} s); "
                            f"leave 'end' empty to read to the end of the file")
        group = row.pop("group", None) or None
        out.append(Example(ex_id, audio, label, start, end, group, row))
    return out


@register_loader("manifest")
def load_manifest(root: Path, spec: "TaskSpec") -> LoadedDataset:
    """Generic loader: ``<root>/<split>.jsonl|csv`` per split (see module docstring).

    Options: ``subdir`` (manifests live in ``root/subdir``). The vocabulary is ``labels.vocabulary``
    if given, else the sorted set of labels seen in all splits (multiclass/multilabel/key).
    """
    folder = root / spec.dataset.options.get("subdir", "") if spec.dataset.options.get("subdir") else root
    if not folder.is_dir():
        raise DataError(f"{folder}: dataset folder not found")
    splits = {s: read_manifest_split(folder, s, spec.type) for s in spec.splits}
    vocab = spec.labels.vocabulary
    if vocab is None and spec.type in ("multiclass", "multilabel", "key"):
        labels: set[str] = set()
        for exs in splits.values():
            for ex in exs:
                labels.update(ex.label if isinstance(ex.label, list) else [ex.label])
        vocab = sorted(labels)
    if vocab is not None and spec.type in ("multiclass", "multilabel", "key"):
        known = set(vocab)
        for s, exs in splits.items():
            for ex in exs:
                for lab in (ex.label if isinstance(ex.label, list) else [ex.label]):
                    if lab not in known:
                        raise DataError(f"{folder}/{s}: example {ex.id!r} has label {lab!r} "
                                        f"outside the vocabulary {vocab[:10]}...")
    return LoadedDataset(splits=splits, vocabulary=vocab)
