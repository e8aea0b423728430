"""Encoders for the suite tests, loaded as plugins (``tests.suite.plugins:NAME``) by worker processes."""
from __future__ import annotations

import os

from mertbench.probe.synthetic import ToyLayeredEncoder


def broken_encoder(**_options):  # noqa: ANN201
    """A model whose factory fails: every job of it fails, with this message in its state and log."""
    raise RuntimeError("this test model cannot be built")


class _Crashing(ToyLayeredEncoder):
    def forward(self, wav, lengths=None):  # noqa: ANN001, ANN201
        os._exit(3)  # the worker process dies without a word, as an out-of-memory kill would


def crashing_encoder(**_options):  # noqa: ANN201
    """A model whose forward pass kills its process."""
    return _Crashing(num_layers=3, dim=8, informative=(1,), name="crashing")
