"""The General MIDI soundfont used for every render: ``TimGM6mb.sf2``, shipped inside pretty_midi.

TimGM6mb (Tim Brechbill, GPL-2) is a 6 MB GM/GS soundfont with all 128 melodic programs in bank
0 and eight drum kits in bank 128. We never download anything: the file is found next to the
installed ``pretty_midi`` package. Its SHA-256 goes into every render's provenance.
"""
from __future__ import annotations

import hashlib
import struct
from functools import lru_cache
from pathlib import Path

from mertbench.errors import DataError

SOUNDFONT_NAME = "TimGM6mb.sf2"


def soundfont_path() -> Path:
    """Path of ``TimGM6mb.sf2`` inside the installed pretty_midi package."""
    try:
        import pretty_midi
    except ImportError as exc:  # pragma: no cover - pretty_midi is a hard dependency
        raise DataError("pretty_midi is not installed; `pip install pretty_midi` (it ships the soundfont)") from exc
    path = Path(pretty_midi.__file__).resolve().parent / SOUNDFONT_NAME
    if not path.is_file():
        raise DataError(f"{path}: the soundfont {SOUNDFONT_NAME} that pretty_midi ships is missing; "
                        "reinstall pretty_midi (`pip install --force-reinstall pretty_midi`)")
    return path


@lru_cache(maxsize=1)
def soundfont_bytes() -> bytes:
    """The raw bytes of the soundfont (read once per process)."""
    return soundfont_path().read_bytes()


@lru_cache(maxsize=1)
def soundfont_sha256() -> str:
    """SHA-256 (hex) of the soundfont file."""
    return hashlib.sha256(soundfont_bytes()).hexdigest()


@lru_cache(maxsize=1)
def preset_names() -> dict[tuple[int, int], str]:
    """``(bank, program) -> preset name`` read from the soundfont's ``phdr`` chunk."""
    data = soundfont_bytes()
    i = data.find(b"phdr")
    if i < 0:
        raise DataError(f"{soundfont_path()}: not a valid SoundFont 2 file (no phdr chunk)")
    size = struct.unpack("<I", data[i + 4:i + 8])[0]
    records = data[i + 8:i + 8 + size]
    out: dict[tuple[int, int], str] = {}
    for k in range(0, len(records) - 38, 38):  # the last record is the terminal "EOP"
        name, program, bank = struct.unpack("<20sHH", records[k:k + 24])
        out[(bank, program)] = name.split(b"\0")[0].decode("latin-1").strip()
    return out
