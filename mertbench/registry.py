"""One registry mechanism for models, task spec folders, dataset loaders, probe families and metrics.

A :class:`Registry` maps names to values. Built-in entries come from modules imported on first
lookup (``builtins``); third-party packages add entries through a Python entry-point group
(``mertbench.models``, ``mertbench.tasks``, ``mertbench.loaders``, ``mertbench.families``,
``mertbench.metrics``)::

    # a plugin's pyproject.toml
    [project.entry-points."mertbench.models"]
    my-encoders = "my_package.encoders"          # importing it runs @register_encoder(...)

An entry point names a module (or ``module:object``); loading it registers what it defines with
the ordinary decorators. A plugin that fails to import is reported by name (a warning, and
:func:`plugin_failures`, shown by ``mertbench models list`` and ``mertbench plugins``); whatever it
registered before failing is removed again, so a registry is never half filled and the rest
keep working.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import warnings
from typing import Callable, Generic, Iterator, Sequence, TypeVar

from mertbench.errors import MertbenchError

T = TypeVar("T")

#: entry-point group -> {plugin name: "ExceptionType: message"} for plugins that failed to load
_FAILURES: dict[str, dict[str, str]] = {}


def plugin_failures() -> list[dict[str, str]]:
    """Every plugin that failed to load so far: ``{"group", "name", "error"}``, sorted."""
    return [{"group": g, "name": n, "error": e} for g in sorted(_FAILURES) for n, e in sorted(_FAILURES[g].items())]


def _entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=group))


class Registry(Generic[T]):
    """Names -> values of one kind, filled by built-in modules and entry-point plugins.

    Args:
        kind: what is registered ("model", "metric", ...), used in messages.
        builtins: modules whose import registers the built-in entries (imported on first lookup).
        group: entry-point group of third-party plugins (None: no plugins).
        error: exception class raised for unknown or doubly registered names.
        on_plugin: called with ``(entry-point name, loaded object)`` for each plugin (for kinds
            whose plugins hand over data, e.g. a task spec folder, instead of registering on import).
    """

    def __init__(self, kind: str, *, builtins: Sequence[str] = (), group: str | None = None,
                 error: type[Exception] = MertbenchError,
                 on_plugin: Callable[[str, object], object] | None = None) -> None:
        self.kind = kind
        self.builtins = list(builtins)
        self.group = group
        self.error = error
        self.on_plugin = on_plugin
        self._items: dict[str, T] = {}
        self._loaded = False

    # -- filling ---------------------------------------------------------------------------------
    def add(self, name: str, value: T, same: Callable[[T, T], bool] | None = None) -> T:
        """Register ``value`` under ``name``; a different value under a taken name raises
        (``same(old, new)`` decides what counts as the same value; default ``==``)."""
        old = self._items.get(name)
        if name in self._items and not (same(old, value) if same else old == value):  # type: ignore[arg-type]
            raise self.error(f"{self.kind} {name!r} is already registered ({self._items[name]!r})")
        self._items[name] = value
        return value

    def register(self, *names: str) -> Callable[[T], T]:
        """Decorator: register the decorated object under each of ``names``."""

        def deco(obj: T) -> T:
            for name in names:
                self.add(name, obj)
            return obj

        return deco

    def load(self) -> None:
        """Import the built-in modules, then every plugin of :attr:`group` (once)."""
        if self._loaded:
            return
        self._loaded = True
        for mod in self.builtins:
            importlib.import_module(mod)
        if self.group is None:
            return
        for ep in _entry_points(self.group):
            before = dict(self._items)
            try:
                obj = ep.load()
                if self.on_plugin is not None:
                    self.on_plugin(ep.name, obj)
            except Exception as exc:  # a broken plugin must not break the rest
                self._items = before  # undo what it registered before failing
                msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
                _FAILURES.setdefault(self.group, {})[ep.name] = msg
                warnings.warn(f"mertbench plugin {ep.name!r} ({self.group} = {ep.value}) failed to load and is "
                              f"skipped: {msg}", RuntimeWarning, stacklevel=2)

    # -- lookup ----------------------------------------------------------------------------------
    def get(self, name: str) -> T:
        """The value registered as ``name``; unknown names raise :attr:`error` with close matches."""
        self.load()
        try:
            return self._items[name]
        except KeyError:
            pass
        close = difflib.get_close_matches(name, list(self._items), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise self.error(f"unknown {self.kind} {name!r}; registered: {sorted(self._items)}.{hint}") from None

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._items

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self.load()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        """``(name, value)`` pairs sorted by name."""
        self.load()
        return sorted(self._items.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
