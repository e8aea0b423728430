"""The shared Registry: built-ins, entry-point plugins, a broken plugin reported by name."""
from __future__ import annotations

import importlib.metadata
import sys
import types

import pytest

import mertbench
from mertbench import registry as reg
from mertbench.errors import MertbenchError


class _EP:
    def __init__(self, name: str, value: str, obj=None, exc: Exception | None = None):
        self.name, self.value, self._obj, self._exc = name, value, obj, exc

    def load(self):
        if self._exc is not None:
            raise self._exc
        return self._obj


def _fake_entry_points(monkeypatch, table):
    monkeypatch.setattr(reg, "_entry_points", lambda group: table.get(group, []))
    monkeypatch.setattr(reg, "_FAILURES", {})


def test_broken_plugin_is_reported_and_rolled_back(monkeypatch):
    r: reg.Registry[int] = reg.Registry("widget", group="test.widgets")

    def good():
        r.add("good", 1)

    def half_then_fail():
        r.add("half", 2)  # registered before the import error: must be removed again
        raise ImportError("no module named 'missing_dep'")

    class Loader(_EP):
        def __init__(self, name, fn):
            super().__init__(name, f"pkg.{name}")
            self.fn = fn

        def load(self):
            return self.fn()

    _fake_entry_points(monkeypatch, {"test.widgets": [Loader("ok", good), Loader("broken", half_then_fail)]})
    with pytest.warns(RuntimeWarning, match="'broken'.*missing_dep"):
        assert r.names() == ["good"]
    assert reg.plugin_failures() == [{"group": "test.widgets", "name": "broken",
                                      "error": "ImportError: no module named 'missing_dep'"}]
    with pytest.raises(MertbenchError, match="unknown widget 'half'"):
        r.get("half")


def test_model_plugin_through_entry_point(monkeypatch):
    from mertbench.models import registry as models_registry
    from mertbench.models.registry import ENCODERS, register_encoder

    module = types.ModuleType("fake_mertbench_plugin")

    def _load():
        @register_encoder("fake-plugin-encoder", "registered by a fake entry point")
        def _factory(**options):
            import mertbench

            return mertbench.load_model("toy", window_s=None)

        return module

    monkeypatch.setitem(sys.modules, "fake_mertbench_plugin", module)
    broken = _EP("broken-plugin", "nowhere.mod", exc=ModuleNotFoundError("No module named 'nowhere'"))

    class Good(_EP):
        def load(self):
            return _load()

    _fake_entry_points(monkeypatch, {"mertbench.models": [Good("fake", "fake_mertbench_plugin"), broken]})
    ENCODERS.load()  # the built-ins (their modules register on first import only)
    monkeypatch.setattr(ENCODERS, "_items", dict(ENCODERS._items))
    monkeypatch.setattr(ENCODERS, "_loaded", False)
    with pytest.warns(RuntimeWarning, match="broken-plugin"):
        names = [e.name for e in models_registry.list_encoders()]
    assert "fake-plugin-encoder" in names and "toy" in names and "mert-95m" in names  # built-ins intact
    from typer.testing import CliRunner

    from mertbench.cli import app

    out = CliRunner().invoke(app, ["models", "list"])
    assert out.exit_code == 0 and "broken-plugin" in out.output and "fake-plugin-encoder" in out.output
    assert mertbench.load_model("fake-plugin-encoder").dim == 32


def test_entry_points_are_read_from_importlib_metadata(monkeypatch):
    seen = []

    def fake(group=None):
        seen.append(group)
        return []

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    r: reg.Registry[int] = reg.Registry("thing", group="mertbench.things")
    assert r.names() == [] and seen == ["mertbench.things"]


def test_plugins_command_lists_groups():
    from typer.testing import CliRunner

    from mertbench.cli import app

    out = CliRunner().invoke(app, ["plugins", "--json"])
    assert out.exit_code == 0, out.output
    import json

    data = json.loads(out.output)
    assert set(data["plugins"]) == {"mertbench.models", "mertbench.tasks", "mertbench.loaders",
                                    "mertbench.families", "mertbench.metrics"}
