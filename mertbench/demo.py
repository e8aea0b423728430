"""``mertbench demo``: the whole pipeline on the embedded default, as a new user runs it.

Steps (each resumable; a re-run skips what is finished):

1. render the rendered music suite (``mertbench data render``; cached under the data root);
2. pretrain a tiny MERT on the suite's unlabelled pretraining corpus for a few minutes (with the
   online evaluation: ``runs/demo/pretrain/eval_curves.png``);
3. save the same architecture with random weights (fixed seed): the random-init baseline;
4. probe every rendered task with ``--layer all`` for the pretrained model, the random-init
   model (which is also the shipped model's random-init twin: same architecture, seed 0), the
   shipped reference model ``mert-tiny-render`` and the handcrafted baselines (MFCC, log-mel,
   chroma, CQT);
5. compile the leaderboard (printed) and an HTML report with the layer plots and the training
   curves of both pretrained models.

Everything goes under ``--out`` (default ``runs/demo``): ``models/``, ``results/``,
``report.html``, ``report.md`` and ``state.json`` (which probe runs are finished).
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from mertbench.io import atomic_write_json
from mertbench.provenance import config_hash

#: Handcrafted baselines probed next to the MERT models.
BASELINES: tuple[str, ...] = ("mfcc", "logmel", "chroma", "cqt")


@dataclass
class DemoPlan:
    """What the demo runs. ``quick`` is the smoke-test variant (tests, CI)."""

    out: Path = Path("runs/demo")
    size: str = "small"
    seed: int = 0
    pretrain_steps: int = 300
    tasks: list[str] | None = None          # default: every render-* task
    baselines: tuple[str, ...] = BASELINES
    #: models whose weights ship with mertbench, probed beside the demo's own short pretraining run
    #: (``mert-tiny-render``: the reference tiny model, pretrained for longer; docs/pretrain.md)
    shipped: tuple[str, ...] = ("mert-tiny-render",)
    #: probe seeds (mean and 95% CI in the table); the protocol caps the frame-level tasks at one
    seeds: int = 3
    #: probe learning rates (None: each task's ``probe.lr_grid``, chosen on validation per layer)
    lrs: list[float] | None = None
    max_epochs: int | None = None           # None: each task's default
    #: evaluation protocol: ``mertbench-cpu`` keeps the frame-level probes (beat, separation) within the
    #: demo's time budget on 2 CPU cores (a named budget: protocols/mertbench-cpu.yaml), the clip-level
    #: tasks exactly as the default protocol; the same protocol as the reference results in results/
    protocol: str = "mertbench-cpu"
    #: per task type: further run_probe overrides (none by default; the protocol holds the budget)
    type_overrides: dict[str, dict] = field(default_factory=dict)
    pretrain_overrides: dict[str, object] = field(default_factory=dict)
    #: probe worker processes (0: one per core, at most 4; 1: in this process, with progress bars)
    jobs: int = 0
    progress: bool = True

    @classmethod
    def quick(cls, out: Path) -> "DemoPlan":
        """A smoke run: the tiny render, a few pretraining steps, two tasks, two baselines."""
        return cls(out=out, size="tiny", pretrain_steps=6, tasks=["render-pitch", "render-key"],
                   baselines=("logmel",), shipped=(), max_epochs=3, seeds=1, lrs=[1e-3],
                   # the tiny render's corpus has 4 clips: nothing to hold out for the online evaluation
                   pretrain_overrides={"run.checkpoint_every": 3, "run.log_every": 1, "data.max_hours": 0.0,
                                       "data.holdout_clips": 0, "run.eval_every": 0})


@dataclass
class DemoSummary:
    out: Path
    models: list[str]
    tasks: list[str]
    results: dict[str, str]
    report_html: Path
    report_md: Path
    leaderboard: str
    timings_s: dict[str, float]


def _say(msg: str) -> None:
    from mertbench.progress import console

    console.print(f"[bold cyan]demo[/] {msg}", highlight=False)


def render_step(plan: DemoPlan) -> Path:
    """Render the suite (idempotent); returns the render root."""
    from mertbench.render.runner import default_out, render_suite

    report = render_suite(size=plan.size, seed=plan.seed, progress=plan.progress, log=_say)
    return Path(getattr(report, "out", default_out()))


def pretrain_step(plan: DemoPlan, corpus: Path) -> Path:
    """Pretrain the tiny preset on ``corpus``; returns the exported HF folder (resumes if interrupted)."""
    from mertbench.pretrain import PretrainConfig, train

    run_dir = plan.out / "pretrain"
    final = run_dir / "export" / "final"
    if (final / "config.json").is_file():
        _say(f"pretraining already finished: {final}")
        return final
    overrides = {"data.path": str(corpus), "run.out": str(run_dir), "optim.steps": plan.pretrain_steps,
                 "run.seed": plan.seed, "run.progress": plan.progress,
                 "run.resume": any(run_dir.glob("checkpoints/*")) if run_dir.exists() else False}
    overrides.update(plan.pretrain_overrides)
    cfg = PretrainConfig.preset("tiny").override(overrides)
    return Path(train(cfg))


def random_init_step(pretrained: Path, dest: Path, seed: int) -> Path:
    """Save the pretrained model's architecture with random weights (fairseq init, ``seed``)."""
    from mertbench.models.mert import MertConfig, MertModel, save_pretrained

    if (dest / "config.json").is_file():
        return dest
    cfg = MertConfig.from_hf_dict(json.loads((pretrained / "config.json").read_text()))
    model = MertModel(cfg)
    model.reset_parameters(seed)
    pre = pretrained / "preprocessor_config.json"
    normalize = bool(json.loads(pre.read_text()).get("do_normalize", False)) if pre.is_file() else False
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_pretrained(model, tmp, normalize=normalize)
    # the leaderboard's name for it (mertbench.models.naming): the preset of the model it mirrors
    pre_info = pretrained / "pretraining.json"
    preset = json.loads(pre_info.read_text()).get("preset", "tiny") if pre_info.is_file() else "tiny"
    meta = json.loads((tmp / "mertbench.json").read_text())
    meta["display_name"] = f"mert-{preset} (random init, seed {seed})"
    atomic_write_json(tmp / "mertbench.json", meta)
    tmp.rename(dest)
    return dest


