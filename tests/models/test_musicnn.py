"""musicnn (musicnn-mtt, musicnn-msd): the port against TensorFlow semantics, patching, the real weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from wheel_testkit import fake_musicnn_wheel, real_wheel

from mertbench.models.musicnn import PATCH, MusicnnEncoder

FIXTURE = Path(__file__).with_name("fixtures") / "musicnn_reference.npz"
WHEEL = "musicnn-0.1.0-py3-none-any.whl"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.delenv("MERTBENCH_WHEELS", raising=False)
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")


def _load(tmp_path, monkeypatch, name="musicnn-mtt"):
    from mertbench.models import load_model

    wheel, tf_vars = fake_musicnn_wheel(tmp_path, monkeypatch)
    return load_model(name, wheel=str(wheel)), tf_vars


# --- a reference in TensorFlow's layout and semantics (NHWC, 'valid' / 'same'), from musicnn/models.py ---

def _bn(x, v, name):
    return (x - v[f"{name}/moving_mean"]) / np.sqrt(v[f"{name}/moving_variance"] + 1e-3) * v[f"{name}/gamma"] \
        + v[f"{name}/beta"]


def _conv(x, v, name, pad_t):
    """tf.layers.conv2d on ``x [T, F, C]`` after zero-padding time by ``pad_t``, padding 'valid', ReLU."""
    k = v[f"{name}/kernel"].astype(np.float64)  # [kh, kw, cin, cout]
    x = np.pad(x, (pad_t, (0, 0), (0, 0)))
    win = sliding_window_view(x, k.shape[:2], axis=(0, 1))  # [T, F', cin, kh, kw]
    return np.maximum(np.einsum("tfcij,ijco->tfo", win, k, optimize=True) + v[f"{name}/bias"], 0)


def reference(v: dict, logmel: np.ndarray) -> dict:
    """musicnn's build_musicnn on one patch ``[T, 96]`` (float64)."""
    x = _bn(logmel[:, :, None].astype(np.float64), v, "batch_normalization")
    feats = []
    for i, name in enumerate(["conv2d", "conv2d_1"]):
        feats.append(_bn(_conv(x, v, name, (3, 3)), v, f"batch_normalization_{i + 1}").max(axis=1))
    for i, name in enumerate(["conv2d_2", "conv2d_3", "conv2d_4"]):
        kh = v[f"{name}/kernel"].shape[0]
        same = ((kh - 1) // 2, kh - 1 - (kh - 1) // 2)
        feats.append(_bn(_conv(x, v, name, same), v, f"batch_normalization_{i + 3}").max(axis=1))
    front = np.concatenate(feats, axis=1)  # [T, 561]
    mids, h = [], front
    for i, name in enumerate(["conv2d_5", "conv2d_6", "conv2d_7"]):
        y = _bn(_conv(h[:, :, None], v, name, (3, 3))[:, 0], v, f"batch_normalization_{i + 6}")
        h = y if i == 0 else y + h
        mids.append(h)
    feat = np.concatenate([front, *mids], axis=1)
    flat = np.stack([feat.max(axis=0), feat.mean(axis=0)], axis=-1).reshape(-1)
    pen = _bn(np.maximum(_bn(flat, v, "batch_normalization_9") @ v["dense/kernel"] + v["dense/bias"], 0), v,
              "batch_normalization_10")
    logits = pen @ v["dense_1/kernel"] + v["dense_1/bias"]
    return {"cnn": mids, "penultimate": pen, "taggram": 1 / (1 + np.exp(-logits))}


def test_port_equals_tensorflow_semantics_on_random_weights(tmp_path, monkeypatch):
    enc, tf_vars = _load(tmp_path, monkeypatch)
    wav = torch.randn(1, 40 * 256) * 0.3  # 41 frames: one (short) patch
    with torch.no_grad():
        logmel = enc.logmel(wav)
        ours = enc(wav)[:, 0]
        outs = enc.patch_outputs(wav)
    ref = reference(tf_vars, logmel[0].numpy())
    for i in range(3):
        want = ref["cnn"][i]
        assert np.abs(ours[i].numpy() - want).max() <= 1e-4 * np.abs(want).max(), f"cnn{i + 1}"
    assert np.allclose(outs["penultimate"][0, 0].numpy(), ref["penultimate"], rtol=1e-4, atol=1e-4)
    assert np.allclose(outs["taggram"][0, 0].numpy(), ref["taggram"], atol=1e-5)


def test_contract_frame_counts_and_geometry(tmp_path, monkeypatch):
    from mertbench.models.contract import validate_encoder

    enc, _ = _load(tmp_path, monkeypatch)
    assert (enc.sample_rate, enc.frame_rate, enc.num_layers, enc.dim, enc.normalize) == (16000, 62.5, 3, 64, None)
    report = validate_encoder(enc, "musicnn-mtt", seconds=(1.0, 3.5))
    assert report.ok, report
    for n in (257, 511, 512, 16000, 48000, 48128):
        with torch.no_grad():
            assert enc(torch.randn(1, n) * 0.1).shape == (3, 1, 1 + n // 256, 64)
    assert enc.min_samples == 257


def test_patches_are_musicnns_and_the_tail_sees_three_seconds(tmp_path, monkeypatch):
    assert MusicnnEncoder.patch_starts(100) == [0] and MusicnnEncoder.patch_starts(187) == [0]
    assert MusicnnEncoder.patch_starts(374) == [0, 187] and MusicnnEncoder.patch_starts(450) == [0, 187, 263]
    enc, _ = _load(tmp_path, monkeypatch)
    wav = torch.randn(1, 449 * 256) * 0.2  # 450 frames
    with torch.no_grad():
        out = enc(wav)
        logmel = enc.logmel(wav)
        for start, keep in ((0, slice(0, 187)), (187, slice(187, 374)), (263, slice(374, 450))):
            alone = enc.net.mid_end(enc.net.front_end(logmel[:, start:start + PATCH]))
            for i in range(3):
                want = alone[i][0].T[keep.start - start:keep.stop - start]
                assert torch.allclose(out[i, 0, keep], want, atol=1e-5), (start, i)
    outs = enc.patch_outputs(wav)
    assert outs["taggram"].shape == (1, 3, 50) and outs["penultimate"].shape == (1, 3, 200)
    assert outs["starts"].tolist() == [0, 187, 263]


def test_padded_batches_equal_items_run_alone(tmp_path, monkeypatch):
    enc, _ = _load(tmp_path, monkeypatch)
    wav = torch.randn(2, 9000) * 0.2
    wav[1, 5000:] = 0
    with torch.no_grad():
        out = enc(wav, lengths=torch.tensor([9000, 5000]))
        alone = enc(wav[1:, :5000])
    t = enc.num_frames(5000)
    assert torch.equal(out[:, 1, :t], alone[:, 0]) and not out[:, 1, t:].any()


def test_models_list_describe_and_fetch(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mertbench.cli import app

    res = CliRunner().invoke(app, ["models", "list"], env={"COLUMNS": "250"})
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.strip("│").split("│")]
            for line in res.output.splitlines() if line.startswith("│ musicnn-")}
    assert rows["musicnn-mtt"][:8] == ["musicnn-mtt", "musicnn", "16000 Hz", "62.5 Hz", "3", "64", "787,159",
                                      "wheel:musicnn"]
    assert rows["musicnn-msd"][:6] == ["musicnn-msd", "musicnn", "16000 Hz", "62.5 Hz", "3", "64"]
    enc, _ = _load(tmp_path, monkeypatch, "musicnn-msd")
    d = enc.describe()
    assert d["parameters"] == 787159 and d["weights"]["license"] == "ISC" and d["patch_frames"] == 187
    assert len(enc.tags) == 50 and enc.tags[0] == "rock" and len(enc.fingerprint()) == 16
    wheel, _ = fake_musicnn_wheel(tmp_path / "again", monkeypatch)
    out = CliRunner().invoke(app, ["models", "fetch", "musicnn-mtt", "--wheel", str(wheel)])
    assert out.exit_code == 0 and "musicnn-mtt: 75 tensors from musicnn-0.1.0-py3-none-any.whl" in out.output


def _signal(sr: int = 16000, seconds: float = 7.0) -> np.ndarray:
    """The fixture's test signal (tests/models/fixtures/make_musicnn_reference.py)."""
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * (300 + 200 * t) * t)
    x += 0.1 * np.sign(np.sin(2 * np.pi * 2 * t)) * np.sin(2 * np.pi * 1000 * t)
    x *= 0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t) ** 2
    return x.astype(np.float32)


