"""The MERT pretraining loop, in one readable file.

``train(config) -> Path`` runs the whole job and returns the folder of the exported encoder:

1. join the torchrun process group if there is one; pick the device;
2. index the corpus (short/unreadable clips skipped and counted);
3. build the teacher, fit it if needed, precompute labels (and CQT targets) into the cache;
4. build encoder + heads, AdamW, warmup/linear-decay schedule, loss scaler; resume if asked;
5. loop: per step, ``accum`` micro-batches per process -> forward on masked audio -> loss
   (summed codebook CEs + CQT MSE + features penalty, normalised by the step's masked-frame count
   across processes) -> backward -> unscale, clip, skip if non-finite -> AdamW step;
   log metrics, checkpoint, export;
6. export the final encoder (HF MERT-v1 folder).

Determinism: every micro-batch (clips, crops, mixture, masks) and the dropout RNG of its forward
are functions of ``(seed, step, micro-batch index)``, so a resumed run repeats an uninterrupted run
step for step on CPU, and K processes equal one process with K-fold accumulation.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mertbench.constants import HOP, SAMPLE_RATE
from mertbench.errors import SpecError
from mertbench.io import atomic_write_text
from mertbench.pretrain import checkpoint as ckpt
from mertbench.pretrain import distributed as dist_utils
from mertbench.pretrain.config import PretrainConfig
from mertbench.pretrain.curves import write_eval_curves
from mertbench.pretrain.data import Corpus, MicroBatches, MicroBatchKeys, make_loader
from mertbench.pretrain.heads import MertPretrainingModel
from mertbench.pretrain.losses import transform_cqt_target
from mertbench.pretrain.online_eval import EvalSettings, OnlineEval, holdout_split, summary_line
from mertbench.progress import console, progress_bar


def lr_factor(update: int, warmup: int, total: int) -> float:
    """Multiplier of the peak LR for 0-based update ``update``: linear warmup, then linear decay to 0.

    fairseq ``polynomial_decay`` (power 1, end LR 0): update ``u < warmup`` uses ``(u + 1) / warmup``;
    afterwards ``(total - u) / (total - warmup)``.
    """
    if warmup > 0 and update < warmup:
        return (update + 1) / warmup
    if total <= warmup:
        return 1.0
    return max(0.0, (total - update) / (total - warmup))


def _micro_seed(seed: int, step: int, g: int) -> int:
    return int(np.random.SeedSequence([seed, step, g, 0x5EED]).generate_state(1)[0])


class StepSums:
    """Named sums of one step's loss terms and counters (summed over micro-batches, then processes)."""

    def __init__(self, codebooks: int) -> None:
        self.k = codebooks
        names = ["loss", "pred", "cqt", "pen", "mixed", "pred_nomask", "cqt_nomask", "masked", "frames",
                 "audio_s", "clips"]
        names += [f"ce_{i}" for i in range(codebooks)] + [f"correct_{i}" for i in range(codebooks)]
        self.values = dict.fromkeys(names, 0.0)

    def add(self, terms: Any, mb: dict[str, Any], wav: torch.Tensor, mask: torch.Tensor, nan: bool = False) -> None:
        """Add one micro-batch: ``terms`` (:class:`LossTerms`), its batch dict, input and mask."""
        v, m = self.values, terms.num_masked
        v["loss"] += float("nan") if nan else float(terms.total.detach())
        v["pred"] += sum(terms.ce)
        v["cqt"] += terms.cqt_mse * m
        v["pen"] += terms.features_pen * m
        v["mixed"] += mb["mixed"]
        for i, (ce, correct) in enumerate(zip(terms.ce, terms.correct)):
            v[f"ce_{i}"] += ce
            v[f"correct_{i}"] += correct
        v["pred_nomask"] += sum(terms.ce_nomask)
        v["cqt_nomask"] += terms.cqt_mse_nomask * terms.num_unmasked
        v["masked"] += float(mask.sum())
        v["frames"] += mask.numel()
        v["audio_s"] += wav.shape[0] * wav.shape[1] / SAMPLE_RATE
        v["clips"] += wav.shape[0]

    def all_reduce(self, dist: dist_utils.DistInfo) -> dict[str, float]:
        """The sums over all processes, by name."""
        summed = dist_utils.all_reduce_sum(torch.tensor(list(self.values.values()), dtype=torch.float64), dist)
        return dict(zip(self.values, (float(x) for x in summed)))

    def per_frame(self, t: dict[str, float]) -> dict[str, float]:
        """metrics.csv values: loss terms per masked (or unmasked) frame, fractions per clip or frame."""
        n, k = max(t["masked"], 1.0), self.k
        unmasked = max(t["frames"] - t["masked"], 1.0)
        return {
            "loss_pred": t["pred"] / n, "loss_cqt": t["cqt"] / n, "features_pen": t["pen"] / n,
            "acc": sum(t[f"correct_{i}"] for i in range(k)) / (n * k) if k else float("nan"),
            **{f"ce_{i}": t[f"ce_{i}"] / n for i in range(k)},
            **{f"acc_{i}": t[f"correct_{i}"] / n for i in range(k)},
            "loss_pred_nomask": t["pred_nomask"] / unmasked, "loss_cqt_nomask": t["cqt_nomask"] / unmasked,
            "mixed_frac": t["mixed"] / max(t["clips"], 1.0), "masked_frac": t["masked"] / max(t["frames"], 1.0),
            "crop_s": t["audio_s"] / max(t["clips"], 1.0),
        }