def _link_model(src: Path, dest: Path) -> Path:
    """Copy an exported model folder to a friendly name (once)."""
    if (dest / "config.json").is_file():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    tmp.rename(dest)
    return dest


#: relative cost of a probe by task type and by model kind, to start the longest jobs first
_TYPE_COST = {"separation": 12.0, "beat": 4.0}


def _job_cost(model: str, task_type: str) -> float:
    return _TYPE_COST.get(task_type, 1.0) * (1.0 if model in BASELINES else 3.0)


def _probe_kwargs(plan: DemoPlan, task_type: str) -> dict:
    """run_probe keyword arguments of one task type: the plan's seeds, lrs and epochs, then the type's overrides."""
    kwargs = {"max_epochs": plan.max_epochs, "seeds": plan.seeds, "lrs": plan.lrs, "protocol": plan.protocol,
              **plan.type_overrides.get(task_type, {})}
    if plan.max_epochs is not None:  # an explicit cap (quick mode) wins
        kwargs["max_epochs"] = min(plan.max_epochs, kwargs["max_epochs"] or plan.max_epochs)
        kwargs["seeds"] = min(plan.seeds, kwargs["seeds"])
    return kwargs


def _probe_job(model: str, task: str, kwargs: dict, results_dir: str) -> tuple[str, str, str, float]:
    """One probe in a worker process: one torch thread, one decoding thread, no progress bars."""
    import torch

    from mertbench.extract.runner import ExtractOptions
    from mertbench.probe import run_probe

    torch.set_num_threads(1)
    t = time.perf_counter()
    _, path = run_probe(model, task, layer="all", out=results_dir, progress=False,
                        threads=1, extract_options=ExtractOptions(workers=1, threads=1), **kwargs)
    return model, task, str(path), time.perf_counter() - t


def demo_jobs(plan: DemoPlan) -> int:
    """Probe processes to run at once: ``plan.jobs``, or (0) one per core, at most 4."""
    from mertbench.threads import cpu_cores

    return plan.jobs if plan.jobs > 0 else min(4, cpu_cores())


