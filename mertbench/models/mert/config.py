"""MERT-v1 geometry: :class:`MertConfig`, the named presets and the conv frame-count formula.

Also the option helpers every weight source uses (:func:`resolve_normalize`, :func:`torch_dtype`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Sequence

import torch

from mertbench.constants import SAMPLE_RATE
from mertbench.errors import ModelError

#: presets renamed since 0.1.0 (old name -> new name; see CHANGELOG.md)
RENAMED_PRESETS = {"tiny": "toy"}


def conv_num_frames(kernels: Sequence[int], strides: Sequence[int], num_samples: int) -> int:
    """Frames a conv stack (no padding) gives for ``num_samples`` samples: ``floor((L - k) / s) + 1``
    per layer; 0 when the input is shorter than a layer's kernel."""
    n = int(num_samples)
    for k, s in zip(kernels, strides):
        if n < k:
            return 0
        n = (n - k) // s + 1
    return n


@dataclass
class MertConfig:
    """Geometry and regularisation of a MERT-v1 encoder.

    Field names follow HF ``HubertConfig`` / MERT's ``config.json``. Units: sample_rate in Hz;
    conv kernels and strides in samples (layer 0) or frames of the previous layer.
    """

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    conv_dim: tuple[int, ...] = (512,) * 7
    conv_kernel: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    conv_bias: bool = False
    feat_extract_norm: str = "group"
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    do_stable_layer_norm: bool = False  # False: post-LN (95M); True: pre-LN (330M)
    layer_norm_eps: float = 1e-5
    attention_relax: float = -1.0  # > 0 enables CogView-style relaxation with that alpha
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    feat_proj_dropout: float = 0.1
    layerdrop: float = 0.05
    feature_grad_mult: float = 1.0
    sample_rate: int = SAMPLE_RATE
    #: config.json keys we do not interpret, kept so a load/save round trip preserves them.
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.conv_dim = tuple(int(v) for v in self.conv_dim)
        self.conv_kernel = tuple(int(v) for v in self.conv_kernel)
        self.conv_stride = tuple(int(v) for v in self.conv_stride)
        if not (len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride)):
            raise ModelError(f"MertConfig: conv_dim, conv_kernel and conv_stride must have the same length "
                             f"(got {len(self.conv_dim)}, {len(self.conv_kernel)}, {len(self.conv_stride)})")
        if self.feat_extract_norm not in ("group", "layer"):
            raise ModelError(f"MertConfig: feat_extract_norm must be 'group' or 'layer', got {self.feat_extract_norm!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ModelError(f"MertConfig: hidden_size {self.hidden_size} is not divisible by "
                             f"num_attention_heads {self.num_attention_heads}")
        if self.hidden_size % self.num_conv_pos_embedding_groups:
            raise ModelError(f"MertConfig: hidden_size {self.hidden_size} is not divisible by "
                             f"num_conv_pos_embedding_groups {self.num_conv_pos_embedding_groups}")

    # -- derived geometry ---------------------------------------------------------------------
    @property
    def total_stride(self) -> int:
        """Samples per output frame (320 for MERT-v1)."""
        return math.prod(self.conv_stride)

    @property
    def receptive_field(self) -> int:
        """Samples seen by one output frame (400 for MERT-v1)."""
        rf = 1
        for k, s in zip(reversed(self.conv_kernel), reversed(self.conv_stride)):
            rf = (rf - 1) * s + k
        return rf

    @property
    def frame_rate(self) -> float:
        """Output frames per second (75.0 Hz for MERT-v1 at 24 kHz)."""
        return self.sample_rate / self.total_stride

    def num_frames(self, num_samples: int) -> int:
        """Frames produced by the conv stack for ``num_samples`` input samples (0 if too short)."""
        return conv_num_frames(self.conv_kernel, self.conv_stride, num_samples)

    def num_parameters(self) -> int:
        """Parameter count of :class:`MertModel` (= the HF state dict), computed analytically."""
        n = 0
        c_in = 1
        for i, (c, k) in enumerate(zip(self.conv_dim, self.conv_kernel)):
            n += c * c_in * k + (c if self.conv_bias else 0)
            if self.feat_extract_norm == "layer" or (self.feat_extract_norm == "group" and i == 0):
                n += 2 * c
            c_in = c
        h, f = self.hidden_size, self.intermediate_size
        n += 2 * c_in + c_in * h + h  # feature_projection: LayerNorm + Linear
        n += h  # masked_spec_embed
        k, g = self.num_conv_pos_embeddings, self.num_conv_pos_embedding_groups
        n += h * (h // g) * k + k + h  # pos conv weight_v, weight_g [1,1,k], bias
        n += 2 * h  # encoder.layer_norm
        per_layer = 4 * (h * h + h) + 2 * (2 * h) + (h * f + f) + (f * h + h)
        return n + self.num_hidden_layers * per_layer

    # -- presets and HF config.json -------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> "MertConfig":
        """A named geometry: ``mert-95m``, ``mert-330m`` (released), ``toy``, ``small`` (CPU tests)."""
        key = name.lower().removeprefix("random-")
        if key in RENAMED_PRESETS:
            raise ModelError(f"the MERT preset {name!r} is now called {RENAMED_PRESETS[key]!r} (renamed so that it "
                             f"is not confused with the pretraining preset 'tiny'); use {RENAMED_PRESETS[key]!r}")
        if key not in _PRESETS:
            raise ModelError(f"unknown MERT preset {name!r}; choose one of {sorted(_PRESETS)}")
        return replace(_PRESETS[key], extra={})

    @classmethod
    def from_hf_dict(cls, d: dict[str, Any]) -> "MertConfig":
        """Build from a HF ``config.json`` dict (MERT-v1 or HuBERT style); unknown keys go to ``extra``.

        Raises ModelError for settings this implementation does not support (e.g. a non-GELU
        activation, the CQT input branch, DeepNorm), naming the field.
        """
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {k: d[k] for k in known if k in d}
        unsupported = {
            "hidden_act": ("gelu",), "feat_extract_activation": ("gelu",),
            "feature_extractor_cqt": (False, None), "deepnorm": (False, None),
            "conv_pos_batch_norm": (False, None), "feat_proj_layer_norm": (True, None),
            "adapter_attn_dim": (None,),
        }
        for key, allowed in unsupported.items():
            if key in d and d[key] not in allowed:
                raise ModelError(f"config.json field {key}={d[key]!r} is not supported by mertbench's MERT "
                                 f"encoder (supported: {allowed[0]!r}); load this model with the "
                                 f"transformers wrapper instead (`hf-audio`)")
        if "num_feat_extract_layers" in d and "conv_dim" in d and int(d["num_feat_extract_layers"]) != len(d["conv_dim"]):
            raise ModelError(f"config.json: num_feat_extract_layers={d['num_feat_extract_layers']} does not match "
                             f"len(conv_dim)={len(d['conv_dim'])}")
        kwargs["extra"] = {k: v for k, v in d.items() if k not in known}
        try:
            return cls(**kwargs)
        except TypeError as exc:  # wrong types in config.json
            raise ModelError(f"config.json: {exc}") from exc

    def to_hf_dict(self) -> dict[str, Any]:
        """A MERT-v1 style ``config.json`` dict (``architectures: ["MERTModel"]``, ``model_type: mert_model``).

        Keys kept in ``extra`` (from a loaded config.json) are written back unchanged, except the
        geometry fields, which always come from this config.
        """
        d: dict[str, Any] = dict(_HF_CONFIG_DEFAULTS)
        d.update(self.extra)
        own = asdict(self)
        own.pop("extra")
        for k in ("conv_dim", "conv_kernel", "conv_stride"):
            own[k] = list(own[k])
        d.update(own)
        d["num_feat_extract_layers"] = len(self.conv_dim)
        d["architectures"] = ["MERTModel"]
        d["model_type"] = "mert_model"
        d.pop("auto_map", None)  # we ship no remote code; see docs/models.md
        return d


_PRESETS: dict[str, MertConfig] = {
    "mert-95m": MertConfig(feature_grad_mult=0.1),
    "mert-330m": MertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                            do_stable_layer_norm=True, attention_relax=32.0, hidden_dropout=0.0,
                            attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0, layerdrop=0.0,
                            feature_grad_mult=1.0),
    # small CPU geometries (same structure, far fewer channels) for tests and smoke runs
    "toy": MertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                      conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4),
    "small": MertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                        conv_dim=(128,) * 7, num_conv_pos_embeddings=64, num_conv_pos_embedding_groups=16),
}

