"""Feature extraction: values, cache layout, skips, resume after a crash, sharding, cache keys."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mertbench.errors import DataError
from mertbench.extract import ExtractOptions, extract_features
from mertbench.extract.windowing import prepare_example, windowing_for
from mertbench.paths import cache_root
from mertbench.tasks import get_task


def _arrays(ext):
    return {s: np.asarray(ext.split(s).features) for s in ext.splits}


def test_windows_time_mean_all_layers_and_layout(windowed_task, counting_encoder):
    enc = counting_encoder()
    ext = extract_features(enc, windowed_task, progress=False, options=ExtractOptions(batch_size=4, workers=2))
    task = get_task(windowed_task)
    train = ext.split("train")
    assert isinstance(train.features, np.memmap) and train.features.dtype == np.float32
    # 12 one-second files x 2 windows (0.4 + 0.4 s; the 0.2 s rest is under min_window_s 0.25)
    assert train.features.shape == (12 * 2, 3, 8)
    assert list(train.rows_per_example) == [2] * 12
    # the stored rows are exactly the time-mean of every layer of every window, in order
    w = windowing_for(task.spec, enc.sample_rate, enc.normalize, "clip")
    ex = ext.dataset.splits["train"][5]
    wins = prepare_example(ex, w)
    with torch.no_grad():
        expect = np.stack([enc(torch.from_numpy(x)[None])[:, 0].mean(dim=1).numpy() for x in wins])
    np.testing.assert_allclose(train.rows(5), expect, rtol=1e-5, atol=1e-5)
    folder = ext.cache.folder
    for split in ("train", "valid", "test"):
        done = json.loads((folder / f"{split}.done.json").read_text())
        assert done["examples"] == len(ext.dataset.splits[split]) and done["provenance"]["device"]
        assert not (folder / split).exists()  # chunk folder removed after the merge
    meta = json.loads((folder / "cache.json").read_text())
    assert meta["config"]["model"]["fingerprint"] == enc.fingerprint()
    assert meta["config"]["windowing"]["window_s"] == 0.4


def test_unreadable_file_is_counted_not_dropped_silently(windowed_task, counting_encoder, task_env):
    data, _ = task_env
    bad = data / windowed_task / "audio" / "test" / "0002.wav"
    bad.write_bytes(b"RIFF-not-really-audio")
    ext = extract_features(counting_encoder(), windowed_task, progress=False)
    test = ext.split("test")
    assert test.rows_per_example[2] == 0 and test.rows_per_example.sum() == 5 * 2
    assert test.skipped == [{"id": "audio/test/0002.wav", "path": str(bad), "reason": "unreadable_audio",
                             "problem": test.skipped[0]["problem"]}]
    assert "cannot decode" in test.skipped[0]["problem"]
    assert ext.skipped() == {"test/unreadable_audio": 1}


def test_interrupted_extraction_resumes_without_redoing_chunks(windowed_task, counting_encoder, tmp_path):
    opts = ExtractOptions(batch_size=3, chunk_examples=4, workers=1)
    crashing = counting_encoder(fail_after=5)
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_features(crashing, windowed_task, progress=False, options=opts)
    # 12 train files in chunks of 4: each chunk = 8 windows = 3 encoder calls; the crash hits chunk 1
    folder = next(cache_root().rglob("cache.json")).parent
    assert sorted(p.name for p in (folder / "train").glob("chunk-*")) == ["chunk-000000.json", "chunk-000000.npy"]
    assert not (folder / "train.done.json").exists()
    assert not [p for p in folder.rglob("*") if ".tmp-" in p.name]  # no half-written files
    resumed = counting_encoder()
    ext = extract_features(resumed, windowed_task, progress=False, options=opts)
    assert resumed.windows == (12 - 4) * 2 + 6 * 2 + 6 * 2  # the finished chunk is not recomputed
    clean = extract_features(counting_encoder(), windowed_task, progress=False, options=opts,
                             cache_root=tmp_path / "clean")
    for split, arr in _arrays(ext).items():
        np.testing.assert_array_equal(arr, _arrays(clean)[split])
    again = counting_encoder()
    extract_features(again, windowed_task, progress=False, options=opts)
    assert again.calls == 0  # every split done: nothing recomputed


def test_two_ranks_write_one_merged_cache(windowed_task, counting_encoder, tmp_path):
    opts = ExtractOptions(chunk_examples=2, workers=1)
    r1 = extract_features(counting_encoder(), windowed_task, progress=False, options=opts, rank=1, world_size=2)
    assert not r1.complete and not r1.cache.is_done("train")
    r0 = extract_features(counting_encoder(), windowed_task, progress=False, options=opts, rank=0, world_size=2)
    assert r0.complete
    single = extract_features(counting_encoder(), windowed_task, progress=False, options=opts,
                              cache_root=tmp_path / "single")
    for split, arr in _arrays(single).items():
        np.testing.assert_array_equal(arr, _arrays(r0)[split])
        assert r0.split(split).ids == single.split(split).ids


def test_cache_key_covers_layers_and_normalisation(windowed_task, counting_encoder):
    a = extract_features(counting_encoder(), windowed_task, progress=False)
    b = extract_features(counting_encoder(), windowed_task, progress=False, options=ExtractOptions(layers=[1]))
    c = extract_features(counting_encoder(), windowed_task, progress=False, options=ExtractOptions(normalize="peak"))
    assert len({a.key, b.key, c.key}) == 3
    assert b.split("valid").features.shape[1:] == (1, 8) and b.cache.layers == [1]
    np.testing.assert_array_equal(np.asarray(b.split("valid").features)[:, 0], np.asarray(a.split("valid").features)[:, 1])


def test_frame_level_cache_and_disk_guard(beat_task, counting_encoder):
    with pytest.raises(DataError, match="GB free"):
        extract_features(counting_encoder(), beat_task, progress=False,
                         options=ExtractOptions(max_disk_fraction=1e-12))
    ext = extract_features(counting_encoder(), beat_task, progress=False)
    tr = ext.split("train")
    assert tr.features.dtype == np.float16  # frame-level default
    assert list(tr.rows_per_example) == [3 * 75, 3 * 75]  # every frame, 75 Hz


def test_cli_extract(windowed_task):
    from typer.testing import CliRunner

    from mertbench.cli import app

    out = CliRunner().invoke(app, ["extract", "--model", "mertbench.probe.synthetic:toy_encoder", "--task",
                                   windowed_task, "--layers", "0,2", "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert "train: 12 examples, 24 rows (24, 2, 32) float32" in out.output.replace("\n", " ")


def _short_file(task_env, task: str, n: int = 1) -> str:
    import soundfile as sf
    data, _ = task_env
    path = data / task / "audio" / "test" / "0001.wav"
    sf.write(str(path), np.full(n, 0.1, dtype=np.float32), 24000)  # the toy encoder rate
    return str(path)


@pytest.fixture
def clip_task(task_env):
    from mertbench.probe.synthetic import write_tone_task
    data, specs = task_env
    write_tone_task(data, specs, name="tones-clip", counts={"train": 2, "valid": 1, "test": 1})
    return "tones-clip"


def test_file_shorter_than_the_models_minimum_is_skipped_and_named(clip_task, task_env):
    from mertbench.probe.synthetic import ToyLayeredEncoder

    class Needs400(ToyLayeredEncoder):
        @property
        def min_samples(self) -> int:
            return 400

        def forward(self, wav, lengths=None):
            assert wav.shape[-1] >= 400, "called with a too-short input"
            return super().forward(wav, lengths)

    path = _short_file(task_env, clip_task, n=1)
    ext = extract_features(Needs400(3, 8, (1,)), clip_task, progress=False)
    test = ext.split("test")
    assert test.rows_per_example[1] == 0 and test.rows_per_example.sum() == 5
    [skip] = test.skipped
    assert skip["path"] == path and skip["reason"] == "too_short"
    assert "1 samples" in skip["problem"] and "minimum input of 400 samples" in skip["problem"]
    assert ext.skipped() == {"test/too_short": 1}


def test_model_that_refuses_a_short_input_skips_that_clip_only(clip_task, task_env):
    from mertbench.probe.synthetic import ToyLayeredEncoder

    class Refuses(ToyLayeredEncoder):  # understates its minimum (min_samples stays 1)
        def forward(self, wav, lengths=None):
            if wav.shape[-1] < 100:
                raise RuntimeError("input too short for the kernel")
            return super().forward(wav, lengths)

    _short_file(task_env, clip_task, n=3)
    ext = extract_features(Refuses(3, 8, (1,)), clip_task, progress=False)
    test = ext.split("test")
    assert test.rows_per_example.sum() == 5 and test.rows_per_example[1] == 0
    [skip] = test.skipped
    assert skip["reason"] == "model_refused" and "input too short for the kernel" in skip["problem"]
    assert "3-sample" in skip["problem"]
