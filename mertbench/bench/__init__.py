"""Named benchmarks (``mertbench bench NAME``).

A benchmark measures our way against the reference way side by side in one run and returns a
:class:`BenchResult`; the runner prints its details and ends with exactly one line
``NAME: <figure> <what it means>``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

#: Modules whose import registers benchmarks.
BENCH_MODULES: list[str] = [
    "mertbench.bench.audio_bench",
    "mertbench.bench.encoder_bench",
    "mertbench.bench.pretrain_bench",
    "mertbench.bench.probe_bench",
    "mertbench.bench.separation_bench",
    "mertbench.bench.suite_bench",
]


@dataclass
class BenchResult:
    """The headline figure, its meaning, and details printed above the final line."""

    figure: float
    meaning: str
    details: dict[str, Any] = field(default_factory=dict)
    fmt: str = "{:.2f}"


@dataclass
class Benchmark:
    name: str
    fn: Callable[..., BenchResult]
    description: str


_BENCHES: dict[str, Benchmark] = {}
_IMPORTED = False


def register_benchmark(name: str, description: str) -> Callable[[Callable[..., BenchResult]], Callable[..., BenchResult]]:
    def deco(fn: Callable[..., BenchResult]) -> Callable[..., BenchResult]:
        _BENCHES[name] = Benchmark(name, fn, description)
        return fn

    return deco


def list_benchmarks() -> list[Benchmark]:
    global _IMPORTED
    if not _IMPORTED:
        _IMPORTED = True
        for mod in BENCH_MODULES:
            importlib.import_module(mod)
    return [_BENCHES[k] for k in sorted(_BENCHES)]


def get_benchmark(name: str) -> Benchmark:
    benches = {b.name: b for b in list_benchmarks()}
    if name not in benches:
        raise KeyError(f"unknown benchmark {name!r}; available: {sorted(benches)}")
    return benches[name]


def final_line(name: str, result: BenchResult) -> str:
    """The one closing line: ``NAME: <figure> <meaning>``."""
    return f"{name}: {result.fmt.format(result.figure)} {result.meaning}"
