"""MTT and MTG-Jamendo loaders: layouts, line endings, splits, labels, known defects."""
from __future__ import annotations

import urllib.error

import pytest
from fake_copies import MTT_CLIPS, make_mtg, make_mtt

from mertbench.datasets import split_lists
from mertbench.errors import DataError
from mertbench.tasks import get_task


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(split_lists, "_download", lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline")))


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
def test_mtt_folder_split_and_corrupt_clip(tmp_path, eol):
    make_mtt(tmp_path, eol=eol)
    ds = get_task("mtt-tagging").load(tmp_path)
    assert ds.counts() == {"train": 2, "valid": 1, "test": 2}
    assert len(ds.vocabulary) == 50 and ds.vocabulary[0] == "guitar"
    valid = ds.splits["valid"][0]
    assert valid.id == MTT_CLIPS[1][1] and sorted(valid.label) == ["beat", "electronic", "techno"]
    assert valid.meta["clip_id"] == "6"
    train_ids = {ex.meta["clip_id"] for ex in ds.splits["train"]}
    assert train_ids == {"10", "14"}  # 35644 (known corrupt) left out and reported
    assert sum(ds.skipped.values()) == 1 and any("35644" in p for p in ds.problems)


def test_mtt_minzwon_split(tmp_path):
    make_mtt(tmp_path, minzwon=True)
    task = get_task("mtt-tagging")
    spec = task.spec.model_copy(update={"dataset": task.spec.dataset.model_copy(update={"options": {"split": "minzwon"}})})
    from mertbench.tasks.loaders import get_loader

    ds = get_loader("mtt")(tmp_path, spec)
    assert ds.counts() == {"train": 2, "valid": 1, "test": 2}
    assert {ex.meta["clip_id"] for ex in ds.splits["test"]} == {"2", "20"}


def test_mtt_bad_header_named(tmp_path):
    make_mtt(tmp_path)
    p = tmp_path / "annotations_final.csv"
    p.write_text(p.read_text().replace('"mp3_path"', '"path"'))
    with pytest.raises(DataError, match="annotations_final.csv: unexpected header"):
        get_task("mtt-tagging").load(tmp_path)


@pytest.mark.parametrize("eol,audio", [("\r\n", "low"), ("\n", "full")])
def test_mtg_splits_vocabulary_and_audio(tmp_path, eol, audio):
    make_mtg(tmp_path, eol=eol, audio=audio)
    ds = get_task("mtg-moodtheme").load(tmp_path)
    assert ds.counts() == {"train": 2, "valid": 1, "test": 1}
    # vocabulary in order of first appearance over train, validation, test (MARBLE)
    assert ds.vocabulary == ["mood/theme---background", "mood/theme---energetic", "mood/theme---happy"]
    ex = ds.splits["train"][1]
    assert ex.id == "track_1009600" and ex.label == ["mood/theme---energetic", "mood/theme---happy"]
    suffix = "audio-low/00/1009600.low.mp3" if audio == "low" else "audio/00/1009600.mp3"
    assert ex.path == tmp_path / suffix
    assert get_task("mtg-genre").load(tmp_path).vocabulary == ["genre---rock", "genre---pop", "genre---electronic"]


def test_mtg_missing_audio_named(tmp_path):
    make_mtg(tmp_path)
    (tmp_path / "audio-low" / "11" / "2011.low.mp3").unlink()
    with pytest.raises(DataError, match=r"2011\.low\.mp3: missing audio of track_0002011"):
        get_task("mtg-top50").load(tmp_path)


def test_mtg_missing_repo_says_how_to_get_it(tmp_path):
    (tmp_path / "audio-low").mkdir()
    with pytest.raises(DataError, match="git clone https://github.com/MTG/mtg-jamendo-dataset"):
        get_task("mtg-genre").load(tmp_path)