@pytest.mark.skipif(real_wheel(WHEEL) is None, reason=f"the real {WHEEL} is not in $MERTBENCH_WHEELS or /tmp")
@pytest.mark.parametrize("name,folder", [("musicnn-mtt", "MTT_musicnn"), ("musicnn-msd", "MSD_musicnn")])
def test_real_weights_equal_musicnns_tensorflow_graph(name, folder):
    """Against musicnn's own TF graph + librosa's mel (recorded by fixtures/make_musicnn_reference.py)."""
    from mertbench.models import load_model
    from mertbench.models.wheel_weights import WHEELS, sha256_file

    wheel = real_wheel(WHEEL)
    assert sha256_file(wheel) == WHEELS["musicnn"].sha256
    ref = np.load(FIXTURE)
    step = int(ref["step"])
    enc = load_model(name, wheel=str(wheel))
    wav = torch.from_numpy(_signal())[None]
    with torch.no_grad():
        logmel = enc.logmel(wav)[0].numpy()
        ours = enc(wav)[:, 0].numpy()
        outs = enc.patch_outputs(wav)
    assert int(ref["n_frames"]) == PATCH
    assert np.abs(logmel[::step] - ref["logmel"]).max() < 1e-3  # float16 rounding of the mel power
    for i in range(3):
        want = ref[f"{folder}/cnn{i + 1}"]  # two complete patches, every 8th frame
        got = ours[i, :2 * PATCH][::step]
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max(), (name, i)
    assert np.allclose(outs["penultimate"][0, :2].numpy(), ref[f"{folder}/penultimate"], atol=1e-4)
    assert np.allclose(outs["taggram"][0, :2].numpy(), ref[f"{folder}/taggram"], atol=1e-5)


def test_cli_probe_runs_musicnn_on_all_layers(task_env, tmp_path, monkeypatch):
    """`mertbench probe --model musicnn-mtt --layer all` after `models fetch`: offline, from the cache."""
    import json

    from typer.testing import CliRunner

    from mertbench.cli import app
    from mertbench.probe.synthetic import write_tone_task

    wheel, _ = fake_musicnn_wheel(tmp_path, monkeypatch)
    runner = CliRunner()
    assert runner.invoke(app, ["models", "fetch", "musicnn-mtt", "--wheel", str(wheel)]).exit_code == 0
    wheel.unlink()
    data, specs = task_env
    write_tone_task(data, specs, name="tones", n_classes=3, counts={"train": 4, "valid": 2, "test": 2}, max_epochs=2)
    out = runner.invoke(app, ["probe", "--model", "musicnn-mtt", "--task", "tones", "--layer", "all", "--lr", "1e-3"])
    assert out.exit_code == 0, out.output
    result = json.loads(Path(out.output.strip().splitlines()[-1]).read_text())
    assert set(result["layers"]) == {"0", "1", "2", "weighted"}
