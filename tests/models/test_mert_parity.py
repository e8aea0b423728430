"""Numerical parity of mertbench's MERT encoder with transformers' HubertModel (same random weights).

Checkpoint folders are written by the tests in the exact MERT-v1 layout (config.json fields, HF key
names, legacy ``weight_g``/``weight_v`` or ``parametrizations.weight.original0/1``, ``.bin`` or
``.safetensors``) and loaded through ``mertbench.load_model(DIR)``.
"""
from __future__ import annotations

import pytest
import torch
from mert_testkit import PRE_LN_330M, SMALL, hf_model, max_diff, mert_config, reference_states, write_mert_dir

import mertbench
from mertbench.models.mert import MertEncoder

TOL = 1e-4


def _wav(batch: int, n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, n, generator=torch.Generator().manual_seed(seed)) * 0.3


@pytest.mark.parametrize("pre_ln", [False, True], ids=["post-LN", "pre-LN"])
@pytest.mark.parametrize("key_style,fmt", [("legacy", "bin"), ("parametrizations", "safetensors"),
                                           ("legacy", "safetensors"), ("parametrizations", "bin")])
def test_small_checkpoint_matches_transformers(tmp_path, pre_ln, key_style, fmt):
    cfg = mert_config(**SMALL, **(PRE_LN_330M if pre_ln else {}))
    ref = hf_model(cfg, seed=3)
    folder = write_mert_dir(tmp_path / "ckpt", cfg, ref, key_style=key_style, fmt=fmt)
    enc = mertbench.load_model(str(folder))
    assert isinstance(enc, MertEncoder)
    assert enc.load_report["missing"] == [] and enc.load_report["unexpected"] == []
    assert enc.load_report["tensors"] == len(ref.state_dict())
    assert enc.num_layers == 3 and enc.dim == 64 and enc.normalize == "zmuv"
    model = enc.model
    wav = _wav(2, 25000)  # > 1024 layer-1 frames: several tiles of the fused conv path
    expected = reference_states(ref, wav)
    with torch.inference_mode():  # inference path
        fast = model(wav).hidden_states
    with torch.enable_grad():  # reference path
        slow = [h.detach() for h in model(wav).hidden_states]
    assert len(fast) == len(expected) == 3
    assert max_diff(fast, expected) < TOL
    assert max_diff(slow, expected) < TOL
    # the encoder contract output is the same stack
    with torch.inference_mode():
        stacked = enc(wav)
    assert torch.allclose(stacked, torch.stack(expected), atol=TOL, rtol=0)


@pytest.mark.parametrize("pre_ln", [False, True], ids=["post-LN", "pre-LN"])
def test_padding_matches_transformers(tmp_path, pre_ln):
    cfg = mert_config(**SMALL, **(PRE_LN_330M if pre_ln else {}))
    ref = hf_model(cfg, seed=4)
    enc = mertbench.load_model(str(write_mert_dir(tmp_path / "ckpt", cfg, ref)))
    wav = _wav(3, 26000)
    lengths = torch.tensor([26000, 17001, 4321])
    mask = (torch.arange(26000)[None, :] < lengths[:, None]).long()
    wav = wav * mask  # zero padding, as the HF processor does
    expected = reference_states(ref, wav, attention_mask=mask)
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            out = enc.model(wav, attention_mask=mask)
        assert max_diff([h.detach() for h in out.hidden_states], expected) < TOL, f"grad={grad}"
        frames = enc.model.frame_lengths(lengths)
        assert out.padding_mask.tolist() == (torch.arange(out.padding_mask.shape[1])[None] >= frames[:, None]).tolist()


def test_mask_time_indices_match_transformers(tmp_path):
    cfg = mert_config(**SMALL)
    ref = hf_model(cfg, seed=5)
    enc = mertbench.load_model(str(write_mert_dir(tmp_path / "ckpt", cfg, ref)))
    wav = _wav(2, 8000)
    t = enc.num_frames(8000)
    mti = torch.zeros(2, t, dtype=torch.bool)
    mti[0, 3:8] = True
    mti[1, 10:20] = True
    expected = reference_states(ref, wav, mask_time_indices=mti)
    with torch.inference_mode():
        fast = enc.model(wav, mask_time_indices=mti).hidden_states
    out = enc.model(wav, mask_time_indices=mti)
    assert max_diff(fast, expected) < TOL
    assert max_diff([h.detach() for h in out.hidden_states], expected) < TOL
    # cnn_features is the conv-stack output before the projection LayerNorm
    with torch.no_grad():
        cnn_ref = ref.feature_extractor(wav).transpose(1, 2)
    assert float((out.cnn_features.detach() - cnn_ref).abs().max()) < TOL


def test_released_95m_geometry_checkpoint(tmp_path):
    """Acceptance: a MERT-v1-95M-format folder with random weights loads with zero missing/unexpected
    keys, has 94,371,712 parameters in 211 tensors and 13 hidden states within 1e-4 of transformers."""
    cfg = mert_config()
    ref = hf_model(cfg, seed=6)
    folder = write_mert_dir(tmp_path / "MERT-v1-95M", cfg, ref, key_style="legacy", fmt="bin")
    enc = mertbench.load_model(str(folder))
    assert enc.load_report["tensors"] == 211
    assert enc.num_parameters() == 94_371_712
    assert (enc.num_layers, enc.dim, enc.sample_rate, enc.frame_rate) == (13, 768, 24000, 75.0)
    wav = _wav(1, 9600)
    expected = reference_states(ref, wav)
    with torch.inference_mode():
        out = enc(wav)
    assert out.shape == (13, 1, 29, 768)
    assert float((out - torch.stack(expected)).abs().max()) < TOL


def test_layer_norm_front_end_with_conv_bias_matches_transformers(tmp_path):
    """The HuBERT-large style front end (LayerNorm in every conv layer, conv bias) is supported too."""
    cfg = mert_config(**SMALL, **PRE_LN_330M, feat_extract_norm="layer", conv_bias=True)
    ref = hf_model(cfg, seed=8)
    enc = mertbench.load_model(str(write_mert_dir(tmp_path / "ckpt", cfg, ref, fmt="safetensors")))
    wav = _wav(2, 25000)
    expected = reference_states(ref, wav)
    with torch.inference_mode():
        fast = enc.model(wav).hidden_states
    slow = [h.detach() for h in enc.model(wav).hidden_states]
    assert max_diff(fast, expected) < TOL and max_diff(slow, expected) < TOL
