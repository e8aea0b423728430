"""Label/CQT precompute: memmapped shards keyed by teacher config, resumable, shared across runs."""
from __future__ import annotations

import numpy as np
import torch

from mertbench.pretrain import teachers as teachers_mod
from mertbench.pretrain.data import Corpus
from mertbench.pretrain.teachers.cache import prepare_targets
from mertbench.pretrain.teachers.kmeans import KMeansTeacher


class CountingTeacher(teachers_mod.Teacher):
    """Labels = frame index mod 7 and the file's length mod 5; counts calls."""

    name = "counting"
    codebook_sizes = (7, 5)

    def __init__(self, tag: str = "a") -> None:
        self.calls = 0
        self.tag = tag

    def identity(self):
        return {"teacher": self.name, "tag": self.tag, "codebooks": list(self.codebook_sizes)}

    def labels(self, wav, cqt=None):
        self.calls += 1
        t = int(np.ceil(wav.shape[0] / 320))
        return np.stack([np.arange(t) % 7, np.full(t, wav.shape[0] % 5)], axis=1).astype(np.int32)


def test_precompute_resumes_and_keys_by_teacher(synth_corpus, tmp_path, monkeypatch):
    from mertbench.pretrain.teachers import cache as cache_mod

    monkeypatch.setattr(cache_mod, "SHARD_FILES", 2)
    corpus = Corpus.scan(synth_corpus(n=5, seconds=3.2))
    teacher = CountingTeacher()
    # interrupt after the first shard: the second shard's labels raise
    calls = {"n": 0}
    real = teacher.labels

    def flaky(wav, cqt=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(wav, cqt)

    teacher.labels = flaky
    try:
        prepare_targets(corpus, teacher, None, tmp_path / "cache", progress=False, log=lambda m: None)
    except KeyboardInterrupt:
        pass
    done = sorted(p.name for p in (tmp_path / "cache").rglob("shard_*.json"))
    assert done == ["shard_00000.json"]
    teacher2 = CountingTeacher()
    labels, cqt, info = prepare_targets(corpus, teacher2, None, tmp_path / "cache", progress=False, log=lambda m: None)
    assert teacher2.calls == 3  # only the two missing shards (3 files) were computed
    assert cqt is None and len(labels.entries) == 5
    for i, clip in enumerate(corpus.clips):
        arr = labels.file(i)
        assert arr.shape == (int(np.ceil(clip.samples_24k / 320)), 2)
        assert np.array_equal(arr[:, 0], np.arange(arr.shape[0]) % 7)
    assert np.array_equal(labels.get(0, 3, 4)[:, 0], np.arange(3, 7) % 7)
    # a third call computes nothing; a different teacher config gets its own folder
    teacher3 = CountingTeacher()
    prepare_targets(corpus, teacher3, None, tmp_path / "cache", progress=False, log=lambda m: None)
    assert teacher3.calls == 0
    other = CountingTeacher(tag="b")
    _, _, info_b = prepare_targets(corpus, other, None, tmp_path / "cache", progress=False, log=lambda m: None)
    assert other.calls == 5 and info_b["labels_dir"] != info["labels_dir"]


def test_kmeans_fit_is_saved_and_cqt_shards_match_direct_computation(synth_corpus, tmp_path):
    from mertbench.audio import load_audio
    from mertbench.pretrain.cqt import CQTTarget

    corpus = Corpus.scan(synth_corpus(n=3, seconds=3.2))
    cqt = CQTTarget()
    t1 = KMeansTeacher(features="mfcc", clusters=(8,), n_init=1)
    labels, store, info = prepare_targets(corpus, t1, cqt, tmp_path / "c", fit_fraction=1.0, progress=False,
                                          log=lambda m: None)
    assert (tmp_path / "c").joinpath(info["teacher_dir"]).is_dir() and t1.centers is not None
    wav, _ = load_audio(corpus.clips[1].path, 24000)
    direct = cqt.frames_first(torch.from_numpy(wav)[None])[0].numpy()
    assert np.allclose(store.file(1).astype(np.float32), direct, rtol=2e-3, atol=2e-3 * direct.max())
    # a second teacher object with the same config reuses the saved fit (same centres, no refit)
    t2 = KMeansTeacher(features="mfcc", clusters=(8,), n_init=1)
    labels2, _, _ = prepare_targets(corpus, t2, None, tmp_path / "c", progress=False, log=lambda m: None)
    assert all(np.array_equal(a, b) for a, b in zip(t1.centers, t2.centers))
    assert np.array_equal(np.asarray(labels2.file(2)), np.asarray(labels.file(2)))
