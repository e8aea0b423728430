"""GiantSteps key (loader ``giantsteps``): train/valid from GiantSteps-MTG-key, test = GiantSteps-key.

Layout under ``$MERTBENCH_DATA/GS`` (or ``--root``):

- the two annotation repositories at the commits MARBLE pins, as MARBLE unpacks them
  (``giantsteps-key-dataset-c8cb8aad2cb53f165be51ea099d0dc75c64a844f/``,
  ``giantsteps-mtg-key-dataset-fd7b8c584f7bd6d720d170c325a6d42c9bf75a6b/``), or as plain clones
  (``giantsteps-key-dataset/``, ``giantsteps-mtg-key-dataset/``), or the GitHub archives as MARBLE
  downloads them (``key-annotations.zip``, ``mtg-key-annotations.zip``; extracted once into the
  cache). If none is there, the archives are fetched once from GitHub into
  ``$MERTBENCH_CACHE/splits/GS/`` and verified by their file counts (604 and 1,486 ``md5`` files);
- the audio, ``audio/<id>.LOFI.mp3`` (MARBLE's single folder) or ``<repository>/audio/<id>.LOFI.mp3``
  (where each repository's ``audio_dl.sh`` puts it).

Split (MARBLE v1 = jukemir): tracks are enumerated from each repository's ``md5/*.md5``.
Test: all 604 GiantSteps-key tracks, key from ``annotations/key/<id>.LOFI.key``. Train/valid:
GiantSteps-MTG-key tracks with confidence ``C == 2`` and a single ``MANUAL KEY`` (no ``/``) in
``annotations/annotations.txt``; every artist of ``beatport_metadata.txt`` (comma-separated names)
goes to valid when ``sha1(lower(name)) mod 116 >= 100``, and all collaborators of a valid artist
become valid (two passes, over all tracks). Sharps are spelled as flats. Counts: tracks
923 / 236 / 604, 30 s clips 3,687 / 942 / 2,406.

Examples are the non-overlapping 30 s clips of each track (a trailing part shorter than 30 s is
dropped): ``id = "<7-digit id>-<k>"``, ``start_s = 30 k``, ``end_s = 30 (k + 1)``, ``group`` = the
7-digit track id (clips of one song are ensembled at evaluation). Label ``"<tonic> major|minor"``.
``meta["md5"]`` holds the published MD5 of the mp3 (checked by ``data check --full``).
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
import urllib.error
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from mertbench.audio import audio_info
from mertbench.datasets import split_lists
from mertbench.datasets._base import Collector, official_loader, read_text, sha1_int, split_name_map
from mertbench.errors import AudioError
from mertbench.io import atomic_write_json
from mertbench.metrics.key import KEY_VOCABULARY, normalize_key
from mertbench.tasks.data import Example, LoadedDataset

if TYPE_CHECKING:
    from mertbench.tasks.spec import TaskSpec

DIRNAME = "GS"
CLIP_S = 30.0
KEY_REPO = ("giantsteps-key-dataset", "c8cb8aad2cb53f165be51ea099d0dc75c64a844f", "key-annotations.zip", 604)
MTG_REPO = ("giantsteps-mtg-key-dataset", "fd7b8c584f7bd6d720d170c325a6d42c9bf75a6b", "mtg-key-annotations.zip", 1486)
_ARCHIVE_URL = "https://github.com/GiantSteps/{name}/archive/{commit}.zip"
_RATIOS = ["train"] * 100 + ["valid"] * 16


def _extract(zip_path: Path, dest_parent: Path, col: Collector) -> Path:
    """Extract a GitHub archive into ``dest_parent`` (atomically: temp folder, then rename)."""
    dest_parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            top = {n.split("/")[0] for n in zf.namelist() if n.strip("/")}
            if len(top) != 1:
                raise col.fatal(zip_path, f"expected one top folder in the archive, found {sorted(top)[:3]}")
            (name,) = top
            final = dest_parent / name
            if final.is_dir():
                return final
            tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_parent))
            try:
                zf.extractall(tmp)
                (tmp / name).rename(final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            return final
    except zipfile.BadZipFile:
        raise col.fatal(zip_path, "not a valid zip archive (re-download it)") from None


def repo_dir(root: Path, repo: tuple[str, str, str, int], col: Collector) -> Path:
    """The annotation repository folder (local folder, local zip, cache, or a fresh download)."""
    name, commit, zip_name, n_md5 = repo
    for cand in (root / f"{name}-{commit}", root / name):
        if (cand / "md5").is_dir() or (cand / "annotations").is_dir():
            return cand
    cache = split_lists.cache_path(DIRNAME, "")
    if (root / zip_name).is_file():
        return _extract(root / zip_name, cache, col)
    cached = cache / f"{name}-{commit}"
    if cached.is_dir():
        return cached
    url = _ARCHIVE_URL.format(name=name, commit=commit)
    hint = f"download {url} and save it as {root / zip_name} (or unzip it there)"
    if split_lists.offline():
        raise col.fatal(root / f"{name}-{commit}", f"annotation repository not found and MERTBENCH_OFFLINE is set; {hint}")
    try:
        data = split_lists._download(url, timeout=120.0)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise col.fatal(root / f"{name}-{commit}", f"annotation repository not found and the download failed ({exc}); {hint}") from None
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as td:
        zp = Path(td) / zip_name
        zp.write_bytes(data)
        tmp_parent = Path(tempfile.mkdtemp(prefix=".verify-", dir=cache))
        try:
            folder = _extract(zp, tmp_parent, col)
            found = len(list((folder / "md5").glob("*.md5")))
            if found != n_md5:
                raise col.fatal(url, f"downloaded archive has {found} md5 files, the pinned commit has {n_md5}; nothing saved")
            folder.rename(cached)
        finally:
            shutil.rmtree(tmp_parent, ignore_errors=True)
    col.info(cached, f"downloaded {url}")
    return cached


def _read_tsv(path: Path, col: Collector) -> list[dict[str, str]]:
    if not path.is_file():
        raise col.fatal(path, "missing annotation file")
    return list(csv.DictReader(io.StringIO(read_text(path)), delimiter="\t"))


def _artists(field: str) -> list[str]:
    return [a.strip() for a in field.strip().split(",")]


def mtg_split_of_artists(metadata: list[dict[str, str]]) -> dict[str, str]:
    """artist -> ``train``/``valid`` by jukemir's hash rule, valid spread over collaborators (2 passes)."""
    artist_split: dict[str, str] = {}
    for row in metadata:
        for a in _artists(row["ARTIST"]):
            artist_split[a] = _RATIOS[sha1_int(a.lower()) % len(_RATIOS)]
    for _ in range(2):
        for row in metadata:
            arts = _artists(row["ARTIST"])
            if any(artist_split[a] == "valid" for a in arts):
                for a in arts:
                    artist_split[a] = "valid"
    return artist_split


