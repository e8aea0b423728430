"""Atomic file writes: write to a temporary name in the same folder, fsync, then rename.

An interrupted process therefore never leaves a half-written file under the final name. Temporary
names carry the writer's process id (``.<name>.tmp-<pid>-<random><suffix>``), so a later run can
remove the leftovers of a killed writer (:func:`remove_stale_temps`) without touching the files of a
writer that is still alive.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

#: marks a temporary file of :func:`atomic_path`; the writer's pid follows it
TEMP_MARK = ".tmp-"
_TEMP_RE = re.compile(r"^\..+\.tmp-(\d+)(?:-|$)")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Delete the temporary files of :func:`atomic_path` under ``folder`` whose writer is dead.

    A temp file whose pid is alive (another process writing now, or this one) is kept; one without
    a pid (written by an older mertbench) is removed only if untouched for an hour. Temporary
    folders named ``.<name>.tmp-<pid>`` (a rendered multitrack item, written whole then renamed)
    are treated the same way. Returns the removed paths. Only names of the form
    ``.<name>.tmp-<pid>...`` are ever considered. Pids are of this machine: on a shared file
    system, call it only where no other machine writes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    pattern = f".*{TEMP_MARK}*"
    for path in list(folder.rglob(pattern) if recursive else folder.glob(pattern)):
        m = _TEMP_RE.match(path.name)
        if path.is_dir() and m is None:
            continue
        if m is not None:
            stale = not _pid_alive(int(m.group(1)))
        else:
            try:
                stale = time.time() - path.stat().st_mtime > 3600
            except FileNotFoundError:
                continue
        if stale:
            with contextlib.suppress(FileNotFoundError):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed.append(path)
    return removed


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
        prefix=f".{dest.name}{TEMP_MARK}{os.getpid()}-", suffix=dest.suffix if suffix is None else suffix,
        dir=dest.parent,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp_path, 0o666 & ~_umask())
        _fsync_file(tmp_path)
        os.replace(tmp_path, dest)
        _fsync_dir(dest.parent)
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
        np.save(tmp, array)  # atomic_path fsyncs before the rename
