"""End-to-end training on CPU: loss falls, exact resume, NaN steps skipped, export loads, 2 processes = 1."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mertbench.pretrain import train
from mertbench.pretrain.checkpoint import list_checkpoints, load_checkpoint
from mertbench.pretrain.metrics import read_metrics

pytestmark = pytest.mark.slow


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_loss_falls_and_export_opens_with_load_model(synth_corpus, micro_config, tmp_path):
    from mertbench.models import load_model, validate_encoder

    data = synth_corpus(n=6, seconds=4.0)
    cfg = micro_config(data, tmp_path / "run", **{"optim.steps": 150, "optim.lr": 3e-3, "run.log_every": 10,
                                                  "loss.cqt_transform": "log", "run.checkpoint_every": 100})
    final = train(cfg)
    assert final == tmp_path / "run" / "export" / "final"
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert [r["step"] for r in rows] == list(range(10, 151, 10))
    first, last = rows[0], rows[-1]
    for key in ("loss", "loss_pred", "loss_cqt"):
        assert last[key] < 0.9 * first[key], (key, first[key], last[key])
    assert last["acc"] > first["acc"]
    for key in ("features_pen", "lr", "grad_norm", "audio_h_per_h", "masked_frac", "mixed_frac"):
        assert key in last
    assert 0.4 < np.mean([r["masked_frac"] for r in rows]) < 0.6
    enc = load_model(str(final))
    assert enc.num_layers == 2 and enc.dim == 32 and enc.normalize is None
    assert validate_encoder(enc).ok
    # a run folder opens as its final export (directory loader of mertbench.pretrain.export)
    import mertbench.pretrain.export  # noqa: F401  (registers the loader)

    assert load_model(str(tmp_path / "run")).fingerprint() == enc.fingerprint()
    init = load_model(str(tmp_path / "run" / "export" / "init"))
    assert init.fingerprint() != enc.fingerprint()
    assert (tmp_path / "run" / "export" / "final" / "pretraining.json").is_file()


def test_resume_matches_uninterrupted_run_step_for_step(synth_corpus, micro_config, tmp_path):
    data = synth_corpus(n=5, seconds=3.5)
    over = {"optim.steps": 8, "run.checkpoint_every": 3, "model.hidden_dropout": 0.1, "model.layerdrop": 0.0}
    train(micro_config(data, tmp_path / "full", **over))
    train(micro_config(data, tmp_path / "cut", **over, **{"run.stop_after": 5}))
    assert [s for s, _ in list_checkpoints(tmp_path / "cut" / "checkpoints")] == [3, 5]
    state = load_checkpoint(list_checkpoints(tmp_path / "cut" / "checkpoints")[-1][1])
    assert state["step"] == 5 and {"model", "optimizer", "scheduler", "scaler", "rng", "data"} <= set(state)
    with pytest.raises(Exception, match="--resume"):
        train(micro_config(data, tmp_path / "cut", **over))
    with pytest.raises(Exception, match="optim.lr"):
        train(micro_config(data, tmp_path / "cut", **over, **{"run.resume": True, "optim.lr": 1e-2}))
    with pytest.raises(Exception, match="run.seed"):  # another seed = another corpus subset and k-means fit
        train(micro_config(data, tmp_path / "cut", **over, **{"run.resume": True, "run.seed": 7}))
    # a checkpoint half-written when the run was killed (-9): its temp file goes on resume
    import subprocess
    import sys
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / "cut" / "checkpoints" / f".step-00000006.pt.tmp-{dead.pid}-x.pt"
    leftover.write_bytes(b"partial")
    train(micro_config(data, tmp_path / "cut", **over, **{"run.resume": True}))
    assert not leftover.exists()
    assert not [p for p in (tmp_path / "cut").rglob("*") if ".tmp-" in p.name]
    a = read_metrics(tmp_path / "full" / "metrics.csv")
    b = read_metrics(tmp_path / "cut" / "metrics.csv")
    assert [r["step"] for r in b] == list(range(1, 9))
    for ra, rb in zip(a, b):
        for key in ("loss", "loss_pred", "loss_cqt", "grad_norm", "lr"):
            assert ra[key] == rb[key], (ra["step"], key)
    wa, wb = _weights(tmp_path / "full" / "export" / "final"), _weights(tmp_path / "cut" / "export" / "final")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_injected_nan_step_is_skipped_and_counted(synth_corpus, micro_config, tmp_path, precision):
    data = synth_corpus(n=4, seconds=3.5)
    cfg = micro_config(data, tmp_path / "run", **{"optim.steps": 4, "run.debug_nan_steps": (1,),
                                                  "run.checkpoint_every": 1, "run.keep_checkpoints": 10,
                                                  "optim.precision": precision})
    train(cfg)
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert [r["skipped_total"] for r in rows] == [0, 1, 1, 1]
    assert "loss" not in rows[1]  # the skipped step contributes no loss to the log
    ck = {s: load_checkpoint(p) for s, p in list_checkpoints(tmp_path / "run" / "checkpoints")}
    before, after = ck[1]["model"], ck[2]["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)  # the NaN step changed nothing
    assert not all(torch.equal(ck[3]["model"][k], after[k]) for k in after)  # training went on
    assert ck[2]["skipped"] == 1 and ck[2]["updates"] == 1
    assert all(torch.isfinite(v).all() for v in ck[4]["model"].values() if v.is_floating_point())
    if precision == "fp16":
        assert rows[1]["loss_scale"] == 64.0 and rows[0]["loss_scale"] == 128.0  # dynamic loss scale halved
    log = (tmp_path / "run" / "train.log").read_text()
    assert "update skipped (1 skipped so far)" in log


def test_two_process_torchrun_equals_one_process_with_accumulation(synth_corpus, micro_config, tmp_path):
    """2 ranks x micro-batch 2 (gloo) == 1 rank x 2 accumulation x micro-batch 2: same global batch."""
    import json

    data = synth_corpus(n=6, seconds=3.5)
    over = {"optim.steps": 3, "mixture.prob": 0.5, "model.hidden_dropout": 0.1, "model.layerdrop": 0.0}
    single = micro_config(data, tmp_path / "single", **over, **{"optim.accum": 2})
    # the single-process reference runs through the CLI (also fills the label cache the ranks reuse)
    from mertbench.cli import app

    cfg_file = tmp_path / "single.json"
    cfg_file.write_text(json.dumps(single.to_dict()))
    out = CliRunner().invoke(app, ["pretrain", "--config", str(cfg_file), "--preset", "tiny",
                                   "--set", "run.progress=false"])
    assert out.exit_code == 0, out.output
    assert out.output.strip().splitlines()[-1].endswith(str(tmp_path / "single" / "export" / "final"))
    two = micro_config(data, tmp_path / "two", **over, **{"optim.accum": 1})
    two_file = tmp_path / "two.json"
    two_file.write_text(json.dumps(two.to_dict()))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", str(29500 + os.getpid() % 1000), "-m", "mertbench", "pretrain",
                           "--config", str(two_file)], capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    a = read_metrics(tmp_path / "single" / "metrics.csv")
    b = read_metrics(tmp_path / "two" / "metrics.csv")
    assert len(a) == len(b) == 3
    for ra, rb in zip(a, b):
        for key in ("loss", "loss_pred", "loss_cqt", "grad_norm", "mixed_frac"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-5, abs=1e-7), (ra["step"], key)
    wa, wb = _weights(tmp_path / "single" / "export" / "final"), _weights(tmp_path / "two" / "export" / "final")
    for k in wa:
        assert torch.allclose(wa[k], wb[k], rtol=1e-4, atol=1e-6), k


def test_cli_help_and_print_config():
    from mertbench.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["pretrain", "--help"])
    assert out.exit_code == 0 and "--teacher" in out.output and "--resume" in out.output
    out = runner.invoke(app, ["pretrain", "--preset", "95m", "--teacher", "kmeans", "--no-cqt",
                              "--mixture-prob", "0.25", "--steps", "7", "--set", "optim.lr=1e-4", "--print-config"])
    assert out.exit_code == 0, out.output
    import json

    cfg = json.loads(out.output)
    assert cfg["teacher"]["kind"] == "kmeans" and cfg["loss"]["cqt"] is False
    assert cfg["mixture"]["prob"] == 0.25 and cfg["optim"]["steps"] == 7 and cfg["optim"]["lr"] == 1e-4
    assert cfg["model"]["hidden_size"] == 768


def test_bench_pretrain_prints_throughput_and_ratio():
    from mertbench.cli import app

    out = CliRunner().invoke(app, ["bench", "pretrain", "-o", "steps=2", "-o", "warmup=1", "-o", "micro_batch=2",
                                   "-o", "threads=1", "-o", "clips=4"])
    assert out.exit_code == 0, out.output
    last = out.output.strip().splitlines()[-1]
    assert last.startswith("pretrain: ") and float(last.split()[1]) > 0
    assert "audio-hours per hour" in last and "nnAudio-CQT reference" in last
    assert "ratio_ours_over_reference" in out.output and "model_gflop_per_step" in out.output


def test_nan_file_is_skipped_listed_and_counted_not_fatal(synth_corpus, micro_config, tmp_path):
    """A clip whose header reads fine but whose samples are NaN is found only when decoded for the
    labels: it is left out of training, listed in skipped_clips.txt and counted in the run info."""
    import json

    import soundfile as sf

    data = synth_corpus(n=5, seconds=3.5)
    bad = np.full(int(3.5 * 24000), np.nan, dtype=np.float32)
    sf.write(data / "clip_bad.wav", bad, 24000, subtype="FLOAT")
    cfg = micro_config(data, tmp_path / "run", **{"optim.steps": 3, "teacher.fit_fraction": 1.0})
    train(cfg)
    listed = (tmp_path / "run" / "skipped_clips.txt").read_text()
    assert "clip_bad.wav" in listed and "NaN" in listed
    info = json.loads((tmp_path / "run" / "pretrain_run.json").read_text())
    assert info["corpus"]["skipped_bad_samples"] == 1
    # the second run reuses the label cache and still leaves the clip out
    train(micro_config(data, tmp_path / "run2", **{"optim.steps": 3, "teacher.fit_fraction": 1.0}))
    assert "clip_bad.wav" in (tmp_path / "run2" / "skipped_clips.txt").read_text()
