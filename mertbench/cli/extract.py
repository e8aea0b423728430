"""`mertbench extract`: frozen features of a model on every split of a task, into the feature cache."""
from __future__ import annotations

from typing import Optional

import typer


def _int_list(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from None


def register(app: typer.Typer) -> None:
    @app.command("extract")
    def extract_cmd(
        model: str = typer.Option(..., "--model", "-m", help="Model spec: registered name, checkpoint folder or module:factory."),
        task: str = typer.Option(..., "--task", "-t", help="Task name (see `mertbench tasks`)."),
        root: Optional[str] = typer.Option(None, "--root", help="The task's data folder (default: <data root>/<dataset dirname>)."),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:1 ... (cuda = LOCAL_RANK under torchrun)."),
        batch_size: int = typer.Option(16, "--batch-size", help="Windows per encoder call."),
        max_batch_seconds: float = typer.Option(240.0, "--max-batch-seconds", help="Audio seconds per encoder call at most."),
        dtype: str = typer.Option("auto", "--dtype", help="Storage dtype: auto (clip float32, frame float16), float16, float32."),
        amp: Optional[str] = typer.Option(None, "--amp", help="Autocast on GPU: bf16 or fp16 (part of the cache key)."),
        workers: int = typer.Option(2, "--workers", help="Audio decoding threads."),
        layers: Optional[str] = typer.Option(None, "--layers", help="Store only these hidden states, e.g. 0,6,12 (default all)."),
        splits: Optional[str] = typer.Option(None, "--splits", help="Comma-separated splits (default: all of the task's)."),
        chunk: Optional[int] = typer.Option(None, "--chunk", help="Examples per chunk (resume granularity)."),
        normalize: Optional[str] = typer.Option(None, "--normalize", help="Override waveform normalisation: zmuv, peak or none."),
        force: bool = typer.Option(False, "--force", help="Delete this configuration's cache and extract again."),
    ) -> None:
        """Extract every layer of MODEL on TASK into the on-disk cache (resumable; torchrun-shardable).

        Clip tasks store the time-mean of every window ([windows, layers, dim]); beat and separation
        tasks store every frame. Splits already extracted are skipped; an interrupted run resumes.
        """
        from mertbench.extract import ExtractOptions, extract_features
        from mertbench.progress import console

        opts = ExtractOptions(batch_size=batch_size, max_batch_seconds=max_batch_seconds, dtype=dtype, amp=amp,
                              workers=workers, chunk_examples=chunk, layers=_int_list(layers), normalize=normalize)
        ext = extract_features(model, task, root=root, splits=splits.split(",") if splits else None, device=device,
                               options=opts, force=force)
        for split in ext.splits:
            if ext.cache.is_done(split):
                info = ext.cache.done_info(split)
                st = ext.stats.get(split)
                how = (f"extracted {st['audio_seconds']:.1f} s of audio in {st['wall_s']:.1f} s"
                       if st else "already in the cache")
                skipped = ", ".join(f"{k}: {v}" for k, v in info.get("skipped", {}).items()) or "none"
                console.print(f"{split}: {info['examples']} examples, {info['rows']} rows "
                              f"{tuple(info['shape'])} {info['dtype']} ({how}); skipped: {skipped}")
            else:
                console.print(f"{split}: this rank's share written; rank 0 merges the split")
        for reason, n in ext.dataset.skipped.items():
            console.print(f"[yellow]loader skipped[/] {n} item(s): {reason}")
        typer.echo(str(ext.cache.folder))
