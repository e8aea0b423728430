"""Corpus indexing (skips counted), manifests, deterministic micro-batches, rank/accumulation equivalence."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import melody

from mertbench.errors import DataError
from mertbench.pretrain.config import PretrainConfig
from mertbench.pretrain.data import Corpus, MicroBatches, MicroBatchKeys


def test_scan_skips_and_counts_short_and_unreadable(synth_corpus):
    root = synth_corpus(n=3, seconds=3.5, short=2)
    (root / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    (root / "sub").mkdir()
    sf.write(root / "sub" / "x.flac", melody(3.5, 44100, 3), 44100)
    corpus = Corpus.scan(root)
    assert len(corpus.clips) == 4 and corpus.skipped_short == 2 and corpus.skipped_unreadable == 1
    assert "2 skipped as shorter" in corpus.summary() and "1 skipped as unreadable" in corpus.summary()
    flac = [c for c in corpus.clips if c.path.endswith(".flac")][0]
    assert flac.sample_rate == 44100 and abs(flac.samples_24k - 3.5 * 24000) <= 1


def test_manifests_and_errors(synth_corpus, tmp_path):
    root = synth_corpus(n=3, seconds=3.5)
    files = sorted(p.name for p in root.glob("*.wav"))
    (tmp_path / "m.tsv").write_text(f"{root}\n" + "".join(f"{f}\t{84000}\n" for f in files))
    (tmp_path / "m.txt").write_text("".join(f"{root / f}\n" for f in files[:2]))
    (tmp_path / "m.jsonl").write_text("".join(f'{{"audio": "{root / f}"}}\n' for f in files[1:]))
    assert len(Corpus.scan(tmp_path / "m.tsv").clips) == 3
    assert len(Corpus.scan(tmp_path / "m.txt").clips) == 2
    assert len(Corpus.scan(tmp_path / "m.jsonl").clips) == 2
    with pytest.raises(DataError, match="not found"):
        Corpus.scan(tmp_path / "nope")
    with pytest.raises(DataError, match="no usable audio"):
        Corpus.scan(synth_corpus(n=0, short=1, name="shorts"))
    sub = Corpus.scan(root, max_hours=3.6 / 3600)
    assert len(sub.clips) == 2 and sub.not_selected == 1


def _dataset(corpus, per_step, micro):
    cfg = PretrainConfig.preset("tiny")
    return MicroBatches(corpus, micro_batch=micro, per_step=per_step, crop_seconds=1.0,
                        num_frames=cfg.model.num_frames, seed=11, mask=cfg.mask, mixture=cfg.mixture)


def test_micro_batches_are_deterministic_and_rank_layout_matches_accumulation(synth_corpus):
    corpus = Corpus.scan(synth_corpus(n=5, seconds=3.2))
    ds = _dataset(corpus, per_step=2, micro=2)
    a, b = ds[(3, 1)], _dataset(corpus, 2, 2)[(3, 1)]
    for key in ("audio", "mask", "indices"):
        assert torch.equal(a[key], b[key])
    frames = PretrainConfig.preset("tiny").model.num_frames(24000)
    assert frames in (73, 74)  # 1 s at 75 Hz, less the conv stack's edge frames
    assert a["audio"].shape == (2, 24000) and a["mask"].shape == (2, frames)
    # 1 process x accum 2 sees exactly the micro-batches of 2 processes x accum 1
    single = list(MicroBatchKeys(4, 6, rank=0, world=1, accum=2))
    two = sorted(list(MicroBatchKeys(4, 6, rank=0, world=2, accum=1)) + list(MicroBatchKeys(4, 6, rank=1, world=2, accum=1)))
    assert single == two == [(4, 0), (4, 1), (5, 0), (5, 1)]
    # an epoch visits every clip once before repeating
    seen = [i for s in range(5) for g in range(2) for i in ds.clip_indices(s, g)]
    assert sorted(seen[:5]) == list(range(5)) and sorted(seen[5:10]) == list(range(5))


def test_crop_is_cut_to_the_shortest_clip_and_starts_on_frame_boundaries(synth_corpus):
    corpus = Corpus.scan(synth_corpus(n=2, seconds=3.1))
    cfg = PretrainConfig.preset("tiny").override({"mixture.prob": 0.0})
    ds = MicroBatches(corpus, micro_batch=2, per_step=1, crop_seconds=2.0, num_frames=cfg.model.num_frames,
                      seed=0, mask=cfg.mask, mixture=cfg.mixture)
    from mertbench.audio import load_audio

    for step in range(3):
        item = ds[(step, 0)]
        assert item["audio"].shape[1] == 2 * 24000
        # the (unmixed) crop is the file's audio from a multiple of 320 samples
        for row, idx in zip(item["audio"].numpy(), item["indices"].tolist()):
            full, _ = load_audio(corpus.clips[idx].path, 24000)
            starts = [s for s in range(0, full.size - row.size + 1, 320) if np.array_equal(full[s:s + row.size], row)]
            assert starts
    short = MicroBatches(Corpus.scan(synth_corpus(n=2, seconds=3.1, name="c2")), micro_batch=2, per_step=1,
                         crop_seconds=5.0, num_frames=cfg.model.num_frames, seed=0, mask=cfg.mask, mixture=cfg.mixture)
    assert short[(0, 0)]["audio"].shape[1] == int(3.1 * 24000) // 320 * 320
