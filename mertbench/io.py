"""Atomic file writes: write to a temporary name in the same folder, then rename.

An interrupted process therefore never leaves a half-written file under the final name.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success rename it to ``dest``.

    On an exception the temporary file is removed and ``dest`` is untouched.
    ``suffix`` defaults to the suffix of ``dest`` (some writers pick the format from it).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{dest.name}.tmp-", suffix=dest.suffix if suffix is None else suffix, dir=dest.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(dest: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(dest: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``dest`` atomically."""
    atomic_write_bytes(dest, text.encode("utf-8"))


def atomic_write_json(dest: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON (sorted keys, NaN rejected) to ``dest`` atomically."""
    atomic_write_text(dest, json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False) + "\n")


def atomic_save_npy(dest: str | os.PathLike, array: np.ndarray) -> None:
    """Save ``array`` as ``.npy`` to ``dest`` atomically (readable with ``np.load(mmap_mode='r')``)."""
    with atomic_path(dest, suffix=".npy") as tmp:
        np.save(tmp, array)
