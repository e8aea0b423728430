"""MERT-v1 checkpoint I/O: HF checkpoint folders and fairseq checkpoints.

HF folder (``m-a-p/MERT-v1-95M`` layout, reference notes §8): ``config.json`` (geometry),
``pytorch_model.bin`` or ``model.safetensors`` (also sharded ``*.index.json``), and
``preprocessor_config.json`` (``do_normalize``: zero-mean/unit-variance waveform normalisation).
State-dict keys are the HF ``HubertModel`` names; the positional conv's weight norm is stored either
with the legacy names ``weight_g``/``weight_v`` (released checkpoints) or the newer
``parametrizations.weight.original0``/``original1`` (what recent torch/transformers write); both
load. A plain ``conv.weight`` (weight norm removed) is converted back to g/v. Loading is strict:
every tensor must be used and every parameter filled, else a ModelError lists the keys.

fairseq checkpoints (``MERT-v1-95M_fairseq.pt``) load through :data:`FAIRSEQ_KEY_MAP` (the map of
MERT's ``convert_MERT_HF.py``); pretraining-only heads (``final_proj``, ``label_embs_concat``, the
CQT/mel regression heads, nnAudio kernels) are dropped and reported. The geometry comes from the
checkpoint's ``cfg`` (``model.*``, ``task.sample_rate``) when readable, else from tensor shapes.
fairseq pickles hold omegaconf/fairseq objects; they are read with a restricted unpickler that only
rebuilds tensors and plain containers (no fairseq or omegaconf needed, no foreign code run).
"""
from __future__ import annotations

import ast
import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mertbench.errors import ModelError
from mertbench.io import atomic_path, atomic_write_json
from mertbench.models.mert.config import MertConfig
from mertbench.models.mert.model import MertModel

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
MERT_MODEL_TYPES = {"mert_model", "music_hubert", "musichubert", "mert"}
MERT_ARCHITECTURES = {"MERTModel", "MusicHubertModel", "MERTForPretraining"}
_KEY_PREFIXES = ("hubert.", "mert.", "model.", "module.", "wav2vec2.")

# ----------------------------------------------------------------------------------------------
# reading HF folders
# ----------------------------------------------------------------------------------------------


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; ModelError naming the file when it is malformed."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from exc
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def is_mert_config(d: dict[str, Any]) -> bool:
    """True for MERT-style config.json dicts (MERT model_type/architecture, or HuBERT with ``sample_rate``)."""
    mt = str(d.get("model_type", "")).lower()
    archs = set(d.get("architectures") or [])
    return mt in MERT_MODEL_TYPES or bool(archs & MERT_ARCHITECTURES) or (mt == "hubert" and "sample_rate" in d)


