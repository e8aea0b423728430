"""`mertbench pretrain`: MERT pretraining (one process, or under ``torchrun --nproc_per_node K``)."""
from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("pretrain")
    def pretrain_cmd(
        data: Optional[str] = typer.Option(None, "--data", "-d", help="Audio folder (recursive) or manifest "
                                           "(.tsv fairseq, .jsonl, .txt/.csv list)."),
        preset: str = typer.Option("tiny", "--preset", "-p", help="tiny | small (CPU) | 95m | 330m (paper settings)."),
        teacher: Optional[str] = typer.Option(None, "--teacher", help="encodec | kmeans | none (default: the preset's)."),
        cqt: Optional[bool] = typer.Option(None, "--cqt/--no-cqt", help="CQT reconstruction term (default on)."),
        mixture_prob: Optional[float] = typer.Option(None, "--mixture-prob", help="Probability that a clip gets "
                                                     "in-batch noise (0 disables; MERT: 0.5)."),
        steps: Optional[int] = typer.Option(None, "--steps", help="Training steps (default: the preset's)."),
        out: Optional[str] = typer.Option(None, "--out", "-o", help="Run folder (default runs/<preset>)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
        config: Optional[str] = typer.Option(None, "--config", help="JSON/YAML config file (a run's config.json, "
                                             "or a partial {section: {field: value}}) applied over the preset."),
        set_: list[str] = typer.Option([], "--set", "-s", help="Override any field: SECTION.FIELD=VALUE "
                                       "(e.g. optim.lr=1e-3, data.micro_batch=4); repeatable."),
        print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config and exit."),
    ) -> None:
        """Pretrain a MERT model (teachers, masked prediction, CQT reconstruction, noise mixture).

        Writes runs/X/{metrics.csv, train.log, checkpoints/, export/final} and prints the
        exported encoder folder (usable as `mertbench probe --model runs/X/export/final`).
        """
        import json

        from mertbench.pretrain import PretrainConfig, train

        cfg = PretrainConfig.preset(preset)
        if config:
            loaded = _load_partial(config)
            cfg = cfg.override(loaded)
        overrides: dict[str, object] = {}
        if data is not None:
            overrides["data.path"] = data
        if teacher is not None:
            overrides["teacher.kind"] = teacher
        if cqt is not None:
            overrides["loss.cqt"] = cqt
        if mixture_prob is not None:
            overrides["mixture.prob"] = mixture_prob
        if steps is not None:
            overrides["optim.steps"] = steps
        if out is not None:
            overrides["run.out"] = out
        if resume:
            overrides["run.resume"] = True
        cfg = cfg.override(overrides).override(list(set_))
        if print_config:
            typer.echo(json.dumps(cfg.to_dict(), indent=2))
            return
        final = train(cfg)
        import os

        if int(os.environ.get("RANK", "0")) == 0:
            typer.echo(str(final))


def _load_partial(path: str) -> dict[str, object]:
    """Flatten a config file to dotted overrides (``preset`` ignored: --preset decides)."""
    import json
    from pathlib import Path

    from mertbench.errors import SpecError

    p = Path(path).expanduser()
    if not p.is_file():
        raise SpecError(f"{p}: config file not found")
    text = p.read_text()
    if p.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if isinstance(data, dict) and "config" in data and isinstance(data["config"], dict):
        data = data["config"]
    if not isinstance(data, dict):
        raise SpecError(f"{p}: expected a mapping of sections to fields")
    flat: dict[str, object] = {}
    for section, values in data.items():
        if section == "preset":
            continue
        if not isinstance(values, dict):
            raise SpecError(f"{p}: section {section!r} must be a mapping of fields")
        for key, value in values.items():
            flat[f"{section}.{key}"] = value
    return flat
