"""Loaders for the official dataset layouts (one module per dataset).

Importing this package registers every loader (``mertbench.tasks.loaders`` imports it on first
use). Each module's docstring documents the layout it reads under ``$MERTBENCH_DATA/<dirname>``
(``--root`` overrides) and how it reproduces MARBLE's splits; :mod:`mertbench.datasets.check`
validates a copy (``mertbench data check``).
"""
from mertbench.datasets import (  # noqa: F401  (imports register the loaders)
    emo,
    giantsteps,
    gtzan,
    gtzan_rhythm,
    mtg_jamendo,
    mtt,
    musdb,
    nsynth,
    vocalset,
)
from mertbench.datasets._base import IMPLS, Collector, Problem

__all__ = ["IMPLS", "Collector", "Problem", "emo", "giantsteps", "gtzan", "gtzan_rhythm", "mtg_jamendo", "mtt",
           "musdb", "nsynth", "vocalset"]
