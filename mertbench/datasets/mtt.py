"""MagnaTagATune top-50 tagging (loader ``mtt``).

Layout under ``$MERTBENCH_DATA/MTT`` (or ``--root``):

- ``annotations_final.csv``: tab-separated despite the name, every field double-quoted, header
  ``clip_id``, 188 tag columns (0/1), ``mp3_path`` (CRLF or LF);
- the unzipped ``mp3.zip.00{1,2,3}``: ``mp3/<hex>/<artist>-<album>-<nn>-<title>-<start>-<end>.mp3``
  (MARBLE's place) or the 16 folders ``0``..``f`` directly in the dataset folder.

Splits (``dataset.options.split``):

- ``marble`` (default): by the first character of the clip's folder, ``0``-``b`` train, ``c``
  valid, ``d``-``f`` test (MARBLE v1 / jukemir), every clip kept (also clips with no top-50 tag).
  The three corrupt mp3s of the official copy (clip ids 35644, 55753, 57881, all in train) are left
  out as MARBLE (dev branch) and jukemir do, and reported: 18,706 / 1,825 / 5,329.
- ``minzwon``: the split of minzwon/sota-music-tagging-models, ``split/mtat/{train,valid,test}.npy``
  (arrays of ``"<row index>\\t<folder>/<file>.mp3"``; rows index ``annotations_final.csv``), read from
  ``<root>/split/mtat/``, ``<root>/`` or fetched once into the cache. 15,250 / 1,529 / 4,332.

Labels: the top-50 tags of the clip (list, possibly empty). The vocabulary is the standard top-50
list (``labels.vocabulary`` of the spec, minzwon's ``tags.npy`` order); MARBLE derives the same 50
tags by count (ordered by count) — the order does not change macro metrics. Every vocabulary tag
must be a column of ``annotations_final.csv``.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mertbench.datasets._base import (
    Collector,
    check_disjoint,
    first_existing,
    official_loader,
    read_text,
    split_name_map,
)
from mertbench.datasets.split_lists import RemoteList, locate
from mertbench.tasks.data import Example, LoadedDataset

if TYPE_CHECKING:
    from mertbench.tasks.spec import TaskSpec

DIRNAME = "MTT"

#: The standard top-50 MTT tags (minzwon ``split/mtat/tags.npy`` order).
TOP50 = ["guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
         "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals",
         "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft",
         "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
         "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral"]

#: clip_id of the three corrupt mp3s of the official copy (one is
#: ``6/norine_braun-now_and_zen-08-gently-117-146.mp3``; the others are in folders 8 and 9).
CORRUPT_CLIPS = frozenset({"35644", "55753", "57881"})
SKIP_REASON = "known corrupt MTT mp3 (clip ids 35644, 55753, 57881; MARBLE drops them)"

_FOLDER_SPLIT = {**{c: "train" for c in "0123456789ab"}, "c": "valid", **{c: "test" for c in "def"}}

_MINZWON = "https://raw.githubusercontent.com/minzwon/sota-music-tagging-models/master/split/mtat/{name}"


def _npy_validator(expected: int | None):
    def validate(data: bytes) -> None:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        if arr.ndim != 1 or arr.dtype.kind != "U":
            raise ValueError(f"expected a 1-D unicode array, got {arr.dtype} {arr.shape}")
        if expected is not None and arr.size != expected:
            raise ValueError(f"{arr.size} entries, the official file has {expected}")

    return validate


MINZWON_LISTS = {s: RemoteList(f"{s}.npy", _MINZWON.format(name=f"{s}.npy"), None, _npy_validator(n),
                               "minzwon/sota-music-tagging-models split/mtat")
                 for s, n in (("train", 15250), ("valid", 1529), ("test", 4332))}
#: Official counts with the three corrupt clips left out (MARBLE folder split) and of minzwon's split.
OFFICIAL_COUNTS = {"marble": {"train": 18706, "valid": 1825, "test": 5329},
                   "minzwon": {"train": 15250, "valid": 1529, "test": 4332}}


def read_annotations(path: Path, col: Collector) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of ``annotations_final.csv`` (tab-separated, quoted; CRLF or LF)."""
    reader = csv.reader(io.StringIO(read_text(path)), delimiter="\t", quotechar='"')
    try:
        header = next(reader)
    except StopIteration:
        raise col.fatal(path, "annotations file is empty") from None
    if not header or header[0] != "clip_id" or header[-1] != "mp3_path":
        raise col.fatal(path, f"unexpected header (first column {header[:1]}, last {header[-1:]}); expected a "
                              "tab-separated file starting with clip_id and ending with mp3_path")
    rows = []
    for i, fields in enumerate(reader, start=2):
        if not fields:
            continue
        if len(fields) != len(header):
            col.error(path, f"line {i}: {len(fields)} fields, the header has {len(header)}")
            continue
        rows.append(dict(zip(header, fields)))
    return header, rows


