"""The robustness axis on the rendered suite: very low SNR degrades every hand-crafted baseline on
render-pitch (issue 21, evidence (a)); identity scores exactly the clean metric there too."""
from __future__ import annotations

import pytest

from mertbench.robustness import run_robustness


@pytest.mark.slow
def test_low_snr_degrades_every_baseline_on_render_pitch(tmp_path, piece_cache, monkeypatch, one_thread):
    from mertbench.render import render_suite, sizes

    # the tiny size's render-pitch (16 clips) is too small to score; this render keeps its 2 s clips
    monkeypatch.setitem(sizes.SIZES["tiny"], "render-pitch", sizes.TaskSize({"train": 256, "valid": 48, "test": 48}, 2.0))
    out = tmp_path / "render"
    render_suite(out, size="tiny", tasks=["render-pitch"], workers=2, cache_dir=piece_cache, progress=False)
    for model in ("mfcc", "logmel", "chroma", "cqt"):
        res, _ = run_robustness(model, "render-pitch", ["identity", "white-noise-0db"], root=out / "render-pitch",
                                seeds=2, progress=False, write=False)
        layer, metric = res.selected_layer, res.primary_metric
        clean = res.clean.layers[layer]["test"][metric]
        ident, noisy = res.outcome("identity"), res.outcome("white-noise-0db")
        assert ident.layers[layer][metric].values == clean.values, model
        assert noisy.status == "scored" and noisy.examples == 48, model
        assert noisy.layers[layer][metric].mean < clean.mean, (model, clean.mean, noisy.layers[layer][metric].mean)
        assert noisy.drop[metric].mean < 0 and noisy.retention[metric].mean < 1, model
        print(model, round(clean.mean, 3), round(noisy.layers[layer][metric].mean, 3))
