"""MuQ (mertbench/models/muq.py): the released file and key layout (PyTorchModelHubMixin's
config.json + model.safetensors), loading through the registry from a folder and a (mocked) hub,
clear errors, and hidden states equal to the reference path written out from the raw tensors
(tests/models/melconformer_testkit.py says where the layout was read)."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mertbench.errors import ModelError
from mertbench.models import load_model
from mertbench.models.contract import validate_encoder
from mertbench.models.registry import ENCODERS, weights_status
from tests.models.melconformer_testkit import (
    SMALL,
    Geo,
    encoder_layout,
    htk_filterbank,
    random_tensors,
    reference_hidden_states,
)

MEAN, STD = 6.768444971712967, 18.417922652295623  # MuQ's stat (MSD), as in its pretraining recipe


def config(g: Geo, **over) -> dict:
    """A config.json in MuQConfig's schema (muq 0.1.0 ``muq/muq.py``); ``w2v2_config`` holds the
    Wav2Vec2ConformerConfig fields of MuQ's pretraining recipe (rope-large: rotary, Swish)."""
    w2v2 = {"hidden_act": "swish", "hidden_size": 1024, "intermediate_size": g.ffn, "layer_norm_eps": 1e-5,
            "num_attention_heads": g.heads, "num_hidden_layers": 24, "position_embeddings_type": "rotary",
            "rotary_embedding_base": 10000, "max_source_positions": 5000, "conv_depthwise_kernel_size": g.kernel,
            "num_conv_pos_embeddings": g.pos_kernel, "num_conv_pos_embedding_groups": g.pos_groups,
            "feat_extract_activation": "gelu", "model_type": "wav2vec2-conformer", "hidden_dropout": 0.1}
    cfg = {"label_rate": 25, "num_codebooks": 1, "codebook_dim": 16, "codebook_size": 4096,
           "features": ["melspec_2048"], "hop_length": 240, "n_mels": g.n_mels, "conv_dim": g.conv_dim,
           "encoder_dim": g.dim, "encoder_depth": g.depth, "mask_hop": 0.4, "mask_prob": 0.6, "is_flash": False,
           "stat": {"melspec_2048_cnt": 14282760192, "melspec_2048_mean": MEAN, "melspec_2048_std": STD},
           "w2v2_config": w2v2, "use_rvq_target": False, "use_vq_target": False, "use_encodec_target": False,
           "rvq_ckpt_path": None, "recon_loss_ratio": None, "resume_checkpoint": None, "rvq_n_codebooks": 8,
           "rvq_multi_layer_num": 1}
    cfg.update(over)
    return cfg


def released_layout(g: Geo, cfg: dict) -> dict[str, tuple[int, ...]]:
    """``MuQ.state_dict()`` names (without ``model.``) and shapes for ``cfg``."""
    out = encoder_layout(g, legacy_weight_norm=False)
    out["linear.weight"], out["linear.bias"] = (cfg["codebook_size"], g.dim), (cfg["codebook_size"],)
    out["cls_token"] = (g.dim,)
    n_fold = 100 // cfg["label_rate"]
    if cfg["use_rvq_target"]:  # ResidualVectorQuantize(128 * n_fold, n codebooks of 1024 x 16), weight-normed 1x1 convs
        c = 128 * n_fold
        for i in range(cfg["rvq_n_codebooks"]):
            q = f"rvq.quantizers.{i}"
            out.update({f"{q}.in_proj.weight_g": (16, 1, 1), f"{q}.in_proj.weight_v": (16, c, 1),
                        f"{q}.in_proj.bias": (16,), f"{q}.out_proj.weight_g": (c, 1, 1),
                        f"{q}.out_proj.weight_v": (c, 16, 1), f"{q}.out_proj.bias": (c,),
                        f"{q}.codebook.weight": (1024, 16), f"{q}.stale_counter": (1024,)})
    else:
        out["quantizer_melspec_2048.random_projection"] = (g.n_mels * n_fold, cfg["codebook_dim"])
        out["quantizer_melspec_2048.codebook"] = (cfg["codebook_size"], cfg["codebook_dim"])
    return out