def _audio(root: Path, repo: Path, did: str) -> Path:
    p = root / "audio" / f"{did}.LOFI.mp3"
    if p.exists():
        return p
    q = repo / "audio" / f"{did}.LOFI.mp3"
    return q if q.exists() else p


def _md5(repo: Path, did: str) -> str | None:
    p = repo / "md5" / f"{did}.LOFI.md5"
    try:
        text = p.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return None
    return text[0].lower() if text else None


class _Durations:
    """Durations of the mp3s, cached in ``$MERTBENCH_CACHE/splits/GS/durations.json``.

    Keyed by path, size and modification time, so a replaced file is measured again. Reading the
    headers of ~1,800 mp3s on every load would cost seconds; the cache makes reloads instant.
    """

    def __init__(self) -> None:
        self.path = split_lists.cache_path(DIRNAME, "durations.json")
        try:
            self.data: dict[str, float] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}
        self.dirty = False

    def get(self, audio: Path) -> float:
        st = audio.stat()
        key = f"{audio.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        if key not in self.data:
            self.data[key] = audio_info(audio).duration_s
            self.dirty = True
        return self.data[key]

    def save(self) -> None:
        if self.dirty:
            atomic_write_json(self.path, self.data)


def _clips(path: Path, did: str, label: str, split: str, col: Collector, md5: str | None,
           durations: _Durations) -> list[Example]:
    try:
        duration = durations.get(path)
    except AudioError as exc:
        col.error(path, f"cannot read the audio header ({exc.problem})")
        return []
    uid = did.zfill(7)
    n = int(duration // CLIP_S)
    if n == 0:
        col.warn(path, f"shorter than {CLIP_S:.0f} s ({duration:.1f} s): yields no clip (as in MARBLE)")
    return [Example(id=f"{uid}-{k}", path=path, label=label, start_s=k * CLIP_S, end_s=(k + 1) * CLIP_S,
                    group=uid, meta={"song_id": did, "md5": md5, "split_source": split}) for k in range(n)]


@official_loader("giantsteps")
def load_giantsteps(root: Path, spec: "TaskSpec", col: Collector) -> LoadedDataset:
    """GiantSteps key with MARBLE's artist-hash train/valid split and 30 s clips."""
    names = split_name_map(spec, {"train": "train", "valid": "valid", "test": "test"})
    want = set(names.values())
    vocab = list(spec.labels.vocabulary or KEY_VOCABULARY)
    by_split: dict[str, list[tuple[str, str, Path]]] = {"train": [], "valid": [], "test": []}
    tracks_skipped: dict[str, int] = {}

    if want & {"train", "valid"}:
        mtg = repo_dir(root, MTG_REPO, col)
        meta = {r["ID"].strip(): r for r in _read_tsv(mtg / "annotations" / "beatport_metadata.txt", col)}
        ann = {r["ID"].strip(): r for r in _read_tsv(mtg / "annotations" / "annotations.txt", col)}
        artist_split = mtg_split_of_artists(list(meta.values()))
        md5_files = sorted((mtg / "md5").glob("*.md5"))
        if not md5_files:
            col.error(mtg / "md5", "no md5/*.md5 files: MARBLE enumerates the tracks from them")
        for f in md5_files:
            did = str(int(f.name.split(".")[0]))
            row = ann.get(did)
            if row is None or did not in meta:
                col.error(f, f"track {did} missing from annotations.txt or beatport_metadata.txt")
                continue
            key_field = row.get("MANUAL KEY", "").strip()
            if row.get("C", "").strip() != "2":
                tracks_skipped["MTG-key confidence != 2"] = tracks_skipped.get("MTG-key confidence != 2", 0) + 1
                continue
            if "/" in key_field:
                tracks_skipped["MTG-key multiple keys"] = tracks_skipped.get("MTG-key multiple keys", 0) + 1
                continue
            try:
                label = normalize_key(key_field)
            except ValueError as exc:
                col.error(mtg / "annotations" / "annotations.txt", f"track {did}: {exc}")
                continue
            per_file = mtg / "annotations" / "key" / f"{did}.LOFI.key"
            if per_file.is_file() and not read_text(per_file).strip().lower().startswith(key_field.lower()):
                col.warn(per_file, f"does not agree with annotations.txt ({key_field!r})")
            splits_of = {artist_split[a] for a in _artists(meta[did]["ARTIST"])}
            if len(splits_of) != 1:
                col.error(mtg / "annotations" / "beatport_metadata.txt", f"track {did}: artists in both train and valid")
                continue
            by_split[splits_of.pop()].append((did, label, _audio(root, mtg, did)))

    if "test" in want:
        key = repo_dir(root, KEY_REPO, col)
        md5_files = sorted((key / "md5").glob("*.md5"))
        if not md5_files:
            col.error(key / "md5", "no md5/*.md5 files: MARBLE enumerates the tracks from them")
        for f in md5_files:
            did = str(int(f.name.split(".")[0]))
            kf = key / "annotations" / "key" / f"{did}.LOFI.key"
            if not col.require(kf, "key annotation"):
                continue
            try:
                label = normalize_key(read_text(kf).strip())
            except ValueError as exc:
                col.error(kf, str(exc))
                continue
            by_split["test"].append((did, label, _audio(root, key, did)))

    splits: dict[str, list[Example]] = {}
    track_counts: dict[str, int] = {}
    durations = _Durations()
    for split, official in names.items():
        repo = repo_dir(root, KEY_REPO if official == "test" else MTG_REPO, col)
        exs: list[Example] = []
        for did, label, path in sorted(by_split[official], key=lambda t: int(t[0])):
            if label not in vocab:
                col.error(path, f"key {label!r} is not in the vocabulary")
                continue
            if not col.require(path, f"audio of GiantSteps track {did} ({official})"):
                continue
            exs.extend(_clips(path, did, label, official, col, _md5(repo, did), durations))
        splits[split] = exs
        track_counts[split] = len({ex.group for ex in exs})
    durations.save()
    col.info(None, f"GiantSteps tracks per split: {track_counts} (official: train 923, valid 236, test 604)")
    return LoadedDataset(splits=splits, vocabulary=vocab, skipped=tracks_skipped)
