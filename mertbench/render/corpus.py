"""Pieces from the music21 corpus, reduced to what rendering needs.

A :class:`Piece` holds, per part, the notes as ``(onset, duration, midi pitch)`` in quarter
lengths (ties merged, grace notes dropped), the measures of the first part, the first time
signature, and a key label derived by a fixed rule (see :func:`key_from_final`). Pieces are
parsed in worker processes and cached as JSON under the cache root, so that a resumed render
does not parse again.

Sources (``SOURCES``) group corpus folders under one style label (used by render-genre):

========== ===================================================== ==========================
source      music21 corpus folders                                genre label
========== ===================================================== ==========================
chorale     ``bach/*.mxl`` (Bach four-part chorales)              chorale
renaissance ``palestrina/*.krn`` (Palestrina mass movements)      renaissance_polyphony
madrigal    ``monteverdi/*.mxl`` (Monteverdi madrigals)           madrigal
trecento    ``trecento/*`` (14th-century Italian songs)           trecento
fiddle      ``ryansMammoth``, ``oneills1850`` (fiddle tunes)       fiddle_tune
folk        ``essenFolksong`` (Essen folk song collection)        folk_song
classical   ``haydn``, ``mozart``, ``beethoven`` (files <= 24 kB)  classical
========== ===================================================== ==========================
"""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

#: Bump when the extraction below changes (invalidates the piece cache).
PIECE_VERSION = 2

#: Major-key tonic pitch class for a key signature of ``sharps`` sharps (negative: flats).
def major_tonic(sharps: int) -> int:
    return (7 * sharps) % 12


@dataclass(frozen=True)
class Source:
    """A group of corpus files with one style label."""

    name: str
    genre: str
    patterns: tuple[str, ...]
    max_bytes: int | None = None  # skip files larger than this (slow to parse)
    min_parts: int = 1


SOURCES: dict[str, Source] = {s.name: s for s in [
    Source("chorale", "chorale", ("bach/bwv*.mxl",), min_parts=4),
    Source("renaissance", "renaissance_polyphony", ("palestrina/*.krn",), min_parts=3),
    Source("madrigal", "madrigal", ("monteverdi/*.mxl",), min_parts=3),
    Source("trecento", "trecento", ("trecento/*.xml", "trecento/*.mxl"), min_parts=2),
    Source("fiddle", "fiddle_tune", ("ryansMammoth/*.abc", "oneills1850/*.abc")),
    Source("folk", "folk_song", ("essenFolksong/*.abc",)),
    Source("classical", "classical", ("haydn/**/*.mxl", "mozart/**/*.mxl", "beethoven/**/*.mxl"),
           max_bytes=24_000, min_parts=2),
]}


@dataclass(frozen=True)
class Candidate:
    """One piece in the corpus: a file, and for multi-tune ABC files the tune number (X: field)."""

    source: str
    relpath: str  # relative to the music21 corpus root
    number: int | None = None

    @property
    def key(self) -> str:
        return self.relpath if self.number is None else f"{self.relpath}#{self.number}"


@dataclass
class Piece:
    """A parsed piece. Times in quarter lengths (ql) from the start of the score.

    Attributes:
        key: candidate key (``relpath`` or ``relpath#number``), unique in the corpus.
        source: name in :data:`SOURCES`.
        title: title from the metadata (may be empty).
        parts: per part, notes ``[onset_ql, duration_ql, midi]`` sorted by onset then pitch.
        measures: ``[offset_ql, duration_ql]`` of each measure of the first part.
        meter: first time signature ``[ratio, beat_ql, bar_ql]`` (e.g. ``["6/8", 1.5, 3.0]``), or None.
        sharps: first key signature (sharps > 0, flats < 0), or None.
        tonic: tonic pitch class 0..11 by :func:`key_from_final`, or None (modal / unknown).
        mode: ``"major"``, ``"minor"`` or None.
        duration_ql: length of the score.
    """

    key: str
    source: str
    title: str
    parts: list[list[list[float]]]
    measures: list[list[float]]
    meter: list[Any] | None
    sharps: int | None
    tonic: int | None
    mode: str | None
    duration_ql: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_notes(self) -> int:
        return sum(len(p) for p in self.parts)

    @property
    def beat_ql(self) -> float:
        return float(self.meter[1]) if self.meter else 1.0

    @property
    def bar_ql(self) -> float:
        return float(self.meter[2]) if self.meter else 4.0

    def regular_runs(self) -> list[tuple[float, float]]:
        """Maximal stretches ``(start_ql, end_ql)`` of consecutive full measures of the first meter.

        Inside a run every measure lasts exactly one bar and starts where the previous one
        ends, so the beat grid ``start + k * beat_ql`` is exact there.
        """
        runs: list[tuple[float, float]] = []
        if not self.meter:
            return runs
        bar = self.bar_ql
        start = end = None
        for off, dur in self.measures:
            full = abs(dur - bar) < 1e-6
            if full and start is not None and abs(off - end) < 1e-6:
                end = off + dur
            else:
                if start is not None:
                    runs.append((start, end))
                start, end = (off, off + dur) if full else (None, None)
        if start is not None:
            runs.append((start, end))
        return runs

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Piece":
        return cls(**data)


