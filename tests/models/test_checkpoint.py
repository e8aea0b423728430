"""Checkpoint I/O: HF MERT-v1 folders (save/load, strictness, normalisation) and fairseq checkpoints."""
from __future__ import annotations

import json
import re

import pytest
import torch
from typer.testing import CliRunner

import mertbench
from mertbench.cli import app
from mertbench.errors import ModelError
from mertbench.models.mert import random_mert, save_pretrained
from mertbench.models.mert.checkpoint import FAIRSEQ_KEY_MAP, fairseq_to_hf, load_fairseq, to_mert_keys
from tests.fault_injection import Touch


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "bin"])
def test_save_load_roundtrip_is_exact(tmp_path, tiny_mert, safe):
    model = tiny_mert.model
    save_pretrained(model, tmp_path / "ckpt", normalize=True, safe_serialization=safe)
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    weights = "model.safetensors" if safe else "pytorch_model.bin"
    assert files == sorted(["config.json", "preprocessor_config.json", "mertbench.json", weights])
    cfg = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert cfg["architectures"] == ["MERTModel"] and cfg["model_type"] == "mert_model"
    assert cfg["hidden_size"] == 32 and cfg["sample_rate"] == 24000 and cfg["conv_kernel"] == [10, 3, 3, 3, 3, 2, 2]
    pre = json.loads((tmp_path / "ckpt" / "preprocessor_config.json").read_text())
    assert pre["do_normalize"] is True and pre["sampling_rate"] == 24000
    meta = json.loads((tmp_path / "ckpt" / "mertbench.json").read_text())
    assert meta["parameters"] == model.config.num_parameters() and meta["provenance"]["config_hash"]
    loaded = mertbench.load_model(str(tmp_path / "ckpt"))
    assert loaded.normalize == "zmuv"
    a, b = model.state_dict(), loaded.model.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert "encoder.pos_conv_embed.conv.weight_g" in b and b["encoder.pos_conv_embed.conv.weight_g"].shape == (1, 1, 16)
    wav = torch.randn(2, 10000)
    with torch.inference_mode():
        assert torch.equal(tiny_mert(wav), loaded(wav))


def test_resave_keeps_one_weights_file(tmp_path, tiny_mert):
    save_pretrained(tiny_mert.model, tmp_path, safe_serialization=False)
    save_pretrained(tiny_mert.model, tmp_path, safe_serialization=True)
    assert not (tmp_path / "pytorch_model.bin").exists() and (tmp_path / "model.safetensors").exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_normalize_follows_preprocessor_and_can_be_overridden(tmp_path, tiny_mert):
    save_pretrained(tiny_mert.model, tmp_path)  # do_normalize false
    assert mertbench.load_model(str(tmp_path)).normalize is None
    assert mertbench.load_model(str(tmp_path), normalize="zmuv").normalize == "zmuv"
    tiny_mert.save_pretrained(tmp_path / "z")
    enc = mertbench.load_model(str(tmp_path / "z"), normalize="zmuv")
    enc.save_pretrained(tmp_path / "z2")
    assert json.loads((tmp_path / "z2" / "preprocessor_config.json").read_text())["do_normalize"] is True
    assert mertbench.load_model(str(tmp_path / "z2"), normalize="none").normalize is None
    with pytest.raises(ModelError, match="normalize="):
        mertbench.load_model(str(tmp_path), normalize="loud")


def test_strict_loading_names_missing_and_unexpected_keys(tmp_path, tiny_mert):
    from safetensors.torch import load_file, save_file

    save_pretrained(tiny_mert.model, tmp_path)
    sd = load_file(str(tmp_path / "model.safetensors"))
    sd.pop("encoder.layers.1.final_layer_norm.bias")
    sd["encoder.layers.9.extra.weight"] = torch.zeros(2)
    save_file(sd, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelError, match=r"1 missing key\(s\) \[encoder.layers.1.final_layer_norm.bias\], "
                                          r"1 unexpected key\(s\) \[encoder.layers.9.extra.weight\]"):
        mertbench.load_model(str(tmp_path))


def test_shape_mismatch_and_bad_config_are_clear(tmp_path, tiny_mert):
    save_pretrained(tiny_mert.model, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "intermediate_size": 48}))
    with pytest.raises(ModelError, match="shapes do not match config.json"):
        mertbench.load_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"config.json: not valid JSON"):
        mertbench.load_model(str(tmp_path))


def test_key_normalisation_variants(tiny_mert):
    sd = tiny_mert.model.state_dict()
    g = sd["encoder.pos_conv_embed.conv.weight_g"]
    v = sd["encoder.pos_conv_embed.conv.weight_v"]
    w = torch._weight_norm(v, g, 2)
    variant = {("hubert." + k): t for k, t in sd.items() if "pos_conv_embed.conv.weight_" not in k}
    variant["hubert.encoder.pos_conv_embed.conv.weight"] = w  # weight norm folded into a plain weight
    out, notes = to_mert_keys(variant)
    assert set(out) == set(sd) and any("prefix" in n for n in notes)
    assert torch.allclose(torch._weight_norm(out["encoder.pos_conv_embed.conv.weight_v"],
                                             out["encoder.pos_conv_embed.conv.weight_g"], 2), w, atol=1e-6)


