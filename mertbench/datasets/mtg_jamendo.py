"""MTG-Jamendo auto-tagging (loader ``mtg_jamendo``): genre, instrument, mood/theme, top-50.

Layout under ``$MERTBENCH_DATA/MTG`` (or ``--root``), as MARBLE sets it up:

- the metadata repository ``git clone https://github.com/MTG/mtg-jamendo-dataset`` at
  ``mtg-jamendo-dataset/`` (its ``data/`` folder may also sit directly in the dataset folder):
  ``data/splits/split-<k>/autotagging_<subset>-{train,validation,test}.tsv``;
- the audio from its downloader (``--dataset raw_30s``): ``audio-low/<NN>/<id>.low.mp3``
  (``--type audio-low``, what MARBLE uses) or ``audio/<NN>/<id>.mp3`` (full quality); mirdata's
  ``audios/<NN>/<id>.mp3`` is also accepted. ``dataset.options.audio``: ``auto`` (default: audio-low
  if present, else audio), ``low`` or ``full``.

TSVs: tab-separated, header ``TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION TAGS``, extra tags continue
as further columns; CRLF (official) or LF (mirdata) endings both read.

``dataset.options``: ``subset`` (``genre``, ``instrument``, ``moodtheme``, ``top50tags``),
``split_version`` (default 0, MARBLE's split-0). The split named ``validation`` is the task's
``valid``. Labels: the track's tags with the ``genre---``/``instrument---``/``mood/theme---`` prefix
kept (e.g. ``genre---rock``). The vocabulary is built as MARBLE does: tags in order of first
appearance scanning train, then validation, then test. Split-0 counts and tag numbers:
genre 32,572/11,043/11,479 (87), instrument 14,395/5,466/5,115 (40), moodtheme 9,949/3,802/4,231 (56),
top50tags 32,136/10,888/11,356 (50).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mertbench.datasets._base import Collector, check_disjoint, official_loader, read_lines, split_name_map
from mertbench.tasks.data import Example, LoadedDataset

if TYPE_CHECKING:
    from mertbench.tasks.spec import TaskSpec

DIRNAME = "MTG"
SUBSETS = ("genre", "instrument", "moodtheme", "top50tags")
NUM_TAGS = {"genre": 87, "instrument": 40, "moodtheme": 56, "top50tags": 50}
HEADER = ["TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION", "TAGS"]


def metadata_dir(root: Path) -> Path | None:
    """The repository's ``data`` folder (``mtg-jamendo-dataset/data``, ``data`` or the root)."""
    for cand in (root / "mtg-jamendo-dataset" / "data", root / "data", root):
        if (cand / "splits").is_dir():
            return cand
    return None


def audio_layout(root: Path, choice: str, col: Collector) -> tuple[Path, str]:
    """``(audio folder, file suffix)`` for ``auto``/``low``/``full``."""
    low, full, mirdata = root / "audio-low", root / "audio", root / "audios"
    if choice == "low" or (choice == "auto" and low.is_dir()):
        if not low.is_dir():
            raise col.fatal(low, "audio-low/ not found (download with --type audio-low)")
        return low, ".low.mp3"
    for cand in ((full, mirdata) if choice in ("auto", "full") else ()):
        if cand.is_dir():
            return cand, ".mp3"
    raise col.fatal(root / "audio-low", "MTG-Jamendo audio not found: expected audio-low/<NN>/<id>.low.mp3 "
                                        "(MARBLE) or audio/<NN>/<id>.mp3 from the raw_30s download")


def read_split_tsv(path: Path, col: Collector) -> list[tuple[str, str, list[str], dict]]:
    """``(track_id, relative mp3 path, tags, meta)`` per data row of a split TSV."""
    lines = read_lines(path)
    if not lines:
        raise col.fatal(path, "empty split file")
    head = lines[0].split("\t")
    if head[:len(HEADER)] != HEADER:
        raise col.fatal(path, f"unexpected header {head[:6]}; expected {HEADER}")
    rows = []
    for i, ln in enumerate(lines[1:], start=2):
        fields = [f.strip() for f in ln.split("\t")]
        if len(fields) < 6 or not fields[3]:
            col.error(path, f"line {i}: expected at least 6 tab-separated fields")
            continue
        tags = [t for t in fields[5:] if t]
        if not tags:
            col.error(path, f"line {i}: track {fields[0]} has no tag")
            continue
        rows.append((fields[0], fields[3], tags, {"artist_id": fields[1], "album_id": fields[2],
                                                  "duration_s": float(fields[4]) if fields[4] else None}))
    return rows


@official_loader("mtg_jamendo")
def load_mtg_jamendo(root: Path, spec: "TaskSpec", col: Collector) -> LoadedDataset:
    """MTG-Jamendo split-k of one auto-tagging subset; full tracks (windowed by the task spec)."""
    opts = spec.dataset.options
    subset = opts.get("subset")
    if subset not in SUBSETS:
        raise col.fatal(None, f"dataset.options.subset must be one of {SUBSETS}, got {subset!r}")
    version = int(opts.get("split_version", 0))
    meta_dir = metadata_dir(root)
    if meta_dir is None:
        raise col.fatal(root / "mtg-jamendo-dataset", "metadata repository not found: run "
                        f"`git clone https://github.com/MTG/mtg-jamendo-dataset {root / 'mtg-jamendo-dataset'}`")
    split_dir = meta_dir / "splits" / f"split-{version}"
    adir, suffix = audio_layout(root, opts.get("audio", "auto"), col)
    names = split_name_map(spec, {"train": "train", "valid": "validation", "test": "test"})
    rows_by_split: dict[str, list] = {}
    for split, official in names.items():
        path = split_dir / f"autotagging_{subset}-{official}.tsv"
        if not path.is_file():
            raise col.fatal(path, "missing split file (is the mtg-jamendo-dataset clone complete?)")
        rows_by_split[split] = read_split_tsv(path, col)
    vocab = list(spec.labels.vocabulary or [])
    if not vocab:
        for split in ("train", "valid", "test"):
            for _, _, tags, _ in rows_by_split.get(split, []):
                for t in tags:
                    if t not in vocab:
                        vocab.append(t)
    known = set(vocab)
    splits: dict[str, list[Example]] = {}
    for split, rows in rows_by_split.items():
        exs = []
        for track, rel, tags, meta in rows:
            bad = [t for t in tags if t not in known]
            if bad:
                col.error(split_dir, f"track {track}: tag(s) {bad} outside the vocabulary")
                continue
            audio = adir / (rel[: -len(".mp3")] + suffix if rel.endswith(".mp3") else rel)
            if not col.require(audio, f"audio of {track} ({split})"):
                continue
            exs.append(Example(id=track, path=audio, label=tags, meta=meta))
        splits[split] = exs
    check_disjoint(splits, col, key=lambda ex: ex.id, what="track")
    return LoadedDataset(splits=splits, vocabulary=vocab)
