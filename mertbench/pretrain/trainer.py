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

from mertbench.errors import SpecError
from mertbench.pretrain import checkpoint as ckpt
from mertbench.pretrain import distributed as dist_utils
from mertbench.pretrain.config import PretrainConfig
from mertbench.pretrain.data import Corpus, MicroBatches, MicroBatchKeys, make_loader
from mertbench.pretrain.heads import MertPretrainingModel
from mertbench.pretrain.losses import transform_cqt_target
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

    # ---------------------------------------------------------------- resume or fresh start
    resume_state = None
    latest = ckpt.latest_checkpoint(ckpt_dir)
    if cfg.run.resume and latest is not None:
        resume_state = ckpt.load_checkpoint(latest)
        diffs = ckpt.config_differences(resume_state["config"], cfg.to_dict())
        if diffs:
            raise SpecError(f"{out}: cannot resume with a different configuration: {'; '.join(diffs)}. "
                            "Resume with the original settings (only run.* and data.num_workers may change) "
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
        (out / "skipped_clips.txt").write_text("".join(f"{p}\t{why}\n" for p, why in corpus.skipped))
        log(f"skipped clips listed in {out / 'skipped_clips.txt'}")
    teacher_device = dist_utils.resolve_device(cfg.teacher.device, dist.local_rank)
    teacher = build_teacher(cfg.teacher, teacher_device)
    if teacher is not None:
        log(f"teacher: {teacher.name}; codebooks {list(teacher.codebook_sizes)}")
    cqt_settings = CQTSettings(24000, 320, cfg.loss.cqt_fmin, cfg.loss.cqt_bins, cfg.loss.cqt_bins_per_octave)
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
                                 loss_weights={"pred": cfg.loss.pred_weight,
                                               "cqt": cfg.loss.cqt_weight if cfg.loss.cqt else 0.0,
                                               "pen": cfg.loss.features_pen_weight,
                                               "pred_nomask": cfg.loss.pred_nomask_weight,
                                               "cqt_nomask": cfg.loss.cqt_nomask_weight if cfg.loss.cqt else 0.0,
                                               }).to(device)
    crop = int(round(cfg.data.crop_seconds * 24000)) // 320 * 320
    model.train()
    step = updates = skipped = 0
    run_info: dict[str, Any] = {
        "format": "mertbench-pretrain-run-v1", "preset": cfg.preset, "config": cfg.to_dict(),
        "config_hash": config_hash(cfg.to_dict()), "teacher": teacher_identity, "targets": target_info,
        "corpus": {"source": corpus.source, "key": corpus.key(), "clips": len(corpus.clips),
                   "hours": round(corpus.hours, 4), "skipped_short": corpus.skipped_short,
                   "skipped_unreadable": corpus.skipped_unreadable, "not_selected": corpus.not_selected},
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
    dataset = MicroBatches(corpus, micro_batch=cfg.data.micro_batch, per_step=per_step,
                           crop_seconds=cfg.data.crop_seconds, num_frames=cfg.model.num_frames, seed=cfg.run.seed,
                           mask=cfg.mask, mixture=cfg.mixture, labels=labels if cfg.loss.pred_weight > 0 else None,
                           cqt=cqt_store, need_clean=cqt_module is not None)
    last_step = total if cfg.run.stop_after <= 0 else min(total, step + cfg.run.stop_after)
    loader = make_loader(dataset, MicroBatchKeys(step, last_step, dist.rank, dist.world, cfg.optim.accum),
                         cfg.data.num_workers, pin_memory=device.type == "cuda")
    k = len(codebooks)
    columns = (["loss", "loss_pred", "loss_cqt", "features_pen", "acc", "loss_pred_nomask", "loss_cqt_nomask"]
               + [f"ce_{i}" for i in range(k)]
               + [f"acc_{i}" for i in range(k)]
               + ["lr", "grad_norm", "loss_scale", "skipped_total", "mixed_frac", "masked_frac", "crop_s",
                  "step_s", "audio_h_per_h", "wall_s"])
    from mertbench.pretrain.metrics import MetricsLogger

    metrics = MetricsLogger(out, columns, resume_step=step if step > 0 else None, tensorboard=cfg.run.tensorboard,
                            enabled=main)
    params = [p for p in wrapped.parameters() if p.requires_grad]
    nan_steps = set(cfg.run.debug_nan_steps)
    log(f"training {cfg.preset}: {sum(p.numel() for p in model.encoder.parameters()) / 1e6:.2f} M encoder parameters, "
        f"{dist.world} process(es) x {cfg.optim.accum} accum x {cfg.data.micro_batch} clips of "
        f"{crop / 24000:.2f} s per step, steps {step}->{last_step} of {total}, device {device}, "
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
            # masked frames of the whole step (all processes): the loss normaliser, as fairseq
            local = torch.tensor([float(mb["mask"].sum()) for mb in micro], dtype=torch.float64).sum()
            n_masked = float(dist_utils.all_reduce_sum(local.view(1), dist)[0])
            sums = torch.zeros(7 + 2 * k, dtype=torch.float64)  # loss, pred, cqt*m, pen*m, mixed, ce_k, correct_k, pred_u, cqt_u*u
            audio_s = clips = frames = 0.0
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
                    loss = terms.total * (dist.world / n_masked)  # DDP averages gradients over processes
                    if step in nan_steps:
                        loss = loss * float("nan")
                    scaler.scale(loss).backward()
                m = terms.num_masked
                sums[0] += float(terms.total.detach()) if step not in nan_steps else float("nan")
                sums[1] += sum(terms.ce)
                sums[2] += terms.cqt_mse * m
                sums[3] += terms.features_pen * m
                sums[4] += mb["mixed"]
                for i in range(k):
                    if i < len(terms.ce):
                        sums[5 + i] += terms.ce[i]
                        sums[5 + k + i] += terms.correct[i]
                sums[5 + 2 * k] += sum(terms.ce_nomask)
                sums[6 + 2 * k] += terms.cqt_mse_nomask * terms.num_unmasked
                audio_s += wav.shape[0] * wav.shape[1] / 24000.0
                clips += wav.shape[0]
                frames += mask.numel()
            # ---- optimiser step (unscale, clip, skip if non-finite)
            if use_scaler:
                scaler.unscale_(optimizer)
            max_norm = cfg.optim.clip_norm if cfg.optim.clip_norm > 0 else float("inf")
            grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
            if hasattr(grad_norm, "full_tensor"):
                grad_norm = grad_norm.full_tensor()
            grad_norm = float(grad_norm)
            totals = dist_utils.all_reduce_sum(
                torch.cat([sums, torch.tensor([frames, audio_s, clips], dtype=torch.float64)]), dist)
            step_loss = float(totals[0]) / n_masked
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
            audio_total, clips_total = float(totals[-2]), float(totals[-1])
            thr = audio_total / max(step_s, 1e-9)
            ema_thr = thr if ema_thr is None else 0.9 * ema_thr + 0.1 * thr
            row = {
                "loss": step_loss, "loss_pred": float(totals[1]) / n_masked, "loss_cqt": float(totals[2]) / n_masked,
                "features_pen": float(totals[3]) / n_masked,
                "acc": float(totals[5 + k: 5 + 2 * k].sum()) / (n_masked * k) if k else float("nan"),
                **{f"ce_{i}": float(totals[5 + i]) / n_masked for i in range(k)},
                **{f"acc_{i}": float(totals[5 + k + i]) / n_masked for i in range(k)},
                "loss_pred_nomask": float(totals[5 + 2 * k]) / max(float(totals[-3]) - n_masked, 1.0),
                "loss_cqt_nomask": float(totals[6 + 2 * k]) / max(float(totals[-3]) - n_masked, 1.0),
                "lr": optimizer.param_groups[0]["lr"], "grad_norm": grad_norm,
                "loss_scale": scaler.get_scale() if use_scaler else 1.0,
                "mixed_frac": float(totals[4]) / max(clips_total, 1.0),
                "masked_frac": n_masked / max(float(totals[-3]), 1.0),
                "crop_s": audio_total / max(clips_total, 1.0), "step_s": step_s, "audio_h_per_h": thr,
            }
            state = {c: row[c] for c in ("lr", "grad_norm", "loss_scale")}  # logged even for skipped steps
            if finite:
                interval.append(row)
                last_loss = step_loss
            if bar:
                bar.update(task, completed=step, description=f"pretrain loss {last_loss if last_loss is not None else float('nan'):.3f}"
                           f" | {ema_thr:.1f} audio-h/h")
            if step % cfg.run.log_every == 0 or step == last_step:
                mean = {c: float(np.mean([r[c] for r in interval])) for c in interval[0]} if interval else {}
                mean.update(state, step=step, skipped_total=skipped, wall_s=round(time.time() - t_start, 3))
                metrics.log(mean)
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
