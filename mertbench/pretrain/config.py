"""Typed pretraining configuration, presets and ``key=value`` overrides.

A :class:`PretrainConfig` has one section per concern (``model``, ``teacher``, ``loss``, ``mask``,
``mixture``, ``optim``, ``data``, ``run``). Start from a preset and override fields by dotted name::

    cfg = PretrainConfig.preset("tiny").override({"optim.lr": 1e-3, "data.path": "corpus/"})

Presets:

* ``tiny``: a CPU smoke/demo model (64-channel conv stack, 4 x 192 transformer, 2 s crops, k-means
  log-mel/chroma teacher) that trains 300 steps in a few minutes on 2 cores (one intra-op thread:
  faster than two on a shared machine). Deviates from MERT in size, crop length, teacher, dropout,
  learning rate, CQT target compression, features penalty, loss terms and the channel-LayerNorm conv
  front end (documented in docs/pretrain.md).
* ``small``: a larger CPU model (6 x 256, 4 s crops, EnCodec teacher) for longer CPU runs.
* ``95m``: MERT-v1-95M as in ``MERT_RVQ-VAE_CQT_95M.yaml`` (post-LN, lr 5e-4, clip 10, dropout 0.1,
  layerdrop 0.05, feature grad x0.1, final_dim 64, 5 s crops, fp16, 16 clips per GPU).
* ``330m``: MERT-v1-330M as in ``MERT_RVQ-VAE_CQT_330M.yaml`` (pre-LN, attention relaxation 32,
  lr 1.5e-3, clip 1, 8x accumulation, no dropout, final_dim 128, 5.12 s crops, fp16, 7 clips per
  GPU, noise segments 0.5-1.5 s, FSDP when distributed).

Units: seconds for durations, Hz for rates, steps for schedule lengths.
"""
from __future__ import annotations

import ast
import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mertbench.constants import HOP, SAMPLE_RATE
from mertbench.errors import SpecError
from mertbench.models.mert.config import MertConfig

PRESETS = ("tiny", "small", "95m", "330m")


@dataclass
class ModelSection(MertConfig):
    """Encoder geometry and regularisation: :class:`MertConfig` itself, with pretraining defaults.

    Every field is MertConfig's (one list of fields, no copy); only the defaults of a MERT-95M
    *pretraining* run differ from an inference config: feature gradient x0.1 (MERT's
    ``feature_grad_mult``). The HF ``extra`` dict is not part of a pretraining config.
    """

    feature_grad_mult: float = 0.1

    def to_mert_config(self) -> MertConfig:
        """The plain :class:`MertConfig` of these fields."""
        return MertConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(MertConfig)
                             if f.name != "extra"})


#: fields of a section that are not configuration (ModelSection inherits MertConfig's HF ``extra``)
_NOT_CONFIG = {"model": ("extra",)}


@dataclass
class TeacherSection:
    """Which discrete targets the model predicts at masked frames."""

    kind: str = "encodec"  # encodec | kmeans | none
    # EnCodec: "auto" (local HF cache, then the hub when reachable, else the offline fallback),
    # "random" (the offline fallback), a local directory, or a hub id.
    encodec_source: str = "auto"
    encodec_bandwidth: float = 6.0  # kbps; 6.0 = 8 codebooks of 1024 codes
    random_seed: int = 0  # seed of the offline fallback's random weights and projections
    kmeans_features: str = "logmel_chroma"  # logmel_chroma | mfcc | logmel_chroma_mfcc
    kmeans_clusters: tuple[int, ...] = (300, 200)  # per feature set (mfcc: one value; all three: three)
    kmeans_combine: str = "product"  # product (one codebook of 300*200 classes) | parallel
    kmeans_n_init: int = 20
    kmeans_batch_size: int = 10000
    kmeans_model: str = ""  # folder of a saved k-means teacher to reuse ("" = fit or reuse cached)
    fit_fraction: float = 0.1  # fraction of the corpus (by duration) used to fit k-means / stats
    fit_max_frames: int = 500_000  # cap on frames used for fitting
    device: str = "auto"  # where the teacher runs during label precompute


