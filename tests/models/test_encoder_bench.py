"""`mertbench bench encoder`: runs, reports a ratio and the parity of the two implementations."""
from __future__ import annotations

import re

import torch
from typer.testing import CliRunner

from mertbench.bench import get_benchmark
from mertbench.bench.encoder_bench import hf_reference, reference_states
from mertbench.cli import app
from mertbench.models.mert import random_mert


def test_reference_has_our_weights_and_outputs():
    for pre_ln in (False, True):
        enc = random_mert("toy", seed=5, do_stable_layer_norm=pre_ln, window_s=None)
        ref = hf_reference(enc.model)
        wav = torch.randn(2, 9000)
        with torch.inference_mode():
            assert float((enc(wav) - reference_states(ref, wav, pre_ln)).abs().max()) < 1e-4


def test_bench_function_reports_ratio_and_diff():
    result = get_benchmark("encoder").fn(geometry="toy", batch=1, seconds=0.5, repeats=2, dtypes="fp32,bf16")
    assert result.figure > 0
    line = result.details["cpu fp32 batch 1"]
    diff = float(re.search(r"max \|diff\| ([0-9.e+-]+)", line).group(1))
    assert diff < 1e-4
    assert "ratio" in line and "cpu bf16 batch 1" in result.details


def test_cli_prints_final_line():
    res = CliRunner().invoke(app, ["bench", "encoder", "-o", "geometry=toy", "-o", "seconds=0.5", "-o", "repeats=1",
                                   "-o", "dtypes=fp32", "-o", "batch=1"])
    assert res.exit_code == 0, res.output
    last = res.output.strip().splitlines()[-1]
    assert re.match(r"encoder: [0-9.]+ x audio-seconds/s", last), last
