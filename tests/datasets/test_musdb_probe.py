"""The official musdb-separation task end to end on a tiny MUSDB18-HQ copy (stereo wav stems at 8 kHz in
the official folder layout): MARBLE's open-unmix head, re-mixed/gained/swapped excerpts encoded online,
multichannel Wiener filtering, MDX global SDR and museval v4 SDR."""
from __future__ import annotations

import math

import pytest
from fake_copies import make_musdb

from mertbench.probe import run_probe

TOY = "mertbench.probe.synthetic:toy_encoder"


@pytest.mark.slow
def test_musdb_separation_runs_end_to_end_with_marbles_protocol(tmp_path):
    make_musdb(tmp_path / "MUSDB18")
    fast = {"train_excerpt_s": 0.3, "excerpts_per_track": 2, "lstm_layers": 1}  # the spec's protocol, fewer steps
    result, path = run_probe(TOY, "musdb-separation", root=tmp_path / "MUSDB18", layer="2", lrs=[1e-3],
                             max_epochs=1, options=fast, progress=False, out=tmp_path / "results")
    assert path is not None and path.exists()
    test = result.layers["2"]["test"]
    for stem in ("vocals", "drums", "bass", "other"):
        assert math.isfinite(test[f"sdr_{stem}"].mean) and math.isfinite(test[f"sdr_museval_{stem}"].mean)
    h = result.hyperparameters
    assert h["head"] == "openunmix" and h["channels"] == 2 and h["wiener_iterations"] == 1
    assert h["augmentation"]["random_track_mix"] is True and h["augmentation"]["source_gain"] == [0.25, 1.25]
    assert h["augmentation"]["channel_swap"] == "per source, p = 0.5"
    assert str(result.task_version) == "3"
