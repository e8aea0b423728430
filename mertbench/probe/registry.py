"""Task families: the probe behaviour of each task ``type``, chosen through a registry.

A family class (subclass of :class:`mertbench.probe.families.base.ProbeFamily`) registers itself for
one or more spec types with :func:`register_family`; nothing in the probe branches on task names.
Modules in :data:`FAMILY_MODULES` are imported on first lookup.
"""
from __future__ import annotations

from typing import Callable, TypeVar

from mertbench.errors import SpecError
from mertbench.registry import Registry

#: Modules whose import registers the built-in families.
FAMILY_MODULES: list[str] = [
    "mertbench.probe.families.clip",
    "mertbench.probe.families.beat",
    "mertbench.probe.families.separation",
]

#: task type -> family class (built-ins plus plugins of the ``mertbench.families`` entry-point group)
FAMILIES: Registry[type] = Registry("probe family for task type", builtins=FAMILY_MODULES,
                                    group="mertbench.families", error=SpecError)
F = TypeVar("F", bound=type)


def register_family(*types: str) -> Callable[[F], F]:
    """Class decorator: the family used for tasks whose ``type`` is one of ``types``."""

    def deco(cls: F) -> F:
        for t in types:
            if t in FAMILIES._items and FAMILIES._items[t] is not cls:
                raise ValueError(f"task type {t!r} already has the family {FAMILIES._items[t].__name__}")
            FAMILIES.add(t, cls)
        return cls

    return deco


def get_family(task_type: str) -> type:
    """The family class (a :class:`~mertbench.probe.families.base.ProbeFamily` subclass) for ``task_type``."""
    return FAMILIES.get(task_type)
