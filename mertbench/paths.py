"""Where mertbench reads and writes things.

Environment variables (all optional):

==========================  ==========================================  ===========================
variable                    meaning                                     default
==========================  ==========================================  ===========================
``MERTBENCH_HOME``          base folder for data and caches             ``~/.mertbench``
``MERTBENCH_DATA``          data root: one folder per dataset/suite     ``$MERTBENCH_HOME/data``
``MERTBENCH_CACHE``         feature / label caches                      ``$MERTBENCH_HOME/cache``
``MERTBENCH_RESULTS``       where runs write results JSONs              ``./results``
==========================  ==========================================  ===========================
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def home() -> Path:
    """Base folder (``$MERTBENCH_HOME`` or ``~/.mertbench``)."""
    return Path(os.environ.get("MERTBENCH_HOME", Path.home() / ".mertbench")).expanduser()


def data_root() -> Path:
    """Root under which each dataset lives in its own folder (``$MERTBENCH_DATA``)."""
    env = os.environ.get("MERTBENCH_DATA")
    return Path(env).expanduser() if env else home() / "data"


def cache_root() -> Path:
    """Root of the feature and teacher-label caches (``$MERTBENCH_CACHE``)."""
    env = os.environ.get("MERTBENCH_CACHE")
    return Path(env).expanduser() if env else home() / "cache"


def results_root() -> Path:
    """Root of results JSONs and compiled leaderboards (``$MERTBENCH_RESULTS`` or ``./results``)."""
    return Path(os.environ.get("MERTBENCH_RESULTS", "results")).expanduser()


def resource_dir(name: str) -> Path:
    """Folder of shipped declarative files: ``"tasks"``, ``"baselines"``, ``"protocols"`` or ``"deformations"``.

    In a source checkout or editable install these are the top-level folders of the repository;
    after ``pip install .`` they are copied into ``mertbench/_resources/`` by ``setup.py``.
    """
    packaged = PACKAGE_DIR / "_resources" / name
    if packaged.is_dir():
        return packaged
    source = PACKAGE_DIR.parent / name
    if source.is_dir():
        return source
    raise FileNotFoundError(
        f"mertbench resource folder {name!r} not found at {packaged} or {source}; "
        "reinstall mertbench (pip install .) so that it ships tasks/ and baselines/"
    )
