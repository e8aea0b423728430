"""``suite``: wall time of ``mertbench suite`` with one local worker and with one per core.

Both runs do the same jobs from scratch (each with its own empty feature cache and results
folder, in a temporary directory), one after the other in this process; the figure is the ratio
of their wall times (one worker / all workers). Default: the handcrafted log-mel and chroma
baselines on the rendered tasks except render-separation (whose one job is longer than all the
others together on a CPU; pass ``tasks=render`` to include it), 1 seed.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from mertbench.bench import BenchResult, register_benchmark


def _timed_suite(models: list[str], tasks: list[str], seeds: int, workers: int, scratch: Path) -> dict[str, Any]:
    from mertbench.suite import plan_suite, run_suite
    from mertbench.suite.executors import LocalExecutor

    before = os.environ.get("MERTBENCH_CACHE")
    os.environ["MERTBENCH_CACHE"] = str(scratch / "cache")
    try:
        plan = plan_suite(models, tasks, seeds=seeds, results_dir=scratch / "results", calibrate_models=False)
        t0 = time.perf_counter()
        outcome = run_suite(plan, LocalExecutor(workers=workers), progress=False)
        wall = time.perf_counter() - t0
    finally:
        if before is None:
            os.environ.pop("MERTBENCH_CACHE", None)
        else:
            os.environ["MERTBENCH_CACHE"] = before
    return {"wall_s": round(wall, 1), "jobs": len(plan.jobs), "done": len(outcome.done),
            "failed": [f"{j.label}: {e}" for j, e, _ in outcome.failed],
            "missing": [t for t, _ in plan.missing]}


@register_benchmark("suite", "mertbench suite wall time: 1 local worker vs one per core (ratio)")
def suite_bench(models: str = "logmel,chroma", tasks: str = "", seeds: int = 1, workers: int = 0) -> BenchResult:
    from mertbench.suite.plan import select_tasks
    from mertbench.threads import cpu_cores

    names = select_tasks(tasks) if tasks else [t for t in select_tasks("render") if t != "render-separation"]
    model_list = [m.strip() for m in models.split(",") if m.strip()]
    many = int(workers) or cpu_cores()
    with tempfile.TemporaryDirectory(prefix="mertbench-suite-bench-") as tmp:
        one = _timed_suite(model_list, names, int(seeds), 1, Path(tmp) / "one")
        all_ = _timed_suite(model_list, names, int(seeds), many, Path(tmp) / "many")
    ratio = one["wall_s"] / max(all_["wall_s"], 1e-9)
    return BenchResult(
        figure=ratio,
        meaning=f"x: wall time with 1 worker / with {many} workers ({len(model_list)} models x {len(names)} tasks, "
                f"{seeds} seed(s), same jobs from an empty cache)",
        details={"one_worker": one, f"{many}_workers": all_, "models": model_list, "tasks": names},
    )
