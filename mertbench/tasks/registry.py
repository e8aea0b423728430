"""The task registry: every ``*.yaml`` in the shipped ``tasks/`` folder, plus user folders.

Extra spec folders can be added with ``MERTBENCH_TASKS`` (``os.pathsep``-separated). A task name
defined twice is an error naming both files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mertbench.errors import DataError, SpecError
from mertbench.paths import data_root, resource_dir
from mertbench.registry import Registry
from mertbench.tasks.data import LoadedDataset
from mertbench.tasks.loaders import get_loader
from mertbench.tasks.spec import TaskSpec, load_spec


@dataclass
class Task:
    """A task: its spec, where its spec came from, and data loading."""

    spec: TaskSpec
    source: Path

    @property
    def name(self) -> str:
        return self.spec.name

    def default_root(self) -> Path:
        """``<data root>/<dataset.dirname>``."""
        return data_root() / self.spec.dataset.dirname

    def resolve_root(self, root: str | os.PathLike | None = None) -> Path:
        return Path(root).expanduser() if root is not None else self.default_root()

    def data_found(self, root: str | os.PathLike | None = None) -> bool:
        return self.resolve_root(root).is_dir()

    def load(self, root: str | os.PathLike | None = None) -> LoadedDataset:
        """Load every split. A missing folder raises DataError with the command that creates it."""
        path = self.resolve_root(root)
        if not path.is_dir():
            hint = self.spec.dataset.missing_hint or (
                f"put your copy of the dataset at {path} or pass --root DIR")
            raise DataError(f"task {self.name}: data not found at {path}. {hint}")
        return get_loader(self.spec.dataset.loader)(path, self.spec)


def _plugin_folder(name: str, obj: object) -> None:
    folder = obj() if callable(obj) else obj
    if not isinstance(folder, (str, os.PathLike)):
        raise SpecError(f"task plugin {name!r} must point to a folder of task specs, got {type(folder).__name__}")
    TASK_FOLDERS.add(name, Path(folder))


#: task spec folders of plugins (entry-point group ``mertbench.tasks``: a folder path, or a callable returning one)
TASK_FOLDERS: Registry[Path] = Registry("task spec folder", group="mertbench.tasks", error=SpecError,
                                        on_plugin=_plugin_folder)


def spec_dirs() -> list[Path]:
    """The shipped ``tasks/`` folder, then the folders of task plugins, then any ``MERTBENCH_TASKS`` folders."""
    dirs = [resource_dir("tasks")]
    dirs += [folder for _, folder in TASK_FOLDERS.items()]
    extra = os.environ.get("MERTBENCH_TASKS", "")
    dirs += [Path(p).expanduser() for p in extra.split(os.pathsep) if p]
    return dirs


@lru_cache(maxsize=8)
def _load_all(key: tuple[str, ...], signature: tuple[Any, ...] = ()) -> dict[str, Task]:
    """Specs of the folders ``key``; ``signature`` (spec files and their mtimes) renews the cache
    when a spec is added, removed or edited in a running process."""
    tasks: dict[str, Task] = {}
    for d in map(Path, key):
        if not d.is_dir():
            raise SpecError(f"{d}: task spec folder not found (check MERTBENCH_TASKS)")
        for path in sorted(d.glob("*.yaml")):
            spec = load_spec(path)
            if spec.name in tasks:
                raise SpecError(f"task {spec.name!r} is defined twice: {tasks[spec.name].source} and {path}")
            tasks[spec.name] = Task(spec, path)
    return tasks


def all_tasks() -> dict[str, Task]:
    """Name -> Task for every spec found."""
    dirs = tuple(str(d) for d in spec_dirs())
    signature = tuple((str(p), p.stat().st_mtime_ns) for d in dirs if Path(d).is_dir()
                      for p in sorted(Path(d).glob("*.yaml")))
    return _load_all(dirs, signature)


def list_tasks(suite: str | None = None) -> list[Task]:
    """Tasks sorted by name, optionally only one suite (``official``, ``render``, ``custom``)."""
    return [t for _, t in sorted(all_tasks().items()) if suite is None or t.spec.suite == suite]


def get_task(name: str) -> Task:
    """The task called ``name``; unknown names raise with close matches."""
    tasks = all_tasks()
    if name in tasks:
        return tasks[name]
    import difflib

    close = difflib.get_close_matches(name, list(tasks), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise SpecError(f"unknown task {name!r}.{hint} See `mertbench tasks`.")


def as_task(task: str | Task) -> Task:
    """``task`` itself, or the task called ``task``: entry points resolve the name once and pass the
    :class:`Task` object down (probe -> setup -> extraction), so nothing below looks it up again."""
    return get_task(task) if isinstance(task, str) else task
