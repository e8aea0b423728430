"""The rendered music suite: real compositions (music21 corpus) played through a GM soundfont.

``mertbench data render`` (or :func:`render_suite`) writes ten manifest tasks (``render-key``,
``render-beat``, ``render-pitch``, ``render-instrument``, ``render-genre``, ``render-tags``,
``render-emotion``, ``render-performer``, ``render-technique``, ``render-separation``) and an
unlabelled pretraining corpus. See docs/render.md for labels, splits, sizes and guarantees.

Modules: :mod:`.corpus` (pieces), :mod:`.library` (piece order and splits), :mod:`.generators`
(one per task), :mod:`.score` (MIDI), :mod:`.synth` (audio), :mod:`.runner` (parallel,
resumable rendering), :mod:`.sizes` (counts).
"""
from __future__ import annotations

from mertbench.render.generators import TASK_NAMES
from mertbench.render.runner import RenderReport, default_out, render_suite
from mertbench.render.sizes import SIZES

__all__ = ["RenderReport", "SIZES", "TASK_NAMES", "default_out", "render_suite"]
