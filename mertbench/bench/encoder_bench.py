"""``mertbench bench encoder``: our MERT encoder vs transformers ``HubertModel``, same weights, same run.

Both models get identical weights (ours randomly initialised with the fairseq init at a fixed
seed, copied into a transformers ``HubertModel`` built from the same geometry) and identical
inputs. Each timed call extracts all hidden states as one ``[L, B, T, D]`` tensor: ours through
:class:`~mertbench.models.mert.MertEncoder`, the reference as ``torch.stack(model(x,
output_hidden_states=True).hidden_states)`` (the usage of the MERT model card). Both run under
``torch.inference_mode()`` with transformers' SDPA attention. After a warm-up, each repeat times one
call of each (which goes first alternates), and the figure is the median over repeats of the
per-pair ratio of audio-seconds per second (ours / reference), which is robust to load changes on
shared machines. For bf16/fp16 both outputs are also compared with the fp32 reference.

Correctness is printed next to every timing: the max absolute difference over all hidden states
(for pre-LN geometries the reference's ``last_hidden_state`` is compared with our last state, see
:mod:`mertbench.models.mert`).

Options (``-o KEY=VALUE``): ``geometry`` (``mert-95m`` | ``mert-330m`` | ``small`` | ``toy``),
``batch`` (``"4,1"``: batch sizes; the first gives the headline, batched extraction being how
``mertbench extract`` runs), ``seconds`` (5.0 per clip, MERT's training crop), ``repeats`` (5),
``warmup`` (1), ``threads`` (torch default), ``dtypes`` (``"fp32,bf16"``), ``devices`` (``"cpu"``
plus ``"cuda"`` when available), ``seed`` (0). The default run takes about 1-2 minutes on 2 CPU
cores; ``repeats=2 batch=1`` or ``geometry=small`` shorten it.
"""
from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from mertbench.bench import BenchResult, register_benchmark

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def hf_reference(model: Any) -> Any:
    """A transformers ``HubertModel`` with the geometry and weights of our ``MertModel``."""
    from transformers import HubertConfig, HubertModel

    cfg = model.config
    hc = HubertConfig(
        hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads, intermediate_size=cfg.intermediate_size,
        conv_dim=list(cfg.conv_dim), conv_kernel=list(cfg.conv_kernel), conv_stride=list(cfg.conv_stride),
        conv_bias=cfg.conv_bias, feat_extract_norm=cfg.feat_extract_norm,
        num_conv_pos_embeddings=cfg.num_conv_pos_embeddings,
        num_conv_pos_embedding_groups=cfg.num_conv_pos_embedding_groups,
        do_stable_layer_norm=cfg.do_stable_layer_norm, layer_norm_eps=cfg.layer_norm_eps,
        mask_time_prob=0.05, attn_implementation="sdpa")
    ref = HubertModel(hc).eval()
    own = ref.state_dict()
    sd = {}
    for k, v in model.state_dict().items():
        if k.endswith("pos_conv_embed.conv.weight_g") and k not in own:
            k = k.replace("weight_g", "parametrizations.weight.original0")
        elif k.endswith("pos_conv_embed.conv.weight_v") and k not in own:
            k = k.replace("weight_v", "parametrizations.weight.original1")
        sd[k] = v
    missing, unexpected = ref.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"weight transfer to HubertModel failed: missing {missing}, unexpected {unexpected}")
    return ref


def reference_states(ref: Any, wav: torch.Tensor, pre_ln: bool) -> torch.Tensor:
    """``[L, B, T, D]`` from transformers, with the MERT (transformers 4.x) last-state convention."""
    out = ref(wav, output_hidden_states=True)
    states = list(out.hidden_states)
    if pre_ln:
        states[-1] = out.last_hidden_state
    return torch.stack(states)


def _busy_note() -> str | None:
    """A warning when other processes compete for the CPU (timings with >1 thread then stall on
    OpenMP barriers, which hits the implementation issuing more parallel regions harder)."""
    import os

    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    cores = os.cpu_count() or 1
    if load > cores + 0.5:
        return (f"CPU busy (1-min load {load:.1f} on {cores} cores): multi-threaded timings are unreliable; "
                f"rerun on an idle machine or with -o threads=1")
    return None


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _measure(ours: Any, ref: Any, wav: torch.Tensor, pre_ln: bool, repeats: int, warmup: int,
             device: str, exact: torch.Tensor | None = None) -> dict[str, Any]:
    audio_s = wav.shape[0] * wav.shape[1] / ours.sample_rate
    with torch.inference_mode():
        a = ours(wav)
        b = reference_states(ref, wav, pre_ln)
        for _ in range(warmup - 1):
            ours(wav)
            reference_states(ref, wav, pre_ln)
        diff = float((a.float() - b.float()).abs().max())
        scale = float(b.float().abs().max())
        if exact is not None:  # low precision: each implementation against the fp32 reference
            exact = exact.to(a.device)
            vs_exact = (float((a.float() - exact).abs().max()), float((b.float() - exact).abs().max()))
        t_ours, t_ref, ratios = [], [], []
        runners = {"ours": lambda: ours(wav), "ref": lambda: reference_states(ref, wav, pre_ln)}
        for i in range(repeats):  # alternate which one goes first, so neither always runs second
            times = {}
            for who in (("ours", "ref") if i % 2 == 0 else ("ref", "ours")):
                _sync(device)
                t = time.perf_counter()
                runners[who]()
                _sync(device)
                times[who] = time.perf_counter() - t
            t_ours.append(times["ours"])
            t_ref.append(times["ref"])
            ratios.append(times["ref"] / times["ours"])
    return {"ours_audio_s_per_s": audio_s / statistics.median(t_ours),
            "ref_audio_s_per_s": audio_s / statistics.median(t_ref),
            "ratio": statistics.median(ratios), "max_abs_diff": diff, "max_abs_ref": scale,
            "vs_fp32": vs_exact if exact is not None else None}