class _Log:
    """Console (rank 0) + ``train.log`` lines."""

    def __init__(self, path: Path | None, enabled: bool) -> None:
        self.path, self.enabled = path, enabled

    def __call__(self, msg: str) -> None:
        if not self.enabled:
            return
        console.print(msg, highlight=False, markup=False)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")


def train(config: PretrainConfig) -> Path:
    """Run pretraining as configured; return the folder of the final exported encoder."""
    cfg = config.validate()
    info = dist_utils.setup(cfg.run.device, cfg.run.dist_timeout_minutes)
    threads = torch.get_num_threads()
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    elif cfg.run.threads == -1:  # every core, unless other work already keeps them busy
        from mertbench.threads import worker_threads

        torch.set_num_threads(worker_threads())
    try:
        return _train(cfg, info)
    finally:
        torch.set_num_threads(threads)
        dist_utils.cleanup(info)


def _train(cfg: PretrainConfig, dist: dist_utils.DistInfo) -> Path:  # noqa: C901 (the loop, on purpose in one place)
    from mertbench.models.mert import MertModel
    from mertbench.paths import cache_root
    from mertbench.pretrain.cqt import CQTSettings, CQTTarget, NnAudioCQT
    from mertbench.pretrain.export import RUN_MARKER, export_encoder
    from mertbench.pretrain.teachers import build_teacher
    from mertbench.pretrain.teachers.cache import prepare_targets
    from mertbench.provenance import config_hash, provenance

    t_start = time.time()
    out = Path(cfg.run.out).expanduser()
    ckpt_dir = out / "checkpoints"
    main = dist.is_main
    if main:
        out.mkdir(parents=True, exist_ok=True)
    log = _Log(out / "train.log" if main else None, main)
    device = dist.device
    if main:  # temporary files of a killed run (a checkpoint or export being written): dead writers only
        from mertbench.io import remove_stale_temps

        for gone in remove_stale_temps(out):
            log(f"removed the leftover temporary file {gone}")

    # ---------------------------------------------------------------- resume or fresh start
    resume_state = None
    latest = ckpt.latest_checkpoint(ckpt_dir)
    if cfg.run.resume and latest is not None:
        resume_state = ckpt.load_checkpoint(latest)
        # fields added since the run started take their defaults (PretrainConfig.from_dict fills them)
        saved = PretrainConfig.from_dict(resume_state["config"]).to_dict()
        diffs = ckpt.config_differences(saved, cfg.to_dict())
        if diffs:
            raise SpecError(f"{out}: cannot resume with a different configuration: {'; '.join(diffs)}. "
                            "Resume with the original settings (only run.* except run.seed, and data.num_workers, may change) "
                            "or start a new run with another --out")
    elif latest is not None:
        raise SpecError(f"{out} already holds a run (checkpoint {latest.name}); pass --resume to continue it "
                        "or choose another --out")
    elif cfg.run.resume:
        log(f"--resume: no checkpoint in {ckpt_dir}; starting from step 0")

    # ---------------------------------------------------------------- data and targets
    corpus = Corpus.scan(cfg.data.path, min_seconds=cfg.data.min_seconds, max_hours=cfg.data.max_hours,
                         seed=cfg.run.seed)
    log(f"corpus {corpus.source}: {corpus.summary()}")
    if main and corpus.skipped:
        atomic_write_text(out / "skipped_clips.txt", "".join(f"{p}\t{why}\n" for p, why in corpus.skipped))
        log(f"skipped clips listed in {out / 'skipped_clips.txt'}")
    teacher_device = dist_utils.resolve_device(cfg.teacher.device, dist.local_rank)
    teacher = build_teacher(cfg.teacher, teacher_device)
    if teacher is not None:
        log(f"teacher: {teacher.name}; codebooks {list(teacher.codebook_sizes)}")
    cqt_settings = CQTSettings(SAMPLE_RATE, HOP, cfg.loss.cqt_fmin, cfg.loss.cqt_bins, cfg.loss.cqt_bins_per_octave)
    cqt_cls = CQTTarget if cfg.loss.cqt_impl == "grouped" else NnAudioCQT
    cqt_module = cqt_cls(cqt_settings).to(device) if cfg.loss.cqt else None
    cache = Path(cfg.run.cache_dir).expanduser() if cfg.run.cache_dir else cache_root() / "pretrain"
    labels, cqt_store, target_info = prepare_targets(
        corpus, teacher, cqt_module if cfg.loss.cqt_precompute else None, cache,
        fit_fraction=cfg.teacher.fit_fraction, teacher_model_dir=cfg.teacher.kmeans_model, seed=cfg.run.seed,
        rank=dist.rank, world=dist.world, device=teacher_device, progress=cfg.run.progress, log=log)
    teacher_identity = teacher.identity() if teacher is not None else None
    del teacher  # free the teacher (EnCodec) before training
    if cfg.loss.cqt_precompute:
        cqt_module = None

    # ---------------------------------------------------------------- model, optimiser, schedule, scaler
    torch.manual_seed(cfg.run.seed)
    encoder = MertModel(cfg.model.to_mert_config())
    encoder.reset_parameters(seed=cfg.run.seed)
    codebooks = tuple(teacher_identity["codebooks"]) if teacher_identity else ()
    model = MertPretrainingModel(encoder, cfg.model.hidden_size, codebooks, final_dim=cfg.loss.final_dim,
                                 num_special=cfg.loss.num_special_classes,
                                 cqt_bins=cfg.loss.cqt_bins if cfg.loss.cqt else 0, logit_temp=cfg.loss.logit_temp,
                                 label_init_std=cfg.loss.label_init_std,
                                 loss_weights={"pred": cfg.loss.pred_weight,
                                               "cqt": cfg.loss.cqt_weight if cfg.loss.cqt else 0.0,
                                               "pen": cfg.loss.features_pen_weight,
                                               "pred_nomask": cfg.loss.pred_nomask_weight,
                                               "cqt_nomask": cfg.loss.cqt_nomask_weight if cfg.loss.cqt else 0.0,
                                               }).to(device)
    crop = int(round(cfg.data.crop_seconds * SAMPLE_RATE)) // HOP * HOP
    model.train()
    step = updates = skipped = 0
    run_info: dict[str, Any] = {
        "format": "mertbench-pretrain-run-v1", "preset": cfg.preset, "config": cfg.to_dict(),
        "config_hash": config_hash(cfg.to_dict()), "teacher": teacher_identity, "targets": target_info,
        "corpus": {"source": corpus.source, "key": corpus.key(), "clips": len(corpus.clips),
                   "hours": round(corpus.hours, 4), "skipped_short": corpus.skipped_short,
                   "skipped_unreadable": corpus.skipped_unreadable, "not_selected": corpus.not_selected,
                   "skipped_bad_samples": len(target_info.get("bad_clips") or {})},
        "world_size": dist.world,
    }

    def export_info(at_step: int, loss: float | None) -> dict[str, Any]:
        return {"step": at_step, "loss": loss, "teacher": teacher_identity["teacher"] if teacher_identity else None,
                "run": str(out), "preset": cfg.preset, "config": cfg.to_dict(),
                "provenance": provenance(config=cfg.to_dict(), seed=cfg.run.seed, device=device)}

    if resume_state is None and main:
        json_text = json.dumps({**run_info, "provenance": provenance(config=cfg.to_dict(), seed=cfg.run.seed,
                                                                      device=device)}, indent=2, default=str)
        (out / RUN_MARKER).write_text(json_text + "\n")
        export_encoder(encoder, out / "export" / "init", export_info(0, None))  # the random-init baseline

    def export(folder: Path, at_step: int, loss: float | None) -> None:
        """Export the encoder (gathered from the shards under FSDP) as an HF MERT-v1 folder."""
        if dist.strategy == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            full = get_model_state_dict(wrapped, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
            if main:
                plain = MertModel(cfg.model.to_mert_config())
                plain.load_state_dict({k[len("encoder."):]: v for k, v in full.items() if k.startswith("encoder.")})
                export_encoder(plain, folder, export_info(at_step, loss))
        elif main:
            export_encoder(model.encoder, folder, export_info(at_step, loss))
        dist_utils.barrier(dist)

    strategy = cfg.run.distributed if cfg.run.distributed != "auto" else "ddp"
    wrapped = dist_utils.wrap(model, dist, strategy)  # before the optimiser: FSDP replaces the parameters
    optimizer = torch.optim.AdamW(wrapped.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas),
                                  eps=cfg.optim.eps, weight_decay=cfg.optim.weight_decay)
    warmup, total = cfg.optim.warmup(), cfg.optim.steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda u: lr_factor(u, warmup, total))
    use_scaler = cfg.optim.precision == "fp16"
    scaler = torch.amp.GradScaler(device.type, init_scale=cfg.optim.init_loss_scale, enabled=use_scaler)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.optim.precision)

    if resume_state is not None:
        dist_utils.load_full_state_dicts(wrapped, optimizer, resume_state["model"], resume_state["optimizer"], dist)
        scheduler.load_state_dict(resume_state["scheduler"])
        scaler.load_state_dict(resume_state["scaler"])
        ckpt.set_rng_state(resume_state["rng"])
        step, updates, skipped = resume_state["step"], resume_state["updates"], resume_state["skipped"]
        log(f"resumed from {latest} at step {step}")
        del resume_state

    # ---------------------------------------------------------------- data loader
    per_step = dist.world * cfg.optim.accum
    train_idx, held_idx = holdout_split(len(corpus.clips), cfg.data.holdout_clips, cfg.run.seed)
    bad_clips = target_info.get("bad_clips") or {}
    if bad_clips:  # found only when decoded in full (NaN/inf samples, damage past the header): left out, listed
        train_idx = [i for i in train_idx if i not in bad_clips]
        held_idx = [i for i in held_idx if i not in bad_clips]
        if main:
            listed = out / "skipped_clips.txt"
            lines = listed.read_text() if listed.is_file() else ""
            lines += "".join(f"{corpus.clips[i].path}\tunreadable samples: {why}\n" for i, why in bad_clips.items()
                             if str(corpus.clips[i].path) not in lines)
            atomic_write_text(listed, lines)
        log(f"{len(bad_clips)} corpus clip(s) left out: their samples could not be decoded (listed in "
            f"{out / 'skipped_clips.txt'})")
    if held_idx:
        log(f"{len(held_idx)} corpus clips held out of training for the online evaluation (data.holdout_clips)")
    dataset = MicroBatches(corpus, micro_batch=cfg.data.micro_batch, per_step=per_step,
                           crop_seconds=cfg.data.crop_seconds, num_frames=cfg.model.num_frames, seed=cfg.run.seed,
                           mask=cfg.mask, mixture=cfg.mixture, labels=labels if cfg.loss.pred_weight > 0 else None,
                           cqt=cqt_store, need_clean=cqt_module is not None, indices=train_idx)
    evaluator = None
    if cfg.run.eval_every > 0 and main and dist.strategy != "fsdp":
        evaluator = OnlineEval(
            EvalSettings(held_idx, crop, tuple(cfg.run.eval_probe_tasks), cfg.run.eval_probe_train,
                         cfg.run.eval_probe_valid, cfg.run.eval_probe_seconds, cfg.run.seed, cfg.data.micro_batch,
                         cfg.mask, codebooks),
            corpus, labels, cfg.model.num_frames, cfg.model.num_hidden_layers, cfg.model.receptive_field, train_idx, log)
    elif cfg.run.eval_every > 0 and main:
        log("online evaluation is not available with FSDP (sharded parameters); run.eval_every ignored")
    last_step = total if cfg.run.stop_after <= 0 else min(total, step + cfg.run.stop_after)
    loader = make_loader(dataset, MicroBatchKeys(step, last_step, dist.rank, dist.world, cfg.optim.accum),
                         cfg.data.num_workers, pin_memory=device.type == "cuda")
    k = len(codebooks)
    columns = (["loss", "loss_pred", "loss_cqt", "features_pen", "acc", "loss_pred_nomask", "loss_cqt_nomask"]
               + [f"ce_{i}" for i in range(k)]
               + [f"acc_{i}" for i in range(k)]
               + ["lr", "grad_norm", "loss_scale", "skipped_total", "mixed_frac", "masked_frac", "crop_s",
                  "step_s", "audio_h_per_h", "wall_s"]
               + (evaluator.columns() if evaluator is not None else []))
    from mertbench.pretrain.metrics import MetricsLogger

    metrics = MetricsLogger(out, columns, resume_step=step if step > 0 else None, tensorboard=cfg.run.tensorboard,
                            enabled=main)
    params = [p for p in wrapped.parameters() if p.requires_grad]
    nomask_terms = cfg.loss.pred_nomask_weight > 0 or (cfg.loss.cqt and cfg.loss.cqt_nomask_weight > 0)
    nan_steps = set(cfg.run.debug_nan_steps)
    log(f"training {cfg.preset}: {sum(p.numel() for p in model.encoder.parameters()) / 1e6:.2f} M encoder parameters, "
        f"{dist.world} process(es) x {cfg.optim.accum} accum x {cfg.data.micro_batch} clips of "
        f"{crop / SAMPLE_RATE:.2f} s per step, steps {step}->{last_step} of {total}, device {device}, "
        f"precision {cfg.optim.precision}")

    def save(at_step: int, last_loss: float | None) -> None:
        model_sd, optim_sd = dist_utils.full_state_dicts(wrapped, optimizer, dist)
        if main:
            ckpt.save_checkpoint(ckpt_dir, at_step, {
                "step": at_step, "updates": updates, "skipped": skipped, "model": model_sd, "optimizer": optim_sd,
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": ckpt.rng_state(),
                "data": {"step": at_step, "seed": cfg.run.seed, "per_step": per_step,
                         "micro_batch": cfg.data.micro_batch, "corpus_key": corpus.key(),
                         "consumed_clips": at_step * per_step * cfg.data.micro_batch},
                "config": cfg.to_dict(), "teacher": teacher_identity, "loss": last_loss,
                "provenance": provenance(config=cfg.to_dict(), seed=cfg.run.seed, device=device),
            }, keep=cfg.run.keep_checkpoints)
        dist_utils.barrier(dist)

    def evaluate(at_step: int) -> dict[str, float]:
        if evaluator is None:
            return {}
        row = evaluator.run(model, device)
        log(summary_line(at_step, row, evaluator.settings.probe_tasks))
        return row

    if step == 0 and evaluator is not None:  # the random-init value, before the first update
        metrics.log({"step": 0, **evaluate(0)})
        write_eval_curves(out)  # drawn from metrics.csv, so after the row is written

    # ---------------------------------------------------------------- the loop
    bar = progress_bar() if (main and cfg.run.progress) else None
    task = bar.add_task("pretrain", total=total, completed=step) if bar else None
    if bar:
        bar.start()
    interval: list[dict[str, float]] = []
    last_loss: float | None = None
    ema_thr: float | None = None
    it = iter(loader)
    t_prev = time.time()
    try:
        while step < last_step:
            micro = [next(it) for _ in range(cfg.optim.accum)]
            # The loss normaliser, as fairseq's sample_size: the step's masked frames over all processes,
            # plus its unmasked frames when the unmasked-frame terms are on.
            local = torch.tensor([float(mb["mask"].sum() if not nomask_terms else mb["mask"].numel())
                                  for mb in micro], dtype=torch.float64).sum()
            n_norm = float(dist_utils.all_reduce_sum(local.view(1), dist)[0])
            if n_norm <= 0:
                raise SpecError("pretraining step with no frame to learn from: no frame masked (mask.prob) "
                                "and the unmasked-frame terms off (loss.pred_nomask_weight)")
            stats = StepSums(k)
            for a, mb in enumerate(micro):
                torch.manual_seed(_micro_seed(cfg.run.seed, step, mb["g"]))  # dropout / layerdrop
                wav = mb["audio"].to(device, non_blocking=True)
                mask = mb["mask"].to(device, non_blocking=True)
                targets = mb["labels"].to(device) if "labels" in mb else None
                if cqt_module is not None:
                    clean = mb["clean"].to(device)
                    cqt_target = cqt_module.frames_first(clean)[:, : mask.shape[1]]
                elif "cqt" in mb:
                    cqt_target = mb["cqt"].to(device)
                else:
                    cqt_target = None
                if cqt_target is not None:
                    cqt_target = transform_cqt_target(cqt_target, cfg.loss.cqt_transform, cfg.loss.cqt_log_ref)
                sync_ctx = dist_utils.no_grad_sync(wrapped, dist, skip_sync=a < cfg.optim.accum - 1)
                amp_ctx = (torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None
                           else contextlib.nullcontext())
                with sync_ctx:
                    with amp_ctx:
                        terms = wrapped(wav, mask, targets, cqt_target)
                    loss = terms.total * (dist.world / n_norm)  # DDP averages gradients over processes
                    if step in nan_steps:
                        loss = loss * float("nan")
                    scaler.scale(loss).backward()
                stats.add(terms, mb, wav, mask, nan=step in nan_steps)
            # ---- optimiser step (unscale, clip, skip if non-finite)
            if use_scaler:
                scaler.unscale_(optimizer)
            max_norm = cfg.optim.clip_norm if cfg.optim.clip_norm > 0 else float("inf")
            grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
            if hasattr(grad_norm, "full_tensor"):
                grad_norm = grad_norm.full_tensor()
            grad_norm = float(grad_norm)
            totals = stats.all_reduce(dist)
            step_loss = totals["loss"] / n_norm
            finite = math.isfinite(step_loss) and math.isfinite(grad_norm)
            if use_scaler:
                if finite:
                    scaler.step(optimizer)
                scaler.update()
            elif finite or not cfg.optim.skip_nonfinite:
                optimizer.step()
            if finite or (not use_scaler and not cfg.optim.skip_nonfinite):
                scheduler.step()
                updates += 1
            else:
                skipped += 1
                log(f"step {step + 1}: non-finite {'loss' if not math.isfinite(step_loss) else 'gradient norm'} "
                    f"-> update skipped ({skipped} skipped so far)"
                    + (f"; loss scale now {scaler.get_scale():g}" if use_scaler else ""))
            optimizer.zero_grad(set_to_none=True)
            step += 1
            # ---- metrics
            now = time.time()
            step_s, t_prev = now - t_prev, now
            thr = totals["audio_s"] / max(step_s, 1e-9)
            ema_thr = thr if ema_thr is None else 0.9 * ema_thr + 0.1 * thr
            row = {"loss": step_loss, **stats.per_frame(totals), "lr": optimizer.param_groups[0]["lr"],
                   "grad_norm": grad_norm, "loss_scale": scaler.get_scale() if use_scaler else 1.0,
                   "step_s": step_s, "audio_h_per_h": thr}
            state = {c: row[c] for c in ("lr", "grad_norm", "loss_scale")}  # logged even for skipped steps
            if finite:
                interval.append(row)
                last_loss = step_loss
            if bar:
                bar.update(task, completed=step, description=f"pretrain loss {last_loss if last_loss is not None else float('nan'):.3f}"
                           f" | {ema_thr:.1f} audio-h/h")
            eval_now = evaluator is not None and (step % cfg.run.eval_every == 0 or step == total)
            if step % cfg.run.log_every == 0 or step == last_step or eval_now:
                mean = {c: float(np.mean([r[c] for r in interval])) for c in interval[0]} if interval else {}
                mean.update(state, step=step, skipped_total=skipped, wall_s=round(time.time() - t_start, 3))
                if eval_now:
                    mean.update(evaluate(step))
                metrics.log(mean)
                if eval_now:
                    write_eval_curves(out)
                if not bar and mean.get("loss") is not None:
                    log(f"step {step}/{total} loss {mean['loss']:.4f} lr {mean['lr']:.2e} "
                        f"grad {mean['grad_norm']:.3g} {mean['audio_h_per_h']:.1f} audio-h/h")
                interval = []
            if step % cfg.run.checkpoint_every == 0 and step < last_step:
                save(step, last_loss)
            if cfg.run.export_every > 0 and step % cfg.run.export_every == 0 and step < total:
                export(out / "export" / f"step_{step:07d}", step, last_loss)
    finally:
        if bar:
            bar.stop()
        metrics.close()
        del it
    save(step, last_loss)
    if skipped:
        log(f"{skipped} step(s) skipped because of non-finite loss or gradients")
    if step < total:
        partial = out / "export" / f"step_{step:07d}"
        export(partial, step, last_loss)
        log(f"stopped at step {step} of {total} (run.stop_after); encoder exported to {partial}; "
            "continue with --resume")
        return partial
    final = out / "export" / "final"
    export(final, step, last_loss)
    log(f"done in {time.time() - t_start:.1f} s; final loss {last_loss}; encoder exported to {final}")
    return final
