"""Extraction under faults (issue 20): resume with another chunk size, changed audio, two
extractions of one cache, leftovers of a killed writer, damaged cache files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from mertbench.errors import DataError
from mertbench.extract import ExtractOptions, extract_features
from mertbench.paths import cache_root


def _arrays(ext):
    return {s: np.asarray(ext.split(s).features) for s in ext.splits}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_resume_with_another_chunk_size_keeps_every_example(windowed_task, counting_encoder, tmp_path):
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_features(counting_encoder(fail_after=5), windowed_task, progress=False,
                         options=ExtractOptions(batch_size=3, chunk_examples=4, workers=1))
    # the first run finished chunk 0 (examples 0-3) with chunks of 4; resume asks for chunks of 5
    ext = extract_features(counting_encoder(), windowed_task, progress=False,
                           options=ExtractOptions(batch_size=3, chunk_examples=5, workers=1))
    clean = extract_features(counting_encoder(), windowed_task, progress=False, cache_root=tmp_path / "clean")
    for split in ext.splits:
        assert ext.split(split).ids == clean.split(split).ids
        assert ext.split(split).rows_per_example.sum() == clean.split(split).rows_per_example.sum()
        np.testing.assert_array_equal(_arrays(ext)[split], _arrays(clean)[split])


def test_merge_refuses_chunks_that_do_not_cover_the_split(windowed_task, counting_encoder):
    ext = extract_features(counting_encoder(), windowed_task, progress=False,
                           options=ExtractOptions(chunk_examples=4, workers=1), splits=["valid"])
    cache = ext.cache
    ids = ext.split("valid").ids
    # rebuild two chunks by hand, leaving examples 2..3 out
    feats = np.zeros((4, 3, 8), np.float32)
    from mertbench.extract.cache import ChunkIndex
    cache.write_chunk("train", 0, feats[:2], ChunkIndex(0, 2, ids[:2], [1, 1]))
    cache.write_chunk("train", 1, feats[:2], ChunkIndex(4, 6, ids[4:6], [1, 1]))
    with pytest.raises(DataError, match=r"covers examples \[4, 6\) where \[2, \.\.\.\) was expected"):
        cache.merge("train", 2, (3, 8), "float32")


def test_replaced_audio_file_is_extracted_again(windowed_task, counting_encoder, task_env):
    data, _ = task_env
    path = data / windowed_task / "audio" / "test" / "0002.wav"
    good = path.read_bytes()
    path.write_bytes(b"RIFF-not-really-audio")
    first = extract_features(counting_encoder(), windowed_task, progress=False)
    assert first.skipped() == {"test/unreadable_audio": 1}
    path.write_bytes(good)  # the user fixes the file: the old verdict must not stick
    second = extract_features(counting_encoder(), windowed_task, progress=False)
    assert second.key != first.key and second.skipped() == {}
    audio, sr = sf.read(str(path), dtype="float32")
    sf.write(str(path), 0.5 * audio, sr)  # same length, other content
    third = extract_features(counting_encoder(), windowed_task, progress=False)
    assert third.key != second.key
    assert not np.array_equal(third.split("test").rows(2), second.split("test").rows(2))


def test_force_extracts_again(windowed_task, counting_encoder):
    extract_features(counting_encoder(), windowed_task, progress=False)
    again = counting_encoder()
    extract_features(again, windowed_task, progress=False)
    assert again.calls == 0
    forced = counting_encoder()
    extract_features(forced, windowed_task, progress=False, options=ExtractOptions(force=True))
    assert forced.calls > 0


def test_leftover_temp_files_of_a_dead_writer_are_removed(windowed_task, counting_encoder):
    first = extract_features(counting_encoder(), windowed_task, progress=False, splits=["valid"])
    folder = first.cache.folder
    dead = folder / f".train.features.npy.tmp-{_dead_pid()}-abc.npy"  # kill -9 during the merge
    dead.write_bytes(b"x" * 1000)
    (folder / "train").mkdir(exist_ok=True)
    dead_chunk = folder / "train" / f".chunk-000000.npy.tmp-{_dead_pid()}-q.npy"
    dead_chunk.write_bytes(b"y")
    alive = folder / f".valid.index.json.tmp-{os.getpid()}-zz.json"  # a live writer's file: kept
    alive.write_bytes(b"{}")
    extract_features(counting_encoder(), windowed_task, progress=False)
    assert not dead.exists() and not dead_chunk.exists()
    assert alive.exists()
    assert not [p for p in folder.rglob("*.tmp-*") if p != alive]


@pytest.mark.parametrize("damage", ["index", "npy", "cache_json", "done"])
def test_damaged_cache_files_are_named_with_the_fix(windowed_task, counting_encoder, damage):
    ext = extract_features(counting_encoder(), windowed_task, progress=False)
    folder = ext.cache.folder
    target = {"index": folder / "train.index.json", "npy": folder / "train.features.npy",
              "cache_json": folder / "cache.json", "done": folder / "train.done.json"}[damage]
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as err:
        extract_features(counting_encoder(), windowed_task, progress=False).split("train")
    assert str(target) in str(err.value) and "--force" in str(err.value)
    fixed = extract_features(counting_encoder(), windowed_task, progress=False, options=ExtractOptions(force=True))
    assert fixed.split("train").features.shape[0] == 24


_HOLD = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
lock.release()
"""


