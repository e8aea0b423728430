"""Layer statistics (collapse check): exact values on constructed states, files, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from mertbench.cli import app
from mertbench.errors import AudioError
from mertbench.models import load_model
from mertbench.models.diagnostics import layer_stats, participation_ratio, stats_from_states


def test_participation_ratio_matches_covariance_eigenvalues():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6)) * np.array([5.0, 1.0, 1.0, 0.5, 0.2, 0.1])
    lam = np.linalg.eigvalsh(np.cov(x.T))
    assert participation_ratio(x) == pytest.approx(lam.sum() ** 2 / (lam ** 2).sum(), rel=1e-9)
    rank1 = np.outer(rng.normal(size=40), rng.normal(size=8))
    assert participation_ratio(rank1) == pytest.approx(1.0, rel=1e-9)
    assert participation_ratio(np.ones((5, 3))) == 0.0


def test_stats_separate_frame_level_clip_level_and_constant_layers():
    g = torch.Generator().manual_seed(0)
    b, t, d = 6, 200, 16
    noise = torch.randn(b, t, d, generator=g)  # every frame its own vector
    per_clip = torch.randn(b, 1, d, generator=g).expand(b, t, d)  # one vector per clip
    constant = torch.ones(b, t, d)
    stats = stats_from_states(torch.stack([noise, per_clip, constant]))
    assert [s.layer for s in stats] == [0, 1, 2]
    # frame-level noise: nearly all variance within clips (the clip means vary by ~1/sqrt(T))
    assert stats[0].temporal_share > 0.97
    assert stats[0].total_var == pytest.approx(float(noise.double().reshape(-1, d).var(0, unbiased=False).sum()), rel=1e-9)
    assert stats[1].temporal_share == pytest.approx(0.0, abs=1e-12)
    assert stats[1].clip_participation == pytest.approx(participation_ratio(per_clip[:, 0].numpy()), rel=1e-9)
    assert stats[2].total_var == 0.0 and stats[2].temporal_share == 0.0 and stats[2].clip_participation == 0.0
    with pytest.raises(ValueError, match="at least 2 clips"):
        stats_from_states(torch.zeros(1, 1, 10, 4))


def _write_clips(folder, n=3, seconds=1.5, sr=24000):
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        p = folder / f"clip{i}.wav"
        sf.write(p, (0.1 * rng.standard_normal(int(seconds * sr))).astype(np.float32), sr)
        paths.append(p)
    return paths


def test_layer_stats_on_files_and_short_file_error(tmp_path):
    paths = _write_clips(tmp_path)
    enc = load_model("logmel")
    stats = layer_stats(enc, paths, seconds=1.0)
    assert len(stats) == enc.num_layers
    assert 0.0 < stats[0].temporal_share <= 1.0 and stats[0].total_var > 0
    with pytest.raises(AudioError, match="clip0.wav"):
        layer_stats(enc, paths, seconds=2.0)


def test_layer_stats_command_writes_json(tmp_path):
    _write_clips(tmp_path)
    out = tmp_path / "stats.json"
    res = CliRunner().invoke(app, ["models", "layer-stats", "logmel", str(tmp_path), "--seconds", "1",
                                   "--max-files", "2", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "within-clip share" in res.output and "1 more files not used" in res.output
    data = json.loads(out.read_text())
    assert len(data["files"]) == 2 and data["layers"][0]["layer"] == 0
    bad = CliRunner().invoke(app, ["models", "layer-stats", "logmel", str(tmp_path), "--seconds", "5"])
    assert bad.exit_code == 1 and "clip0.wav" in bad.output
