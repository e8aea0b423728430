"""GTZAN genre (loader ``gtzan``) and the GTZAN layout shared with the beat task.

Expected layout under ``$MERTBENCH_DATA/GTZAN`` (or ``--root``), any of:

- original tarball: ``genres/<genre>/<genre>.000NN.wav`` (``.au`` files of older copies accepted);
- Kaggle zip: ``Data/genres_original/<genre>/<genre>.000NN.wav`` (MARBLE symlinks it to ``genres``);
- ``genres_original/...`` (the Kaggle folder moved up).

Split: the Kereliuk/Sturm fault-filtered lists ``train_filtered.txt``, ``valid_filtered.txt``,
``test_filtered.txt`` from coreyker/dnn-mgr @ bdad579 (443/197/290 lines, one
``<genre>/<genre>.000NN.wav`` per line). They are not part of the GTZAN download: put them in the
dataset folder (MARBLE's place), in ``<root>/splits/``, or let mertbench fetch them once into
``$MERTBENCH_CACHE/splits/GTZAN/`` (see :mod:`mertbench.datasets.split_lists`). A downloaded list
is verified against its official structure (line counts, training-set genre counts, format,
disjointness); its SHA-256 is not pinned because it could not be read from here (unverified).

``jazz/jazz.00054.wav`` is corrupt in the Kaggle copy (its header is not RIFF). MARBLE deletes it
from the training list whatever the copy; mertbench leaves it out the same way (train: 442) and
reports it (severity ``info``).

Labels: the genre (folder name); classes in MARBLE's order (alphabetical).
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from mertbench.datasets._base import Collector, check_disjoint, official_loader, read_lines, split_name_map
from mertbench.datasets.split_lists import RemoteList, locate
from mertbench.tasks.data import Example, LoadedDataset

if TYPE_CHECKING:
    from mertbench.tasks.spec import TaskSpec

GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
DIRNAME = "GTZAN"
KAGGLE_CORRUPT = "jazz/jazz.00054.wav"
SKIP_REASON = "jazz.00054 (corrupt in the Kaggle copy; MARBLE drops it)"

_COMMIT = "bdad579ea6cb37b665ea6019fe1026a6ce20cbc7"
_URL = f"https://raw.githubusercontent.com/coreyker/dnn-mgr/{_COMMIT}/gtzan/{{name}}"
_LINE = re.compile(r"^({})/\1\.\d{{5}}\.wav$".format("|".join(GENRES)))

#: Official line counts of the fault-filtered lists.
OFFICIAL_LINES = {"train": 443, "valid": 197, "test": 290}
#: Official per-genre counts of train_filtered.txt.
OFFICIAL_TRAIN_GENRES = {"blues": 46, "classical": 48, "country": 45, "disco": 42, "hiphop": 47, "jazz": 43,
                         "metal": 44, "pop": 41, "reggae": 43, "rock": 44}


def _validator(split: str):
    def validate(data: bytes) -> None:
        lines = [ln.strip() for ln in data.decode("utf-8", errors="replace").splitlines() if ln.strip()]
        bad = [ln for ln in lines if not _LINE.match(ln)]
        if bad:
            raise ValueError(f"{len(bad)} line(s) are not '<genre>/<genre>.000NN.wav', e.g. {bad[0]!r}")
        if len(set(lines)) != len(lines):
            raise ValueError("duplicate lines")
        expected = OFFICIAL_LINES[split]
        # MARBLE's edited train list lacks jazz.00054 (442 lines); accept both.
        ok = {expected, expected - 1} if split == "train" else {expected}
        if len(lines) not in ok:
            raise ValueError(f"{len(lines)} lines, the official list has {expected}")
        if split == "train":
            counts = Counter(ln.split("/")[0] for ln in lines)
            if KAGGLE_CORRUPT not in lines:
                counts["jazz"] += 1
            if dict(counts) != OFFICIAL_TRAIN_GENRES:
                raise ValueError(f"genre counts {dict(sorted(counts.items()))} differ from the official ones")

    return validate


#: The three fault-filtered lists.
SPLIT_LISTS = {s: RemoteList(f"{s}_filtered.txt", _URL.format(name=f"{s}_filtered.txt"), None, _validator(s),
                             f"coreyker/dnn-mgr@{_COMMIT[:7]}") for s in ("train", "valid", "test")}


def audio_dir(root: Path, col: Collector) -> Path:
    """The folder holding ``<genre>/<genre>.000NN.wav`` (original, Kaggle or moved layout)."""
    for cand in (root / "genres", root / "Data" / "genres_original", root / "genres_original",
                 root / "gtzan_genre" / "genres"):
        if cand.is_dir() and any((cand / g).is_dir() for g in GENRES):
            return cand
    raise col.fatal(root, "GTZAN audio not found: expected genres/<genre>/ (original tarball) or "
                          "Data/genres_original/<genre>/ (Kaggle zip) under this folder")


def audio_path(adir: Path, rel: str) -> Path:
    """Path of a listed file; falls back to ``.au`` for old copies that hold ``.au`` files."""
    p = adir / rel
    if not p.exists():
        au = p.with_suffix(".au")
        if au.exists():
            return au
    return p


def read_split_lists(root: Path, spec: "TaskSpec", col: Collector,
                     skipped: dict[str, int] | None = None) -> dict[str, list[str]]:
    """The fault-filtered lines per spec split (CRLF or LF; Kaggle's corrupt file removed from train).

    ``skipped`` (if given) counts the lines left out on purpose, by reason.
    """
    names = split_name_map(spec, {"train": "train", "valid": "valid", "test": "test"})
    out: dict[str, list[str]] = {}
    for split, official in names.items():
        path = locate(SPLIT_LISTS[official], root, DIRNAME, col)
        lines = read_lines(path)
        good = []
        for i, ln in enumerate(lines, start=1):
            if not _LINE.match(ln):
                col.error(path, f"line {i}: {ln!r} is not '<genre>/<genre>.000NN.wav'")
                continue
            if ln == KAGGLE_CORRUPT:
                col.info(path, f"{KAGGLE_CORRUPT} left out of {split} as MARBLE does (corrupt in the Kaggle copy)")
                if skipped is not None:
                    skipped[SKIP_REASON] = skipped.get(SKIP_REASON, 0) + 1
                continue
            good.append(ln)
        if not good:
            col.error(path, f"split list for {split!r} is empty")
        out[split] = good
    return out


@official_loader("gtzan")
def load_gtzan(root: Path, spec: "TaskSpec", col: Collector) -> LoadedDataset:
    """GTZAN genre: fault-filtered splits, label = genre folder (10 classes)."""
    skipped: dict[str, int] = {}
    lists = read_split_lists(root, spec, col, skipped)
    adir = audio_dir(root, col)
    splits: dict[str, list[Example]] = {}
    for split, lines in lists.items():
        exs = []
        for ln in lines:
            path = audio_path(adir, ln)
            if not col.require(path, f"audio file listed in the {split} split"):
                continue
            exs.append(Example(id=ln, path=path, label=ln.split("/")[0]))
        splits[split] = exs
    check_disjoint(splits, col, key=lambda ex: ex.id, what="track")
    return LoadedDataset(splits=splits, vocabulary=list(spec.labels.vocabulary or GENRES), skipped=skipped)
