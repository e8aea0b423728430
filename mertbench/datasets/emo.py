"""Emomusic / "1000 songs" (loader ``emo``): static valence and arousal regression.

Layout under ``$MERTBENCH_DATA/EMO`` (or ``--root``), both archives of cvml.unige.ch extracted in
the same folder (as MARBLE does):

- ``clips_45seconds/<song_id>.mp3`` (from ``clips_45sec.tar.gz``; ids 2..1000, not zero-padded);
- ``songs_info.csv``, ``static_annotations.csv`` (and the four ``*_cont_*.csv``) from
  ``annotations.tar.gz``, comma-separated with a header; values may carry spaces. The CSVs are
  looked for in the folder itself, then in ``annotations/``.

Split (MARBLE v1 = jukemir): ``Mediaeval 2013 set == evaluation`` -> test; development songs ->
train/valid by ``sha1(normalised artist) mod 10`` (8 train : 2 valid), the artist lower-cased, kept
to ASCII letters and spaces, whitespace collapsed. Counts 504 / 115 / 125.

Labels: ``[valence, arousal]`` in ``labels.names`` order, z-scored with the mean and (population)
standard deviation of the development songs (train + valid), as MARBLE does. MARBLE's own output
order is (arousal, valence); the order has no effect on the per-dimension R². The raw 1-9 ratings
are kept in ``meta``. Audio: the whole 45 s clip (MARBLE keeps the first 30 s; see the task spec).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mertbench.datasets._base import Collector, official_loader, read_text, sha1_int, split_name_map
from mertbench.tasks.data import Example, LoadedDataset

if TYPE_CHECKING:
    from mertbench.tasks.spec import TaskSpec

DIRNAME = "EMO"
_RATIOS = ["train"] * 8 + ["valid"] * 2
_EXTRA_CSVS = ("valence_cont_average.csv", "valence_cont_std.csv", "arousal_cont_average.csv", "arousal_cont_std.csv")


def parse_minsec(value: str) -> float:
    """``"1.33"`` (1 min 33 s) -> 93.0; ``"0.5"`` means 0 min 50 s, as jukemir reads it."""
    parts = value.strip().split(".")
    seconds = float(parts[0]) * 60
    if len(parts) > 1:
        if len(parts) != 2:
            raise ValueError(f"{value!r} is not min.sec")
        sec = parts[1] + "0" if len(parts[1]) == 1 else parts[1]
        seconds += float(sec)
    return seconds


def normalise_artist(artist: str) -> str:
    """Lower-case, keep ASCII letters and whitespace, collapse whitespace (jukemir's rule)."""
    kept = "".join(c for c in artist.lower() if ord(c) < 128 and (c.isalpha() or c.isspace()))
    return " ".join(kept.split())


def _read_csv(path: Path) -> list[dict[str, str]]:
    rows = csv.DictReader(io.StringIO(read_text(path)))
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in rows]


def annotations_dir(root: Path) -> Path | None:
    for cand in (root, root / "annotations"):
        if (cand / "songs_info.csv").is_file():
            return cand
    return None


