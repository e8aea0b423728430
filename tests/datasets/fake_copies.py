"""Builders of tiny fake copies of the official dataset layouts (real names and syntax, fake audio).

Each ``make_<dataset>(root, ...)`` writes a copy under ``root`` (the folder you would pass as
``--root``) and returns a :class:`FakeCopy` with the expected split counts and classes. Audio is
short generated noise/tones at low sample rates (the loaders do not depend on the rate), except
where the layout needs real durations (GiantSteps: 61 s so each track gives two 30 s clips; VocalSet:
7 s so each recording gives two 3 s chunks). Text files use the official line endings.

Reusable by any test: ``from tests.datasets.fake_copies import make_gtzan``. Every builder is
deterministic and takes well under a second.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["FakeCopy", "make_emo", "make_giantsteps", "make_gtzan", "make_mtg", "make_mtt", "make_musdb",
           "make_nsynth", "make_vocalset", "write_audio", "corrupt", "FAKE_BUILDERS"]


@dataclass
class FakeCopy:
    """What a builder wrote: the root, expected counts per split, number of classes, notable files."""

    root: Path
    counts: dict[str, int]
    num_classes: int | None
    files: dict[str, Path] = field(default_factory=dict)


def write_audio(path: Path, seconds: float, sr: int, channels: int = 1, seed: int = 0, fmt: str | None = None) -> Path:
    """Write a short tone-plus-noise file (wav or mp3 by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * sr)))
    t = np.arange(n) / sr
    x = 0.2 * np.sin(2 * np.pi * (220 + 20 * (seed % 7)) * t) + 0.02 * rng.standard_normal(n)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    fmt = fmt or ("MP3" if path.suffix.lower() == ".mp3" else "WAV")
    sf.write(str(path), data.astype(np.float32), sr, format=fmt, **({"subtype": "PCM_16"} if fmt == "WAV" else {}))
    return path


