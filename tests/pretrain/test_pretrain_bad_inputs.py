"""Issue 20, the bad-input corpus through pretraining: every damaged clip is read or skipped and
listed in skipped_clips.txt with its path and reason; the run finishes."""
from __future__ import annotations

import shutil

import pytest

from mertbench.damaged_audio import write_damaged_corpus
from mertbench.pretrain.trainer import train

pytestmark = pytest.mark.slow


def test_pretraining_on_a_damaged_corpus_lists_every_bad_clip(synth_corpus, micro_config, tmp_path):
    data = synth_corpus(n=3, seconds=3.0)
    cases = write_damaged_corpus(tmp_path / "damaged", seconds=4.0, long_minutes=10.0)  # data.min_seconds is 3
    for case in cases:
        shutil.copy(case.path, data / case.path.name)
    out = tmp_path / "run"
    train(micro_config(data, out, **{"optim.steps": 2}))
    assert (out / "export" / "final" / "model.safetensors").is_file()
    listed = {}
    for line in (out / "skipped_clips.txt").read_text().splitlines():
        path, why = line.split("\t", 1)
        listed[path.rsplit("/", 1)[-1]] = why
    assert set(listed) == {c.path.name for c in cases if c.expect == "skip"}, listed
    assert all(why for why in listed.values())
    assert "shorter than" in listed["one_sample.wav"]
    assert "NaN" in listed["nan.wav"] or "inf" in listed["nan.wav"]
