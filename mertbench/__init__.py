"""mertbench: MERT pretraining core and a MARBLE-compatible evaluation harness.

Public entry points:

- :func:`load_model` resolves a model spec (registered name, checkpoint directory or
  ``module:factory`` plugin string) to an :class:`~mertbench.models.Encoder`.
- ``mertbench`` on the command line (see :mod:`mertbench.cli`).
"""
from __future__ import annotations

from mertbench._version import __version__

__all__ = ["__version__", "load_model"]


def load_model(spec: str, **options):  # noqa: ANN201 - re-exported, typed in mertbench.models
    """Resolve ``spec`` to an Encoder. See :func:`mertbench.models.registry.load_model`."""
    from mertbench.models.registry import load_model as _load_model

    return _load_model(spec, **options)
