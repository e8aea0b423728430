"""A fast reader of the notes of a partwise MusicXML file (``.xml``, ``.musicxml``, ``.mxl``).

music21's MusicXML import builds a full object model and takes 50-600 ms per corpus file; the
render needs only sounding notes, measures, the first time and key signature. This reader uses
``xml.etree`` and gives the same extraction as :func:`mertbench.render.corpus.parse_candidate`
does through music21 (``tests/render/test_corpus.py`` checks equality on corpus files), about an
order of magnitude faster. Anything it does not handle (timewise scores, composite meters,
files without parts) raises :class:`UnsupportedScore`, and the caller falls back to music21.

Times are quarter lengths (ql); pitches are sounding MIDI numbers (``<transpose>`` applied).
"""
from __future__ import annotations

import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

_STEP_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


class UnsupportedScore(Exception):
    """The file uses a MusicXML feature this reader does not handle."""


def _read_root(path: Path) -> ET.Element:
    if path.suffix == ".mxl":
        with zipfile.ZipFile(path) as zf:
            name = None
            if "META-INF/container.xml" in zf.namelist():
                container = ET.fromstring(zf.read("META-INF/container.xml"))
                for el in container.iter():
                    if el.tag.endswith("rootfile") and el.get("full-path"):
                        name = el.get("full-path")
                        break
            if name is None:
                names = [n for n in zf.namelist() if n.endswith((".xml", ".musicxml")) and not n.startswith("META-INF")]
                if not names:
                    raise UnsupportedScore("no MusicXML file inside the .mxl archive")
                name = names[0]
            return ET.fromstring(zf.read(name))
    return ET.parse(path).getroot()


def _text(el: ET.Element | None, default: str | None = None) -> str | None:
    return el.text.strip() if el is not None and el.text is not None else default


def _part_notes(part: ET.Element, want_measures: bool) -> tuple[list[list[Any]], list[list[float]], dict[str, Any]]:
    """Notes ``[onset, dur, midi, tie_types, staff]`` (Fractions), measures, and first attributes."""
    divisions = Fraction(1)
    transpose = 0
    pos = Fraction(0)  # measure start
    notes: list[list[Any]] = []
    measures: list[list[float]] = []
    first: dict[str, Any] = {}
    for measure in part.findall("measure"):
        cursor = Fraction(0)
        high = Fraction(0)
        last_onset = Fraction(0)
        for el in measure:
            tag = el.tag
            if tag == "attributes":
                d = _text(el.find("divisions"))
                if d is not None:
                    divisions = Fraction(d)
                tr = el.find("transpose")
                if tr is not None:
                    transpose = int(_text(tr.find("chromatic"), "0")) + 12 * int(_text(tr.find("octave-change"), "0"))
                key = el.find("key")
                if key is not None and "fifths" not in first and key.find("fifths") is not None:
                    first["fifths"] = int(_text(key.find("fifths")))
                time = el.find("time")
                if time is not None and "time" not in first:
                    beats, beat_type = _text(time.find("beats")), _text(time.find("beat-type"))
                    if beats is None or beat_type is None or not beats.isdigit() or not beat_type.isdigit():
                        raise UnsupportedScore(f"time signature {beats}/{beat_type}")
                    first["time"] = f"{int(beats)}/{int(beat_type)}"
            elif tag == "backup":
                cursor -= Fraction(_text(el.find("duration"), "0")) / divisions
            elif tag == "forward":
                cursor += Fraction(_text(el.find("duration"), "0")) / divisions
                high = max(high, cursor)
            elif tag == "note":
                if el.find("grace") is not None:
                    continue
                dur = Fraction(_text(el.find("duration"), "0")) / divisions
                if el.find("chord") is not None:
                    onset = last_onset
                else:
                    onset = cursor
                    last_onset = onset
                    cursor += dur
                    high = max(high, cursor)
                pitch = el.find("pitch")
                if pitch is None or el.find("cue") is not None or dur <= 0:
                    continue
                step = _text(pitch.find("step"))
                alter = float(_text(pitch.find("alter"), "0"))
                octave = int(_text(pitch.find("octave"), "4"))
                midi = 12 * (octave + 1) + _STEP_PC[step] + int(round(alter)) + transpose
                ties = {t.get("type") for t in el.findall("tie")}
                staff = int(_text(el.find("staff"), "1"))
                notes.append([pos + onset, dur, midi, ties, staff])
        if want_measures:
            measures.append([float(pos), float(high)])
        pos += high
    return notes, measures, first


def _merge_ties(raw: list[list[Any]]) -> list[list[float]]:
    raw.sort(key=lambda n: (n[0], n[2]))
    out: list[list[Any]] = []
    open_ties: dict[int, int] = {}
    for onset, dur, midi, ties, _staff in raw:
        idx = open_ties.get(midi)
        if "stop" in ties and idx is not None and out[idx][0] + out[idx][1] == onset:
            out[idx][1] += dur
            if "start" not in ties:
                del open_ties[midi]
            continue
        out.append([onset, dur, midi])
        if "start" in ties:
            open_ties[midi] = len(out) - 1
        else:
            open_ties.pop(midi, None)
    return [[round(float(a), 6), round(float(b), 6), int(c)] for a, b, c in out]


def read_musicxml(path: str | Path) -> dict[str, Any]:
    """``{"title", "parts", "measures", "meter", "sharps"}`` of a partwise MusicXML file."""
    from music21 import meter

    root = _read_root(Path(path))
    if not root.tag.endswith("score-partwise"):
        raise UnsupportedScore(f"root element {root.tag}")
    parts_el = root.findall("part")
    if not parts_el:
        raise UnsupportedScore("no <part>")
    parts, measures, first = [], [], {}
    for i, part in enumerate(parts_el):
        raw, m, f = _part_notes(part, want_measures=(i == 0))
        if i == 0:
            measures, first = m, f
        for staff in sorted({n[4] for n in raw}):  # a piano part's staves become parts (as music21)
            merged = _merge_ties([n for n in raw if n[4] == staff])
            if merged:
                parts.append(merged)
    title = _text(root.find("work/work-title")) or _text(root.find("movement-title")) or ""
    meter_info = None
    if "time" in first:
        ts = meter.TimeSignature(first["time"])
        meter_info = [ts.ratioString, float(ts.beatDuration.quarterLength), float(ts.barDuration.quarterLength)]
    return {"title": title, "parts": parts, "measures": [[round(a, 6), round(b, 6)] for a, b in measures],
            "meter": meter_info, "sharps": first.get("fifths")}
