"""MERT encoder: geometry, presets, paths, padding, windowing, gradients, dtype, errors."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import mertbench
from mertbench.errors import ModelError
from mertbench.models import validate_encoder
from mertbench.models.mert import MertConfig, MertEncoder, MertModel, random_mert
from mertbench.models.windowing import window_plan, windowed_frames


def _meta_count(cfg: MertConfig) -> tuple[int, int]:
    with torch.device("meta"):
        m = MertModel(cfg)
    return sum(p.numel() for p in m.parameters()), len(m.state_dict())


def test_mert_95m_has_94371712_parameters():
    cfg = MertConfig.preset("mert-95m")
    assert cfg.num_parameters() == 94_371_712
    assert _meta_count(cfg) == (94_371_712, 211)


def test_mert_330m_count_matches_transformers():
    from transformers import HubertConfig, HubertModel

    cfg = MertConfig.preset("mert-330m")
    ours, tensors = _meta_count(cfg)
    hc = HubertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                      do_stable_layer_norm=True, conv_bias=False, feat_extract_norm="group")
    with torch.device("meta"):
        ref = HubertModel(hc)
    assert ours == cfg.num_parameters() == sum(p.numel() for p in ref.parameters()) == 315_428_992
    assert tensors == len(ref.state_dict()) == 403


def test_registry_info_without_instantiation():
    entries = {e.name: e for e in mertbench.models.list_encoders()}
    for name, (layers, dim, params) in {"mert-95m": (13, 768, 94_371_712), "mert-330m": (25, 1024, 315_428_992),
                                        "random-mert-95m": (13, 768, 94_371_712)}.items():
        info = entries[name].info
        assert (info["num_layers"], info["dim"], info["parameters"]) == (layers, dim, params)
        assert (info["sample_rate"], info["frame_rate"]) == (24000, 75.0)


def test_config_hf_dict_roundtrip_and_unsupported_fields():
    cfg = replace(MertConfig.preset("mert-330m"), extra={"custom_field": 7})
    d = cfg.to_hf_dict()
    assert d["architectures"] == ["MERTModel"] and d["model_type"] == "mert_model"
    assert d["num_feat_extract_layers"] == 7 and d["conv_dim"] == [512] * 7 and d["custom_field"] == 7
    back = MertConfig.from_hf_dict(d)
    assert back == cfg and back.extra["custom_field"] == 7
    with pytest.raises(ModelError, match="hidden_act"):
        MertConfig.from_hf_dict({**d, "hidden_act": "relu"})
    with pytest.raises(ModelError, match="feature_extractor_cqt"):
        MertConfig.from_hf_dict({**d, "feature_extractor_cqt": True})
    with pytest.raises(ModelError, match="unknown MERT preset"):
        MertConfig.preset("mert-1b")


def test_geometry_helpers():
    cfg = MertConfig.preset("mert-95m")
    assert (cfg.total_stride, cfg.receptive_field, cfg.frame_rate) == (320, 400, 75.0)
    assert cfg.num_frames(120000) == 374 and cfg.num_frames(240000) == 749 and cfg.num_frames(399) == 0


def test_hidden_state_count_and_contract(tiny_mert):
    assert tiny_mert.num_layers == 3
    assert validate_encoder(tiny_mert).ok
    with torch.inference_mode():
        out = tiny_mert(torch.randn(2, 24000))
    assert out.shape == (3, 2, 74, 32)


def test_pre_ln_semantics_only_last_state_normalised():
    enc = random_mert("toy", do_stable_layer_norm=True, window_s=None)
    model = enc.model
    wav = torch.randn(1, 8000)
    with torch.no_grad():
        out = model(wav)
        x = model.feature_projection(out.cnn_features)
        x0 = x + model.encoder.pos_conv_embed(x)  # hidden_states[0]: no LayerNorm
        raw = x0
        for layer in model.encoder.layers:
            raw = layer(raw, None)
    assert torch.allclose(out.hidden_states[0], x0, atol=1e-5)
    assert torch.allclose(out.hidden_states[-1], model.encoder.layer_norm(raw), atol=1e-5)
    assert not torch.allclose(out.hidden_states[-1], raw, atol=1e-3)


def test_inference_path_equals_reference_path_and_follows_weight_updates(tiny_mert):
    model = tiny_mert.model
    wav = torch.randn(2, 12000)
    with torch.inference_mode():
        a = model(wav).stacked_hidden_states
    b = torch.stack(model(wav).hidden_states).detach()  # grad enabled: reference path
    assert float((a - b).abs().max()) < 1e-5
    with torch.no_grad():  # in-place update: the cached fused weights must follow
        model.encoder.layers[0].attention.k_proj.weight.mul_(1.5)
        model.encoder.pos_conv_embed.conv.weight_v.mul_(0.5)
        model.feature_extractor.conv_layers[2].conv.weight.add_(0.01)
    with torch.inference_mode():
        c = model(wav).stacked_hidden_states
    d = torch.stack(model(wav).hidden_states).detach()
    assert float((c - a).abs().max()) > 1e-3
    assert float((c - d).abs().max()) < 1e-5


def test_batch_items_independent_of_padding(tiny_mert):
    wav = torch.randn(3, 16000)
    lengths = torch.tensor([16000, 9000, 5123])
    with torch.inference_mode():
        batch = tiny_mert(wav, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone = tiny_mert(wav[i:i + 1, :n])
            t = tiny_mert.num_frames(n)
            assert float((batch[:, i, :t] - alone[:, 0]).abs().max()) < 1e-5
            assert batch[:, i, t:].abs().sum().item() == 0.0  # padded frames are zero


def test_feature_grad_mult_scales_cnn_gradient_only():
    wav = torch.randn(1, 8000)
    grads = {}
    for mult in (1.0, 0.1):
        enc = random_mert("toy", seed=1, feature_grad_mult=mult, hidden_dropout=0.0, attention_dropout=0.0,
                          feat_proj_dropout=0.0, layerdrop=0.0)
        model = enc.model.train()
        out = model(wav)
        (out.cnn_features.pow(2).mean() + out.last_hidden_state.sum()).backward()
        grads[mult] = (model.feature_extractor.conv_layers[1].conv.weight.grad.clone(),
                       model.encoder.layers[0].feed_forward.output_dense.weight.grad.clone())
    assert torch.allclose(grads[0.1][0], 0.1 * grads[1.0][0], rtol=1e-4, atol=1e-9)
    assert torch.allclose(grads[0.1][1], grads[1.0][1])


def test_training_mode_without_dropout_equals_eval_and_relaxation_is_exact():
    common = dict(hidden_dropout=0.0, attention_dropout=0.0, feat_proj_dropout=0.0, layerdrop=0.0, seed=2,
                  window_s=None)
    plain = random_mert("toy", **common).model
    relaxed = random_mert("toy", attention_relax=32.0, **common).model
    wav = torch.randn(2, 8000)
    with torch.no_grad():
        ref = plain.eval()(wav).hidden_states
        tr = plain.train()(wav).hidden_states
        rel = relaxed.train()(wav).hidden_states
    assert max(float((a - b).abs().max()) for a, b in zip(ref, tr)) < 1e-5
    assert max(float((a - b).abs().max()) for a, b in zip(ref, rel)) < 1e-5


def test_layerdrop_keeps_state_count():
    model = random_mert("toy", layerdrop=1.0).model.train()
    out = model(torch.randn(1, 8000))
    assert len(out.hidden_states) == 3
    assert torch.equal(out.hidden_states[1], out.hidden_states[0])


def test_bfloat16_inference_close_to_fp32(tiny_mert):
    wav = torch.randn(1, 16000)
    with torch.inference_mode():
        ref = tiny_mert(wav)
        tiny_mert.model.to(torch.bfloat16)
        low = tiny_mert(wav.bfloat16()).float()
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    assert float((low - ref).abs().max() / ref.abs().max()) < 0.05


def test_fairseq_init_statistics():
    model = random_mert("small", seed=0).model.requires_grad_(False)
    lin = model.encoder.layers[0].feed_forward.intermediate_dense
    assert abs(float(lin.weight.std()) - 0.02) < 0.002 and float(lin.bias.abs().max()) == 0.0
    conv = model.encoder.pos_conv_embed.conv
    assert torch.allclose(conv.effective_weight(), conv.weight_v, atol=1e-6)  # g = ||v|| at init
    assert 0.0 <= float(model.masked_spec_embed.min()) and float(model.masked_spec_embed.max()) < 1.0
    again = random_mert("small", seed=0).model
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_errors_are_clear(tiny_mert):
    with pytest.raises(ModelError, match="receptive field of 400 samples"):
        tiny_mert.model(torch.randn(1, 300))
    with pytest.raises(ModelError, match=r"\[B, N\]"):
        tiny_mert(torch.randn(8000))
    with pytest.raises(ModelError, match="fewer than 400 samples"):
        tiny_mert(torch.randn(2, 8000), torch.tensor([8000, 100]))
    with pytest.raises(ModelError, match="mask_time_indices"):
        tiny_mert.model(torch.randn(1, 8000), mask_time_indices=torch.zeros(1, 3, dtype=torch.bool))


def test_window_plan_partitions_frames():
    for total, win, ov in [(1000, 300, 40), (301, 300, 40), (300, 300, 0), (5000, 777, 100)]:
        plan = window_plan(total, win, ov)
        own = [t for _, _, a, b in plan for t in range(a, b)]
        assert own == list(range(total))
        for s, e, a, b in plan:
            assert s <= a and b <= e and e - s == min(win, total) and e <= total


def test_windowed_output_is_exact_for_local_features(tiny_mert):
    """With a purely local (conv) 'encoder', windowed + stitched output equals the unwindowed one."""
    fe = tiny_mert.model.feature_extractor

    def encode(wav, lengths):
        return fe(wav).transpose(1, 2)[None]

    wav = torch.randn(2, 24000 * 3 + 777)
    cfg = tiny_mert.model.config
    kw = dict(sample_rate=cfg.sample_rate, stride=cfg.total_stride, receptive_field=cfg.receptive_field,
              num_frames=cfg.num_frames)
    with torch.no_grad():
        full = windowed_frames(encode, wav, None, window_s=None, overlap_s=0.0, **kw)
        win = windowed_frames(encode, wav, None, window_s=1.0, overlap_s=0.2, **kw)
    assert win.shape == full.shape and full.shape[2] == cfg.num_frames(wav.shape[1])
    # layer-0 GroupNorm statistics are global, so compare through a model without it
    local = random_mert("toy", window_s=None)
    local.model.feature_extractor.conv_layers[0].norm_kind = None

    def encode_local(wav, lengths):
        return local.model.feature_extractor(wav).transpose(1, 2)[None]

    with torch.no_grad():
        a = windowed_frames(encode_local, wav, None, window_s=None, overlap_s=0.0, **kw)
        b = windowed_frames(encode_local, wav, None, window_s=1.0, overlap_s=0.2, **kw)
    assert torch.allclose(a, b, atol=1e-6)


def test_mert_encoder_windows_long_inputs(tiny_mert):
    enc = MertEncoder(tiny_mert.model, "toy", None, window_s=1.0, window_overlap_s=0.2)
    wav = torch.randn(1, 24000 * 3)
    with torch.inference_mode():
        out = enc(wav)
        short = enc(wav[:, :20000])
        direct = tiny_mert(wav[:, :20000])
    assert out.shape[2] == enc.num_frames(wav.shape[1])
    assert torch.equal(short, direct)  # below the window length nothing changes


def test_released_preset_without_weights_explains(monkeypatch):
    import mertbench.models.mert.sources as mert_mod

    def offline(repo_id, revision, preset):
        raise ModelError(f"cannot get {repo_id}: not in the HF cache and the hub is unreachable")

    monkeypatch.setattr(mert_mod, "_hub_snapshot", offline)
    with pytest.raises(ModelError, match="hub is unreachable"):
        mertbench.load_model("mert-95m")
    with pytest.raises(ModelError, match="folder not found"):
        mertbench.load_model("mert-95m", checkpoint="/nonexistent/MERT-v1-95M")


def test_cli_models_list_shows_geometry_and_parameters():
    from typer.testing import CliRunner

    from mertbench.cli import app

    res = CliRunner().invoke(app, ["models", "list"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if line.startswith("│ mert-95m "))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[:8] == ["mert-95m", "MERT", "24000 Hz", "75 Hz", "13", "768", "94,371,712", "hub:m-a-p/MERT-v1-95M"]
    narrow = CliRunner().invoke(app, ["models", "list"], env={"COLUMNS": "80"})
    assert "random-mert-330m" in narrow.output and "315,428,992" in narrow.output


def test_long_first_kernel_inference_path_equals_reference_path():
    """The tiny pretraining preset's 400-sample first kernel takes the conv front end on CPU (the GEMM
    front end's folded norm is O(k0^2) per frame); outputs equal the reference path either way."""
    import dataclasses

    from mertbench.models.mert import FAST_FRONT_END_MAX_KERNEL, MertModel, random_mert

    base = random_mert("toy", seed=0, window_s=None).model.config
    cfg = dataclasses.replace(base, conv_kernel=(400, *base.conv_kernel[1:]))
    assert cfg.conv_kernel[0] > FAST_FRONT_END_MAX_KERNEL >= base.conv_kernel[0]
    model = MertModel(cfg)
    model.reset_parameters(0)
    model.eval()
    wav = torch.randn(2, 12000)
    with torch.inference_mode():
        a = model(wav).stacked_hidden_states
    b = torch.stack(model(wav).hidden_states).detach()
    frames = 12000
    for k, s in zip(cfg.conv_kernel, cfg.conv_stride):
        frames = (frames - k) // s + 1
    assert a.shape[2] == frames == 36  # 0.5 s at 75 Hz, less the longer kernel's edge
    assert float((a - b).abs().max()) < 1e-5