def key_from_final(parts: list[list[list[float]]], sharps: int | None) -> tuple[int | None, str | None]:
    """Key label rule: the key signature gives a major/relative-minor pair; the lowest note
    sounding at the last onset picks one. ``(tonic_pc, mode)``, or ``(None, None)`` when the final
    bass note is neither tonic (modal pieces, e.g. Dorian or Mixolydian) or there is no signature.
    """
    if sharps is None:
        return None, None
    notes = [n for p in parts for n in p]
    if not notes:
        return None, None
    last = max(n[0] for n in notes)
    sounding = [n for n in notes if n[0] <= last + 1e-9 < n[0] + n[1] + 1e-9]
    bass_pc = int(min(n[2] for n in sounding)) % 12
    major = major_tonic(sharps)
    if bass_pc == major:
        return major, "major"
    if bass_pc == (major + 9) % 12:
        return bass_pc, "minor"
    return None, None


def corpus_root() -> Path:
    """Root folder of the installed music21 corpus."""
    from music21 import common

    return Path(common.getCorpusFilePath())


_X_FIELD = re.compile(r"^X:\s*(\d+)", re.MULTILINE)


@cache
def _candidates(source: str, root: str) -> tuple[Candidate, ...]:
    return tuple(_scan(source, Path(root)))


def list_candidates(source: str) -> list[Candidate]:
    """Every piece of ``source`` in the installed corpus, sorted by key (deterministic)."""
    return list(_candidates(source, str(corpus_root())))


def _scan(source: str, root: Path) -> list[Candidate]:
    src = SOURCES[source]
    files: set[Path] = set()
    for pattern in src.patterns:
        files.update(p for p in root.glob(pattern) if p.is_file())
    out: list[Candidate] = []
    for path in sorted(files):
        if src.max_bytes is not None and path.stat().st_size > src.max_bytes:
            continue
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".abc":
            numbers = sorted({int(x) for x in _X_FIELD.findall(path.read_text(encoding="latin-1"))})
            if len(numbers) > 1:
                out.extend(Candidate(source, rel, n) for n in numbers)
                continue
        out.append(Candidate(source, rel, None))
    return sorted(out, key=lambda c: c.key)


def _merge_part(part: Any) -> list[list[float]]:
    """Notes of a music21 part as ``[onset, dur, midi]`` with ties merged, graces dropped."""
    notes: list[list[float]] = []
    open_ties: dict[int, int] = {}
    for el in part.flatten().notes:
        dur = float(el.quarterLength)
        if dur <= 0:  # grace notes
            continue
        off = float(el.offset)
        members = el.notes if el.isChord else [el]
        for n in members:
            if not hasattr(n, "pitch"):
                continue  # unpitched percussion
            midi = int(n.pitch.midi)
            tie = n.tie if n.tie is not None else (el.tie if el.isChord else None)
            kind = tie.type if tie is not None else None
            idx = open_ties.get(midi)
            if kind in ("continue", "stop") and idx is not None and abs(notes[idx][0] + notes[idx][1] - off) < 1e-6:
                notes[idx][1] = off + dur - notes[idx][0]
                if kind == "stop":
                    del open_ties[midi]
                continue
            notes.append([off, dur, midi])
            if kind in ("start", "continue"):
                open_ties[midi] = len(notes) - 1
            else:
                open_ties.pop(midi, None)
    notes.sort(key=lambda n: (n[0], n[2]))
    return [[round(a, 6), round(b, 6), int(c)] for a, b, c in notes]


class _NoParts(Exception):
    pass