@dataclass
class LossSection:
    """Loss terms and weights (every term can be switched off for ablations)."""

    pred_weight: float = 1.0  # weight of the summed codebook cross-entropies (0 = off)
    cqt: bool = True  # CQT reconstruction term
    cqt_weight: float = 1.0
    features_pen_weight: float = 10.0  # HuBERT feature L2 penalty (0 = off)
    pred_nomask_weight: float = 0.0  # codebook CEs on unmasked frames too (HuBERT pred_nomask_weight; MERT: 0)
    cqt_nomask_weight: float = 0.0  # CQT reconstruction on unmasked frames too (MERT: 0)
    logit_temp: float = 0.1
    label_init_std: float = 0.0  # 0: label embeddings U[0, 1) (fairseq); > 0: N(0, std^2), zero-mean and small
    final_dim: int = 64  # projection size per codebook
    num_special_classes: int = 4  # fairseq dictionary specials: 1024 codes -> 1028 classes
    cqt_bins: int = 336
    cqt_bins_per_octave: int = 48
    cqt_fmin: float = 32.7
    cqt_precompute: bool = False  # True: CQT targets computed once per corpus into the cache
    cqt_impl: str = "grouped"  # grouped (exact, faster) | nnaudio (nnAudio's CQT1992v2 itself)
    cqt_transform: str = "linear"  # linear (MERT: raw magnitude) | log (log1p(magnitude / cqt_log_ref))
    cqt_log_ref: float = 0.01


@dataclass
class MaskSection:
    """Span masking (fairseq ``compute_mask_indices``)."""

    prob: float = 0.8
    length: int = 5
    min_masks: int = 2
    require_same_masks: bool = True


@dataclass
class MixtureSection:
    """In-batch noise mixture; ``prob`` is the probability that a clip is mixed."""

    prob: float = 0.5
    min_segments: int = 1
    max_segments: int = 3
    min_seconds: float = 0.5
    max_seconds: float = 1.0
    volume: float = 1.0


@dataclass
class OptimSection:
    """AdamW, warmup + linear decay, clipping, precision, accumulation."""

    steps: int = 400_000  # optimisation iterations (batches)
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    weight_decay: float = 0.01
    warmup_steps: int = -1  # -1: use warmup_fraction * steps
    warmup_fraction: float = 0.08
    clip_norm: float = 10.0  # global gradient norm (<= 0: no clipping)
    accum: int = 1  # gradient accumulation (fairseq update_freq)
    precision: str = "fp32"  # fp32 | bf16 | fp16 (fp16 uses dynamic loss scaling)
    init_loss_scale: float = 128.0  # fairseq fp16_init_scale
    skip_nonfinite: bool = True  # skip steps whose loss or gradient norm is NaN/inf

    def warmup(self) -> int:
        """Warmup length in steps."""
        return self.warmup_steps if self.warmup_steps >= 0 else int(round(self.warmup_fraction * self.steps))


@dataclass
class DataSection:
    """Where the audio is and how batches are cut."""

    path: str = ""  # audio folder (recursive) or manifest (.tsv fairseq format, or .txt/.csv list)
    crop_seconds: float = 5.0
    min_seconds: float = 3.0  # shorter clips are skipped and counted
    max_hours: float = 0.0  # > 0: use a seeded random subset of at most this many hours
    micro_batch: int = 16  # clips per process per forward
    num_workers: int = 2  # data-loader worker processes
    holdout_clips: int = 0  # corpus clips (chosen by run.seed) never trained on: the online evaluation's held-out set


@dataclass
class RunSection:
    """Output, logging, checkpointing, devices."""

    out: str = "runs/pretrain"
    seed: int = 1337
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    log_every: int = 10
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    export_every: int = 0  # > 0: also export the encoder every this many steps
    stop_after: int = 0  # > 0: stop (after checkpointing) once this many steps ran in this invocation
    resume: bool = False
    distributed: str = "auto"  # auto | ddp | fsdp (used when launched with torchrun)
    dist_timeout_minutes: int = 360
    cache_dir: str = ""  # label cache ("" = $MERTBENCH_CACHE/pretrain)
    tensorboard: bool = True
    progress: bool = True
    threads: int = 0  # > 0: torch.set_num_threads; 0: torch's default; -1: every core, or 1 on a busy machine
    debug_nan_steps: tuple[int, ...] = ()  # inject a NaN loss at these steps (tests of the skip logic)
    # online evaluation (mertbench.pretrain.online_eval): every eval_every steps and at step 0
    eval_every: int = 0  # 0 = off
    eval_probe_tasks: tuple[str, ...] = ("render-pitch", "render-key")  # multiclass/key tasks, valid split
    eval_probe_train: int = 256  # at most this many training examples per probe task
    eval_probe_valid: int = 96  # at most this many validation examples per probe task
    eval_probe_seconds: float = 4.0  # first seconds of each probe example


