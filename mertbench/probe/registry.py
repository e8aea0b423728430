"""Task families: the probe behaviour of each task ``type``, chosen through a registry.

A family class (subclass of :class:`mertbench.probe.families.base.ProbeFamily`) registers itself for
one or more spec types with :func:`register_family`; nothing in the probe branches on task names.
Modules in :data:`FAMILY_MODULES` are imported on first lookup.
"""
from __future__ import annotations

import importlib
from typing import Callable, TypeVar

from mertbench.errors import SpecError

#: Modules whose import registers the built-in families.
FAMILY_MODULES: list[str] = [
    "mertbench.probe.families.clip",
    "mertbench.probe.families.beat",
    "mertbench.probe.families.separation",
]

_FAMILIES: dict[str, type] = {}
_IMPORTED = False
F = TypeVar("F", bound=type)


def register_family(*types: str) -> Callable[[F], F]:
    """Class decorator: the family used for tasks whose ``type`` is one of ``types``."""

    def deco(cls: F) -> F:
        for t in types:
            if t in _FAMILIES and _FAMILIES[t] is not cls:
                raise ValueError(f"task type {t!r} already has the family {_FAMILIES[t].__name__}")
            _FAMILIES[t] = cls
        return cls

    return deco


def get_family(task_type: str) -> type:
    """The family class (a :class:`~mertbench.probe.families.base.ProbeFamily` subclass) for ``task_type``."""
    global _IMPORTED
    if not _IMPORTED:
        _IMPORTED = True
        for mod in FAMILY_MODULES:
            importlib.import_module(mod)
    try:
        return _FAMILIES[task_type]
    except KeyError:
        raise SpecError(f"no probe family for task type {task_type!r}; known: {sorted(_FAMILIES)}") from None
