"""Probing frozen features with MARBLE's protocol: every layer and the weighted sum in one pass.

Entry points: :func:`run_probe` (extract if needed, train, select, write the results JSON),
:func:`render_table` (the per-layer table printed by ``mertbench probe``). Families (per task type)
live in :mod:`mertbench.probe.families` and are chosen through :mod:`mertbench.probe.registry`.
"""
from mertbench.probe.heads import HeadConfig
from mertbench.probe.registry import get_family, register_family
from mertbench.probe.run import ProbeSetup, make_setup, parse_layers, run_probe
from mertbench.probe.table import render_table
from mertbench.probe.trainer import HeadResult, TrainSettings, train_heads

__all__ = ["HeadConfig", "HeadResult", "ProbeSetup", "TrainSettings", "get_family", "make_setup", "parse_layers",
           "register_family", "render_table", "run_probe", "train_heads"]