@dataclass
class PretrainConfig:
    """The whole pretraining configuration."""

    preset: str = "95m"
    model: ModelSection = field(default_factory=ModelSection)
    teacher: TeacherSection = field(default_factory=TeacherSection)
    loss: LossSection = field(default_factory=LossSection)
    mask: MaskSection = field(default_factory=MaskSection)
    mixture: MixtureSection = field(default_factory=MixtureSection)
    optim: OptimSection = field(default_factory=OptimSection)
    data: DataSection = field(default_factory=DataSection)
    run: RunSection = field(default_factory=RunSection)

    # ------------------------------------------------------------------ construction
    @classmethod
    def _from_preset(cls, name: str) -> "PretrainConfig":
        """The configuration of preset ``name`` (tiny, small, 95m, 330m); public as ``PretrainConfig.preset``."""
        key = name.lower().replace("mert-", "")
        if key not in _PRESET_OVERRIDES:
            raise SpecError(f"unknown pretraining preset {name!r}; choose one of {', '.join(PRESETS)}")
        cfg = cls(preset=key)
        return cfg.override(_PRESET_OVERRIDES[key])

    def override(self, items: dict[str, Any] | list[str]) -> "PretrainConfig":
        """A copy with dotted fields replaced: ``{"optim.lr": 1e-3}`` or ``["optim.lr=1e-3"]``.

        String values are parsed to the field's type (ints, floats, bools, tuples ``64,64`` or
        ``(64, 64)``). Unknown fields raise :class:`SpecError` naming the field and the choices.
        """
        if isinstance(items, list):
            parsed: dict[str, Any] = {}
            for item in items:
                key, sep, value = item.partition("=")
                if not sep:
                    raise SpecError(f"override {item!r}: expected KEY=VALUE, e.g. optim.lr=1e-3")
                parsed[key.strip()] = value.strip()
            items = parsed
        cfg = self.from_dict(self.to_dict())
        for key, value in items.items():
            section_name, _, attr = key.partition(".")
            if not attr:
                if key == "preset":
                    cfg.preset = str(value)
                    continue
                raise SpecError(f"override {key!r}: use SECTION.FIELD, sections: {', '.join(_SECTIONS)}")
            if section_name not in _SECTIONS:
                raise SpecError(f"override {key!r}: unknown section {section_name!r}; "
                                f"sections: {', '.join(_SECTIONS)}")
            section = getattr(cfg, section_name)
            hints = _hints(section_name, section)
            if attr not in hints:
                names = list(hints)
                raise SpecError(f"override {key!r}: unknown field {attr!r} in section {section_name!r}; "
                                f"fields: {', '.join(names)}")
            setattr(section, attr, _coerce(key, value, hints[attr]))
        return cfg

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        d = json.loads(json.dumps(dataclasses.asdict(self)))
        for section, names in _NOT_CONFIG.items():
            for name in names:
                d[section].pop(name, None)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PretrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`SpecError`."""
        cfg = cls(preset=str(data.get("preset", "95m")))
        for name, values in data.items():
            if name == "preset":
                continue
            if name not in _SECTIONS:
                raise SpecError(f"config: unknown section {name!r}; sections: {', '.join(_SECTIONS)}")
            section = getattr(cfg, name)
            hints = _hints(name, section)
            for attr, value in dict(values).items():
                if attr not in hints:
                    raise SpecError(f"config: unknown field {name}.{attr}")
                setattr(section, attr, _coerce(f"{name}.{attr}", value, hints[attr]))
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> "PretrainConfig":
        """Read a config written by :meth:`save` (or a hand-written JSON/YAML with the same keys)."""
        path = Path(path)
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
        if isinstance(data, dict) and "config" in data and "preset" not in data:
            data = data["config"]
        return cls.from_dict(data)

    def validate(self) -> "PretrainConfig":
        """Check value ranges; raise :class:`SpecError` naming the field and the fix."""
        def bad(field_name: str, problem: str) -> None:
            raise SpecError(f"pretrain config: {field_name} {problem}")

        if self.teacher.kind not in ("encodec", "kmeans", "none"):
            bad("teacher.kind", f"is {self.teacher.kind!r}; use encodec, kmeans or none")
        if self.teacher.kmeans_features not in ("logmel_chroma", "mfcc", "logmel_chroma_mfcc"):
            bad("teacher.kmeans_features",
                f"is {self.teacher.kmeans_features!r}; use logmel_chroma, mfcc or logmel_chroma_mfcc")
        if self.teacher.kmeans_combine not in ("product", "parallel"):
            bad("teacher.kmeans_combine", "must be product or parallel")
        want = {"logmel_chroma": 2, "mfcc": 1, "logmel_chroma_mfcc": 3}.get(self.teacher.kmeans_features, 1)
        if self.teacher.kind == "kmeans" and len(self.teacher.kmeans_clusters) != want:
            bad("teacher.kmeans_clusters", f"needs {want} value(s) for features {self.teacher.kmeans_features}")
        if self.teacher.kind == "none" and not self.loss.cqt:
            bad("teacher.kind", "is none and loss.cqt is off: nothing to learn; enable one of them")
        if self.teacher.kind != "none" and self.loss.pred_weight <= 0 and not self.loss.cqt:
            bad("loss.pred_weight", "is 0 and loss.cqt is off: nothing to learn")
        if self.loss.cqt_impl not in ("grouped", "nnaudio"):
            bad("loss.cqt_impl", f"is {self.loss.cqt_impl!r}; use grouped or nnaudio")
        if self.loss.cqt_transform not in ("linear", "log"):
            bad("loss.cqt_transform", f"is {self.loss.cqt_transform!r}; use linear or log")
        if self.run.threads < -1:
            bad("run.threads", "must be -1 (automatic), 0 (torch's default) or a thread count")
        if self.loss.cqt_log_ref <= 0:
            bad("loss.cqt_log_ref", "must be > 0")
        if self.optim.precision not in ("fp32", "bf16", "fp16"):
            bad("optim.precision", f"is {self.optim.precision!r}; use fp32, bf16 or fp16")
        if self.optim.steps < 1:
            bad("optim.steps", "must be >= 1")
        if self.optim.accum < 1:
            bad("optim.accum", "must be >= 1")
        if self.data.micro_batch < 1:
            bad("data.micro_batch", "must be >= 1")
        if self.data.crop_seconds <= 0:
            bad("data.crop_seconds", "must be > 0")
        if not 0 <= self.mask.prob <= 1:
            bad("mask.prob", "must be in [0, 1]")
        if self.mask.prob == 0 and self.loss.pred_nomask_weight <= 0 and not (self.loss.cqt and self.loss.cqt_nomask_weight > 0):
            bad("mask.prob", "is 0 (no frame masked) and the unmasked-frame terms are off (loss.pred_nomask_weight): "
                "nothing to learn")
        if not 0 <= self.mixture.prob <= 1:
            bad("mixture.prob", "must be in [0, 1]")
        if self.mixture.min_segments > self.mixture.max_segments or self.mixture.min_segments < 0:
            bad("mixture.min_segments", "must be >= 0 and <= mixture.max_segments")
        if self.mixture.min_seconds > self.mixture.max_seconds or self.mixture.min_seconds <= 0:
            bad("mixture.min_seconds", "must be > 0 and <= mixture.max_seconds")
        if self.data.holdout_clips < 0:
            bad("data.holdout_clips", "must be >= 0")
        if self.run.eval_every < 0:
            bad("run.eval_every", "must be >= 0 (0 = no online evaluation)")
        if self.run.eval_probe_train < 2 or self.run.eval_probe_valid < 1 or self.run.eval_probe_seconds <= 0:
            bad("run.eval_probe_train", "needs >= 2 training and >= 1 validation examples of > 0 s")
        if self.run.distributed not in ("auto", "ddp", "fsdp"):
            bad("run.distributed", "must be auto, ddp or fsdp")
        m = self.model
        if not (len(m.conv_dim) == len(m.conv_kernel) == len(m.conv_stride)):
            bad("model.conv_dim", "conv_dim, conv_kernel and conv_stride must have the same length")
        if m.total_stride != HOP:
            bad("model.conv_stride", f"multiplies to {m.total_stride}; MERT needs {HOP} (75 Hz frames at 24 kHz)")
        if m.sample_rate != SAMPLE_RATE:
            bad("model.sample_rate", f"is {m.sample_rate}; MERT-v1 and its teachers work at {SAMPLE_RATE} Hz")
        if m.hidden_size % m.num_attention_heads:
            bad("model.hidden_size", "must be divisible by model.num_attention_heads")
        if m.hidden_size % m.num_conv_pos_embedding_groups:
            bad("model.hidden_size", "must be divisible by model.num_conv_pos_embedding_groups")
        if self.data.crop_seconds > 0 and m.num_frames(int(self.data.crop_seconds * SAMPLE_RATE)) < 2 * self.mask.length:
            bad("data.crop_seconds", "is too short for the mask span length")
        return self


# ``PretrainConfig.preset(name)`` shares its name with the ``preset`` field. Bound after the dataclass is
# built, so the field keeps its default ("95m") for ``PretrainConfig()``; instances read the field.
PretrainConfig.preset = PretrainConfig._from_preset  # type: ignore[assignment,method-assign]

_SECTIONS = ("model", "teacher", "loss", "mask", "mixture", "optim", "data", "run")


def _hints(section_name: str, section: Any) -> dict[str, Any]:
    """Field name -> type of a config section (fields that are not configuration left out)."""
    hints = typing.get_type_hints(type(section))
    return {k: v for k, v in hints.items() if k not in _NOT_CONFIG.get(section_name, ())
            and k in {f.name for f in dataclasses.fields(section)}}


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Convert ``value`` (possibly a string from the command line) to the type ``hint``."""
    origin = typing.get_origin(hint)
    if isinstance(value, str) and hint is not str:
        text = value.strip()
        if hint is bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise SpecError(f"override {key}: {value!r} is not a boolean (use true/false)")
        if origin is tuple:
            if text in ("", "()"):
                return ()
            if typing.get_args(hint)[:1] == (str,) and not text.startswith(("(", "[")):
                return tuple(part.strip() for part in text.split(",") if part.strip())  # a,b,c
            try:
                value = ast.literal_eval(text if text.startswith(("(", "[")) else f"({text},)")
            except (ValueError, SyntaxError) as exc:
                raise SpecError(f"override {key}: cannot parse {value!r} as a tuple, e.g. 64,64,64") from exc
        else:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError) as exc:
                raise SpecError(f"override {key}: cannot parse {value!r} as {getattr(hint, '__name__', hint)}") from exc
    try:
        if hint is bool:
            if not isinstance(value, (bool, int)):
                raise TypeError
            return bool(value)
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise TypeError
            if isinstance(value, bool):
                raise TypeError
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if hint is str:
            return str(value)
        if origin is tuple:
            args = typing.get_args(hint)
            items = list(value)
            elem = args[0] if args else Any
            return tuple(_coerce(key, v, elem) if elem is not Any else v for v in items)
        if isinstance(hint, types.UnionType) or origin is typing.Union:
            return value
    except (TypeError, ValueError) as exc:
        raise SpecError(f"config field {key}: {value!r} is not a valid {getattr(hint, '__name__', hint)}") from exc
    return value


