"""NSynth (loader ``nsynth``): instrument family or pitch of 4 s notes, official splits.

Layout under ``$MERTBENCH_DATA/NSynth`` (or ``--root``): the three ``nsynth-<split>.jsonwav.tar.gz``
archives extracted, giving ``nsynth-{train,valid,test}/examples.json`` and
``nsynth-<split>/audio/<note_str>.wav``. Both placements seen in practice are accepted: directly in
the dataset folder (where MARBLE's download script extracts them) or under ``nsynth-data/`` (where
MARBLE's config looks).

``dataset.options.label``:

- ``instrument_family`` (NSynth instrument task): ``instrument_family_str``, 11 classes in MARBLE's
  order (bass, brass, flute, guitar, keyboard, mallet, organ, reed, string, synth_lead, vocal);
- ``pitch`` (NSynth pitch task): the MIDI pitch as a class name ``"0"``..``"127"`` (128 classes).
  MARBLE stores ``pitch - 1`` as the class index; a fixed relabelling of classes does not change
  accuracy, so the MIDI number itself is used here.

Counts: 289,205 / 12,678 / 4,096.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from mertbench.datasets._base import Collector, official_loader, split_name_map
from mertbench.tasks.data import Example, LoadedDataset

if TYPE_CHECKING:
    from mertbench.tasks.spec import TaskSpec

DIRNAME = "NSynth"
FAMILIES = ["bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead", "vocal"]
PITCHES = [str(p) for p in range(128)]
_REQUIRED = ("note_str", "instrument_family_str", "pitch")


def split_dir(root: Path, official: str) -> Path:
    """``<root>/nsynth-<split>`` or ``<root>/nsynth-data/nsynth-<split>`` (whichever exists)."""
    for cand in (root / f"nsynth-{official}", root / "nsynth-data" / f"nsynth-{official}"):
        if (cand / "examples.json").is_file():
            return cand
    return root / f"nsynth-{official}"


@official_loader("nsynth")
def load_nsynth(root: Path, spec: "TaskSpec", col: Collector) -> LoadedDataset:
    """NSynth notes with the official splits; label per ``dataset.options.label``."""
    kind = spec.dataset.options.get("label", "instrument_family")
    if kind not in ("instrument_family", "pitch"):
        raise col.fatal(None, f"dataset.options.label must be 'instrument_family' or 'pitch', got {kind!r}")
    vocab = list(spec.labels.vocabulary or (FAMILIES if kind == "instrument_family" else PITCHES))
    known = set(vocab)
    names = split_name_map(spec, {"train": "train", "valid": "valid", "test": "test"})
    splits: dict[str, list[Example]] = {}
    for split, official in names.items():
        folder = split_dir(root, official)
        meta_path = folder / "examples.json"
        if not meta_path.is_file():
            col.error(meta_path, f"missing: extract nsynth-{official}.jsonwav.tar.gz into {root} "
                                 f"(or {root / 'nsynth-data'})")
            splits[split] = []
            continue
        try:
            entries = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            col.error(meta_path, f"invalid JSON ({exc.msg} at line {exc.lineno})")
            splits[split] = []
            continue
        exs = []
        for key, e in sorted(entries.items()):
            if not isinstance(e, dict) or any(k not in e for k in _REQUIRED):
                col.error(meta_path, f"entry {key!r} lacks one of {list(_REQUIRED)}")
                continue
            label = str(e["instrument_family_str"]) if kind == "instrument_family" else str(int(e["pitch"]))
            if label not in known:
                col.error(meta_path, f"entry {key!r}: label {label!r} is outside the vocabulary")
                continue
            path = folder / "audio" / f"{e['note_str']}.wav"
            if not col.require(path, f"audio of note {e['note_str']}"):
                continue
            exs.append(Example(id=str(e["note_str"]), path=path, label=label,
                               meta={"instrument": e.get("instrument_str"), "velocity": e.get("velocity"),
                                     "pitch": e.get("pitch"), "family": e.get("instrument_family_str")}))
        if not exs:
            col.error(meta_path, f"split {split!r} is empty")
        splits[split] = exs
    return LoadedDataset(splits=splits, vocabulary=vocab)