@official_loader("emo")
def load_emo(root: Path, spec: "TaskSpec", col: Collector) -> LoadedDataset:
    """Emomusic with jukemir's artist-hash split and development-set z-scored targets."""
    adir = annotations_dir(root)
    if adir is None:
        raise col.fatal(root / "songs_info.csv", "missing songs_info.csv: extract annotations.tar.gz in the dataset folder")
    info_path, static_path = adir / "songs_info.csv", adir / "static_annotations.csv"
    if not static_path.is_file():
        raise col.fatal(static_path, "missing static_annotations.csv (part of annotations.tar.gz)")
    for name in _EXTRA_CSVS:
        if not (adir / name).is_file():
            col.warn(adir / name, "missing (not needed for the static task, but part of the official annotations)")
    clips = root / "clips_45seconds"
    if not clips.is_dir():
        raise col.fatal(clips, "missing audio folder clips_45seconds/ (extract clips_45sec.tar.gz)")
    names = split_name_map(spec, {"train": "train", "valid": "valid", "test": "test"})
    targets = list(spec.labels.names or ["valence", "arousal"])
    if sorted(targets) != ["arousal", "valence"]:
        raise col.fatal(None, f"labels.names must be valence and arousal (any order), got {targets}")

    static: dict[str, dict[str, float]] = {}
    for i, row in enumerate(_read_csv(static_path), start=2):
        try:
            static[str(int(row["song_id"]))] = {"arousal": float(row["mean_arousal"]), "valence": float(row["mean_valence"])}
        except (KeyError, ValueError) as exc:
            col.error(static_path, f"line {i}: cannot read song_id/mean_arousal/mean_valence ({exc})")

    songs: list[dict] = []
    seen_titles: set[tuple[str, str]] = set()
    required = ("song_id", "Artist", "Song title", "start of the segment (min.sec)",
                "end of the segment (min.sec)", "Mediaeval 2013 set")
    for i, row in enumerate(_read_csv(info_path), start=2):
        missing = [k for k in required if k not in row]
        if missing:
            raise col.fatal(info_path, f"missing column(s) {missing}")
        sid = str(int(row["song_id"]))
        title = (row["Artist"], row["Song title"])
        if title in seen_titles:
            col.error(info_path, f"line {i}: duplicate song {title}")
            continue
        seen_titles.add(title)
        try:
            start = parse_minsec(row["start of the segment (min.sec)"])
            end = parse_minsec(row["end of the segment (min.sec)"])
        except ValueError as exc:
            col.error(info_path, f"line {i}: {exc}")
            continue
        if abs(end - start - 45.0) > 1e-9:
            col.warn(info_path, f"song {sid}: segment lasts {end - start:.2f} s, not 45 s")
        if sid not in static:
            col.error(static_path, f"song {sid} has no static annotation")
            continue
        set_name = row["Mediaeval 2013 set"].lower()
        if set_name not in ("development", "evaluation"):
            col.error(info_path, f"line {i}: Mediaeval 2013 set {row['Mediaeval 2013 set']!r} is not development/evaluation")
            continue
        split = "test" if set_name == "evaluation" else _RATIOS[sha1_int(normalise_artist(row["Artist"])) % 10]
        songs.append({"id": sid, "split": split, "artist": row["Artist"], "title": row["Song title"],
                      "genre": row.get("Genre", ""), "segment": [start, end], **static[sid]})

    dev = [s for s in songs if s["split"] != "test"]
    if not dev:
        raise col.fatal(info_path, "no development songs: cannot z-score the targets")
    stats = {k: (float(np.mean([s[k] for s in dev])), float(np.std([s[k] for s in dev]))) for k in ("arousal", "valence")}
    for k, (_, sd) in stats.items():
        if sd == 0:
            raise col.fatal(static_path, f"{k} ratings of the development songs are all equal")

    inverse = {v: k for k, v in names.items()}
    splits: dict[str, list[Example]] = {s: [] for s in names}
    for s in sorted(songs, key=lambda s: int(s["id"])):
        if s["split"] not in inverse:
            continue
        path = clips / f"{s['id']}.mp3"
        if not col.require(path, "45 s clip"):
            continue
        label = [(s[k] - stats[k][0]) / stats[k][1] for k in targets]
        splits[inverse[s["split"]]].append(Example(
            id=s["id"].zfill(4), path=path, label=label,
            meta={"artist": s["artist"], "title": s["title"], "genre": s["genre"], "segment_s": s["segment"],
                  "raw": {"valence": s["valence"], "arousal": s["arousal"]}}))
    col.info(None, "targets z-scored with development-set statistics "
                   + ", ".join(f"{k}: mean {m:.4f} std {sd:.4f}" for k, (m, sd) in stats.items()))
    return LoadedDataset(splits=splits, vocabulary=None)