def weights_file(folder: Path) -> Path:
    """The weights file of ``folder`` (safetensors preferred); ModelError listing what was expected."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise ModelError(f"{folder}: no weights file; expected one of {', '.join(WEIGHT_FILES)}")


def _load_one(path: Path) -> dict[str, Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(path), device="cpu"))
        return dict(torch.load(str(path), map_location="cpu", weights_only=True))
    except Exception as exc:  # corrupt / truncated file
        raise ModelError(f"{path}: cannot read weights ({type(exc).__name__}: {exc}); the file may be truncated "
                         f"- download it again") from exc


def read_state_dict(folder: Path) -> tuple[dict[str, Tensor], Path]:
    """All tensors of a HF folder (single file or sharded index) and the file it came from."""
    path = weights_file(folder)
    if path.name.endswith(".index.json"):
        index = read_json(path)
        shards = sorted(set((index.get("weight_map") or {}).values()))
        if not shards:
            raise ModelError(f"{path}: 'weight_map' is empty")
        sd: dict[str, Tensor] = {}
        for shard in shards:
            if not (folder / shard).is_file():
                raise ModelError(f"{path}: shard {shard} listed in weight_map is missing")
            sd.update(_load_one(folder / shard))
        return sd, path
    return _load_one(path), path


def to_mert_keys(sd: dict[str, Tensor]) -> tuple[dict[str, Tensor], list[str]]:
    """Normalise HF key names to :class:`MertModel`'s; returns the new dict and notes on what changed.

    * strips a model prefix (``hubert.``, ``mert.``, ``model.``, ...) when every encoder key has it;
    * ``pos_conv_embed.conv.parametrizations.weight.original0/1`` -> ``weight_g``/``weight_v``;
    * a plain ``pos_conv_embed.conv.weight`` -> ``weight_v = w``, ``weight_g = ||w||`` per tap.
    """
    notes: list[str] = []
    if not any(k.startswith("feature_extractor.") for k in sd):
        for prefix in _KEY_PREFIXES:
            if any(k.startswith(prefix + "feature_extractor.") for k in sd):
                sd = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in sd.items()}
                notes.append(f"stripped key prefix {prefix!r}")
                break
    out: dict[str, Tensor] = {}
    renamed = 0
    for k, v in sd.items():
        if k.endswith("pos_conv_embed.conv.parametrizations.weight.original0"):
            k = k.replace("parametrizations.weight.original0", "weight_g")
            renamed += 1
        elif k.endswith("pos_conv_embed.conv.parametrizations.weight.original1"):
            k = k.replace("parametrizations.weight.original1", "weight_v")
            renamed += 1
        out[k] = v
    if renamed:
        notes.append("renamed parametrizations.weight.original0/1 -> weight_g/weight_v")
    plain = "encoder.pos_conv_embed.conv.weight"
    if plain in out and "encoder.pos_conv_embed.conv.weight_v" not in out:
        w = out.pop(plain)
        out["encoder.pos_conv_embed.conv.weight_v"] = w
        out["encoder.pos_conv_embed.conv.weight_g"] = torch.linalg.vector_norm(w.float(), dim=(0, 1), keepdim=True).to(w.dtype)
        notes.append("converted plain pos-conv weight to weight norm (g = ||w|| per tap)")
    return out, notes


def load_state_dict_strict(model: MertModel, sd: dict[str, Tensor], origin: str, *,
                           allow_missing: tuple[str, ...] = ()) -> None:
    """Copy ``sd`` into ``model``; ModelError naming ``origin`` on missing/unexpected keys or shape mismatch.

    ``model`` may live on the meta device: tensors are then assigned (no copy, no init cost).
    Keys in ``allow_missing`` keep their current (initialised) values.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in sd and k not in allow_missing]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:8]) + (f" ... (+{len(keys) - 8})" if len(keys) > 8 else "")
        raise ModelError(f"{origin}: checkpoint does not match the MERT geometry in config.json: "
                         f"{len(missing)} missing key(s) [{show(missing)}], {len(unexpected)} unexpected key(s) "
                         f"[{show(unexpected)}]")
    bad = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in sd.items()
           if tuple(v.shape) != tuple(own[k].shape)]
    if bad:
        raise ModelError(f"{origin}: tensor shapes do not match config.json: " + "; ".join(bad[:5]))
    meta = any(p.is_meta for p in model.parameters())
    full = dict(sd)
    for k in allow_missing:
        if k not in full:
            full[k] = own[k] if not own[k].is_meta else torch.zeros(own[k].shape, dtype=own[k].dtype)
    model.load_state_dict(full, strict=True, assign=meta)
    model._fast_cache.clear()


def _build(cfg: MertConfig) -> MertModel:
    with torch.device("meta"):
        return MertModel(cfg)


def load_mert_model(path: Path) -> tuple[MertModel, dict[str, Any]] | None:
    """The :class:`MertModel` of a MERT-v1 HF checkpoint folder and a load report (weights file,
    tensor count, key notes, ``do_normalize``, ``preprocessor`` dict); None when ``path`` is another format.

    Geometry from config.json (sample rate from its ``sample_rate``, else
    preprocessor_config.json ``sampling_rate``). Zero missing and zero unexpected keys are required.
    :func:`mertbench.models.mert.sources.load_mert_dir` wraps this into a :class:`MertEncoder`.
    """
    path = Path(path).expanduser()
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        return None
    d = read_json(cfg_path)
    if not is_mert_config(d):
        return None
    pre = read_json(path / "preprocessor_config.json") if (path / "preprocessor_config.json").is_file() else {}
    if "sample_rate" not in d and "sampling_rate" in pre:
        d = {**d, "sample_rate": int(pre["sampling_rate"])}
    cfg = MertConfig.from_hf_dict(d)
    if pre and "sampling_rate" in pre and int(pre["sampling_rate"]) != cfg.sample_rate:
        raise ModelError(f"{path}: config.json sample_rate={cfg.sample_rate} but preprocessor_config.json "
                         f"sampling_rate={pre['sampling_rate']}; fix one of them")
    sd, wfile = read_state_dict(path)
    sd, notes = to_mert_keys(sd)
    model = _build(cfg)
    allow = ("masked_spec_embed",) if not _has_mask_embed(d) else ()
    load_state_dict_strict(model, sd, str(wfile), allow_missing=allow)
    report = {"weights_file": str(wfile), "tensors": len(sd), "notes": notes,
              "do_normalize": pre.get("do_normalize"), "missing": [], "unexpected": []}
    return model, report