def mp3_dir(root: Path) -> Path:
    """``<root>/mp3`` if it exists, else the dataset folder itself (hex folders at the top)."""
    return root / "mp3" if (root / "mp3").is_dir() else root


@official_loader("mtt")
def load_mtt(root: Path, spec: "TaskSpec", col: Collector) -> LoadedDataset:
    """MTT with MARBLE's folder split (or minzwon's), labels = top-50 tags of each clip."""
    mode = spec.dataset.options.get("split", "marble")
    if mode not in ("marble", "minzwon"):
        raise col.fatal(None, f"dataset.options.split must be 'marble' or 'minzwon', got {mode!r}")
    ann = root / "annotations_final.csv"
    if not ann.is_file():
        raise col.fatal(ann, "missing annotations_final.csv (download it from https://mirg.city.ac.uk/datasets/magnatagatune/)")
    header, rows = read_annotations(ann, col)
    vocab = list(spec.labels.vocabulary or TOP50)
    missing_tags = [t for t in vocab if t not in header]
    if missing_tags:
        raise col.fatal(ann, f"tag column(s) {missing_tags[:5]} missing from the header")
    audio = mp3_dir(root)
    names = split_name_map(spec, {"train": "train", "valid": "valid", "test": "test"})
    splits: dict[str, list[Example]] = {s: [] for s in names}
    skipped: dict[str, int] = {}

    def make(row: dict[str, str], where: str) -> Example | None:
        rel = row["mp3_path"].strip()
        cid = row["clip_id"].strip()
        if cid in CORRUPT_CLIPS:
            col.info(audio / rel, f"known corrupt mp3 of the official copy (clip {cid}); left out as MARBLE does")
            skipped[SKIP_REASON] = skipped.get(SKIP_REASON, 0) + 1
            return None
        path = audio / rel
        if not col.require(path, f"mp3 listed in {where}"):
            return None
        tags = [t for t in vocab if row[t].strip() == "1"]
        return Example(id=rel, path=path, label=tags, meta={"clip_id": cid})

    if mode == "marble":
        inverse = {v: k for k, v in names.items()}
        for _i, row in enumerate(rows):
            rel = row["mp3_path"].strip()
            if not rel:
                col.warn(ann, f"clip {row['clip_id']} has an empty mp3_path; skipped")
                skipped["empty mp3_path"] = skipped.get("empty mp3_path", 0) + 1
                continue
            official = _FOLDER_SPLIT.get(rel.split("/")[0][:1].lower())
            if official is None:
                col.error(ann, f"clip {row['clip_id']}: mp3_path {rel!r} is not in a folder 0-9/a-f")
                continue
            if official not in inverse:
                continue
            ex = make(row, f"{ann.name} ({official})")
            if ex is not None:
                splits[inverse[official]].append(ex)
    else:
        split_dir = first_existing([root / "split" / "mtat", root / "split"]) or root
        for split, official in names.items():
            path = locate(MINZWON_LISTS[official], split_dir, DIRNAME, col)
            entries = np.load(path, allow_pickle=False)
            for entry in entries:
                idx_s, _, rel = str(entry).partition("\t")
                try:
                    row = rows[int(idx_s)]
                except (ValueError, IndexError):
                    col.error(path, f"entry {str(entry)!r}: row index outside annotations_final.csv")
                    continue
                if row["mp3_path"].strip() != rel.strip():
                    col.error(path, f"entry {str(entry)!r}: row {idx_s} of annotations_final.csv is "
                                    f"{row['mp3_path']!r} (wrong split list or annotations file?)")
                    continue
                ex = make(row, path.name)
                if ex is not None:
                    splits[split].append(ex)
    check_disjoint(splits, col, key=lambda ex: ex.id, what="clip")
    for split, exs in splits.items():
        if not exs:
            col.error(ann, f"split {split!r} is empty")
    return LoadedDataset(splits=splits, vocabulary=vocab, skipped=skipped)
