"""Random-init twins of the wheel models (the baselines of the harness check): no download, seeded,
the released architecture, the model contract."""
from __future__ import annotations

import torch

from mertbench.models import load_model
from mertbench.models.contract import validate_encoder


def _same(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_random_crepe_tiny_is_seeded_and_keeps_the_architecture(monkeypatch):
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")  # nothing may be downloaded
    a, b, c = load_model("random-crepe-tiny"), load_model("random-crepe-tiny"), load_model("random-crepe-tiny", seed=1)
    assert _same(a, b) and not _same(a, c)
    assert (a.name, a.num_layers, a.dim, a.frame_rate) == ("random-crepe-tiny", 6, 256, 100.0)
    from mertbench.models.crepe import CrepeNet

    assert {k: v.shape for k, v in a.net.state_dict().items()} == {k: v.shape for k, v in CrepeNet("tiny").state_dict().items()}
    assert validate_encoder(a, seconds=(0.5, 1.2)).ok


def test_random_musicnn_is_seeded_and_keeps_the_architecture(monkeypatch):
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")
    a, b, c = load_model("random-musicnn"), load_model("random-musicnn"), load_model("random-musicnn", seed=1)
    assert _same(a, b) and not _same(a, c)
    assert (a.name, a.num_layers, a.dim) == ("random-musicnn", 3, 64)
    assert validate_encoder(a, seconds=(1.0, 3.5)).ok
