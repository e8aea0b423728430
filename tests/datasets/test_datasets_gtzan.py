"""GTZAN genre and beat: layouts, fault-filtered lists (local / downloaded / missing), Kaggle defect."""
from __future__ import annotations

import urllib.error
from collections import Counter

import numpy as np
import pytest
from fake_copies import GTZAN_SPLITS, make_gtzan

from mertbench.datasets import split_lists
from mertbench.datasets.gtzan import OFFICIAL_TRAIN_GENRES, SPLIT_LISTS
from mertbench.errors import DataError
from mertbench.tasks import get_task


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    def refuse(url, timeout=30.0):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(split_lists, "_download", refuse)


@pytest.mark.parametrize("layout", ["original", "kaggle"])
def test_gtzan_layouts_and_labels(tmp_path, layout):
    make_gtzan(tmp_path, layout=layout, corrupt_jazz=layout == "kaggle")
    ds = get_task("gtzan-genre").load(tmp_path)
    assert ds.counts() == {"train": 3, "valid": 2, "test": 2}
    assert ds.vocabulary[:3] == ["blues", "classical", "country"] and len(ds.vocabulary) == 10
    train = {ex.id: ex.label for ex in ds.splits["train"]}
    assert train == {"blues/blues.00029.wav": "blues", "classical/classical.00001.wav": "classical",
                     "rock/rock.00042.wav": "rock"}  # jazz.00054 left out as MARBLE does
    assert sum(ds.skipped.values()) == 1 and any("jazz.00054" in p for p in ds.problems)
    sub = "Data/genres_original" if layout == "kaggle" else "genres"
    assert ds.splits["test"][0].path == tmp_path / sub / "blues/blues.00012.wav"


def test_crlf_lists_and_au_files(tmp_path):
    fc = make_gtzan(tmp_path)
    for split, rels in GTZAN_SPLITS.items():
        (tmp_path / f"{split}_filtered.txt").write_bytes(("\r\n".join(rels) + "\r\n").encode())
    wav = fc.files["audio_dir"] / "rock/rock.00007.wav"
    wav.rename(wav.with_suffix(".au"))  # older copies hold .au files
    ds = get_task("gtzan-genre").load(tmp_path)
    assert ds.counts()["test"] == 2
    assert any(ex.path.suffix == ".au" for ex in ds.splits["test"])


def test_missing_list_names_place_and_url(tmp_path):
    make_gtzan(tmp_path, lists=False)
    with pytest.raises(DataError) as err:
        get_task("gtzan-genre").load(tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "train_filtered.txt") in msg
    assert "https://raw.githubusercontent.com/coreyker/dnn-mgr/bdad579ea6cb37b665ea6019fe1026a6ce20cbc7/gtzan/train_filtered.txt" in msg


def test_offline_mode_does_not_download(tmp_path, monkeypatch):
    make_gtzan(tmp_path, lists=False)
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")
    monkeypatch.setattr(split_lists, "_download", lambda *a, **k: pytest.fail("downloaded while offline"))
    with pytest.raises(DataError, match="MERTBENCH_OFFLINE is set"):
        get_task("gtzan-genre").load(tmp_path)


def _official_like_train() -> bytes:
    """A list with the official structure (counts per genre), used to exercise verification."""
    lines = [f"{g}/{g}.{i:05d}.wav" for g, n in OFFICIAL_TRAIN_GENRES.items() for i in range(100 - n, 100)]
    lines = ["jazz/jazz.00054.wav" if ln == "jazz/jazz.00099.wav" else ln for ln in lines]
    assert len(lines) == 443 and Counter(ln.split("/")[0] for ln in lines) == Counter(OFFICIAL_TRAIN_GENRES)
    return ("\n".join(lines) + "\n").encode()


def test_download_is_verified_then_cached(tmp_path, monkeypatch):
    calls = []

    def fake_download(url, timeout=30.0):
        calls.append(url)
        return _official_like_train()

    monkeypatch.setattr(split_lists, "_download", fake_download)
    from mertbench.datasets._base import Collector

    col = Collector(strict=False)
    path = split_lists.locate(SPLIT_LISTS["train"], tmp_path, "GTZAN", col)
    assert path == split_lists.cache_path("GTZAN", "train_filtered.txt") and path.read_bytes() == _official_like_train()
    assert any(p.severity == "info" and "downloaded" in p.message for p in col.problems)
    split_lists.locate(SPLIT_LISTS["train"], tmp_path, "GTZAN", col)
    assert len(calls) == 1  # second call uses the cache

    path.unlink()
    monkeypatch.setattr(split_lists, "_download", lambda url, timeout=30.0: b"blues/blues.00001.wav\n")
    with pytest.raises(DataError, match="failed verification .*1 lines, the official list has 443"):
        split_lists.locate(SPLIT_LISTS["train"], tmp_path, "GTZAN", Collector())
    assert not path.exists()  # nothing saved


def test_overlapping_splits_are_an_error(tmp_path):
    make_gtzan(tmp_path)
    (tmp_path / "test_filtered.txt").write_text("blues/blues.00029.wav\nrock/rock.00007.wav\n")
    with pytest.raises(DataError, match=r"blues\.00029\.wav is in both split 'train' and split 'test'"):
        get_task("gtzan-genre").load(tmp_path)


@pytest.mark.parametrize("in_root", [False, True])
def test_gtzan_beat_reads_rhythm_jams(tmp_path, in_root):
    make_gtzan(tmp_path, beat=True, jams_in_root=in_root)
    ds = get_task("gtzan-beat").load(tmp_path)
    assert ds.counts() == {"train": 3, "valid": 2, "test": 2}
    ex = ds.splits["valid"][0]
    np.testing.assert_allclose(ex.label, np.arange(0.25, 2.9, 0.5))
    np.testing.assert_allclose(ex.meta["downbeats"], [0.25, 2.25])
    assert ex.meta["meter"] == "4/4"


def test_gtzan_beat_missing_annotation_named(tmp_path):
    make_gtzan(tmp_path, beat=True)
    missing = tmp_path / "GTZAN-Rhythm_v2_ismir2015_lbd" / "jams" / "rock.00007.wav.jams"
    missing.unlink()
    with pytest.raises(DataError, match="rock.00007.wav.jams: missing GTZAN-Rhythm annotation"):
        get_task("gtzan-beat").load(tmp_path)
