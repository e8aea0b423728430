"""Sizes of the rendered suite.

``counts`` are per split. For class-balanced tasks (key, instrument, genre, performer, technique)
they are examples **per class**; for the others, examples in total. ``clip_s`` is the clip
length in seconds; ``reuse`` the number of clips cut from one piece (transpositions for key,
excerpts elsewhere) before the next piece is taken.

- ``tiny``: a smoke test (tests, CI, `mertbench demo --quick`); too small for meaningful scores.
- ``small``: renders in about a minute and a half on 2 cores; every task has enough examples
  for a meaningful probe (see docs/render.md for the counts).
- ``full``: about ten times larger, for model development.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSize:
    counts: dict[str, int]
    clip_s: float
    reuse: int = 1


def _c(train: int, valid: int, test: int) -> dict[str, int]:
    return {"train": train, "valid": valid, "test": test}


SIZES: dict[str, dict[str, TaskSize]] = {
    "tiny": {
        "render-key": TaskSize(_c(1, 1, 1), 4.0, reuse=12),
        "render-beat": TaskSize(_c(4, 2, 2), 5.0),
        "render-pitch": TaskSize(_c(8, 4, 4), 2.0),
        "render-instrument": TaskSize(_c(1, 1, 1), 1.0),
        "render-genre": TaskSize(_c(1, 1, 1), 4.0),
        "render-tags": TaskSize(_c(6, 3, 3), 4.0),
        "render-emotion": TaskSize(_c(6, 3, 3), 4.0),
        "render-performer": TaskSize(_c(1, 1, 1), 2.0, reuse=4),
        "render-technique": TaskSize(_c(1, 1, 1), 2.0, reuse=4),
        "render-separation": TaskSize(_c(3, 2, 2), 4.0),
        "pretrain": TaskSize({"train": 4}, 6.0),
    },
    "small": {
        "render-key": TaskSize(_c(8, 2, 2), 6.0, reuse=4),
        "render-beat": TaskSize(_c(96, 24, 24), 8.0, reuse=2),
        "render-pitch": TaskSize(_c(512, 128, 128), 2.0),
        "render-instrument": TaskSize(_c(20, 6, 6), 2.0),
        "render-genre": TaskSize(_c(20, 6, 6), 6.0, reuse=2),
        "render-tags": TaskSize(_c(160, 40, 40), 6.0, reuse=2),
        "render-emotion": TaskSize(_c(128, 32, 32), 6.0, reuse=2),
        "render-performer": TaskSize(_c(10, 3, 3), 3.0, reuse=2),
        "render-technique": TaskSize(_c(16, 5, 5), 4.0, reuse=2),
        "render-separation": TaskSize(_c(36, 12, 12), 6.0, reuse=2),
        "pretrain": TaskSize({"train": 120}, 15.0),  # 30 min: 30 clips gave the tiny model no key
    },
    "full": {
        "render-key": TaskSize(_c(30, 8, 8), 8.0, reuse=6),
        "render-beat": TaskSize(_c(600, 150, 150), 8.0),
        "render-pitch": TaskSize(_c(5000, 1000, 1000), 2.0),
        "render-instrument": TaskSize(_c(200, 40, 40), 2.0),
        "render-genre": TaskSize(_c(100, 25, 25), 8.0, reuse=3),
        "render-tags": TaskSize(_c(1000, 250, 250), 8.0),
        "render-emotion": TaskSize(_c(800, 200, 200), 8.0),
        "render-performer": TaskSize(_c(60, 15, 15), 4.0),
        "render-technique": TaskSize(_c(100, 25, 25), 4.0),
        "render-separation": TaskSize(_c(400, 100, 100), 10.0),
        "pretrain": TaskSize({"train": 1000}, 20.0),
    },
}


#: How many candidates of each source (in seeded order) to start parsing before planning, so that
#: the workers parse while the planners run. Estimates from seeds 0 and 1; planning parses any
#: further piece it needs on demand, so these only affect speed, never the result.
PREFETCH: dict[str, dict[str, int]] = {
    "tiny": {"chorale": 36, "fiddle": 12, "folk": 12, "classical": 10, "renaissance": 6, "madrigal": 6, "trecento": 6},
    "small": {"chorale": 180, "fiddle": 104, "folk": 104, "classical": 22, "renaissance": 26, "madrigal": 26,
              "trecento": 26},
    "full": {"chorale": 408, "fiddle": 760, "folk": 760, "classical": 22, "renaissance": 300, "madrigal": 49,
             "trecento": 100},
}
