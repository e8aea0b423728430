"""In-batch noise mixture: probability, segment counts/lengths, clean targets."""
from __future__ import annotations

import numpy as np
import torch

from mertbench.pretrain.mixture import inbatch_noise_mixture


def test_mixing_statistics_and_segments_come_from_other_clips():
    rng = np.random.default_rng(0)
    # clip i is the constant 10**i: the decimal digit i of an added sample counts segments from clip i
    wav = np.stack([np.full(48000, float(10 ** i), dtype=np.float32) for i in range(4)])
    mixed_total = segs = 0
    for _ in range(300):
        out, stats = inbatch_noise_mixture(wav, rng, prob=0.5, segment_samples=(12000, 24000))
        mixed_total += stats.mixed
        segs += stats.segments
        for i in range(4):
            added = np.rint(out[i] - wav[i]).astype(np.int64)
            assert added.min() >= 0
            assert not np.any((added // 10 ** i) % 10)  # never its own samples
        assert np.array_equal(wav[0], np.full(48000, 1.0, dtype=np.float32))  # input untouched
    frac = mixed_total / (300 * 4)
    assert 0.45 < frac < 0.55
    assert 1.8 < segs / mixed_total < 2.2  # UniformInt[1, 3] segments: mean 2


def test_prob_zero_and_single_clip_keep_audio():
    rng = np.random.default_rng(1)
    wav = np.random.default_rng(2).standard_normal((3, 24000)).astype(np.float32)
    out, stats = inbatch_noise_mixture(wav, rng, prob=0.0)
    assert np.array_equal(out, wav) and stats.mixed == 0
    out, stats = inbatch_noise_mixture(wav[:1], rng, prob=1.0)
    assert np.array_equal(out, wav[:1]) and stats.mixed == 0


def test_segment_lengths_bounded():
    rng = np.random.default_rng(3)
    wav = np.zeros((2, 60000), dtype=np.float32)
    wav[1] = 1.0
    for _ in range(50):
        out, stats = inbatch_noise_mixture(wav, rng, prob=1.0, num_segments=(1, 1), segment_samples=(12000, 24000))
        n = int((out[0] != 0).sum())
        assert 12000 <= n <= 24000


def test_targets_come_from_clean_audio(synth_corpus):
    """The data pipeline mixes the network input but labels and CQT targets stay those of clean audio."""
    from mertbench.pretrain.config import PretrainConfig
    from mertbench.pretrain.cqt import CQTTarget
    from mertbench.pretrain.data import Corpus, MicroBatches

    corpus = Corpus.scan(synth_corpus(n=4, seconds=3.5))
    cfg = PretrainConfig.preset("tiny")

    class FileLabels:  # stands in for the precomputed label store: labels are a function of file and frame
        def get(self, i: int, start: int, count: int) -> np.ndarray:
            return (np.arange(start, start + count)[:, None] * 10 + i).astype(np.int32)

    def batch(prob: float) -> dict:
        m = cfg.mixture
        m.prob = prob
        ds = MicroBatches(corpus, micro_batch=4, per_step=1, crop_seconds=1.0, num_frames=cfg.model.num_frames,
                          seed=3, mask=cfg.mask, mixture=m, need_clean=True, labels=FileLabels())
        return ds[(5, 0)]

    clean, mixed = batch(0.0), batch(1.0)
    assert torch.equal(clean["audio"], mixed["clean"])  # same crops; the clean copy is what targets use
    assert not torch.equal(mixed["audio"], mixed["clean"]) and mixed["mixed"] == 4
    cqt = CQTTarget()
    # the online CQT target is computed from "clean": identical with and without mixing
    assert torch.equal(cqt.frames_first(clean["clean"]), cqt.frames_first(mixed["clean"]))
    assert torch.equal(clean["labels"], mixed["labels"])