def write_release(folder: Path, sd: dict[str, torch.Tensor], cfg: dict) -> Path:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    save_file({"model." + k: v.contiguous() for k, v in sd.items()}, str(folder / "model.safetensors"))
    return folder


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    cfg = config(SMALL)
    sd = random_tensors(released_layout(SMALL, cfg), seed=3)
    return write_release(tmp_path_factory.mktemp("muq"), sd, cfg), sd


def test_port_has_the_released_layout_at_the_real_geometry():
    from mertbench.models.mel_conformer import MelConformer
    from mertbench.models.muq import geometry_from_config

    cfg = config(Geo())
    g, mean, std = geometry_from_config(cfg, "config.json")
    assert (g.dim, g.depth, g.heads, g.ffn, g.conv_dim, g.frame_rate, mean, std) == (1024, 12, 16, 4096, 512, 25.0,
                                                                                    MEAN, STD)
    with torch.device("meta"):
        net = MelConformer(g)
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.startswith("frontend.")}
    assert ours == encoder_layout(Geo(), legacy_weight_norm=False)  # MelSTFT is no module: no front-end keys
    assert ENCODERS.get("muq-large").info["parameters"] == sum(p.numel() for p in net.parameters())


def test_front_end_filters_equal_torchaudios_formula():
    from mertbench.models.mel_conformer import MelFrontEnd

    fe = MelFrontEnd(128)
    torch.testing.assert_close(fe.fb, htk_filterbank(128), rtol=0, atol=1e-6)
    assert torch.equal(fe.window, torch.hann_window(2048))  # periodic, as torchaudio's default


