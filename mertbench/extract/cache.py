"""The on-disk feature cache: layout, keys, chunk files, merging and memory-mapped reads.

Layout (one folder per cache key)::

    <cache root>/features/<model slug>/<task>/<key>/
        cache.json                 # the key's configuration + provenance (written first)
        <split>/chunk-000000.npy   # features of examples [start, stop) of the split ...
        <split>/chunk-000000.json  # ... and its index; written after the .npy = the chunk's done marker
        <split>.features.npy       # merged: [rows, L, D] float16/float32, read with mmap
        <split>.index.json         # example ids, rows per example, skipped examples
        <split>.done.json          # written last: the split is complete

``rows`` are windows (clip tasks: one time-mean vector per window) or frames (frame-level tasks: the
frames of each example, concatenated). Example ``i`` owns rows ``offsets[i]:offsets[i+1]``; an example
that could not be read owns no rows and is listed in ``skipped`` with the file and the problem.

Every file is written atomically (temporary name, then rename), so an interrupted extraction leaves
only complete chunks behind; a re-run skips finished splits and finished chunks. The key is
:func:`mertbench.provenance.config_hash` of the model (spec string + weights fingerprint), the task
(name, spec version, type), the dataset fingerprint (ids, labels, excerpt bounds), the windowing
(sample rates, crop, window, hop, normalisation), the stored layers, the storage dtype and the
autocast mode.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mertbench.errors import DataError
from mertbench.io import atomic_path, atomic_save_npy, atomic_write_json
from mertbench.paths import cache_root

#: Bump when the cache layout or the meaning of its arrays changes.
CACHE_FORMAT = 1


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text).strip("/")).strip("_")[-80:] or "model"


def _fix(folder: Path) -> str:
    return f"delete {folder} (or run again with --force) to extract it again"


def read_json(path: Path, folder: Path) -> Any:
    """A cache JSON file, or a DataError naming the file and the fix if it is missing or damaged."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing from the feature cache; {_fix(folder)}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: damaged cache file ({exc}); {_fix(folder)}") from None


