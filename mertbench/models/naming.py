"""Display names of models for leaderboards: what a reader should see instead of a folder path.

A registered name or a plugin string is shown as it is. A checkpoint folder is shown as
- the ``display_name`` in its ``mertbench.json``, when one was recorded (e.g. by the demo's
  random-init export);
- else, for a mertbench pretraining export (``pretraining.json``), ``mert-<preset> (pretrained,
  <step> steps)`` or ``mert-<preset> (random init)`` for step 0;
- else the folder's name.
Nothing but these small JSON files is read.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def display_name(model: str) -> str:
    """The name a leaderboard shows for ``model`` (see the module docstring)."""
    path = Path(model).expanduser()
    if not path.is_dir():
        return model
    name = _json(path / "mertbench.json").get("display_name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    pre = _json(path / "pretraining.json")
    if "preset" in pre and isinstance(pre.get("step"), int):
        step = int(pre["step"])
        return f"mert-{pre['preset']} ({'random init' if step == 0 else f'pretrained, {step:,} steps'})"
    return path.name or model


def display_names(models: list[str]) -> dict[str, str]:
    """``model -> display name`` for the models of one table; models whose names would collide are
    told apart by their folder (``name [folder]``), and if that still collides, by their full spec."""
    first = {m: display_name(m) for m in models}
    out: dict[str, str] = {}
    for m in models:
        clash = [o for o in models if o != m and first[o] == first[m]]
        if not clash:
            out[m] = first[m]
            continue
        tagged = f"{first[m]} [{Path(m).name}]"
        if any(f"{first[o]} [{Path(o).name}]" == tagged for o in clash):
            tagged = f"{first[m]} [{m}]"
        out[m] = tagged
    return out