def _has_mask_embed(d: dict[str, Any]) -> bool:
    """HF creates ``masked_spec_embed`` only when SpecAugment masking is configured (MERT: always)."""
    return float(d.get("mask_time_prob", 0.05)) > 0 or float(d.get("mask_feature_prob", 0.0)) > 0


# ----------------------------------------------------------------------------------------------
# writing HF folders
# ----------------------------------------------------------------------------------------------


def save_mert_dir(model: MertModel, out_dir: str | Path, do_normalize: bool = False,
                  safe_serialization: bool = True) -> Path:
    """Write a MERT-v1 HF folder (weights, config.json, preprocessor_config.json, mertbench.json).

    Weights first, config.json last, each atomically, so an interrupted save never leaves a
    folder that looks complete. A weights file of the other format left from an earlier save is
    removed so the folder holds exactly one.
    """
    from mertbench.provenance import provenance

    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    if safe_serialization:
        from safetensors.torch import save_file

        target = out / "model.safetensors"
        with atomic_path(target) as tmp:
            save_file(sd, str(tmp), metadata={"format": "pt"})
    else:
        target = out / "pytorch_model.bin"
        with atomic_path(target) as tmp:
            torch.save(sd, str(tmp))
    for name in WEIGHT_FILES:
        if (out / name) != target and (out / name).exists():
            (out / name).unlink()
    cfg = model.config.to_hf_dict()
    dtypes = {str(v.dtype).removeprefix("torch.") for v in sd.values()}
    cfg["torch_dtype"] = dtypes.pop() if len(dtypes) == 1 else "float32"
    atomic_write_json(out / "preprocessor_config.json", preprocessor_config(model.config.sample_rate, do_normalize))
    atomic_write_json(out / "mertbench.json", {
        "format": "HF MERT-v1 (HubertModel keys, legacy weight_g/weight_v)",
        "parameters": sum(v.numel() for v in sd.values()), "tensors": len(sd), "weights_file": target.name,
        "provenance": provenance(config=cfg)})
    atomic_write_json(out / "config.json", cfg)
    return out


def preprocessor_config(sample_rate: int, do_normalize: bool) -> dict[str, Any]:
    """The ``Wav2Vec2FeatureExtractor`` preprocessor_config.json of a MERT-v1 folder."""
    return {"do_normalize": bool(do_normalize), "feature_extractor_type": "Wav2Vec2FeatureExtractor",
            "feature_size": 1, "padding_side": "right", "padding_value": 0.0,
            "return_attention_mask": True, "sampling_rate": int(sample_rate)}


# ----------------------------------------------------------------------------------------------
# fairseq checkpoints
# ----------------------------------------------------------------------------------------------

#: fairseq -> HF key patterns (regex, replacement); ``{i}``/``{n}`` groups keep layer indices.
FAIRSEQ_KEY_MAP: list[tuple[str, str]] = [
    (r"^feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)$", r"feature_extractor.conv_layers.\1.conv.\2"),
    (r"^feature_extractor\.conv_layers\.(\d+)\.2\.(weight|bias)$", r"feature_extractor.conv_layers.\1.layer_norm.\2"),
    (r"^feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)$", r"feature_extractor.conv_layers.\1.layer_norm.\2"),
    (r"^layer_norm\.(weight|bias)$", r"feature_projection.layer_norm.\1"),
    (r"^post_extract_proj\.(weight|bias)$", r"feature_projection.projection.\1"),
    (r"^encoder\.pos_conv\.0\.(weight_g|weight_v|bias)$", r"encoder.pos_conv_embed.conv.\1"),
    (r"^encoder\.pos_conv\.0\.parametrizations\.weight\.original0$", r"encoder.pos_conv_embed.conv.weight_g"),
    (r"^encoder\.pos_conv\.0\.parametrizations\.weight\.original1$", r"encoder.pos_conv_embed.conv.weight_v"),
    (r"^encoder\.layers\.(\d+)\.self_attn\.(q_proj|k_proj|v_proj|out_proj)\.(weight|bias)$",
     r"encoder.layers.\1.attention.\2.\3"),
    (r"^encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)$", r"encoder.layers.\1.layer_norm.\2"),
    (r"^encoder\.layers\.(\d+)\.fc1\.(weight|bias)$", r"encoder.layers.\1.feed_forward.intermediate_dense.\2"),
    (r"^encoder\.layers\.(\d+)\.fc2\.(weight|bias)$", r"encoder.layers.\1.feed_forward.output_dense.\2"),
    (r"^encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)$", r"encoder.layers.\1.final_layer_norm.\2"),
    (r"^encoder\.layer_norm\.(weight|bias)$", r"encoder.layer_norm.\1"),
    (r"^mask_emb$", "masked_spec_embed"),
]
#: fairseq keys dropped on conversion (pretraining-only heads and fixed feature kernels).
FAIRSEQ_DROP = re.compile(r"^(final_proj\.|label_embs_concat$|label_embs\.|encoder_cqt_model\.|encoder_mel_model\.|"
                          r"untie_final_proj|cqt_model\.|mel_model\.|.*\.(cqt_kernels_real|cqt_kernels_imag|wsin|wcos|"
                          r"mel_basis|lowpass_filter|window_mask)$)")