# Conv stack of the tiny/small presets: same kernels and strides as MERT (75 Hz at 24 kHz),
# narrower channels (the 512-channel stack dominates the CPU cost at 24 kHz).
_TINY_CONV = (64, 64, 64, 64, 64, 64, 64)
# tiny's first conv layer reads 400 samples (16.7 ms at 24 kHz) instead of 10, with MERT's stride 5
# (frame rate unchanged, 75 Hz): a 64-channel stack of 10-sample kernels cannot resolve pitch classes,
# and neither the pretrained nor the random-init model then knows anything about key (docs/pretrain.md).
_TINY_KERNEL = (400, 3, 3, 3, 3, 2, 2)
_SMALL_CONV = (128, 128, 128, 128, 128, 128, 128)

# The CPU presets' recipe (measured on the rendered corpus, see docs/pretrain.md): no dropout, full
# gradient into the conv stack, a log-compressed CQT target and no features penalty. With MERT's
# linear-magnitude target the CQT head does not beat the per-bin mean within a few hundred steps,
# and the features penalty drives the conv stack's GELU outputs to zero.
_CPU_RECIPE: dict[str, Any] = {
    "model.hidden_dropout": 0.0, "model.attention_dropout": 0.0, "model.activation_dropout": 0.0,
    "model.feat_proj_dropout": 0.0, "model.layerdrop": 0.0, "model.feature_grad_mult": 1.0,
    "loss.cqt_precompute": True, "loss.cqt_transform": "log", "loss.features_pen_weight": 0.0,
}

