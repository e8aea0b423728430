"""Split lists that are not part of the user's download: find a local copy or fetch it once.

Lookup order for a list called ``NAME`` of dataset folder ``DIR``:

1. ``<dataset root>/NAME`` (where MARBLE's scripts put it),
2. ``<dataset root>/splits/NAME``,
3. ``$MERTBENCH_CACHE/splits/DIR/NAME`` (where mertbench stores what it downloaded).

If none exists and ``MERTBENCH_OFFLINE`` is not set, the list is downloaded from its public
source, verified (SHA-256 when it is pinned, and always the list's known structure, e.g. line
counts), and written atomically to the cache. Nothing is ever fabricated: if the list can be
neither found nor downloaded, :class:`~mertbench.errors.DataError` says where to put it and the
URL to get it from.

Verification of local copies: a local copy is used as given, but if it breaks the known
structure (e.g. a different number of lines than the official list) a *warning* is recorded so
that ``mertbench data check`` reports that results will not be comparable with MARBLE.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mertbench.datasets._base import Collector
from mertbench.io import atomic_write_bytes
from mertbench.paths import cache_root

Validator = Callable[[bytes], None]


@dataclass(frozen=True)
class RemoteList:
    """A split list published outside the dataset archive.

    Attributes:
        name: file name (e.g. ``train_filtered.txt``).
        url: where the official copy lives (pinned to a commit).
        sha256: SHA-256 of the official bytes, when it is known; None when only ``validate`` applies.
        validate: raises ``ValueError`` if the bytes do not have the official structure.
        source: human-readable source (repository @ commit), shown in messages.
    """

    name: str
    url: str
    sha256: str | None = None
    validate: Validator | None = None
    source: str = ""


def cache_path(dirname: str, name: str) -> Path:
    """``$MERTBENCH_CACHE/splits/<dirname>/<name>``."""
    return cache_root() / "splits" / dirname / name


def offline() -> bool:
    """True when ``MERTBENCH_OFFLINE`` is set to a non-empty value other than ``0``."""
    return os.environ.get("MERTBENCH_OFFLINE", "") not in ("", "0")


def _download(url: str, timeout: float = 30.0) -> bytes:
    """GET ``url`` (separate function so tests can replace it)."""
    req = urllib.request.Request(url, headers={"User-Agent": "mertbench"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (https URLs only)
        return resp.read()


def verify(data: bytes, rl: RemoteList) -> None:
    """Raise ValueError if ``data`` is not the official list (checksum and/or structure)."""
    if rl.sha256 is not None:
        got = hashlib.sha256(data).hexdigest()
        if got != rl.sha256:
            raise ValueError(f"SHA-256 {got} differs from the official {rl.sha256}")
    if rl.validate is not None:
        rl.validate(data)


def locate(rl: RemoteList, root: Path, dirname: str, col: Collector) -> Path:
    """Path of a usable copy of ``rl`` (local, cached or freshly downloaded).

    Raises:
        DataError: the list is nowhere and cannot be downloaded; the message names the places to
            put it and the URL.
    """
    candidates = [root / rl.name, root / "splits" / rl.name]
    for path in candidates:
        if path.is_file():
            try:
                verify(path.read_bytes(), rl)
            except ValueError as exc:
                col.warn(path, f"split list differs from the official {rl.name} ({rl.source}): {exc}; "
                               "results will not be comparable with MARBLE")
            return path
    cached = cache_path(dirname, rl.name)
    if cached.is_file():
        return cached
    where = f"{candidates[0]} (or {cached})"
    if offline():
        raise col.fatal(candidates[0], f"split list {rl.name} not found and MERTBENCH_OFFLINE is set; "
                                       f"download {rl.url} and put it at {where}")
    try:
        data = _download(rl.url)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise col.fatal(candidates[0], f"split list {rl.name} not found and the download from {rl.url} failed "
                                       f"({exc}); download it yourself and put it at {where}") from None
    try:
        verify(data, rl)
    except ValueError as exc:
        raise col.fatal(candidates[0], f"downloaded {rl.name} from {rl.url} failed verification ({exc}); "
                                       f"nothing was saved. Put a verified copy at {where}") from None
    atomic_write_bytes(cached, data)
    col.info(cached, f"downloaded {rl.name} from {rl.url} (sha256 {hashlib.sha256(data).hexdigest()[:16]}...)")
    return cached

