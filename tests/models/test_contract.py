"""The model contract, the registry and `mertbench models validate`."""
from __future__ import annotations

import sys
import textwrap

import pytest
import torch
from typer.testing import CliRunner

import mertbench
from mertbench.cli import app
from mertbench.errors import ModelError
from mertbench.models import Encoder, validate_encoder


def test_logmel_builtin_follows_contract():
    enc = mertbench.load_model("logmel")
    out = enc(torch.randn(3, 24000))
    assert out.shape == (1, 3, enc.num_frames(24000), 128)
    assert validate_encoder(enc).ok


class _WrongLayers(Encoder):
    def __init__(self):
        super().__init__()
        self.name, self.sample_rate, self.frame_rate, self.num_layers, self.dim = "bad", 16000, 50.0, 3, 8

    def forward(self, wav, lengths=None):
        t = wav.shape[1] // 320
        return torch.zeros(2, wav.shape[0], t, 8)  # 2 layers, claims 3


class _Random(_WrongLayers):
    def forward(self, wav, lengths=None):
        t = wav.shape[1] // 320
        return torch.randn(3, wav.shape[0], t, 8)


def test_validator_explains_wrong_layer_count():
    rep = validate_encoder(_WrongLayers())
    assert not rep.ok
    failed = [c for c in rep.checks if not c.passed]
    assert failed[0].name.startswith("output shape") and "num_layers=3" in failed[0].detail


def test_validator_catches_nondeterminism():
    rep = validate_encoder(_Random())
    assert not rep.ok
    assert any(c.name.startswith("deterministic") and not c.passed for c in rep.checks)


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / "myplug.py").write_text(textwrap.dedent('''
        import torch
        from mertbench.models import Encoder

        class Tiny(Encoder):
            def __init__(self, dim=4):
                super().__init__()
                self.name, self.sample_rate, self.frame_rate, self.num_layers, self.dim = "tiny", 16000, 50.0, 2, dim
                self.proj = torch.nn.Linear(320, dim)
            def forward(self, wav, lengths=None):
                b, n = wav.shape
                frames = wav[:, : n // 320 * 320].reshape(b, -1, 320)
                h = self.proj(frames)
                return torch.stack([h, h * 2])

        def good(**kw):
            torch.manual_seed(0)
            return Tiny(**kw)

        def broken():
            return "not an encoder"
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("myplug", None)


def test_plugin_string_loads_and_passes_options(plugin_module):
    enc = mertbench.load_model("myplug:good", dim=6)
    assert enc.dim == 6 and not enc.training
    assert validate_encoder(enc).ok


def test_plugin_broken_is_rejected(plugin_module):
    with pytest.raises(ModelError, match="not a mertbench.models.Encoder"):
        mertbench.load_model("myplug:broken")


def test_unknown_spec_suggests_names():
    with pytest.raises(ModelError, match="Did you mean logmel"):
        mertbench.load_model("logmell")


def test_cli_models_validate(plugin_module):
    runner = CliRunner()
    ok = runner.invoke(app, ["models", "validate", "myplug:good"])
    assert ok.exit_code == 0, ok.output
    assert "passes the model contract" in ok.output
    bad = runner.invoke(app, ["models", "validate", "myplug:broken"])
    assert bad.exit_code == 1 and "not a mertbench.models.Encoder" in bad.output
    listing = runner.invoke(app, ["models", "list"])
    assert listing.exit_code == 0 and "logmel" in listing.output


def test_fingerprint_changes_with_weights(plugin_module):
    a = mertbench.load_model("myplug:good")
    b = mertbench.load_model("myplug:good")
    assert a.fingerprint() == b.fingerprint()
    with torch.no_grad():
        b.proj.weight[0, 0] += 1
    assert a.fingerprint() != b.fingerprint()