def corrupt(path: Path) -> Path:
    """Overwrite ``path`` with bytes that no decoder accepts (keeps the name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x01garbage, not an audio header" * 40)
    return path


def _text(path: Path, lines: list[str], eol: str = "\n", final: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((eol.join(lines) + (eol if final else "")).encode("utf-8"))
    return path


# ------------------------------------------------------------------------------------------- GTZAN

GTZAN_SPLITS = {
    "train": ["blues/blues.00029.wav", "classical/classical.00001.wav", "jazz/jazz.00054.wav", "rock/rock.00042.wav"],
    "valid": ["blues/blues.00000.wav", "classical/classical.00010.wav"],
    "test": ["blues/blues.00012.wav", "rock/rock.00007.wav"],
}


def make_gtzan(root: Path, layout: str = "original", corrupt_jazz: bool = False, beat: bool = False,
               jams_in_root: bool = False, lists: bool = True) -> FakeCopy:
    """GTZAN: ``genres/`` (original) or ``Data/genres_original/`` (kaggle); split lists (LF).

    ``jazz.00054`` is listed in train (as in the official list); with ``corrupt_jazz`` its bytes are
    not RIFF (the Kaggle defect). ``beat`` adds GTZAN-Rhythm JAMS files (``jams/`` or, with
    ``jams_in_root``, the archive root).
    """
    adir = root / ("Data/genres_original" if layout == "kaggle" else "genres")
    for i, rel in enumerate(sum(GTZAN_SPLITS.values(), [])):
        if rel == "jazz/jazz.00054.wav" and corrupt_jazz:
            corrupt(adir / rel)
        else:
            write_audio(adir / rel, 3.0, 22050, seed=i)
    if lists:
        for split, rels in GTZAN_SPLITS.items():
            _text(root / f"{split}_filtered.txt", rels)
    if beat:
        import jams

        for rel in sum(GTZAN_SPLITS.values(), []):
            name = Path(rel).name
            jam = jams.JAMS()
            jam.file_metadata.duration = 3.0
            beats = jams.Annotation(namespace="beat", sandbox={"annotation_type": "beat"}, duration=3.0)
            downs = jams.Annotation(namespace="beat", sandbox={"annotation_type": "downbeat"}, duration=3.0)
            for k, t in enumerate(np.arange(0.25, 2.9, 0.5)):
                beats.append(time=float(t), duration=0.0, value=k % 4 + 1, confidence=1.0)
                if k % 4 == 0:
                    downs.append(time=float(t), duration=0.0, value=1, confidence=1.0)
            jam.annotations.extend([beats, downs,
                                    jams.Annotation(namespace="tag_open", sandbox={"swing": "no", "ternary": "no"}, duration=3.0),
                                    jams.Annotation(namespace="tag_open", sandbox={"meter": "4/4"}, duration=3.0)])
            out = root / "GTZAN-Rhythm_v2_ismir2015_lbd" / ("" if jams_in_root else "jams") / f"{name}.jams"
            out.parent.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # jsonschema deprecation inside jams
                jam.save(str(out))
        _text(root / "GTZAN-Rhythm_v2_ismir2015_lbd" / "stats.csv",
              [",artist,title,tempo mean"] + [f"{Path(r).name},Artist,Title,120.0" for r in sum(GTZAN_SPLITS.values(), [])])
    return FakeCopy(root, {"train": 3, "valid": 2, "test": 2}, 10 if not beat else None,
                    {"jazz": adir / "jazz/jazz.00054.wav", "audio_dir": adir})


# --------------------------------------------------------------------------------------------- MTT

MTT_TOP50 = ["guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
             "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals",
             "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft",
             "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
             "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral"]
MTT_CLIPS = [  # (clip_id, mp3_path, tags)
    ("2", "f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3", ["classical", "violin", "opera"]),
    ("6", "c/lvx_nova-lvx_nova-01-contimune-30-59.mp3", ["techno", "electronic", "beat"]),
    ("10", "0/williamson-a_few_things_to_hear_before_we_all_blow_up-01-a-0-29.mp3", ["rock", "guitar", "drums"]),
    ("14", "a/jacob_heringman-josquin_des_prez_lute_settings-01-anonymous_sandrin-0-29.mp3", ["guitar", "slow", "quiet"]),
    ("35644", "6/norine_braun-now_and_zen-08-gently-117-146.mp3", ["female", "vocal"]),
    ("20", "d/magnatune_compilation-rock-05-ehren_starks_the_sky_is_falling-30-59.mp3", ["rock", "fast"]),
]


def make_mtt(root: Path, eol: str = "\r\n", minzwon: bool = False) -> FakeCopy:
    """MTT: ``annotations_final.csv`` (tab-separated, quoted, 188 tags), ``mp3/<hex>/...``.

    Clip 35644 is one of the three corrupt mp3s of the official copy (its bytes are garbage here).
    """
    tags = MTT_TOP50 + [f"tag_{i:03d}" for i in range(51, 189)]
    header = ["clip_id"] + tags + ["mp3_path"]
    lines = ["\t".join(f'"{h}"' for h in header)]
    for cid, rel, ctags in MTT_CLIPS:
        vals = ["1" if t in ctags else "0" for t in tags]
        lines.append("\t".join(f'"{v}"' for v in [cid, *vals, rel]))
        if cid == "35644":
            corrupt(root / "mp3" / rel)
        else:
            write_audio(root / "mp3" / rel, 1.0, 16000, seed=int(cid))
    _text(root / "annotations_final.csv", lines, eol=eol)
    if minzwon:
        d = root / "split" / "mtat"
        d.mkdir(parents=True, exist_ok=True)
        rows = {rel: i for i, (_, rel, _) in enumerate(MTT_CLIPS)}
        for split, rels in (("train", [MTT_CLIPS[2][1], MTT_CLIPS[3][1]]), ("valid", [MTT_CLIPS[1][1]]),
                            ("test", [MTT_CLIPS[0][1], MTT_CLIPS[5][1]])):
            np.save(d / f"{split}.npy", np.array([f"{rows[r]}\t{r}" for r in rels]))
    return FakeCopy(root, {"train": 2, "valid": 1, "test": 2}, 50, {"corrupt": root / "mp3" / MTT_CLIPS[4][1]})


# ------------------------------------------------------------------------------------------- GiantSteps

GS_KEY_COMMIT = "c8cb8aad2cb53f165be51ea099d0dc75c64a844f"
GS_MTG_COMMIT = "fd7b8c584f7bd6d720d170c325a6d42c9bf75a6b"
# MTG-key rows: id, manual key, confidence, artist(s)
GS_MTG_ROWS = [("5061", "D# minor", "2", "Philippe Van Mullem"),
               ("5881", "A major", "2", "Brainbashers, Lance Madden"),
               ("100066", "F# minor", "2", "Markus Schulz, Ferry Corsten"),   # valid by hash
               ("5090", "C minor", "2", "Dash Berlin"),                        # valid via collaboration below
               ("5091", "G minor", "0", "Dash Berlin, Ferry Corsten"),         # low confidence: skipped
               ("5092", "F minor / G# major", "2", "Tiesto")]                  # two keys: skipped
GS_KEY_ROWS = [("3354212", "Gb major", "progressive-house"), ("10089", "F minor", "techno")]


def make_giantsteps(root: Path, audio_in_repo: bool = False) -> FakeCopy:
    """GiantSteps: both annotation repos at MARBLE's pinned commits, ``audio/<id>.LOFI.mp3`` (61 s)."""
    key = root / f"giantsteps-key-dataset-{GS_KEY_COMMIT}"
    mtg = root / f"giantsteps-mtg-key-dataset-{GS_MTG_COMMIT}"
    md5s: dict[str, Path] = {}
    for did, keyname, genre in GS_KEY_ROWS:
        (key / "annotations" / "key").mkdir(parents=True, exist_ok=True)
        (key / "annotations" / "key" / f"{did}.LOFI.key").write_text(keyname)  # no trailing newline
        _text(key / "annotations" / "genre" / f"{did}.LOFI.genre", [genre], final=False)
        _text(key / "annotations" / "giantsteps" / f"{did}.LOFI.key",
              ["#@format: key\ttimestamp(float)\tkey(string)", f"key 0 {keyname}"])
        _text(key / "annotations" / "giantsteps" / f"{did}.LOFI.genre",
              ["#@format: tag\ttimestamp(float)\tname(str)\t[weight(float)]", f"tag 0 {genre}"])
        tonic, mode = keyname.split()
        _text(key / "annotations" / "jams" / f"{did}.LOFI.jams",
              [json.dumps({"annotations": [{"namespace": "key_mode", "data": [{"time": 0, "duration": 120,
                                                                                "value": f"{tonic}:{mode}", "confidence": 1}]}],
                           "file_metadata": {"duration": 120}})])
        md5s[did] = key
    _text(mtg / "annotations" / "annotations.txt", ["ID\tMANUAL KEY\tC"] + [f"{d}\t{k}\t{c}" for d, k, c, _ in GS_MTG_ROWS])
    _text(mtg / "annotations" / "beatport_metadata.txt",
          ["ID\tARTIST\tSONG TITLE\tMIX\tLABEL\tBP GENRE\tBP BPM\tBP KEY"]
          + [f"{d}\t{a}\tTitle {d}\tOriginal Mix\tLabel\tTrance\t138\t{k}" for d, k, _, a in GS_MTG_ROWS])
    for did, keyname, conf, _ in GS_MTG_ROWS:
        _text(mtg / "annotations" / "key" / f"{did}.LOFI.key", [f"{keyname.lower()}\t{conf}\t"])
        _text(mtg / "annotations" / "genre" / f"{did}.LOFI.genre", ["trance"])
        md5s[did] = mtg
    import hashlib

    template = write_audio(root / ".gs_template.mp3", 61.0, 8000)  # encode once, copy (fast)
    data = template.read_bytes()
    template.unlink()
    for _i, (did, repo) in enumerate(md5s.items()):
        audio = (repo if audio_in_repo else root) / "audio" / f"{did}.LOFI.mp3"
        audio.parent.mkdir(parents=True, exist_ok=True)
        audio.write_bytes(data)

        _text(repo / "md5" / f"{did}.LOFI.md5", [hashlib.md5(audio.read_bytes()).hexdigest()])
    # train: 5061, 5881 (2 clips each); valid: 100066, 5090; test: 3354212, 10089
    return FakeCopy(root, {"train": 4, "valid": 4, "test": 4}, 24,
                    {"test_audio": (key if audio_in_repo else root) / "audio" / "3354212.LOFI.mp3"})