def _fairseq_state_dict(model) -> dict[str, torch.Tensor]:
    """Invert the HF<-fairseq map on a model's state dict and add pretraining-only heads."""
    inverse = {
        r"^feature_extractor\.conv_layers\.(\d+)\.conv\.": r"feature_extractor.conv_layers.\1.0.",
        r"^feature_extractor\.conv_layers\.0\.layer_norm\.": "feature_extractor.conv_layers.0.2.",
        r"^feature_projection\.layer_norm\.": "layer_norm.",
        r"^feature_projection\.projection\.": "post_extract_proj.",
        r"^encoder\.pos_conv_embed\.conv\.": "encoder.pos_conv.0.",
        r"\.attention\.": ".self_attn.",
        r"^(encoder\.layers\.\d+)\.layer_norm\.": r"\1.self_attn_layer_norm.",
        r"\.feed_forward\.intermediate_dense\.": ".fc1.",
        r"\.feed_forward\.output_dense\.": ".fc2.",
        r"^masked_spec_embed$": "mask_emb",
    }
    out = {}
    for k, v in model.state_dict().items():
        for pat, rep in inverse.items():
            k = re.sub(pat, rep, k)
        out[k] = v.clone()
    h = model.config.hidden_size
    out["final_proj.weight"] = torch.randn(8 * 16, h)
    out["final_proj.bias"] = torch.zeros(8 * 16)
    out["label_embs_concat"] = torch.rand(8 * 1028, 16)
    out["encoder_cqt_model.weight"] = torch.randn(336, h)
    out["encoder_cqt_model.bias"] = torch.zeros(336)
    out["cqt.cqt_kernels_real"] = torch.randn(336, 1, 8)
    return out


class NotImportable:  # stands in for omegaconf/fairseq objects inside a fairseq pickle
    def __init__(self, payload):
        self.payload = payload


def test_fairseq_checkpoint_loads_through_key_map(tmp_path):
    enc = random_mert("toy", seed=4, do_stable_layer_norm=True)
    model = enc.model
    sd = _fairseq_state_dict(model)
    c = model.config
    cfg = {"model": {"_name": "mert", "encoder_layers": c.num_hidden_layers, "encoder_embed_dim": c.hidden_size,
                     "encoder_ffn_embed_dim": c.intermediate_size, "encoder_attention_heads": c.num_attention_heads,
                     "conv_feature_layers": "[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2",
                     "conv_pos": c.num_conv_pos_embeddings, "conv_pos_groups": c.num_conv_pos_embedding_groups,
                     "layer_norm_first": True, "attention_relax": 32.0, "extractor_mode": "default"},
           "task": {"sample_rate": 24000}}
    torch.save({"cfg": cfg, "model": sd, "optimizer_history": []}, tmp_path / "plain.pt")
    loaded, report = load_fairseq(tmp_path / "plain.pt")
    assert report["config_source"] == "checkpoint cfg"
    assert sorted(report["dropped"]) == sorted(["final_proj.weight", "final_proj.bias", "label_embs_concat",
                                                "encoder_cqt_model.weight", "encoder_cqt_model.bias",
                                                "cqt.cqt_kernels_real"])
    assert loaded.config.do_stable_layer_norm and loaded.config.attention_relax == 32.0
    a, b = model.state_dict(), loaded.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a pickle holding objects we cannot import: tensors still load, the geometry comes from shapes + preset
    torch.save({"cfg": NotImportable(cfg), "model": sd}, tmp_path / "odd.pt")
    loaded2, report2 = load_fairseq(tmp_path / "odd.pt", config=model.config)
    assert report2["config_source"] == "argument"
    assert all(torch.equal(a[k], loaded2.state_dict()[k]) for k in a)
    # CLI conversion writes a HF folder that loads back to the same weights
    res = CliRunner().invoke(app, ["models", "convert", str(tmp_path / "plain.pt"), str(tmp_path / "hf")])
    assert res.exit_code == 0, res.output
    assert "dropped 6 pretraining-only tensor(s)" in res.output
    conv = mertbench.load_model(str(tmp_path / "hf"))
    assert all(torch.equal(a[k], conv.model.state_dict()[k]) for k in a)


def test_fairseq_unknown_keys_are_reported():
    with pytest.raises(ModelError, match="outside the MERT key map: decoder.embed_tokens.weight"):
        fairseq_to_hf({"decoder.embed_tokens.weight": torch.zeros(1), "mask_emb": torch.zeros(1)})
    assert len(FAIRSEQ_KEY_MAP) >= 14


def test_random_baseline_is_deterministic():
    a = mertbench.load_model("toy", seed=3)
    b = mertbench.load_model("toy", seed=3)
    c = mertbench.load_model("toy", seed=4)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_malicious_fairseq_checkpoint_runs_no_code(tmp_path):
    """A fairseq checkpoint is a full pickle (omegaconf configs): it is read weights-only first,
    then with an unpickler that maps every unknown global to an inert stub, so a payload never runs."""
    import torch

    from mertbench.models.mert.checkpoint import read_fairseq_checkpoint

    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint_best.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "cfg": {"model": {"evil": Touch(str(marker))}}}, path)
    control = tmp_path / "control.pt"  # the same payload under full unpickling does run (the test's control)
    torch.save({"evil": Touch(str(tmp_path / "control-ran"))}, control)
    torch.load(control, weights_only=False)
    assert (tmp_path / "control-ran").exists()
    state, _cfg = read_fairseq_checkpoint(path)
    assert not marker.exists()
    assert torch.equal(state["w"], torch.zeros(2))