def _parse_music21(path: Path, number: int | None) -> tuple[list, list, list | None, int | None, str]:
    """``(parts, measures, meter, sharps, title)`` of a corpus file through music21."""
    from music21 import converter, meter, stream
    from music21 import key as m21key

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = converter.parse(str(path), number=number, forceSource=True, storePickle=False)
        if isinstance(s, stream.Opus):
            if not s.scores:
                raise _NoParts("empty opus")
            s = s.scores[0]
        parts_m21 = list(s.parts) or [s]
        if any(getattr(p.getInstrument(returnDefault=False), "transposition", None) for p in parts_m21):
            s.toSoundingPitch(inPlace=True)
            parts_m21 = list(s.parts) or [s]
        parts = [p for p in (_merge_part(p) for p in parts_m21) if p]
        first = parts_m21[0]
        measures = [[round(float(m.offset), 6), round(float(m.duration.quarterLength), 6)]
                    for m in first.getElementsByClass(stream.Measure)]
        ts = first.recurse().getElementsByClass(meter.TimeSignature).first()
        meter_info = None if ts is None else [ts.ratioString, float(ts.beatDuration.quarterLength),
                                              float(ts.barDuration.quarterLength)]
        ks = first.recurse().getElementsByClass(m21key.KeySignature).first()
        sharps = None if ks is None else int(ks.sharps)
        title = ""
        if s.metadata is not None:
            title = str(s.metadata.title or s.metadata.movementName or "")
    return parts, measures, meter_info, sharps, title


def parse_candidate(cand: Candidate, use_fast_xml: bool = True) -> dict[str, Any]:
    """Parse one candidate into a :class:`Piece` JSON dict, or ``{"key", "error"}``.

    MusicXML files go through the fast reader (:mod:`mertbench.render.musicxml`) unless
    ``use_fast_xml`` is False or it declines the file; everything else through music21. Never
    raises for a bad file: the reason is returned and counted by the caller.
    """
    src = SOURCES[cand.source]
    path = corpus_root() / cand.relpath
    fast = None
    if use_fast_xml and path.suffix in (".xml", ".mxl", ".musicxml"):
        from mertbench.render.musicxml import UnsupportedScore, read_musicxml

        try:
            fast = read_musicxml(path)
        except UnsupportedScore:
            fast = None  # fall back to music21
        except Exception as exc:  # malformed XML / zip
            return {"key": cand.key, "error": f"parse error ({type(exc).__name__})"}
    if fast is not None:
        parts, measures, meter_info, sharps, title = (fast["parts"], fast["measures"], fast["meter"],
                                                       fast["sharps"], fast["title"])
    else:
        try:
            parts, measures, meter_info, sharps, title = _parse_music21(path, cand.number)
        except _NoParts as exc:
            return {"key": cand.key, "error": str(exc)}
        except Exception as exc:  # music21 raises many types on odd files
            return {"key": cand.key, "error": f"parse error ({type(exc).__name__})"}
    if not parts:
        return {"key": cand.key, "error": "no pitched notes"}
    if len(parts) < src.min_parts:
        return {"key": cand.key, "error": f"fewer than {src.min_parts} parts"}
    if sum(len(p) for p in parts) < 8:
        return {"key": cand.key, "error": "fewer than 8 notes"}
    tonic, mode = key_from_final(parts, sharps)
    duration = max(n[0] + n[1] for p in parts for n in p)
    piece = Piece(cand.key, cand.source, title, parts, measures, meter_info, sharps, tonic, mode,
                  round(duration, 6))
    return piece.to_json()


def _cache_file(cache_dir: Path, cand: Candidate) -> Path:
    import music21

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", cand.key)
    return cache_dir / f"pieces-v{PIECE_VERSION}-music21-{music21.__version__}" / cand.source / f"{safe}.json"


def load_or_parse(cand: Candidate, cache_dir: Path | None) -> dict[str, Any]:
    """Parsed piece (or error) from the cache, else parse and cache it (atomic write)."""
    from mertbench.io import atomic_write_text

    path = _cache_file(cache_dir, cand) if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("key") == cand.key:
                return data
        except (OSError, ValueError):
            pass  # unreadable cache entry: parse again and overwrite it
    data = parse_candidate(cand)
    if path is not None:
        try:
            atomic_write_text(path, json.dumps(data, separators=(",", ":")))
        except OSError:
            pass  # a read-only cache only costs speed
    return data
