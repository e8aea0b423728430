"""Architecture facts: extraction needs from task data, renamed model names, constants."""
from __future__ import annotations

import typing

import pytest

from mertbench.errors import ModelError


def test_every_task_type_declares_its_feature_level():
    from mertbench.probe.registry import get_family
    from mertbench.tasks.spec import FEATURE_LEVELS, TaskType

    assert set(FEATURE_LEVELS) == set(typing.get_args(TaskType))
    for task_type in FEATURE_LEVELS:
        get_family(task_type)  # every declared type has a probe family


def test_extraction_does_not_import_the_probe_layer():
    import grimp

    graph = grimp.build_graph("mertbench")
    chain = graph.find_shortest_chain(importer="mertbench.extract.runner", imported="mertbench.probe.registry")
    assert chain is None, chain


def test_old_test_encoder_name_points_to_toy():
    import mertbench
    from mertbench.models.mert import MertConfig

    with pytest.raises(ModelError, match="'toy'"):
        mertbench.load_model("tiny")
    with pytest.raises(ModelError, match="'toy'"):
        MertConfig.preset("tiny")
    enc = mertbench.load_model("toy", window_s=None)
    assert enc.name == "toy" and enc.dim == 32 and enc.num_layers == 3


def test_constants_agree_with_the_mert_geometry():
    from mertbench.constants import FRAME_RATE, HOP, SAMPLE_RATE
    from mertbench.models.mert import MertConfig

    cfg = MertConfig.preset("mert-95m")
    assert (cfg.sample_rate, cfg.total_stride, cfg.frame_rate) == (SAMPLE_RATE, HOP, FRAME_RATE) == (24000, 320, 75.0)