# -------------------------------------------------------------------------------------------- EMO

EMO_SONGS = [  # id, artist, title, set, arousal, valence
    (2, "Kevin MacLeod", "Song A", "development", 3.1, 3.0),
    (3, "Broke For Free", "Song B", "development", 5.2, 6.1),
    (4, "Chris Zabriskie", "Song C", "development", 4.0, 4.4),
    (5, "Jahzzar", "Song D", "development", 6.3, 5.5),
    (7, "Podington Bear", "Song E", "development", 2.5, 3.9),
    (8, "Blue Dot Sessions", "Song F", "development", 5.8, 6.6),
    (1001, "Josh Woodward", "Song G", "evaluation", 4.4, 5.0),
    (1002, "Kai Engel", "Song H", "evaluation", 3.3, 2.9),
    (1003, "Ketsa", "Song I", "evaluation", 6.0, 6.2),
]


def make_emo(root: Path) -> FakeCopy:
    """EMO: ``clips_45seconds/<id>.mp3`` and the six annotation CSVs at the root (comma, LF)."""
    info = ["song_id,file_name,Artist,Song title,start of the segment (min.sec),end of the segment (min.sec),Genre,Mediaeval 2013 set"]
    static = ["song_id, mean_arousal, std_arousal, mean_valence, std_valence"]
    cont_cols = ",".join(f"sample_{15000 + 500 * k}ms" for k in range(61))
    cont = {n: ["song_id," + cont_cols] for n in ("arousal_cont_average", "arousal_cont_std",
                                                  "valence_cont_average", "valence_cont_std")}
    for sid, artist, title, set_name, ar, va in EMO_SONGS:
        info.append(f"{sid},{sid}.mp3,{artist} , {title},0.48,1.33,Pop,{set_name}")
        static.append(f"{sid}, {ar}, 0.9, {va}, 1.1")
        for n in cont:
            cont[n].append(f"{sid}," + ",".join("0.1" for _ in range(61)))
        write_audio(root / "clips_45seconds" / f"{sid}.mp3", 2.0, 8000, seed=sid)
    _text(root / "songs_info.csv", info)
    _text(root / "static_annotations.csv", static)
    for n, lines in cont.items():
        _text(root / f"{n}.csv", lines)
    return FakeCopy(root, {"train": 4, "valid": 2, "test": 3}, None)


