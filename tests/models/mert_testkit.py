"""Helpers for the MERT tests: random-weight MERT-v1 checkpoint folders and their transformers twins."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

#: config.json of the released MERT-v1-95M (field for field, remote-code entries included); tests
#: override the geometry fields to build small folders with the same layout.
MERT_V1_95M_CONFIG = {
    "_name_or_path": "./MERT-v1-95M", "activation_dropout": 0.1, "apply_spec_augment": True,
    "architectures": ["MERTModel"], "attention_dropout": 0.1, "attention_relax": -1.0,
    "auto_map": {"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
    "bos_token_id": 1, "classifier_proj_size": 256, "conv_bias": False,
    "conv_dim": [512, 512, 512, 512, 512, 512, 512], "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_pos_batch_norm": False, "conv_stride": [5, 2, 2, 2, 2, 2, 2], "ctc_loss_reduction": "sum",
    "ctc_zero_infinity": False, "deepnorm": False, "do_stable_layer_norm": False, "eos_token_id": 2,
    "feat_extract_activation": "gelu", "feat_extract_norm": "group", "feat_proj_dropout": 0.1,
    "feat_proj_layer_norm": True, "feature_extractor_cqt": False, "feature_extractor_cqt_bins": 336,
    "final_dropout": 0.1, "gradient_checkpointing": False, "hidden_act": "gelu", "hidden_dropout": 0.1,
    "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
    "layerdrop": 0.1, "mask_feature_length": 10, "mask_feature_min_masks": 0, "mask_feature_prob": 0.0,
    "mask_time_length": 10, "mask_time_min_masks": 2, "mask_time_prob": 0.05, "model_type": "mert_model",
    "num_attention_heads": 12, "num_conv_pos_embedding_groups": 16, "num_conv_pos_embeddings": 128,
    "num_feat_extract_layers": 7, "num_hidden_layers": 12, "pad_token_id": 0, "sample_rate": 24000,
    "tokenizer_class": "Wav2Vec2CTCTokenizer", "torch_dtype": "float32", "transformers_version": "4.25.1",
    "use_weighted_layer_sum": False, "vocab_size": 32,
}
PREPROCESSOR_95M = {"do_normalize": True, "feature_extractor_type": "Wav2Vec2FeatureExtractor", "feature_size": 1,
                    "padding_side": "right", "padding_value": 0, "return_attention_mask": True,
                    "sampling_rate": 24000}
#: a small geometry with the same structure (fast parity tests)
SMALL = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
         "conv_dim": [32] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4}
#: the pre-LN 330M-style settings (geometry reduced by SMALL in tests)
PRE_LN_330M = {"do_stable_layer_norm": True, "attention_relax": 32.0, "hidden_dropout": 0.0,
               "attention_dropout": 0.0, "activation_dropout": 0.0, "feat_proj_dropout": 0.0, "layerdrop": 0.0,
               "mask_time_prob": 0.075}


def hf_model(config: dict, seed: int = 0):
    """A transformers HubertModel with the geometry of a MERT config.json dict and random weights.

    Every tensor (norm scales and biases included) gets seeded random values with sane scales, so
    the parity tests exercise all of them.
    """
    from transformers import HubertConfig, HubertModel

    keep = {k: v for k, v in config.items() if k not in ("model_type", "architectures", "auto_map",
                                                          "transformers_version", "_name_or_path")}
    hc = HubertConfig(**keep)
    with torch.device("meta"):
        model = HubertModel(hc)
    model = model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = torch.randn(p.shape, generator=gen)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * n)
            elif name.endswith("original0") or name.endswith("weight_g"):
                p.copy_(n.abs() + 0.5)
            elif p.ndim >= 2:
                p.copy_(n / math.sqrt(p[0].numel()))
            else:
                p.copy_(0.1 * n)
    return model.eval()


def write_mert_dir(folder: Path, config: dict, model, *, key_style: str = "legacy", fmt: str = "bin",
                   do_normalize: bool = True) -> Path:
    """Write ``model``'s weights as a MERT-v1 checkpoint folder (exact MERT key layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    sd = {}
    for k, v in model.state_dict().items():
        if key_style == "legacy":
            k = k.replace("parametrizations.weight.original0", "weight_g").replace(
                "parametrizations.weight.original1", "weight_v")
        sd[k] = v.detach().clone().contiguous()
    if fmt == "bin":
        torch.save(sd, folder / "pytorch_model.bin")
    else:
        from safetensors.torch import save_file

        save_file(sd, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "preprocessor_config.json").write_text(json.dumps({**PREPROCESSOR_95M, "do_normalize": do_normalize}))
    return folder


def mert_config(**overrides) -> dict:
    return {**MERT_V1_95M_CONFIG, **overrides}


def reference_states(model, wav, attention_mask=None, mask_time_indices=None) -> list[torch.Tensor]:
    """transformers hidden states in MERT's convention (last = final-LayerNorm output for pre-LN)."""
    with torch.no_grad():
        out = model(wav, attention_mask=attention_mask, mask_time_indices=mask_time_indices,
                    output_hidden_states=True)
    return list(out.hidden_states[:-1]) + [out.last_hidden_state]


def max_diff(a, b) -> float:
    assert len(a) == len(b), (len(a), len(b))
    return max(float((x - y).abs().max()) for x, y in zip(a, b))