def probe_step(plan: DemoPlan, models: list[str], tasks: list[str], results_dir: Path,
               on_done: Callable[[str, str, str], None], state: dict[str, str]) -> None:
    """Probe every (model, task) with ``--layer all``; skips pairs recorded in ``state``.

    With more than one job (:func:`demo_jobs`) the probes run in that many worker processes of one
    thread each, the most expensive first; the parent reports each one as it finishes."""
    from mertbench.probe import run_probe
    from mertbench.tasks import get_task

    todo = [(m, t) for m in models for t in tasks
            if not (f"{m}|{t}" in state and Path(state[f"{m}|{t}"]).is_file())]
    total, done = len(models) * len(tasks), len(models) * len(tasks) - len(todo)
    types = {t: get_task(t).spec.type for t in tasks}
    jobs = min(demo_jobs(plan), max(1, len(todo)))
    if jobs <= 1:
        for model, task in todo:
            done += 1
            _say(f"probe {done}/{total}: {Path(model).name} on {task}")
            _, path = run_probe(model, task, layer="all", out=results_dir,
                                progress=plan.progress, **_probe_kwargs(plan, types[task]))
            on_done(model, task, str(path))
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    todo.sort(key=lambda mt: -_job_cost(mt[0], types[mt[1]]))
    _say(f"{len(todo)} probes in {jobs} worker processes (one thread each), longest first")
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        pending = {pool.submit(_probe_job, m, t, _probe_kwargs(plan, types[t]), str(results_dir)) for m, t in todo}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    model, task, path, wall = fut.result()
                    done += 1
                    on_done(model, task, path)
                    _say(f"probe {done}/{total} done: {Path(model).name} on {task} ({wall:.0f} s)")
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def run_demo(plan: DemoPlan) -> DemoSummary:
    """Run every step of the demo; see the module docstring."""
    from mertbench.models.shipped import shipped_dir
    from mertbench.report import build_report, write_report
    from mertbench.tasks import list_tasks

    timings: dict[str, float] = {}
    plan.out.mkdir(parents=True, exist_ok=True)
    state_path = plan.out / "state.json"
    plan_key = config_hash({k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(plan).items()
                            if k not in ("progress", "out", "jobs")})
    state: dict = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state.get("plan") != plan_key:
        state = {"plan": plan_key, "probes": {}}

    def save_state() -> None:
        atomic_write_json(state_path, state)

    def spent(step: str, seconds: float) -> None:
        """Wall time of a step, summed over this run and the interrupted or finished runs before it."""
        total = state.setdefault("timings_s", {})
        total[step] = round(float(total.get(step, 0.0)) + seconds, 3)
        timings[step] = total[step]
        save_state()

    _say(f"1/5 rendering the {plan.size} suite (cached after the first run)")
    t = time.perf_counter()
    render_root = render_step(plan)
    spent("render", time.perf_counter() - t)

    _say(f"2/5 pretraining a tiny MERT for {plan.pretrain_steps} steps on {render_root / 'pretrain'}")
    t = time.perf_counter()
    final = pretrain_step(plan, render_root / "pretrain")
    models_dir = plan.out / "models"
    pretrained = _link_model(final, models_dir / "mert-tiny-pretrained")
    spent("pretrain", time.perf_counter() - t)

    _say("3/5 random-init baseline: same architecture, fixed seed")
    random_init = random_init_step(pretrained, models_dir / "mert-tiny-random-init", plan.seed)

    tasks = plan.tasks or [t.name for t in list_tasks("render")]
    models = [str(pretrained), str(random_init), *plan.shipped, *plan.baselines]
    results_dir = plan.out / "results"
    _say(f"4/5 probing {len(models)} models x {len(tasks)} tasks with --layer all")
    t = time.perf_counter()

    def on_done(model: str, task: str, path: str) -> None:
        state["probes"][f"{model}|{task}"] = path
        save_state()

    save_state()
    probe_step(plan, models, tasks, results_dir, on_done, state["probes"])
    spent("probe", time.perf_counter() - t)

    _say("5/5 compiling the leaderboard and the HTML report")
    t = time.perf_counter()
    curves = [plan.out / "pretrain"] + [shipped_dir(name) for name in plan.shipped]
    report = build_report(results_dir=results_dir, models=models, tasks=tasks, suite="render", pretrain_runs=curves)
    html = plan.out / "report.html"
    md = plan.out / "report.md"
    write_report(report, html)
    write_report(report, md)
    spent("report", time.perf_counter() - t)
    timings["total"] = sum(timings.values())
    save_state()
    return DemoSummary(plan.out, models, tasks, dict(state["probes"]), html, md, report.to_markdown(), timings)


README_BEGIN = "<!-- demo-sample:begin (generated by `mertbench demo --update-readme README.md`; do not edit) -->"
README_END = "<!-- demo-sample:end -->"


def update_readme(summary: DemoSummary, readme: Path, assets: Path) -> None:
    """Replace the README's demo sample (between the markers) with this run's table and one plot.

    The table is the demo's markdown leaderboard; the plot is the first layer-wise figure of the
    pretrained model, copied to ``assets``. Raises if the markers are missing.
    """
    import re

    from mertbench.io import atomic_write_text

    text = readme.read_text(encoding="utf-8")
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{readme}: demo-sample markers not found; add {README_BEGIN!r} ... {README_END!r}")
    assets.mkdir(parents=True, exist_ok=True)
    plots = sorted((summary.report_md.parent / f"{summary.report_md.stem}_plots").glob("*.png"))
    layer_plots = [p for p in plots if "layer" in p.name] or plots
    lines = [README_BEGIN, ""]
    table = summary.leaderboard.split("## Report notes")[0].strip()
    table = re.sub(r"^# mertbench report\s*", "", table).strip()
    lines += [table, ""]
    for plot in layer_plots[:1]:
        dest = assets / plot.name
        shutil.copyfile(plot, dest)
        lines += [f"![{plot.stem}]({dest.relative_to(readme.parent).as_posix()})", ""]
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in summary.timings_s.items())
    lines += [f"_Generated by `mertbench demo`; wall time per step, summed over resumed runs: {timings}._",
              "", README_END]
    new = text.split(README_BEGIN)[0] + "\n".join(lines) + text.split(README_END, 1)[1]
    atomic_write_text(readme, new)
