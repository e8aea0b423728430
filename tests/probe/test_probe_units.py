"""Units of the batched trainer: Adam, plateau schedule, early stopping, layer parsing, heads."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mertbench.errors import SpecError
from mertbench.probe.heads import HeadBank, HeadConfig
from mertbench.probe.optim import BatchedAdam, EarlyStopping, PlateauSchedule
from mertbench.probe.run import parse_layers, positions_for, weighted_layers


def test_batched_adam_equals_torch_adam_per_head():
    torch.manual_seed(0)
    p0 = torch.randn(3, 6, 4)
    lrs = [1e-2, 5e-3, 1e-3]
    ref = [torch.nn.Parameter(p0[h].clone()) for h in range(3)]
    opts = [torch.optim.Adam([ref[h]], lr=lrs[h], fused=True) for h in range(3)]
    mine = p0.clone().requires_grad_(True)
    adam = BatchedAdam([mine])
    for _ in range(7):
        g = torch.randn(3, 6, 4)
        for h in range(3):
            ref[h].grad = g[h].clone()
            opts[h].step()
        mine.grad = g.clone()
        adam.step(lrs)
    for h in range(3):
        assert torch.equal(mine.detach()[h], ref[h].detach())
    # the unfused fallback is the same formula as torch's single-tensor Adam
    slow = p0.clone().requires_grad_(True)
    adam2 = BatchedAdam([slow])
    adam2.fused = False
    ref2 = torch.nn.Parameter(p0[0].clone())
    opt2 = torch.optim.Adam([ref2], lr=1e-2, foreach=False)
    for _ in range(5):
        g = torch.randn(3, 6, 4)
        ref2.grad = g[0].clone()
        opt2.step()
        slow.grad = g
        adam2.step([1e-2, 0.0, 0.0])
    torch.testing.assert_close(slow.detach()[0], ref2.detach(), rtol=1e-6, atol=1e-7)
    assert torch.equal(slow.detach()[1], p0[1])  # lr 0: untouched


@pytest.mark.parametrize("mode", ["max", "min"])
def test_plateau_schedule_matches_torch(mode):
    rng = np.random.default_rng(1)
    metrics = np.cumsum(rng.normal(0, 1, size=(40, 2)), axis=0) * (1 if mode == "max" else -1)
    metrics[10:20, 0] = metrics[9, 0]  # a plateau
    lrs = [1e-3, 5e-3]
    sched = PlateauSchedule(lrs, mode, factor=0.5, patience=3)
    for e in range(40):
        sched.step(np.array([0, 1]), metrics[e])
    for h, lr in enumerate(lrs):
        opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
        ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, factor=0.5, patience=3)
        for e in range(40):
            ref.step(float(metrics[e, h]))
        assert opt.param_groups[0]["lr"] == pytest.approx(sched.lr[h], rel=1e-12)
    assert sched.lr[0] < lrs[0]  # the plateau did reduce it


def test_early_stopping_strict_improvement_and_patience():
    es = EarlyStopping(2, "max", patience=2)
    heads = np.array([0, 1])
    assert list(es.update(heads, np.array([0.5, 0.5]), 0)) == [True, True]
    assert list(es.update(heads, np.array([0.5, 0.6]), 1)) == [False, True]  # equal is not better
    es.update(heads, np.array([0.4, 0.6]), 2)
    assert list(es.stopped) == [True, False] and list(es.best_epoch) == [0, 1]


def test_parse_layers_and_weighted_excludes_layer_zero():
    stored = [0, 1, 2, 3]
    assert parse_layers("all", stored) == [0, 1, 2, 3, None]
    assert parse_layers(2, stored) == [2] and parse_layers("1,3", stored) == [1, 3]
    assert parse_layers("weighted", stored) == [None]
    assert weighted_layers(stored) == [1, 2, 3] and weighted_layers([0]) == [0]
    with pytest.raises(SpecError, match="not available"):
        parse_layers(7, stored)
    with pytest.raises(SpecError, match="at least two"):
        parse_layers("weighted", [3])
    configs = [HeadConfig.make(2, 1e-3, 0), HeadConfig.make(None, 1e-3, 0)]
    cache_pos, pos, wpos = positions_for(configs, stored)
    assert cache_pos == [1, 2, 3] and pos == {1: 0, 2: 1, 3: 2} and wpos == [0, 1, 2]


def test_head_bank_inputs_and_init_depend_on_seed_only():
    configs = [HeadConfig.make(l, lr, s) for l in (0, 2, None) for lr in (1e-3, 1e-2) for s in (0, 1)]
    bank = HeadBank(configs, {0: 0, 1: 1, 2: 2}, [1, 2], dim=4, hidden=8, out_dim=3, dropout=0.2)
    w1 = bank.params["w1"].detach()
    by_seed = {}
    for i, c in enumerate(bank.configs):
        by_seed.setdefault(c.seed, []).append(w1[i])
    for ws in by_seed.values():
        assert all(torch.equal(ws[0], w) for w in ws)
    assert not torch.equal(by_seed[0][0], by_seed[1][0])
    x = torch.randn(5, 3, 4)
    inputs = bank.mixed_inputs([x, x])
    for i, c in enumerate(bank.configs):
        if c.weighted:
            w = torch.softmax(bank.params["mix"][i], 0)
            torch.testing.assert_close(inputs[i], w[0] * x[:, 1] + w[1] * x[:, 2])
        else:
            assert torch.equal(inputs[i], x[:, c.layer])
    assert bank.forward([x, x]).shape == (12, 5, 3)