# ------------------------------------------------------------------------------------------ NSynth

NSYNTH_NOTES = {
    "train": [("guitar_acoustic_001-082-050", "guitar", 3, "acoustic", 0, 82, 50),
              ("bass_synthetic_068-049-025", "bass", 0, "synthetic", 2, 49, 25),
              ("keyboard_electronic_003-060-100", "keyboard", 4, "electronic", 1, 60, 100)],
    "valid": [("guitar_acoustic_010-060-075", "guitar", 3, "acoustic", 0, 60, 75),
              ("bass_electronic_018-049-127", "bass", 0, "electronic", 1, 49, 127)],
    "test": [("keyboard_acoustic_004-082-050", "keyboard", 4, "acoustic", 0, 82, 50),
             ("bass_synthetic_033-050-100", "bass", 0, "synthetic", 2, 50, 100)],
}


def make_nsynth(root: Path, placement: str = "root") -> FakeCopy:
    """NSynth: ``nsynth-<split>/examples.json`` (13 keys) + ``audio/<note_str>.wav`` (16 kHz)."""
    base = root / "nsynth-data" if placement == "nsynth-data" else root
    note_id = 0
    for split, notes in NSYNTH_NOTES.items():
        entries = {}
        for note_str, fam, fam_id, src, src_id, pitch, vel in notes:
            inst = note_str.rsplit("-", 2)[0]
            entries[note_str] = {"note": note_id, "note_str": note_str, "instrument": note_id + 100, "instrument_str": inst,
                                 "instrument_family": fam_id, "instrument_family_str": fam, "instrument_source": src_id,
                                 "instrument_source_str": src, "pitch": pitch, "velocity": vel, "sample_rate": 16000,
                                 "qualities": [0] * 10, "qualities_str": []}
            note_id += 1
            write_audio(base / f"nsynth-{split}" / "audio" / f"{note_str}.wav", 0.25, 16000, seed=note_id)
        (base / f"nsynth-{split}" / "examples.json").write_text(json.dumps(entries, indent=4))
    return FakeCopy(root, {"train": 3, "valid": 2, "test": 2}, None)