@register_benchmark("encoder", "MERT hidden-state extraction: mertbench encoder vs transformers HubertModel "
                               "(same weights/inputs; audio-s/s ratio, max diff)")
def encoder_bench(geometry: str = "mert-95m", batch: int | str = "4,1", seconds: float = 5.0, repeats: int = 5,
                  warmup: int = 1, threads: int | None = None, dtypes: str = "fp32,bf16",
                  devices: str | None = None, seed: int = 0) -> BenchResult:
    """Run the comparison; the headline figure is the CPU fp32 ratio (ours / reference)."""
    import transformers

    from mertbench.models.mert import MertEncoder, random_mert
    from mertbench.progress import progress_bar
    from mertbench.provenance import device_description

    if threads:
        torch.set_num_threads(int(threads))
    enc: MertEncoder = random_mert(geometry, seed=seed, window_s=None)
    model = enc.model
    pre_ln = model.config.do_stable_layer_norm
    ref = hf_reference(model)
    if devices is None:
        devices = "cpu,cuda" if torch.cuda.is_available() else "cpu"
    dev_list = [d.strip() for d in str(devices).split(",") if d.strip()]
    dt_list = [d.strip() for d in str(dtypes).split(",") if d.strip()]
    batches = [int(b) for b in str(batch).split(",") if str(b).strip()]
    gen = torch.Generator().manual_seed(seed)
    wav_all = torch.randn(max(batches), int(round(seconds * enc.sample_rate)), generator=gen) * 0.1
    details: dict[str, Any] = {
        "geometry": f"{geometry} ({model.config.num_parameters():,} parameters, "
                    f"{'pre' if pre_ln else 'post'}-LN)",
        "input": f"batch {' and '.join(map(str, batches))} x {seconds:g} s at {enc.sample_rate} Hz",
        "timing": f"median of {repeats} alternating pairs after {warmup} warm-up, torch.inference_mode",
        "versions": f"torch {torch.__version__}, transformers {transformers.__version__}",
        "threads": torch.get_num_threads(),
    }
    exact: dict[int, torch.Tensor] = {}
    if any(t != "fp32" for t in dt_list):
        with torch.inference_mode():
            for b in batches:
                exact[b] = reference_states(ref, wav_all[:b], pre_ln).float()
    headline = None
    runs = [(d, t, b) for d in dev_list for t in dt_list for b in batches]
    with progress_bar(transient=True) as bar:
        task = bar.add_task("bench encoder", total=len(runs))
        for dev, dt, b in runs:
            key = f"{dev} {dt} batch {b}"
            if dev == "cuda" and not torch.cuda.is_available():
                details[key] = "skipped: CUDA not available"
                bar.advance(task)
                continue
            if dt not in _DTYPES:
                details[key] = f"skipped: unknown dtype (use {sorted(_DTYPES)})"
                bar.advance(task)
                continue
            dtype = _DTYPES[dt]
            try:
                model.to(device=dev, dtype=dtype)
                ref.to(device=dev, dtype=dtype)
                wav = wav_all[:b].to(device=dev, dtype=dtype)
                r = _measure(enc, ref, wav, pre_ln, int(repeats), max(1, int(warmup)), dev,
                             exact.get(b) if dt != "fp32" else None)
            except (RuntimeError, NotImplementedError) as exc:  # dtype unsupported on this device
                details[key] = f"skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}"
                bar.advance(task)
                continue
            details[key] = (f"ours {r['ours_audio_s_per_s']:.1f} audio-s/s, transformers {r['ref_audio_s_per_s']:.1f} "
                            f"audio-s/s, ratio {r['ratio']:.2f}x, max |diff| {r['max_abs_diff']:.2e} "
                            f"(max |h| {r['max_abs_ref']:.1f})"
                            + (f"; vs fp32 transformers: ours {r['vs_fp32'][0]:.2e}, transformers {r['vs_fp32'][1]:.2e}"
                               if r["vs_fp32"] else ""))
            if headline is None and dt == "fp32" and b == batches[0] and (dev == "cpu" or "cpu" not in dev_list):
                headline = (r, dev, b)
            bar.advance(task)
    model.to(device="cpu", dtype=torch.float32)
    details["device"] = device_description("cpu")
    busy = _busy_note() if torch.get_num_threads() > 1 else None
    if busy:
        details["warning"] = busy
    if headline is None:
        return BenchResult(float("nan"), "x (no fp32 run completed; see details)", details)
    r, dev, b = headline
    return BenchResult(r["ratio"],
                       f"x audio-seconds/s, mertbench MERT vs transformers HubertModel ({geometry}, "
                       f"{dev.upper()} fp32, batch {b} x {seconds:g} s); max |diff| {r['max_abs_diff']:.1e}",
                       details)
