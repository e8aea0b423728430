"""Shipped model weights: checksum-verified, offline, under the model contract."""
from __future__ import annotations

import hashlib
import shutil

import pytest
import torch

from mertbench.errors import ModelError
from mertbench.models import shipped
from mertbench.models.shipped import TINY_RENDER, pretraining_seed, shipped_dir


def test_mert_tiny_render_loads_offline_and_meets_the_contract():
    from mertbench.models import load_model
    from mertbench.models.contract import validate_encoder

    enc = load_model(TINY_RENDER)
    report = validate_encoder(enc, TINY_RENDER)
    assert report.ok, report
    wav = torch.randn(1, 24000) * 0.1
    with torch.no_grad():
        states = enc(wav)
    assert states.shape[0] == enc.model.config.num_hidden_layers + 1 and states.shape[2] == enc.num_frames(24000) == 73


def test_random_twin_is_the_initialisation_of_the_shipped_run():
    """random-mert-tiny-render = the same architecture with the run seed's fairseq init (not the trained weights)."""
    from mertbench.models import load_model
    from mertbench.models.mert import MertModel

    trained = load_model(TINY_RENDER).model.state_dict()
    twin = load_model(f"random-{TINY_RENDER}").model
    fresh = MertModel(twin.config)
    fresh.reset_parameters(seed=pretraining_seed(TINY_RENDER))
    for key, value in twin.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[key]), key
    assert any(not torch.equal(v, trained[k]) for k, v in twin.state_dict().items())


def test_shipped_folder_carries_provenance_and_a_training_curve():
    import json

    folder = shipped_dir(TINY_RENDER)
    info = json.loads((folder / "pretraining.json").read_text())
    assert info["provenance"]["git_hash"] and info["config"]["preset"] == "tiny"
    assert (folder / "eval_curves.png").read_bytes().startswith(b"\x89PNG")
    assert (folder / "model.safetensors").stat().st_size <= 10 * 1024 * 1024


def test_shipped_model_was_trained_by_the_documented_tiny_recipe():
    """docs/pretrain.md's one command (`--preset tiny --steps 6000`) reproduces the shipped run: its
    recorded configuration is the current tiny preset's but for the steps and the data path."""
    import json

    from mertbench.pretrain.config import PretrainConfig

    info = json.loads((shipped_dir(TINY_RENDER) / "pretraining.json").read_text())["config"]
    preset = PretrainConfig.preset("tiny").to_dict()
    for section in ("model", "teacher", "loss", "mask", "mixture", "optim", "data"):
        recorded, current = dict(info[section]), dict(preset[section])
        if section == "optim":
            assert recorded.pop("steps") == 6000 and current.pop("steps") == 300
        if section == "data":
            recorded.pop("path"), current.pop("path")
        assert recorded == current, section
    assert info["model"]["feat_extract_norm"] == "layer"


def test_damaged_or_missing_weights_are_named(tmp_path, monkeypatch):
    copy = tmp_path / TINY_RENDER
    shutil.copytree(shipped.WEIGHTS_DIR / TINY_RENDER, copy)
    monkeypatch.setattr(shipped, "WEIGHTS_DIR", tmp_path)
    assert shipped_dir(TINY_RENDER) == copy
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(data))
    assert hashlib.sha256(bytes(data)).hexdigest() not in (copy / "SHA256SUMS").read_text()
    with pytest.raises(ModelError, match="model.safetensors does not match its SHA256SUMS"):
        shipped_dir(TINY_RENDER)
    (copy / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="model.safetensors is missing"):
        shipped_dir(TINY_RENDER)
    (copy / "SHA256SUMS").unlink()
    with pytest.raises(ModelError, match="SHA256SUMS is missing"):
        shipped_dir(TINY_RENDER)


def test_shipped_mert_min_samples_is_its_receptive_field():
    from mertbench.errors import ModelError
    from mertbench.models import load_model
    enc = load_model("random-mert-tiny-render").eval()
    n = enc.min_samples
    assert n == enc.model.config.receptive_field > 400  # the tiny front end's field is wider than MERT's
    with torch.no_grad():
        assert enc(torch.randn(1, n)).shape[2] == 1
        with pytest.raises(ModelError):
            enc(torch.randn(1, n - 1))
