"""One generator per rendered task (plus the pretraining corpus): ``generate(ctx) -> TaskPlan``."""
from __future__ import annotations

from typing import Callable

from mertbench.render.generators import (
                                         beat,
                                         emotion,
                                         genre,
                                         key,
                                         notes,
                                         performer,
                                         pretrain,
                                         separation,
                                         tags,
                                         technique,
)
from mertbench.render.plan import PlanContext, TaskPlan

#: task name -> generator, in render order
GENERATORS: dict[str, Callable[[PlanContext], TaskPlan]] = {
    "render-key": key.generate,
    "render-beat": beat.generate,
    "render-pitch": notes.generate_pitch,
    "render-instrument": notes.generate_instrument,
    "render-genre": genre.generate,
    "render-tags": tags.generate,
    "render-emotion": emotion.generate,
    "render-performer": performer.generate,
    "render-technique": technique.generate,
    "render-separation": separation.generate,
    "pretrain": pretrain.generate,
}

_ALL = ("chorale", "renaissance", "madrigal", "trecento", "fiddle", "folk", "classical")
#: task name -> corpus sources its generator reads (for prefetching)
SOURCES_USED: dict[str, tuple[str, ...]] = {
    "render-key": ("chorale",),
    "render-beat": beat.SOURCES,
    "render-pitch": (),
    "render-instrument": (),
    "render-genre": _ALL,
    "render-tags": tags.SOURCES,
    "render-emotion": emotion.SOURCES,
    "render-performer": performer.SOURCES,
    "render-technique": technique.SOURCES,
    "render-separation": separation.SOURCES,
    "pretrain": _ALL,
}

#: the ten labelled tasks
TASK_NAMES: list[str] = [n for n in GENERATORS if n != "pretrain"]