#: Non-geometry fields of the released MERT-v1 config.json (written by :meth:`MertConfig.to_hf_dict`).
_HF_CONFIG_DEFAULTS: dict[str, Any] = {
    "activation_dropout": 0.0, "apply_spec_augment": True, "bos_token_id": 1, "classifier_proj_size": 256,
    "conv_pos_batch_norm": False, "ctc_loss_reduction": "sum", "ctc_zero_infinity": False, "deepnorm": False,
    "eos_token_id": 2, "feat_extract_activation": "gelu", "feat_proj_layer_norm": True,
    "feature_extractor_cqt": False, "feature_extractor_cqt_bins": 336, "final_dropout": 0.1,
    "hidden_act": "gelu", "initializer_range": 0.02, "mask_feature_length": 10, "mask_feature_min_masks": 0,
    "mask_feature_prob": 0.0, "mask_time_length": 10, "mask_time_min_masks": 2, "mask_time_prob": 0.05,
    "pad_token_id": 0, "tokenizer_class": "Wav2Vec2CTCTokenizer", "torch_dtype": "float32",
    "use_weighted_layer_sum": False, "vocab_size": 32,
}


_NORMALIZE_CHOICES = {"model", "zmuv", "peak", "none", None, True, False}


def resolve_normalize(option: object, checkpoint_default: str | None) -> str | None:
    """User option -> ``"zmuv" | "peak" | None``; ``"model"`` (default) keeps the checkpoint's choice."""
    if option not in _NORMALIZE_CHOICES:
        raise ModelError(f"normalize={option!r}: use 'model' (checkpoint default), 'zmuv', 'peak' or 'none'")
    if option == "model":
        return checkpoint_default
    if option is True:
        return "zmuv"
    if option in ("none", None, False):
        return None
    return str(option)



def torch_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if dtype not in table:
        raise ModelError(f"dtype={dtype!r}: use one of {sorted(table)}")
    return table[dtype]