# ----------------------------------------------------------------------------------------- VocalSet

VOCALSET_FILES = [  # singer folder, context, technique, file name
    ("female1", "arpeggios", "belt", "f1_arpeggios_belt_c_a.wav"),
    ("female1", "long_tones", "vibrato", "f1_long_vibrato_a.wav"),
    ("female1", "scales", "breathy", "f1_scales_breathy_e.wav"),
    ("male1", "scales", "breathy", "m1_scales_breathy_e.wav"),
    ("male1", "excerpts", "spoken", "m1_row_spoken.wav"),
    ("male2", "arpeggios", "inhaled", "m2_arpeggios_inhaled_a.wav"),
    ("female4", "arpeggios", "straight", "arpeggios_straight_a.wav"),  # real irregular name (no singer prefix)
    ("male4", "long_tones", "trill", "m4_long_trill_u.wav"),
    ("female2", "long_tones", "vibrato", "f2_long_vibrato_a.wav"),      # test singer
    ("female2", "arpeggios", "lip_trill", "lip_trill_arps.wav"),        # test singer, irregular name
    ("male3", "excerpts", "spoken", "m3_row_spoken.wav"),               # test singer
    ("male5", "arpeggios", "trillo", "m5_arpeggios_trillo_o.wav"),     # test singer
    ("male10", "scales", "vocal_fry", "m10_scales_vocal_fry_a.wav"),    # test singer
    ("female8", "arpeggios", "belt", "f8_arpeggios_belt_c_i.wav"),      # test singer
    ("female1", "arpeggios", "forte", "f1_arpeggios_forte_a.wav"),      # singer task only
]


def make_vocalset(root: Path, version: str = "1.1") -> FakeCopy:
    """VocalSet 1.1 (``FULL/``) or 1.2 (``data_by_singer/``) with a ``__MACOSX`` decoy, a file MARBLE deletes,
    and the official singer lists. Each recording lasts 7 s (8 kHz) = two 3 s chunks."""
    full = root / ("FULL" if version == "1.1" else "data_by_singer")
    for i, (singer, ctx, tech, name) in enumerate(VOCALSET_FILES):
        write_audio(full / singer / ctx / tech / name, 7.0, 8000, seed=i)
    write_audio(full / "female2" / "excerpts" / "vibrato" / "caro_vibrato.wav", 7.0, 8000, seed=99)  # MARBLE deletes it
    (root / "__MACOSX" / "FULL" / "female1" / "arpeggios" / "belt").mkdir(parents=True, exist_ok=True)
    (root / "__MACOSX" / "FULL" / "female1" / "arpeggios" / "belt" / "._f1_arpeggios_belt_c_a.wav").write_bytes(b"\x00\x05\x16\x07")
    _text(root / "test_singers_technique.txt", ["female2", "female8", "male3", "male5", "male10"])
    _text(root / "train_singers_technique.txt", ["female1", "female3", "female4", "female5", "female6", "female7", "female9",
                                                  "male1", "male2", "male4", "male6", "male7", "male8", "male9", "male11"])
    if version == "1.2":
        write_audio(root / "data_by_technique" / "belt" / "f1_arpeggios_belt_c_a.wav", 1.0, 8000)
    n_tech_test = sum(1 for s, _, t, _ in VOCALSET_FILES if s in ("female2", "female8", "male3", "male5", "male10") and t != "forte")
    return FakeCopy(root, {"test": 2 * n_tech_test}, 10, {"full": full})


# ---------------------------------------------------------------------------------------------- MTG

MTG_HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS"
MTG_TRACKS = [  # track id number, artist, album, duration, tags per subset
    (948, 87, 149, "212.7", {"genre": ["genre---rock", "genre---pop"], "instrument": ["instrument---guitar"],
                             "moodtheme": ["mood/theme---background"], "top50tags": ["genre---rock", "instrument---guitar"]}),
    (1009600, 1234, 5678, "180.0", {"genre": ["genre---electronic"], "instrument": ["instrument---synthesizer", "instrument---drums"],
                                    "moodtheme": ["mood/theme---energetic", "mood/theme---happy"], "top50tags": ["genre---electronic"]}),
    (2011, 300, 400, "95.5", {"genre": ["genre---rock"], "instrument": ["instrument---guitar"],
                              "moodtheme": ["mood/theme---happy"], "top50tags": ["genre---rock"]}),
    (3512, 301, 401, "240.1", {"genre": ["genre---pop"], "instrument": ["instrument---drums"],
                               "moodtheme": ["mood/theme---background"], "top50tags": ["instrument---guitar"]}),
]
MTG_SPLIT_OF = {948: "train", 1009600: "train", 2011: "validation", 3512: "test"}


