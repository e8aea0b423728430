"""MUSDB18 / MUSDB18-HQ source separation (loader ``musdb``).

Layout under ``$MERTBENCH_DATA/MUSDB18`` (or ``--root``; a single wrapping folder such as
``musdb18hq/`` or ``musdb18/`` is also accepted):

- MUSDB18-HQ (``musdb18hq.zip``): ``{train,test}/<Artist - Title>/{mixture,drums,bass,other,vocals}.wav``;
- the output of ``musdbconvert`` on MUSDB18 (what MARBLE runs): the same folders, plus
  ``accompaniment.wav`` and ``linear_mixture.wav`` (ignored).

MUSDB18 in its compressed stems form (``train/<name>.stem.mp4``) cannot be read by the audio
loader; mertbench then stops with the command that converts it
(``musdbconvert <stems root> <wav root>``, from the ``musdb`` package) — as MARBLE requires too.

Splits: the official 100/50 train/test tracks; ``valid`` = the 14 validation tracks of
``musdb``'s ``mus.yaml`` (taken out of train), so 86 / 14 / 50.
``Example.path`` is ``mixture.wav``; the label maps each stem of ``labels.names`` to its wav.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mertbench.datasets._base import Collector, official_loader, split_name_map
from mertbench.tasks.data import Example, LoadedDataset

if TYPE_CHECKING:
    from mertbench.tasks.spec import TaskSpec

DIRNAME = "MUSDB18"
STEMS = ["vocals", "drums", "bass", "other"]
#: The 14 validation tracks of musdb's mus.yaml.
VALIDATION_TRACKS = [
    "Actions - One Minute Smile", "Clara Berry And Wooldog - Waltz For My Victims", "Johnny Lokke - Promises & Lies",
    "Patrick Talbot - A Reason To Leave", "Triviul - Angelsaint", "Alexander Ross - Goodbye Bolero",
    "Fergessen - Nos Palpitants", "Leaf - Summerghost", "Skelpolu - Human Mistakes", "Young Griffo - Pennies",
    "ANiMAL - Rockshow", "James May - On The Line", "Meaxic - Take A Step", "Traffic Experiment - Sirens",
]


def musdb_root(root: Path) -> Path | None:
    """The folder holding ``train/`` and ``test/`` (the root or one wrapping folder)."""
    if (root / "train").is_dir() or (root / "test").is_dir():
        return root
    if root.is_dir():
        for sub in sorted(p for p in root.iterdir() if p.is_dir()):
            if (sub / "train").is_dir() or (sub / "test").is_dir():
                return sub
    return None


@official_loader("musdb")
def load_musdb(root: Path, spec: "TaskSpec", col: Collector) -> LoadedDataset:
    """MUSDB18 wav layout (HQ or converted), 86/14/50 tracks; label = stem -> wav path."""
    base = musdb_root(root)
    if base is None:
        raise col.fatal(root / "train", "MUSDB18 not found: expected train/ and test/ folders "
                                        "(MUSDB18-HQ, or musdbconvert output)")
    stems_files = sorted(base.glob("*/*.stem.mp4"))
    track_dirs = [p for sub in ("train", "test") if (base / sub).is_dir()
                  for p in (base / sub).iterdir() if p.is_dir()]
    if stems_files and not track_dirs:
        raise col.fatal(stems_files[0], "MUSDB18 is in the compressed .stem.mp4 form; convert it to wav first "
                                        f"(as MARBLE does): musdbconvert {base} {base.parent / (base.name + '-wav')} "
                                        "and pass --root to the converted folder")
    stems = list(spec.labels.names or STEMS)
    names = split_name_map(spec, {"train": "train", "valid": "valid", "test": "test"})
    valid_set = set(VALIDATION_TRACKS)
    splits: dict[str, list[Example]] = {}
    for split, official in names.items():
        folder = base / ("test" if official == "test" else "train")
        if not folder.is_dir():
            col.error(folder, "missing folder")
            splits[split] = []
            continue
        exs = []
        for track in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if official != "test" and ((track.name in valid_set) != (official == "valid")):
                continue
            mix = track / "mixture.wav"
            ok = col.require(mix, "mixture")
            label = {}
            for s in stems:
                ok = col.require(track / f"{s}.wav", f"{s} stem") and ok
                label[s] = str(track / f"{s}.wav")
            if ok:
                exs.append(Example(id=f"{official if official == 'test' else 'train'}/{track.name}", path=mix, label=label))
        if official == "valid":
            missing = [n for n in VALIDATION_TRACKS if not (folder / n).is_dir()]
            if missing:
                col.warn(folder, f"{len(missing)} of the 14 validation tracks are missing, e.g. {missing[0]!r}")
        splits[split] = exs
    return LoadedDataset(splits=splits, vocabulary=None)