def fairseq_to_hf(sd: dict[str, Tensor]) -> tuple[dict[str, Tensor], list[str]]:
    """Map a fairseq MERT state dict to HF names; returns ``(hf_state_dict, dropped_keys)``.

    Raises ModelError listing keys that are neither mapped nor known pretraining-only heads.
    """
    out: dict[str, Tensor] = {}
    dropped: list[str] = []
    unknown: list[str] = []
    for k, v in sd.items():
        for pattern, repl in FAIRSEQ_KEY_MAP:
            new, n = re.subn(pattern, repl, k)
            if n:
                out[new] = v
                break
        else:
            (dropped if FAIRSEQ_DROP.match(k) else unknown).append(k)
    if unknown:
        raise ModelError(f"fairseq checkpoint has {len(unknown)} key(s) outside the MERT key map: "
                         f"{', '.join(unknown[:8])}; is it a MERT/HuBERT checkpoint?")
    return out, dropped


def _eval_conv_layers(spec: str) -> list[tuple[int, int, int]]:
    """Evaluate fairseq ``conv_feature_layers`` (e.g. ``"[(512,10,5)] + [(512,3,2)] * 4"``) safely."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.List):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(ev(e) for e in node.elts)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            a, b = ev(node.left), ev(node.right)
            return a + b if isinstance(node.op, ast.Add) else a * b
        raise ModelError(f"conv_feature_layers {spec!r}: unsupported expression")

    layers = ev(ast.parse(spec, mode="eval"))
    return [(int(c), int(k), int(s)) for c, k, s in layers]


def config_from_fairseq(cfg: dict[str, Any] | None, sd: dict[str, Tensor]) -> MertConfig:
    """MertConfig from a fairseq ``cfg`` dict (``model``/``task`` sections) with state-dict shape fallbacks."""
    model_cfg = dict((cfg or {}).get("model") or {})
    task_cfg = dict((cfg or {}).get("task") or {})
    hidden = int(model_cfg.get("encoder_embed_dim") or sd["post_extract_proj.weight"].shape[0])
    layer_ids = {int(m.group(1)) for k in sd if (m := re.match(r"^encoder\.layers\.(\d+)\.", k))}
    kw: dict[str, Any] = dict(
        hidden_size=hidden,
        num_hidden_layers=int(model_cfg.get("encoder_layers") or len(layer_ids)),
        num_attention_heads=int(model_cfg.get("encoder_attention_heads") or max(1, hidden // 64)),
        intermediate_size=int(model_cfg.get("encoder_ffn_embed_dim") or sd["encoder.layers.0.fc1.weight"].shape[0]),
    )
    if model_cfg.get("conv_feature_layers"):
        conv = _eval_conv_layers(str(model_cfg["conv_feature_layers"]))
        kw.update(conv_dim=tuple(c for c, _, _ in conv), conv_kernel=tuple(k for _, k, _ in conv),
                  conv_stride=tuple(s for _, _, s in conv))
    mapping = {"conv_bias": "conv_bias", "conv_pos": "num_conv_pos_embeddings",
               "conv_pos_groups": "num_conv_pos_embedding_groups", "layer_norm_first": "do_stable_layer_norm",
               "attention_relax": "attention_relax", "dropout": "hidden_dropout",
               "attention_dropout": "attention_dropout", "activation_dropout": "activation_dropout",
               "dropout_input": "feat_proj_dropout", "encoder_layerdrop": "layerdrop",
               "feature_grad_mult": "feature_grad_mult"}
    for src, dst in mapping.items():
        if model_cfg.get(src) is not None:
            kw[dst] = model_cfg[src]
    if model_cfg.get("extractor_mode") is not None:
        kw["feat_extract_norm"] = "layer" if model_cfg["extractor_mode"] == "layer_norm" else "group"
    if "encoder.pos_conv.0.weight_v" in sd and "conv_pos" not in model_cfg:
        v = sd["encoder.pos_conv.0.weight_v"]
        kw.update(num_conv_pos_embeddings=v.shape[2], num_conv_pos_embedding_groups=hidden // v.shape[1])
    if task_cfg.get("sample_rate"):
        kw["sample_rate"] = int(task_cfg["sample_rate"])
    return MertConfig(**kw)


class _Stub:
    """Inert stand-in for classes a fairseq pickle references (omegaconf, fairseq, numpy, ...)."""

    _qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs, self.state = args, kwargs, None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> "_Stub":
        """A stub called as a function (a pickle's REDUCE of e.g. ``getattr(cls, name)(...)``)
        returns another inert stub: nothing runs."""
        return _Stub(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<stub {self._qualname}>"


_SAFE_GLOBALS = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
                 ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_tensor"),
                 ("torch", "Size"), ("argparse", "Namespace"), ("builtins", "set"), ("builtins", "frozenset"),
                 ("builtins", "slice"), ("builtins", "complex")}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS or (module == "torch" and (name.endswith("Storage") or
                                                                       isinstance(getattr(torch, name, None), torch.dtype))):
            return super().find_class(module, name)
        return type(name, (_Stub,), {"_qualname": f"{module}.{name}"})


class _RestrictedPickleModule:
    Unpickler = _RestrictedUnpickler
    load = staticmethod(lambda f, **kw: _RestrictedUnpickler(f, **kw).load())
    __name__ = "mertbench_restricted_pickle"


def _plain(obj: Any, depth: int = 0) -> Any:
    """Turn unpickled omegaconf stubs / Namespaces into plain dicts and values (best effort)."""
    if depth > 50:
        return None
    if isinstance(obj, dict):
        return {str(k): _plain(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, depth + 1) for v in obj]
    if isinstance(obj, _Stub):
        st = obj.state
        if isinstance(st, dict):
            if "_content" in st:
                return _plain(st["_content"], depth + 1)
            if "_val" in st:
                return _plain(st["_val"], depth + 1)
            return _plain(st, depth + 1)
        return None
    if hasattr(obj, "__dict__") and type(obj).__name__ == "Namespace":
        return _plain(vars(obj), depth + 1)
    return obj


def read_fairseq_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, Any] | None]:
    """``(model_state_dict, cfg_dict_or_None)`` of a fairseq checkpoint file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"{path}: fairseq checkpoint not found")
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:
        try:
            ckpt = torch.load(str(path), map_location="cpu", weights_only=False, pickle_module=_RestrictedPickleModule)
        except Exception as exc:
            raise ModelError(f"{path}: cannot read as a fairseq checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise ModelError(f"{path}: not a fairseq checkpoint (expected a dict with a 'model' state dict)")
    cfg = _plain(ckpt.get("cfg")) if ckpt.get("cfg") is not None else None
    if cfg is None and ckpt.get("args") is not None:  # very old fairseq: flat argparse namespace
        args = _plain(ckpt["args"]) or {}
        cfg = {"model": args, "task": args}
    return dict(ckpt["model"]), cfg if isinstance(cfg, dict) else None


def load_fairseq(path: str | Path, config: MertConfig | str | None = None) -> tuple[MertModel, dict[str, Any]]:
    """A fairseq MERT checkpoint as a :class:`MertModel` plus a report (dropped keys, config source).

    ``config`` (a MertConfig or preset name) overrides the geometry read from the checkpoint.
    """
    path = Path(path).expanduser()
    raw, cfg_dict = read_fairseq_checkpoint(path)
    sd, dropped = fairseq_to_hf(raw)
    if isinstance(config, str):
        cfg = MertConfig.preset(config)
    elif config is not None:
        cfg = config
    else:
        cfg = config_from_fairseq(cfg_dict, raw)
    model = _build(cfg)
    load_state_dict_strict(model, sd, str(path))
    report = {"dropped": dropped, "tensors": len(sd),
              "config_source": "argument" if config is not None else ("checkpoint cfg" if cfg_dict else "tensor shapes")}
    return model.eval(), report


def convert_fairseq(path: str | Path, out_dir: str | Path, config: MertConfig | str | None = None,
                    do_normalize: bool = False, safe_serialization: bool = True) -> dict[str, Any]:
    """Convert a fairseq MERT checkpoint to a HF MERT-v1 folder; returns the load report."""
    model, report = load_fairseq(path, config)
    save_mert_dir(model, out_dir, do_normalize=do_normalize, safe_serialization=safe_serialization)
    return report