def make_mtg(root: Path, eol: str = "\r\n", audio: str = "low") -> FakeCopy:
    """MTG-Jamendo: the repo's split-0 TSVs (CRLF by default) and ``audio-low/NN/<id>.low.mp3`` (or ``audio/``)."""
    split_dir = root / "mtg-jamendo-dataset" / "data" / "splits" / "split-0"
    for subset in ("genre", "instrument", "moodtheme", "top50tags"):
        for split in ("train", "validation", "test"):
            lines = [MTG_HEADER]
            for tid, art, alb, dur, tags in MTG_TRACKS:
                if MTG_SPLIT_OF[tid] == split:
                    nn = f"{tid % 100:02d}"
                    lines.append("\t".join([f"track_{tid:07d}", f"artist_{art:06d}", f"album_{alb:06d}",
                                            f"{nn}/{tid}.mp3", dur, *tags[subset]]))
            _text(split_dir / f"autotagging_{subset}-{split}.tsv", lines, eol=eol)
    for tid, *_ in MTG_TRACKS:
        nn = f"{tid % 100:02d}"
        path = root / "audio-low" / nn / f"{tid}.low.mp3" if audio == "low" else root / "audio" / nn / f"{tid}.mp3"
        write_audio(path, 1.0, 8000, seed=tid % 97)
    return FakeCopy(root, {"train": 2, "valid": 1, "test": 1}, None)


# -------------------------------------------------------------------------------------------- MUSDB

MUSDB_TRACKS = {"train": ["A Classic Education - NightOwl", "Actions - One Minute Smile"],
                "test": ["Al James - Schoolboy Facination"]}


def make_musdb(root: Path, layout: str = "hq") -> FakeCopy:
    """MUSDB18: ``hq`` (wav stems), ``converted`` (musdbconvert: + accompaniment/linear_mixture) or ``stems`` (.stem.mp4)."""
    for sub, names in MUSDB_TRACKS.items():
        for i, name in enumerate(names):
            if layout == "stems":
                (root / sub).mkdir(parents=True, exist_ok=True)
                (root / sub / f"{name}.stem.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom fake stems")
                continue
            d = root / sub / name
            stems = {}
            for j, s in enumerate(("drums", "bass", "other", "vocals")):
                write_audio(d / f"{s}.wav", 0.5, 8000, channels=2, seed=10 * i + j)
                stems[s] = sf.read(str(d / f"{s}.wav"))[0]
            mix = sum(stems.values())
            sf.write(str(d / "mixture.wav"), np.clip(mix, -1, 1), 8000, subtype="PCM_16")
            if layout == "converted":
                sf.write(str(d / "accompaniment.wav"), np.clip(mix - stems["vocals"], -1, 1), 8000, subtype="PCM_16")
                sf.write(str(d / "linear_mixture.wav"), np.clip(mix, -1, 1), 8000, subtype="PCM_16")
    return FakeCopy(root, {"train": 1, "valid": 1, "test": 1}, None)


#: task name -> builder producing a healthy copy for it.
FAKE_BUILDERS = {
    "gtzan-genre": make_gtzan,
    "gtzan-beat": lambda root: make_gtzan(root, beat=True),
    "mtt-tagging": make_mtt,
    "gs-key": make_giantsteps,
    "emo": make_emo,
    "nsynth-instrument": make_nsynth,
    "nsynth-pitch": make_nsynth,
    "vocalset-technique": make_vocalset,
    "vocalset-singer": make_vocalset,
    "mtg-instrument": make_mtg,
    "mtg-moodtheme": make_mtg,
    "mtg-genre": make_mtg,
    "mtg-top50": make_mtg,
    "musdb-separation": make_musdb,
}
