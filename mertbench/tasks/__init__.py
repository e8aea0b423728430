"""Tasks: declarative specs (one YAML file per task in ``tasks/``), dataset loaders, registry.

- :mod:`mertbench.tasks.spec`: the schema of a task spec (unknown keys rejected).
- :mod:`mertbench.tasks.data`: the uniform example/split shape every loader returns.
- :mod:`mertbench.tasks.loaders`: the loader registry (``dataset.loader`` in a spec names one).
- :mod:`mertbench.tasks.registry`: finds the specs, builds :class:`Task` objects by name.
"""
from mertbench.tasks.data import Example, LoadedDataset
from mertbench.tasks.registry import Task, get_task, list_tasks
from mertbench.tasks.spec import TaskSpec, load_spec

__all__ = ["Example", "LoadedDataset", "Task", "TaskSpec", "get_task", "list_tasks", "load_spec"]
