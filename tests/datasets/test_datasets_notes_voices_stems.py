"""NSynth (both placements, pitch/family labels), VocalSet (1.1/1.2, deterministic written splits), MUSDB18."""
from __future__ import annotations

import math

import pytest
from fake_copies import VOCALSET_FILES, make_musdb, make_nsynth, make_vocalset

from mertbench.datasets import split_lists
from mertbench.datasets.musdb import VALIDATION_TRACKS
from mertbench.datasets.vocalset import CHUNK_SAMPLES_44K, chunk_count, derive_split
from mertbench.errors import DataError
from mertbench.tasks import get_task


@pytest.mark.parametrize("placement", ["root", "nsynth-data"])
def test_nsynth_placements_and_labels(tmp_path, placement):
    make_nsynth(tmp_path, placement=placement)
    fam = get_task("nsynth-instrument").load(tmp_path)
    assert fam.counts() == {"train": 3, "valid": 2, "test": 2} and len(fam.vocabulary) == 11
    assert {ex.id: ex.label for ex in fam.splits["valid"]} == {"bass_electronic_018-049-127": "bass",
                                                               "guitar_acoustic_010-060-075": "guitar"}
    pitch = get_task("nsynth-pitch").load(tmp_path)
    assert len(pitch.vocabulary) == 128
    assert {ex.label for ex in pitch.splits["test"]} == {"82", "50"}
    base = tmp_path / "nsynth-data" if placement == "nsynth-data" else tmp_path
    assert pitch.splits["test"][0].path.parent == base / "nsynth-test" / "audio"


def _marble_chunks(n: int, max_len: int) -> int:
    """MARBLE's chunking loop, verbatim in behaviour: chunk while more than one chunk remains."""
    count = 0
    while n > max_len:
        count += 1
        n -= max_len
    return count


@pytest.mark.parametrize("frames", [0, 100, CHUNK_SAMPLES_44K, CHUNK_SAMPLES_44K + 1, 2 * CHUNK_SAMPLES_44K,
                                    2 * CHUNK_SAMPLES_44K + 7, 441000])
def test_vocalset_chunk_count_matches_marble_loop(frames):
    assert chunk_count(frames, 44100) == _marble_chunks(frames, CHUNK_SAMPLES_44K)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_vocalset_technique_split(tmp_path, version):
    fc = make_vocalset(tmp_path, version=version)
    ds = get_task("vocalset-technique").load(tmp_path)
    assert ds.counts()["test"] == fc.counts["test"]
    test_singers = {ex.meta["singer"] for ex in ds.splits["test"]}
    assert test_singers == {"f2", "f8", "m3", "m5", "m10"}
    assert not {ex.meta["singer"] for ex in ds.splits["train"] + ds.splits["valid"]} & test_singers
    lip = [ex for ex in ds.splits["test"] if ex.label == "lip_trill"]
    assert lip and lip[0].meta["singer"] == "f2"  # singer from the folder, not the irregular file name
    assert all(ex.label != "forte" for exs in ds.splits.values() for ex in exs)
    assert not any("caro_vibrato" in str(ex.path) for exs in ds.splits.values() for ex in exs)
    assert ds.skipped == {"duplicate or unlisted file (MARBLE deletes it)": 1}
    ex = ds.splits["test"][0]
    assert ex.end_s - ex.start_s == pytest.approx(CHUNK_SAMPLES_44K / 44100, abs=1e-4)
    groups = {split: {ex.group for ex in exs} for split, exs in ds.splits.items()}
    assert not groups["train"] & groups["valid"]
    n_rest = len(groups["train"]) + len(groups["valid"])
    assert len(groups["valid"]) == math.ceil(0.4 * n_rest)


def test_vocalset_split_files_written_and_reused(tmp_path):
    make_vocalset(tmp_path)
    first = get_task("vocalset-singer").load(tmp_path)
    files = sorted(split_lists.cache_path("VocalSet", "").glob("vocalset_singer_*.txt"))
    assert [f.name for f in files] == ["vocalset_singer_test.txt", "vocalset_singer_train.txt", "vocalset_singer_valid.txt"]
    assert files[0].read_text().startswith("# mertbench VocalSet singer split")
    again = get_task("vocalset-singer").load(tmp_path)
    assert first.fingerprint() == again.fingerprint()
    assert {ex.label for ex in first.splits["train"] + first.splits["valid"] + first.splits["test"]} <= set(first.vocabulary)
    # a split shared by a user in <root>/splits takes precedence
    user = tmp_path / "splits"
    user.mkdir()
    recs = sorted(f"{s}/{c}/{t}/{n}" for s, c, t, n in VOCALSET_FILES)
    (user / "vocalset_singer_train.txt").write_text("\n".join(recs[:10]) + "\n")
    (user / "vocalset_singer_valid.txt").write_text("\n".join(recs[10:12]) + "\n")
    (user / "vocalset_singer_test.txt").write_text("\n".join(recs[12:]) + "\n")
    mine = get_task("vocalset-singer").load(tmp_path)
    assert len({ex.group for ex in mine.splits["valid"]}) == 2


def test_vocalset_derived_split_is_deterministic():
    recs = [f"female{i % 9 + 1}/scales/belt/x{i}.wav" for i in range(50)]
    a, b = derive_split("singer", recs), derive_split("singer", list(reversed(recs)))
    assert a == b and len(a["test"]) == 10 and len(a["valid"]) == 16 and len(a["train"]) == 24


@pytest.mark.parametrize("layout", ["hq", "converted"])
def test_musdb_wav_layouts(tmp_path, layout):
    make_musdb(tmp_path / "musdb18hq", layout=layout)  # one wrapping folder is accepted
    ds = get_task("musdb-separation").load(tmp_path)
    assert ds.counts() == {"train": 1, "valid": 1, "test": 1}
    v = ds.splits["valid"][0]
    assert v.id == "train/Actions - One Minute Smile" and "Actions - One Minute Smile" in VALIDATION_TRACKS
    assert v.path.name == "mixture.wav" and sorted(v.label) == ["bass", "drums", "other", "vocals"]
    assert ds.splits["test"][0].label["vocals"].endswith("Al James - Schoolboy Facination/vocals.wav")


def test_musdb_stems_form_asks_for_conversion(tmp_path):
    make_musdb(tmp_path, layout="stems")
    with pytest.raises(DataError, match="musdbconvert"):
        get_task("musdb-separation").load(tmp_path)