def _hold_lock(path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_extraction_waits_for_the_lock_then_works(windowed_task, counting_encoder, capsys):
    probe = extract_features(counting_encoder(), windowed_task, progress=False, splits=["valid"])
    folder = probe.cache.folder
    holder = _hold_lock(folder / "train.lock", 1.5)
    t0 = time.monotonic()
    ext = extract_features(counting_encoder(), windowed_task, progress=False)
    waited = time.monotonic() - t0
    holder.wait()
    assert waited >= 1.0 and ext.complete
    assert "another process is extracting train" in capsys.readouterr().err.replace("\n", " ")


def test_lock_held_too_long_is_an_error_not_a_hang(windowed_task, counting_encoder):
    probe = extract_features(counting_encoder(), windowed_task, progress=False, splits=["valid"])
    holder = _hold_lock(probe.cache.folder / "train.lock", 5.0)
    try:
        with pytest.raises(DataError, match="train.lock: still held by another extraction"):
            extract_features(counting_encoder(), windowed_task, progress=False, wait_timeout_s=0.5)
    finally:
        holder.kill()
        holder.wait()


_EXTRACT = """
import json, sys
from mertbench.extract import ExtractOptions, extract_features
sys.path.insert(0, sys.argv[2])
from conftest import CountingEncoder
enc = CountingEncoder(3, 8, (1,))
ext = extract_features(enc, sys.argv[1], progress=False, options=ExtractOptions(workers=1, chunk_examples=2))
print(json.dumps({"calls": enc.calls, "rows": {s: int(ext.split(s).rows_per_example.sum()) for s in ext.splits}}))
"""


def test_two_concurrent_extractions_do_the_work_once(windowed_task, tmp_path):
    here = os.path.dirname(__file__)

    def launch(cache):
        env = dict(os.environ, MERTBENCH_CACHE=str(cache), OMP_NUM_THREADS="1")
        return subprocess.Popen([sys.executable, "-c", _EXTRACT, windowed_task, here], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(p):
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])

    solo = result(launch(tmp_path / "solo"))
    both = [result(p) for p in [launch(cache_root()), launch(cache_root())]]
    assert both[0]["rows"] == both[1]["rows"] == solo["rows"] == {"train": 24, "valid": 12, "test": 12}
    # each split was encoded by exactly one of the two (the other waited for it and reused it)
    assert both[0]["calls"] + both[1]["calls"] == solo["calls"]
    folder = next(cache_root().rglob("cache.json")).parent
    assert not [p for p in folder.rglob("*") if ".tmp-" in p.name]


_SLOW_EXTRACT = """
import sys, time
sys.path.insert(0, sys.argv[2])
from conftest import CountingEncoder
from mertbench.extract import ExtractOptions, extract_features

class Slow(CountingEncoder):
    def forward(self, wav, lengths=None):
        time.sleep(0.15)
        return super().forward(wav, lengths)

extract_features(Slow(3, 8, (1,)), sys.argv[1], progress=False,
                 options=ExtractOptions(workers=1, chunk_examples=2, batch_size=2))
"""


@pytest.mark.faults
@pytest.mark.slow
def test_kill_9_at_random_points_then_resume_equals_uninterrupted(windowed_task, tmp_path):
    import shutil

    from tests.fault_injection import kill_and_rerun

    here = os.path.dirname(__file__)
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def launch():
        return subprocess.Popen([sys.executable, "-c", _SLOW_EXTRACT, windowed_task, here], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def restart():
        for child in cache_root().iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    t0 = time.monotonic()
    assert launch().wait(timeout=240) == 0
    duration = time.monotonic() - t0
    restart()
    assert kill_and_rerun(launch, duration, restart, kills=2, lo=0.3, hi=0.95) == 2
    clean_env = dict(env, MERTBENCH_CACHE=str(tmp_path / "clean"))
    subprocess.run([sys.executable, "-c", _SLOW_EXTRACT, windowed_task, here], env=clean_env, check=True,
                   capture_output=True, timeout=240)
    [cut] = [p.parent for p in cache_root().rglob("cache.json")]
    [clean] = [p.parent for p in (tmp_path / "clean").rglob("cache.json")]
    assert cut.name == clean.name  # same cache key
    for split in ("train", "valid", "test"):
        assert json.loads((cut / f"{split}.index.json").read_text()) == \
            json.loads((clean / f"{split}.index.json").read_text())
        np.testing.assert_array_equal(np.load(cut / f"{split}.features.npy"), np.load(clean / f"{split}.features.npy"))
    assert not [p for p in cut.rglob("*") if ".tmp-" in p.name]
