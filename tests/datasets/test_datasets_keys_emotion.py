"""GiantSteps (artist-hash split, 30 s clips, song groups) and Emomusic (hash split, z-scored targets)."""
from __future__ import annotations

import shutil
import zipfile

import numpy as np
from fake_copies import GS_KEY_COMMIT, make_emo, make_giantsteps

from mertbench.datasets.giantsteps import mtg_split_of_artists
from mertbench.tasks import get_task


def _songs(ds, split):
    return sorted({ex.group for ex in ds.splits[split]})


def test_giantsteps_split_clips_and_labels(tmp_path):
    make_giantsteps(tmp_path)
    ds = get_task("gs-key").load(tmp_path)
    assert _songs(ds, "train") == ["0005061", "0005881"]
    # 100066 by hash; 5090 because its artist collaborated with a valid artist (two-pass rule)
    assert _songs(ds, "valid") == ["0005090", "0100066"]
    assert _songs(ds, "test") == ["0010089", "3354212"]
    assert ds.counts() == {"train": 4, "valid": 4, "test": 4}  # 61 s tracks -> two 30 s clips each
    clip = next(ex for ex in ds.splits["train"] if ex.id == "0005061-1")
    assert (clip.label, clip.start_s, clip.end_s, clip.group) == ("Eb minor", 30.0, 60.0, "0005061")
    assert {ex.label for ex in ds.splits["valid"]} == {"Gb minor", "C minor"}
    assert ds.skipped == {"MTG-key confidence != 2": 1, "MTG-key multiple keys": 1}
    assert len(ds.vocabulary) == 24 and ds.vocabulary[1] == "Db major"


def test_artist_rule_propagates_over_collaborators():
    meta = [{"ARTIST": "Dash Berlin"}, {"ARTIST": "Dash Berlin, Ferry Corsten"}, {"ARTIST": "Tiesto"}]
    split = mtg_split_of_artists(meta)
    assert split["Ferry Corsten"] == "valid" and split["Dash Berlin"] == "valid" and split["Tiesto"] == "train"


def test_giantsteps_zip_and_audio_in_repo(tmp_path):
    make_giantsteps(tmp_path, audio_in_repo=True)
    repo = tmp_path / f"giantsteps-key-dataset-{GS_KEY_COMMIT}"
    with zipfile.ZipFile(tmp_path / "key-annotations.zip", "w") as zf:
        for p in repo.rglob("*"):
            if p.is_file() and "audio" not in p.parts:
                zf.write(p, p.relative_to(tmp_path).as_posix())
    audio = repo / "audio"
    shutil.rmtree(repo / "annotations")
    shutil.rmtree(repo / "md5")
    keep_audio = tmp_path / "audio"
    shutil.move(str(audio), str(keep_audio))  # MARBLE's single audio folder for the key set
    shutil.rmtree(repo)
    ds = get_task("gs-key").load(tmp_path)
    assert _songs(ds, "test") == ["0010089", "3354212"]


def test_emo_split_and_zscored_targets(tmp_path):
    make_emo(tmp_path)
    ds = get_task("emo").load(tmp_path)
    assert ds.counts() == {"train": 4, "valid": 2, "test": 3}
    assert {ex.id for ex in ds.splits["valid"]} == {"0002", "0007"}  # Kevin MacLeod, Podington Bear (sha1 mod 10)
    dev = ds.splits["train"] + ds.splits["valid"]
    y = np.array([ex.label for ex in dev])
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-12)
    ex = next(e for e in dev if e.id == "0003")
    raw = np.array([[e.meta["raw"]["valence"], e.meta["raw"]["arousal"]] for e in dev])
    expected = (np.array([6.1, 5.2]) - raw.mean(0)) / raw.std(0)
    np.testing.assert_allclose(ex.label, expected)  # [valence, arousal] = labels.names order
    assert ex.path == tmp_path / "clips_45seconds" / "3.mp3"
    assert ex.meta["artist"] == "Broke For Free"