def load_npy(path: Path, folder: Path) -> np.ndarray:
    """A memory-mapped cache array, or a DataError naming the file and the fix if it is damaged."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: missing from the feature cache; {_fix(folder)}") from None
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: damaged cache file ({exc}); {_fix(folder)}") from None


def cache_dir_for(model_spec: str, task_name: str, key: str, root: str | os.PathLike | None = None) -> Path:
    """``<cache root>/features/<model slug>/<task>/<key>``."""
    base = Path(root) if root is not None else cache_root()
    return base / "features" / _slug(model_spec) / task_name / key


@dataclass
class ChunkIndex:
    """Index of one chunk: examples ``[start, stop)`` of a split."""

    start: int
    stop: int
    ids: list[str]
    rows: list[int]
    skipped: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "stop": self.stop, "ids": self.ids, "rows": self.rows, "skipped": self.skipped}


class SplitFeatures:
    """The cached features of one split (read-only, memory-mapped).

    Attributes:
        name: split name.
        features: ``[rows, L, D]`` array (``np.memmap``; float16 or float32).
        offsets: ``[n_examples + 1]`` int64; example ``i`` owns rows ``offsets[i]:offsets[i+1]``.
        ids: example ids in split order.
        skipped: examples left out ``{"id", "path", "reason", "problem"}``.
        layers: hidden-state index of each entry of the layer axis.
    """

    def __init__(self, folder: Path, name: str, layers: list[int]) -> None:
        self.name = name
        self.layers = list(layers)
        index_path = folder / f"{name}.index.json"
        index = read_json(index_path, folder)
        try:
            self.ids: list[str] = list(index["ids"])
            rows = np.asarray(index["rows"], dtype=np.int64)
            self.skipped: list[dict[str, str]] = list(index["skipped"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{index_path}: damaged cache index ({exc!r}); {_fix(folder)}") from None
        if rows.shape != (len(self.ids),) or (rows < 0).any():
            raise DataError(f"{index_path}: damaged cache index (rows do not match ids); {_fix(folder)}")
        self.offsets = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        self.features: np.ndarray = load_npy(folder / f"{name}.features.npy", folder)
        if self.features.ndim != 3 or self.features.shape[0] != int(self.offsets[-1]):
            raise DataError(f"{folder}/{name}.features.npy has shape {tuple(self.features.shape)} but its index "
                            f"says {int(self.offsets[-1])} rows; {_fix(folder)}")

    @property
    def num_examples(self) -> int:
        return len(self.ids)

    @property
    def rows_per_example(self) -> np.ndarray:
        """``[n_examples]`` number of rows of each example (0 = skipped)."""
        return np.diff(self.offsets)

    def example_of_row(self) -> np.ndarray:
        """``[rows]`` example index of each row."""
        return np.repeat(np.arange(self.num_examples), self.rows_per_example)

    def rows(self, i: int) -> np.ndarray:
        """Rows of example ``i``: ``[n_i, L, D]`` (a view into the memmap)."""
        return self.features[self.offsets[i]:self.offsets[i + 1]]

    def skipped_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.skipped:
            out[s["reason"]] = out.get(s["reason"], 0) + 1
        return out


class FeatureCache:
    """One cache folder. Create with :meth:`open`; splits become readable once done."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.config = config

    # --- creation / lookup -------------------------------------------------------------
    @classmethod
    def open(cls, folder: Path, config: dict[str, Any], key: str, provenance: dict[str, Any] | None = None) -> "FeatureCache":
        """Open (creating if needed) the cache at ``folder`` for ``config``; a folder holding a
        different configuration under the same key raises (it would be a hash collision)."""
        folder = Path(folder)
        meta = folder / "cache.json"
        if meta.exists():
            stored = read_json(meta, folder)
            if not isinstance(stored, dict) or stored.get("key") != key:
                raise DataError(f"{meta}: holds cache key {stored.get('key') if isinstance(stored, dict) else stored!r}, "
                                f"expected {key!r}; {_fix(folder)}")
        else:
            atomic_write_json(meta, {"key": key, "format": CACHE_FORMAT, "config": config,
                                     "provenance": provenance or {}})
        return cls(folder, config)

    @property
    def layers(self) -> list[int]:
        return list(self.config["layers"])

    @property
    def level(self) -> str:
        return str(self.config["windowing"]["level"])

    # --- split state ---------------------------------------------------------------------
    def done_path(self, split: str) -> Path:
        return self.folder / f"{split}.done.json"

    def is_done(self, split: str) -> bool:
        return self.done_path(split).exists()

    def done_info(self, split: str) -> dict[str, Any]:
        info = read_json(self.done_path(split), self.folder)
        if not isinstance(info, dict):
            raise DataError(f"{self.done_path(split)}: damaged cache file; {_fix(self.folder)}")
        return info

    def split(self, name: str) -> SplitFeatures:
        """The features of a finished split (raises DataError if it is not extracted yet)."""
        if not self.is_done(name):
            raise DataError(f"split {name!r} is not extracted in {self.folder} (no {name}.done.json); "
                            f"run `mertbench extract` first")
        self.done_info(name)  # a damaged done marker is named, not trusted
        return SplitFeatures(self.folder, name, self.layers)

    # --- chunks --------------------------------------------------------------------------
    def chunk_dir(self, split: str) -> Path:
        return self.folder / split

    def chunk_paths(self, split: str, i: int) -> tuple[Path, Path]:
        d = self.chunk_dir(split)
        return d / f"chunk-{i:06d}.npy", d / f"chunk-{i:06d}.json"

    def chunk_done(self, split: str, i: int) -> bool:
        npy, idx = self.chunk_paths(split, i)
        return npy.exists() and idx.exists()

    def write_chunk(self, split: str, i: int, features: np.ndarray, index: ChunkIndex) -> None:
        """Write chunk ``i`` (features first, then its index = the chunk's done marker)."""
        npy, idx = self.chunk_paths(split, i)
        atomic_save_npy(npy, features)
        atomic_write_json(idx, index.to_json(), indent=0)

    def read_chunk_index(self, split: str, i: int) -> ChunkIndex:
        _, idx = self.chunk_paths(split, i)
        data = read_json(idx, self.folder)
        try:
            return ChunkIndex(int(data["start"]), int(data["stop"]), list(data["ids"]), list(data["rows"]),
                              list(data["skipped"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{idx}: damaged chunk index ({exc!r}); {_fix(self.folder)}") from None

    # --- chunking of an unfinished split -------------------------------------------------
    def chunking(self, split: str, n_examples: int, chunk_examples: int) -> int:
        """The chunk size of ``split``: the one its first (interrupted) run recorded, else
        ``chunk_examples`` (recorded now). Resuming with another ``--chunk`` would misalign the
        finished chunks with the new ranges, so the recorded size wins."""
        path = self.chunk_dir(split) / "chunking.json"
        if path.exists():
            stored = read_json(path, self.folder)
            if not isinstance(stored, dict) or stored.get("examples") != n_examples:
                raise DataError(f"{path}: records {stored!r} but the split has {n_examples} examples; "
                                f"{_fix(self.folder)}")
            return int(stored["chunk_examples"])
        atomic_write_json(path, {"chunk_examples": int(chunk_examples), "examples": int(n_examples)})
        return int(chunk_examples)

    def merge(self, split: str, n_chunks: int, feature_shape: tuple[int, int], dtype: str,
              done_extra: dict[str, Any] | None = None, ids: list[str] | None = None) -> SplitFeatures:
        """Concatenate chunks ``0..n_chunks-1`` into ``<split>.features.npy`` + index, write the done
        marker last, then delete the chunk folder. ``feature_shape`` is ``(L, D)``. ``ids``: the
        split's example ids in order; the chunks must cover exactly these (else DataError: an
        example is never lost silently)."""
        indices = [self.read_chunk_index(split, i) for i in range(n_chunks)]
        pos_ex = 0
        for i, ix in enumerate(indices):
            if ix.start != pos_ex or ix.stop < ix.start or len(ix.ids) != ix.stop - ix.start \
                    or len(ix.rows) != len(ix.ids):
                raise DataError(f"{self.chunk_paths(split, i)[1]}: covers examples [{ix.start}, {ix.stop}) "
                                f"where [{pos_ex}, ...) was expected; {_fix(self.folder)}")
            pos_ex = ix.stop
        merged_ids = [x for ix in indices for x in ix.ids]
        if ids is not None and merged_ids != list(ids):
            lost = len(set(ids) - set(merged_ids))
            raise DataError(f"{self.chunk_dir(split)}: the chunks hold {len(merged_ids)} examples, the split has "
                            f"{len(ids)} ({lost} missing); {_fix(self.folder)}")
        total = sum(sum(ix.rows) for ix in indices)
        dest = self.folder / f"{split}.features.npy"
        with atomic_path(dest, suffix=".npy") as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.dtype(dtype),
                                            shape=(total, *feature_shape))
            pos = 0
            for i, ix in enumerate(indices):
                arr = load_npy(self.chunk_paths(split, i)[0], self.folder)
                if arr.shape[0] != sum(ix.rows):
                    raise DataError(f"{self.chunk_paths(split, i)[0]}: {arr.shape[0]} rows, index says "
                                    f"{sum(ix.rows)}; delete it and extract again")
                out[pos:pos + arr.shape[0]] = arr
                pos += arr.shape[0]
            out.flush()
            del out
        ids = [x for ix in indices for x in ix.ids]
        rows = [r for ix in indices for r in ix.rows]
        skipped = [s for ix in indices for s in ix.skipped]
        atomic_write_json(self.folder / f"{split}.index.json", {"ids": ids, "rows": rows, "skipped": skipped}, indent=0)
        counts: dict[str, int] = {}
        for s in skipped:
            counts[s["reason"]] = counts.get(s["reason"], 0) + 1
        done = {"split": split, "examples": len(ids), "rows": total, "shape": [total, *feature_shape],
                "dtype": dtype, "skipped": counts}
        done.update(done_extra or {})
        atomic_write_json(self.done_path(split), done)
        shutil.rmtree(self.chunk_dir(split), ignore_errors=True)
        return self.split(split)
