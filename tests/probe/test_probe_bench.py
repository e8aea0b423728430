"""The two benchmarks registered by mertbench.bench.probe_bench run and report what they claim."""
from __future__ import annotations

from mertbench.bench import final_line, get_benchmark


def test_probe_layers_benchmark_small():
    bench = get_benchmark("probe-layers")
    res = bench.fn(layers=4, dim=16, classes=3, train=128, valid=32, test=32, epochs=3, hidden=16)
    assert res.figure > 0 and res.details["heads"] == 5
    assert res.details["max_abs_test_diff"] == 0.0 and res.details["best_epochs_equal"] is True
    assert final_line("probe-layers", res).startswith("probe-layers: ")
    assert "identical" in res.meaning


def test_extract_benchmark_small():
    res = get_benchmark("extract").fn(model="mertbench.probe.synthetic:toy_encoder", files=3, seconds=1.0,
                                      sample_rate=16000)
    assert res.details["audio_seconds"] == 3.0 and res.figure > 0 and res.details["naive_audio_s_per_s"] > 0
