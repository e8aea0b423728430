"""VocalSet technique (10 classes) and singer (20 classes) identification (loader ``vocalset``).

Layout under ``$MERTBENCH_DATA/VocalSet`` (or ``--root``), the extracted Zenodo archive:

- VocalSet 1.1 (``VocalSet11.zip``, what MARBLE downloads): ``FULL/<singer>/<context>/<technique>/<file>.wav``;
- VocalSet 1.2 (``VocalSet1-2.zip``): ``data_by_singer/<singer>/<context>/<technique>/<file>.wav``
  (the ``data_by_technique``/``data_by_vowel`` copies are ignored).

Either may sit one level down (e.g. ``VocalSet11/FULL``). ``__MACOSX`` folders and ``._*`` files
are ignored; only files exactly four levels below ``FULL`` are used (MARBLE's rule). The singer is
taken from the ``<singer>`` folder (``female1`` -> ``f1``), never from the file name (several
official file names lack or misstate it; MARBLE renames them). The five files MARBLE deletes as
duplicates or not part of the paper's table (``vibrato/f2_scales_vibrato_a(1).wav``,
``vibrato/{caro,dona,row}_vibrato.wav``, ``vibrato/slow_vibrato_arps.wav``) are left out and counted.

Examples are MARBLE's 3 s chunks: each recording is cut into consecutive chunks of 132,000 samples
at 44.1 kHz (MARBLE's ``sr // 1000 * 3000``, i.e. 2.993 s) while more than one chunk length remains,
so a recording of length L gives ``ceil(L / c) - 1`` chunks (L > c), as MARBLE's loop does. MARBLE
first trims leading silence with torchaudio's ``vad``; mertbench does not (no torchaudio), so its
chunks start at 0 s — documented deviation. Each chunk is z-normalised (task spec
``audio.normalize: zmuv``), as MARBLE normalises every chunk.

Splits are made deterministic (MARBLE's were random and never published, MARBLE issue #16) and
written out as files in ``$MERTBENCH_CACHE/splits/VocalSet/`` (one recording path per line, with a
header naming the rule). A copy in ``<root>/splits/`` with the same names takes precedence, so a
group can share one split. Recordings are ordered by ``sha1("<task>:<recording path>")``:

- technique (``dataset.options.task: technique``): the 10 techniques (belt, breathy, inhaled,
  lip_trill, spoken, straight, trill, trillo, vibrato, vocal_fry); test = singers f2, f8, m3, m5,
  m10 (the official test singers); of the other 15 singers' recordings the first
  ``ceil(0.4 n)`` in hash order are valid, the rest train (MARBLE: GroupShuffleSplit 60/40 by recording);
- singer (``task: singer``): all 17 technique folders; first ``ceil(0.2 n)`` recordings test, then of
  the rest the first ``ceil(0.4 m)`` valid (MARBLE: GroupShuffleSplit 20 % then 40 %).

Chunks of one recording always stay in one split (``Example.group`` = recording).
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import TYPE_CHECKING

from mertbench.audio import audio_info
from mertbench.datasets import split_lists
from mertbench.datasets._base import Collector, official_loader, read_lines, split_name_map
from mertbench.errors import AudioError
from mertbench.io import atomic_write_text
from mertbench.tasks.data import Example, LoadedDataset

if TYPE_CHECKING:
    from mertbench.tasks.spec import TaskSpec

DIRNAME = "VocalSet"
TECHNIQUES = ["belt", "breathy", "inhaled", "lip_trill", "spoken", "straight", "trill", "trillo", "vibrato", "vocal_fry"]
ALL_TECHNIQUES = TECHNIQUES + ["fast_forte", "fast_piano", "forte", "messa", "pp", "slow_forte", "slow_piano"]
SINGERS = [f"f{i}" for i in range(1, 10)] + [f"m{i}" for i in range(1, 12)]
TEST_SINGERS = ["f2", "f8", "m3", "m5", "m10"]
DELETED = {("vibrato", "f2_scales_vibrato_a(1).wav"), ("vibrato", "caro_vibrato.wav"), ("vibrato", "dona_vibrato.wav"),
           ("vibrato", "row_vibrato.wav"), ("vibrato", "slow_vibrato_arps.wav")}
CHUNK_SAMPLES_44K = 44100 // 1000 * 3000  # MARBLE's max_len at 44.1 kHz
SPLIT_RULE_VERSION = 1


def singer_id(folder: str) -> str | None:
    """``female1`` -> ``f1``, ``male11`` -> ``m11`` (None if not a singer folder)."""
    for prefix, short in (("female", "f"), ("male", "m")):
        if folder.startswith(prefix) and folder[len(prefix):].isdigit():
            return f"{short}{int(folder[len(prefix):])}"
    return None


def full_dir(root: Path) -> Path | None:
    """The folder holding ``<singer>/<context>/<technique>/<file>.wav`` (1.1 ``FULL`` or 1.2 ``data_by_singer``)."""
    if not root.is_dir():
        return None
    bases = [root, *sorted(p for p in root.iterdir() if p.is_dir() and p.name != "__MACOSX")]
    for base in bases:
        for name in ("FULL", "data_by_singer"):
            if (base / name).is_dir():
                return base / name
    return None


def find_recordings(full: Path, techniques: list[str], col: Collector, skipped: dict[str, int]) -> list[str]:
    """Relative paths ``<singer>/<context>/<technique>/<file>.wav`` of the usable recordings (sorted)."""
    out = []
    for p in sorted(full.rglob("*.wav")):
        rel = p.relative_to(full)
        if any(part.startswith(".") or part == "__MACOSX" for part in rel.parts):
            continue
        if len(rel.parts) != 4:
            continue
        singer, _context, tech, name = rel.parts
        if singer_id(singer) is None or tech not in techniques:
            continue
        if (tech, name) in DELETED:
            skipped["duplicate or unlisted file (MARBLE deletes it)"] = skipped.get("duplicate or unlisted file (MARBLE deletes it)", 0) + 1
            col.info(p, "left out as MARBLE does (duplicate or not in the paper's table)")
            continue
        out.append(rel.as_posix())
    return out


def _hash_order(task: str, recs: list[str]) -> list[str]:
    return sorted(recs, key=lambda r: hashlib.sha1(f"{task}:{r}".encode()).hexdigest())


def derive_split(task: str, recordings: list[str]) -> dict[str, list[str]]:
    """The deterministic recording-level split (see module docstring)."""
    if task == "technique":
        test = [r for r in recordings if singer_id(r.split("/")[0]) in TEST_SINGERS]
        rest = _hash_order(task, [r for r in recordings if singer_id(r.split("/")[0]) not in TEST_SINGERS])
        n_valid = math.ceil(0.4 * len(rest))
        return {"train": sorted(rest[n_valid:]), "valid": sorted(rest[:n_valid]), "test": sorted(test)}
    order = _hash_order(task, recordings)
    n_test = math.ceil(0.2 * len(order))
    rest = order[n_test:]
    n_valid = math.ceil(0.4 * len(rest))
    return {"train": sorted(rest[n_valid:]), "valid": sorted(rest[:n_valid]), "test": sorted(order[:n_test])}


def _fingerprint(recordings: list[str]) -> str:
    return hashlib.sha256("\n".join(recordings).encode()).hexdigest()[:16]


def split_files(root: Path, task: str, recordings: list[str], col: Collector) -> dict[str, list[str]]:
    """Read the written split files (user copy or cache); write them when absent.

    The cached files are rewritten only when the copy has grown (new recordings, none missing);
    if a listed recording has disappeared the files are kept, so the loader reports it missing
    instead of silently dropping it from the split.
    """
    names = {s: f"vocalset_{task}_{s}.txt" for s in ("train", "valid", "test")}
    user = {s: root / "splits" / n for s, n in names.items()}
    if all(p.is_file() for p in user.values()):
        col.info(root / "splits", f"using the VocalSet {task} split files found there")
        return {s: read_lines(p) for s, p in user.items()}
    cache = {s: split_lists.cache_path(DIRNAME, n) for s, n in names.items()}
    fp = _fingerprint(recordings)
    if all(p.is_file() for p in cache.values()):
        lines = {s: [ln for ln in read_lines(p) if not ln.startswith("#")] for s, p in cache.items()}
        listed = {ln for ls in lines.values() for ln in ls}
        on_disk = set(recordings)
        if listed == on_disk:
            return lines
        if not listed <= on_disk:
            # a recording listed before is gone: keep the split (the loader reports the missing files)
            extra = on_disk - listed
            if extra:
                col.warn(cache["train"].parent, f"{len(extra)} recording(s) are not in the split files and are "
                                                f"ignored, e.g. {sorted(extra)[0]}")
            return lines
        col.info(cache["train"].parent, f"{len(on_disk - listed)} new recording(s) since the split files were "
                                        "written; split files rewritten")
    split = derive_split(task, recordings)
    for s, recs in split.items():
        header = (f"# mertbench VocalSet {task} split, rule v{SPLIT_RULE_VERSION} (see mertbench.datasets.vocalset)\n"
                  f"# recordings-fingerprint: {fp}\n")
        atomic_write_text(cache[s], header + "".join(r + "\n" for r in recs))
    col.info(cache["train"].parent, f"wrote the deterministic VocalSet {task} split files")
    return {s: [ln for ln in read_lines(p) if not ln.startswith("#")] for s, p in cache.items()}


def chunk_count(frames: int, sample_rate: int) -> int:
    """MARBLE's number of 3 s chunks of a recording: ``ceil(frames / c) - 1`` for ``frames > c``."""
    c = round(CHUNK_SAMPLES_44K * sample_rate / 44100)
    return max(0, -(-(frames - c) // c))


@official_loader("vocalset")
def load_vocalset(root: Path, spec: "TaskSpec", col: Collector) -> LoadedDataset:
    """VocalSet 3 s chunks with a deterministic, written-out recording-level split."""
    task = spec.dataset.options.get("task", "technique")
    if task not in ("technique", "singer"):
        raise col.fatal(None, f"dataset.options.task must be 'technique' or 'singer', got {task!r}")
    full = full_dir(root)
    if full is None:
        zips = sorted(root.glob("*.zip")) if root.is_dir() else []
        hint = f" (found {zips[0].name}: unzip it here)" if zips else ""
        raise col.fatal(root / "FULL", f"VocalSet audio not found: expected FULL/ (VocalSet 1.1) or "
                                       f"data_by_singer/ (VocalSet 1.2){hint}")
    skipped: dict[str, int] = {}
    recordings = find_recordings(full, TECHNIQUES if task == "technique" else ALL_TECHNIQUES, col, skipped)
    if not recordings:
        raise col.fatal(full, "no recordings <singer>/<context>/<technique>/<file>.wav found")
    lists = split_files(root, task, recordings, col)
    vocab = list(spec.labels.vocabulary or (TECHNIQUES if task == "technique" else SINGERS))
    names = split_name_map(spec, {"train": "train", "valid": "valid", "test": "test"})
    splits: dict[str, list[Example]] = {}
    seen: dict[str, str] = {}
    for split, official in names.items():
        exs: list[Example] = []
        for rec in lists[official]:
            if rec.startswith("#"):
                continue
            if rec in seen:
                col.error(full / rec, f"recording is in both split {seen[rec]!r} and {split!r} (wrong split file?)")
                continue
            seen[rec] = split
            parts = rec.split("/")
            path = full / rec
            if len(parts) != 4 or not col.require(path, f"recording listed in the {split} split file"):
                continue
            singer, context, tech, name = parts
            label = tech if task == "technique" else singer_id(singer)
            if label not in vocab:
                col.error(path, f"label {label!r} is outside the vocabulary")
                continue
            try:
                info = audio_info(path)
            except AudioError as exc:
                col.error(path, f"cannot read the audio header ({exc.problem})")
                continue
            chunk_s = round(CHUNK_SAMPLES_44K * info.sample_rate / 44100) / info.sample_rate
            stem = name.rsplit(".", 1)[0]
            for k in range(chunk_count(info.frames, info.sample_rate)):
                exs.append(Example(id=f"{singer}/{tech}/{stem}_{k:02d}", path=path, label=label,
                                   start_s=k * chunk_s, end_s=(k + 1) * chunk_s, group=rec,
                                   meta={"singer": singer_id(singer), "technique": tech, "context": context}))
        if not exs:
            col.error(full, f"split {split!r} has no 3 s chunk")
        splits[split] = exs
    return LoadedDataset(splits=splits, vocabulary=vocab, skipped=skipped)