def test_loads_through_the_registry_and_matches_the_reference(release):
    folder, sd = release
    with pytest.MonkeyPatch.context() as mp:
        for name in ("muq", "torchaudio", "einops", "easydict", "x_clip"):  # the port needs none of them
            mp.setitem(sys.modules, name, None)
        enc = load_model("muq-large", checkpoint=str(folder), window_s=None)
    assert (enc.name, enc.sample_rate, enc.frame_rate, enc.num_layers, enc.dim) == ("muq-large", 24000, 25.0, 3, 32)
    assert enc.weights_info["tensors"] == len(sd) - 5
    assert enc.weights_info["training_heads"] == sorted(["linear.weight", "linear.bias", "cls_token",
                                                         "quantizer_melspec_2048.random_projection",
                                                         "quantizer_melspec_2048.codebook"])
    wav = 0.3 * torch.randn(2, 30000, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = enc(wav)
        again = enc(wav)
    assert out.shape == (3, 2, enc.num_frames(30000), 32) == (3, 2, 32, 32) and torch.equal(out, again)
    ref = torch.stack([reference_hidden_states(sd, SMALL, wav[i:i + 1], MEAN, STD, torch.hann_window(2048),
                                               htk_filterbank(SMALL.n_mels))[:, 0] for i in range(2)], dim=1)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    report = validate_encoder(enc, "muq-large", seconds=(1.0, 2.5))
    assert report.ok, [c for c in report.checks if not c.passed]


def test_rvq_heads_legacy_weight_norm_and_label_rate_50(tmp_path):
    g = replace(SMALL, depth=1)
    cfg = config(g, use_rvq_target=True, rvq_n_codebooks=2, label_rate=50)
    sd = random_tensors(released_layout(g, cfg), seed=5)
    for new, old in (("original0", "weight_g"), ("original1", "weight_v")):
        sd[f"conformer.pos_conv_embed.conv.{old}"] = sd.pop(f"conformer.pos_conv_embed.conv.parametrizations.weight.{new}")
    enc = load_model("muq-large", checkpoint=str(write_release(tmp_path, sd, cfg)))
    assert enc.frame_rate == 50.0 and enc.num_layers == 2
    assert sum(k.startswith("rvq.") for k in enc.weights_info["training_heads"]) == 16
    with torch.no_grad():
        assert enc(torch.randn(1, 24000)).shape == (2, 1, 50, 32)
    with pytest.raises(ModelError, match=r"no model\.quantizer_melspec_2048\.random_projection, which MuQModel has"):
        load_model("muq-large", checkpoint=str(write_release(tmp_path / "b", sd, dict(cfg, use_rvq_target=False))))


def test_missing_files_name_the_file_and_how_to_get_it(tmp_path, release):
    folder, _ = release
    (tmp_path / "a").mkdir()
    with pytest.raises(ModelError, match=r"a/config\.json: MuQ file missing; download config\.json and "
                                         r"model\.safetensors from https://huggingface\.co/OpenMuQ/MuQ-large-msd-iter"):
        load_model("muq-large", checkpoint=str(tmp_path / "a"))
    (tmp_path / "a" / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(ModelError, match=r"a/model\.safetensors: MuQ file missing"):
        load_model("muq-large", checkpoint=str(tmp_path / "a"))
    (tmp_path / "a" / "config.json").write_text(json.dumps(dict(json.loads((folder / "config.json").read_text()),
                                                                w2v2_config={"hidden_act": "swish"})))
    (tmp_path / "a" / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    with pytest.raises(ModelError, match=r"not a MuQ config\.json .*w2v2_config\.num_attention_heads"):
        load_model("muq-large", checkpoint=str(tmp_path / "a"))


def test_offline_hub_error_env_folder_and_mocked_hub(tmp_path, monkeypatch, release):
    import huggingface_hub
    import huggingface_hub.constants

    from mertbench.models import hf_audio

    folder, _ = release
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")
    monkeypatch.delenv("MERTBENCH_MUQ_DIR", raising=False)
    with pytest.raises(ModelError, match=r"config\.json of OpenMuQ/MuQ-large-msd-iter is not in the Hugging Face "
                                         r"cache and MERTBENCH_OFFLINE/HF_HUB_OFFLINE is set; download"):
        load_model("muq-large")
    assert weights_status(ENCODERS.get("muq-large")) == ("hub:OpenMuQ/MuQ-large-msd-iter", "download")
    monkeypatch.setenv("MERTBENCH_MUQ_DIR", str(folder))
    assert weights_status(ENCODERS.get("muq-large")) == ("hub:OpenMuQ/MuQ-large-msd-iter", "folder")
    assert load_model("muq-large").weights_info["weights"] == str(folder / "model.safetensors")
    monkeypatch.delenv("MERTBENCH_MUQ_DIR")
    monkeypatch.delenv("MERTBENCH_OFFLINE")
    asked = []

    def fake_download(repo_id, filename, revision=None, local_files_only=False):
        if local_files_only:
            raise FileNotFoundError(filename)
        asked.append((repo_id, filename, revision))
        return str(folder / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(hf_audio, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ModelError, match="the hub is unreachable"):
        load_model("muq-large")
    monkeypatch.setattr(hf_audio, "hub_reachable", lambda timeout=3.0: True)
    load_model("muq-large", revision="abc")
    assert asked == [("OpenMuQ/MuQ-large-msd-iter", "config.json", "abc"),
                     ("OpenMuQ/MuQ-large-msd-iter", "model.safetensors", "abc")]


def test_strict_loading_rejects_extra_missing_and_misshapen_keys(tmp_path, release):
    folder, sd = release
    cfg = json.loads((folder / "config.json").read_text())
    with pytest.raises(ModelError, match=r"unexpected \['conformer\.layers\.0\.extra'\]"):
        load_model("muq-large", checkpoint=str(write_release(tmp_path / "a", dict(sd, **{
            "conformer.layers.0.extra": torch.zeros(2)}), cfg)))
    with pytest.raises(ModelError, match=r"missing \['conv\.linear\.bias'\]"):
        load_model("muq-large", checkpoint=str(write_release(tmp_path / "b", {
            k: v for k, v in sd.items() if k != "conv.linear.bias"}, cfg)))
    with pytest.raises(ModelError, match=r"model\.linear\.weight has shape \(4096, 32\), expected \(8192, 32\)"):
        load_model("muq-large", checkpoint=str(write_release(tmp_path / "c", sd, dict(cfg, codebook_size=8192))))
    with pytest.raises(ModelError, match=r"conformer\.layers\.\d\.ffn\d\.intermediate_dense\.(weight|bias) has shape \(48"):
        load_model("muq-large", checkpoint=str(write_release(tmp_path / "d", sd, dict(
            cfg, w2v2_config=dict(cfg["w2v2_config"], intermediate_size=64)))))


def test_a_muq_folder_is_a_model_spec(release):
    folder, _ = release
    enc = load_model(str(folder), window_s=None)  # what `mertbench probe --model DIR` does
    assert enc.name == folder.name and enc.num_layers == 3 and enc.frame_rate == 25.0
