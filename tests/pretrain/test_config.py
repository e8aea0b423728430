"""Typed config: presets, overrides, validation errors, LR schedule."""
from __future__ import annotations

import pytest

from mertbench.errors import SpecError
from mertbench.pretrain.config import PRESETS, PretrainConfig
from mertbench.pretrain.trainer import lr_factor


def test_presets_validate_and_match_the_paper_settings():
    for name in PRESETS:
        PretrainConfig.preset(name).validate()
    c95 = PretrainConfig.preset("95m")
    assert (c95.optim.lr, c95.optim.warmup(), c95.optim.steps, c95.optim.clip_norm) == (5e-4, 32000, 400000, 10.0)
    assert c95.model.feature_grad_mult == 0.1 and c95.model.layerdrop == 0.05 and c95.loss.final_dim == 64
    assert c95.data.crop_seconds == 5.0 and c95.optim.precision == "fp16" and c95.teacher.kind == "encodec"
    c330 = PretrainConfig.preset("330m")
    assert c330.model.do_stable_layer_norm and c330.model.attention_relax == 32.0
    assert (c330.optim.lr, c330.optim.clip_norm, c330.optim.accum) == (1.5e-3, 1.0, 8)
    assert c330.mixture.max_seconds == 1.5 and c330.data.crop_seconds == 5.12 and c330.loss.final_dim == 128
    assert c95.optim.betas == (0.9, 0.98) and c95.optim.eps == 1e-6 and c95.optim.weight_decay == 0.01
    assert (c95.mask.prob, c95.mask.length, c95.loss.logit_temp, c95.loss.features_pen_weight) == (0.8, 5, 0.1, 10.0)


def test_preset_geometry_equals_the_encoder_presets():
    from dataclasses import fields

    from mertbench.models.mert import MertConfig

    for ours, theirs in (("95m", "mert-95m"), ("330m", "mert-330m")):
        a = PretrainConfig.preset(ours).model.to_mert_config()
        b = MertConfig.preset(theirs)
        for f in fields(MertConfig):
            if f.name in ("extra",) or "dropout" in f.name or f.name == "layerdrop":
                continue
            assert getattr(a, f.name) == getattr(b, f.name), (ours, f.name)
        assert a.num_parameters() == b.num_parameters()


def test_overrides_parse_types_and_round_trip(tmp_path):
    cfg = PretrainConfig.preset("tiny").override(["optim.lr=3e-4", "model.conv_dim=32,32,32,32,32,32,32",
                                                  "loss.cqt=false", "teacher.kmeans_clusters=(50, 20)",
                                                  "run.debug_nan_steps=3"])
    assert cfg.optim.lr == 3e-4 and cfg.model.conv_dim == (32,) * 7 and cfg.loss.cqt is False
    assert cfg.teacher.kmeans_clusters == (50, 20) and cfg.run.debug_nan_steps == (3,)
    # tuples of names take a plain comma list (no quotes needed on the command line) or a literal
    assert cfg.override(["run.eval_probe_tasks=render-pitch, render-key"]).run.eval_probe_tasks == (
        "render-pitch", "render-key")
    assert cfg.override(["run.eval_probe_tasks=('render-genre',)"]).run.eval_probe_tasks == ("render-genre",)
    assert cfg.override(["run.eval_probe_tasks=()"]).run.eval_probe_tasks == ()
    again = PretrainConfig.from_dict(cfg.to_dict())
    assert again == cfg
    p = tmp_path / "c.json"
    import json

    p.write_text(json.dumps(cfg.to_dict()))
    assert PretrainConfig.load(p) == cfg


@pytest.mark.parametrize("item, needle", [
    ("optim.lrr=1", "unknown field 'lrr'"),
    ("optimizer.lr=1", "unknown section"),
    ("optim.lr=abc", "optim.lr"),
    ("loss.cqt=maybe", "not a boolean"),
    ("nokey", "KEY=VALUE"),
])
def test_bad_overrides_name_the_field(item, needle):
    with pytest.raises(SpecError, match=needle):
        PretrainConfig.preset("tiny").override([item])


def test_validation_errors():
    for item, needle in (("data.holdout_clips=-1", "data.holdout_clips"), ("run.eval_every=-5", "run.eval_every"),
                         ("mask.prob=0", "nothing to learn")):
        item = [item, "loss.pred_nomask_weight=0"]
        with pytest.raises(SpecError, match=needle):
            PretrainConfig.preset("tiny").override(item).validate()
    PretrainConfig.preset("tiny").override(["mask.prob=0", "loss.pred_nomask_weight=1"]).validate()
    with pytest.raises(SpecError, match="teacher.kind"):
        PretrainConfig.preset("tiny").override({"teacher.kind": "none", "loss.cqt": False}).validate()
    with pytest.raises(SpecError, match="320"):
        PretrainConfig.preset("tiny").override({"model.conv_stride": (5, 2, 2, 2, 2, 2, 1)}).validate()
    with pytest.raises(SpecError, match="unknown pretraining preset"):
        PretrainConfig.preset("1b")


def test_lr_schedule_warmup_then_linear_decay():
    f = [lr_factor(u, 10, 100) for u in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[55] == pytest.approx(0.5) and f[99] == pytest.approx(1 / 90)
    assert all(a <= b for a, b in zip(f[:10], f[1:10])) and all(a >= b for a, b in zip(f[10:], f[11:]))
    assert lr_factor(100, 10, 100) == 0.0


def test_plain_constructor_has_the_95m_preset_default_and_serialises():
    """``PretrainConfig.preset(name)`` shares its name with the field; ``PretrainConfig()`` still gets "95m"."""
    cfg = PretrainConfig()
    assert cfg.preset == "95m" and cfg.to_dict()["preset"] == "95m"
    assert PretrainConfig.from_dict(cfg.to_dict()) == cfg
    assert PretrainConfig.preset("tiny").preset == "tiny"