_PRESET_OVERRIDES: dict[str, dict[str, Any]] = {
    "tiny": {
        **_CPU_RECIPE,
        "model.hidden_size": 192, "model.num_hidden_layers": 4, "model.num_attention_heads": 4,
        "model.intermediate_size": 768, "model.conv_dim": _TINY_CONV, "model.conv_kernel": _TINY_KERNEL,
        "teacher.kind": "kmeans", "teacher.kmeans_combine": "parallel", "teacher.kmeans_n_init": 3,
        "teacher.fit_max_frames": 100_000,
        "loss.final_dim": 32,
        # the tiny recipe (docs/pretrain.md, "A tiny recipe that learns"): no CQT term, HuBERT's
        # unmasked-frame term on, and the channel-LayerNorm conv front end (HuBERT-large's `layer_norm`
        # extractor mode), which keeps each clip's per-channel levels that MERT's GroupNorm erases
        "loss.cqt": False, "loss.pred_nomask_weight": 1.0, "model.feat_extract_norm": "layer",
        "optim.steps": 300, "optim.lr": 1e-3, "optim.warmup_fraction": 0.1, "optim.clip_norm": 10.0,
        "data.crop_seconds": 2.0, "data.micro_batch": 8, "data.num_workers": 1, "data.max_hours": 1.0,
        "data.holdout_clips": 12,
        "run.out": "runs/tiny", "run.log_every": 10, "run.checkpoint_every": 100, "run.threads": -1,
        "run.eval_every": 500,
    },
    "small": {
        **_CPU_RECIPE,
        "model.hidden_size": 256, "model.num_hidden_layers": 6, "model.num_attention_heads": 4,
        "model.intermediate_size": 1024, "model.conv_dim": _SMALL_CONV,
        "teacher.kind": "encodec", "teacher.fit_max_frames": 200_000,
        "loss.final_dim": 64,
        "optim.steps": 3000, "optim.lr": 1e-3, "optim.warmup_fraction": 0.08,
        "data.crop_seconds": 4.0, "data.micro_batch": 8, "data.num_workers": 2,
        "run.out": "runs/small", "run.log_every": 20, "run.checkpoint_every": 500,
    },
    "95m": {
        "optim.steps": 400_000, "optim.lr": 5e-4, "optim.warmup_steps": 32_000, "optim.clip_norm": 10.0,
        "optim.precision": "fp16", "optim.accum": 1,
        "loss.final_dim": 64,
        "data.crop_seconds": 5.0, "data.micro_batch": 16, "data.num_workers": 6,
        "run.out": "runs/mert-95m", "run.log_every": 100, "run.checkpoint_every": 25_000,
    },
    "330m": {
        "model.hidden_size": 1024, "model.num_hidden_layers": 24, "model.num_attention_heads": 16,
        "model.intermediate_size": 4096, "model.do_stable_layer_norm": True, "model.attention_relax": 32.0,
        "model.hidden_dropout": 0.0, "model.attention_dropout": 0.0, "model.activation_dropout": 0.0,
        "model.feat_proj_dropout": 0.0, "model.layerdrop": 0.0, "model.feature_grad_mult": 1.0,
        "loss.final_dim": 128,
        "mixture.max_seconds": 1.5,
        "optim.steps": 400_000, "optim.lr": 1.5e-3, "optim.warmup_steps": 32_000, "optim.clip_norm": 1.0,
        "optim.precision": "fp16", "optim.accum": 8,
        "data.crop_seconds": 5.12, "data.micro_batch": 7, "data.num_workers": 6,
        "run.out": "runs/mert-330m", "run.log_every": 100, "run.checkpoint_every": 5000,
        "run.distributed": "fsdp",
    },
}
