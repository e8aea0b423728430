"""MusicFM (mertbench/models/musicfm.py): the released file and key layout, loading through the
registry from a folder, the HF cache and a (mocked) hub, clear errors, and hidden states equal to the
reference path written out from the raw tensors (tests/models/melconformer_testkit.py says where
the layout was read)."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from mertbench.errors import ModelError
from mertbench.models import load_model
from mertbench.models.contract import validate_encoder
from mertbench.models.registry import ENCODERS, weights_status
from tests.models.melconformer_testkit import (
    SMALL,
    Geo,
    encoder_layout,
    htk_filterbank,
    random_tensors,
    reference_hidden_states,
)

MEAN, STD = 6.768444971712967, 18.417922652295623  # msd_stats.json's melspec_2048 statistics


def released_layout(g: Geo) -> dict[str, tuple[int, ...]]:
    """``MusicFM25Hz.state_dict()`` names (without ``model.``) and shapes."""
    out = encoder_layout(g, legacy_weight_norm=True)
    out["preprocessor_melspec_2048.mel_stft.spectrogram.window"] = (2048,)
    out["preprocessor_melspec_2048.mel_stft.mel_scale.fb"] = (1025, g.n_mels)
    out["quantizer_melspec_2048_0.random_projection"] = (g.n_mels * 4, 16)
    out["quantizer_melspec_2048_0.codebook"] = (4096, 16)
    out["linear.weight"], out["linear.bias"] = (4096, g.dim), (4096,)
    out["cls_token"] = (g.dim,)
    return out


def released_state(g: Geo = SMALL, seed: int = 0) -> dict[str, torch.Tensor]:
    sd = random_tensors(released_layout(g), seed, counters_dtype=torch.float32)  # float counters, as released
    sd["preprocessor_melspec_2048.mel_stft.spectrogram.window"] = torch.hann_window(2048)
    sd["preprocessor_melspec_2048.mel_stft.mel_scale.fb"] = htk_filterbank(g.n_mels)
    return sd


def write_release(folder: Path, sd: dict[str, torch.Tensor], variant: str = "msd") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"model." + k: v for k, v in sd.items()}, "epoch": 7},
               folder / f"pretrained_{variant}.pt")
    (folder / f"{variant}_stats.json").write_text(json.dumps({"melspec_2048_cnt": 14282760192,
                                                             "melspec_2048_mean": MEAN, "melspec_2048_std": STD,
                                                             "spec_2048_mean": -15.6, "spec_2048_std": 26.1}))
    return folder


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    sd = released_state()
    return write_release(tmp_path_factory.mktemp("musicfm"), sd), sd


def test_port_has_the_released_layout_at_the_real_geometry():
    from mertbench.models.mel_conformer import Geometry, MelConformer
    from mertbench.models.musicfm import FRONTEND_KEYS, HEADS

    with torch.device("meta"):
        net = MelConformer(Geometry())
    back = {v: k for k, v in FRONTEND_KEYS.items()}
    ours = {back.get(k, k).replace("parametrizations.weight.original0", "weight_g")
            .replace("parametrizations.weight.original1", "weight_v"): tuple(v.shape) for k, v in net.state_dict().items()}
    ours.update({k: shape(Geometry()) for k, shape in HEADS.items()})
    assert ours == released_layout(Geo())
    assert ENCODERS.get("musicfm-msd").info["parameters"] == sum(p.numel() for p in net.parameters()) == 324_733_056


def test_loads_through_the_registry_and_matches_the_reference(release):
    folder, sd = release
    with pytest.MonkeyPatch.context() as mp:
        for name in ("torchaudio", "einops", "musicfm"):  # the port never imports them
            mp.setitem(sys.modules, name, None)
        enc = load_model("musicfm-msd", checkpoint=str(folder), window_s=None)
    assert (enc.name, enc.sample_rate, enc.frame_rate, enc.num_layers, enc.dim) == ("musicfm-msd", 24000, 25.0, 3, 32)
    assert enc.weights_info["tensors"] == len(sd) - 5  # every encoder tensor loaded ...
    assert enc.weights_info["training_heads"] == sorted(["linear.weight", "linear.bias", "cls_token",
                                                         "quantizer_melspec_2048_0.random_projection",
                                                         "quantizer_melspec_2048_0.codebook"])  # ... heads reported
    assert torch.equal(enc.net.frontend.fb, sd["preprocessor_melspec_2048.mel_stft.mel_scale.fb"])
    assert enc.net.conv.conv[0].bn1.num_batches_tracked.dtype == torch.int64
    wav = 0.3 * torch.randn(2, 24000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = enc(wav)
        again = enc(wav)
    assert out.shape == (3, 2, 25, 32) and torch.equal(out, again)
    ref = torch.stack([reference_hidden_states(sd, SMALL, wav[i:i + 1], MEAN, STD,
                                               sd["preprocessor_melspec_2048.mel_stft.spectrogram.window"],
                                               sd["preprocessor_melspec_2048.mel_stft.mel_scale.fb"])[:, 0]
                       for i in range(2)], dim=1)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    for n in (1025, 5000, 24000 + 959, 2 * 24000):  # T = ceil(ceil((N // 240) / 2) / 2), 25 Hz
        with torch.no_grad():
            t = enc(torch.randn(1, n)).shape[2]
        assert t == enc.num_frames(n) == math.ceil(math.ceil((n // 240) / 2) / 2)
    report = validate_encoder(enc, "musicfm-msd", seconds=(1.0,))
    assert report.ok, [c for c in report.checks if not c.passed]


def test_padded_batches_equal_single_items(release):
    folder, _ = release
    enc = load_model("musicfm-msd", checkpoint=str(folder))
    wav = 0.3 * torch.randn(2, 12000, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = enc(wav, lengths=torch.tensor([12000, 7000]))
        short = enc(wav[1:, :7000])
    t = enc.num_frames(7000)
    torch.testing.assert_close(out[:, 1, :t], short[:, 0], rtol=1e-5, atol=1e-5)
    assert bool((out[:, 1, t:] == 0).all())


def test_missing_files_name_the_file_and_how_to_get_it(tmp_path, release):
    folder, _ = release
    with pytest.raises(ModelError, match=r"pretrained_fma\.pt.*huggingface\.co/minzwon/MusicFM.*checkpoint=DIR"):
        load_model("musicfm-fma", checkpoint=str(folder))
    (tmp_path / "pretrained_msd.pt").write_bytes((folder / "pretrained_msd.pt").read_bytes())
    with pytest.raises(ModelError, match=r"msd_stats\.json: MusicFM-MSD file missing"):
        load_model("musicfm-msd", checkpoint=str(tmp_path))
    with pytest.raises(ModelError, match="no such folder"):
        load_model("musicfm-msd", checkpoint=str(tmp_path / "nope"))


def use_cache(monkeypatch, folder: Path) -> None:
    """Point huggingface_hub at ``folder`` as its cache (it reads HF_HUB_CACHE once, at import)."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(folder))


def test_offline_without_weights_names_the_missing_file(tmp_path, monkeypatch):
    use_cache(monkeypatch, tmp_path / "hf")  # empty cache
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")
    monkeypatch.delenv("MERTBENCH_MUSICFM_DIR", raising=False)
    with pytest.raises(ModelError, match=r"pretrained_msd\.pt of minzwon/MusicFM is not in the Hugging Face cache"):
        load_model("musicfm-msd")
    assert weights_status(ENCODERS.get("musicfm-msd")) == ("hub:minzwon/MusicFM", "download")


def test_hf_cache_env_folder_and_mocked_hub(tmp_path, monkeypatch, release):
    folder, _ = release
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")
    monkeypatch.delenv("MERTBENCH_MUSICFM_DIR", raising=False)
    # a Hugging Face cache holding the repo's two files (the layout hf_hub_download writes)
    repo = tmp_path / "hf" / "models--minzwon--MusicFM"
    snap = repo / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    for f in ("pretrained_msd.pt", "msd_stats.json"):
        (snap / f).write_bytes((folder / f).read_bytes())
    use_cache(monkeypatch, tmp_path / "hf")
    assert weights_status(ENCODERS.get("musicfm-msd")) == ("hub:minzwon/MusicFM", "cached")
    assert weights_status(ENCODERS.get("musicfm-fma")) == ("hub:minzwon/MusicFM", "download")
    assert load_model("musicfm-msd").weights_info["checkpoint"].startswith(str(snap))
    monkeypatch.setenv("MERTBENCH_MUSICFM_DIR", str(folder))
    assert weights_status(ENCODERS.get("musicfm-msd")) == ("hub:minzwon/MusicFM", "folder")
    assert load_model("musicfm-msd").weights_info["checkpoint"] == str(folder / "pretrained_msd.pt")
    # online (mocked): a cache miss downloads each file from the hub repo
    monkeypatch.delenv("MERTBENCH_MUSICFM_DIR")
    monkeypatch.delenv("MERTBENCH_OFFLINE")
    use_cache(monkeypatch, tmp_path / "empty")
    import huggingface_hub

    from mertbench.models import hf_audio

    asked = []

    def fake_download(repo_id, filename, revision=None, local_files_only=False):
        if local_files_only:
            raise FileNotFoundError(filename)
        asked.append((repo_id, filename))
        return str(folder / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(hf_audio, "hub_reachable", lambda timeout=3.0: True)
    load_model("musicfm-msd")
    assert asked == [("minzwon/MusicFM", "pretrained_msd.pt"), ("minzwon/MusicFM", "msd_stats.json")]


def test_strict_loading_rejects_extra_missing_and_misshapen_keys(tmp_path, release):
    _, sd = release
    extra = dict(sd, **{"recon_proj.weight": torch.zeros(3)})
    with pytest.raises(ModelError, match=r"unexpected \['recon_proj\.weight'\]"):
        load_model("musicfm-msd", checkpoint=str(write_release(tmp_path / "a", extra)))
    missing = {k: v for k, v in sd.items() if k != "conformer.layers.1.conv_module.batch_norm.running_var"}
    with pytest.raises(ModelError, match=r"missing \['conformer\.layers\.1\.conv_module\.batch_norm\.running_var'\]"):
        load_model("musicfm-msd", checkpoint=str(write_release(tmp_path / "b", missing)))
    bad = dict(sd, **{"preprocessor_melspec_2048.mel_stft.mel_scale.fb": torch.zeros(1025, 7)})
    with pytest.raises(ModelError, match=r"mel_scale\.fb has shape \(1025, 7\)"):
        load_model("musicfm-msd", checkpoint=str(write_release(tmp_path / "c", bad)))
    (tmp_path / "d").mkdir()
    torch.save({"state_dict": {k: v for k, v in sd.items()}}, tmp_path / "d" / "pretrained_msd.pt")
    (tmp_path / "d" / "msd_stats.json").write_text("{}")
    with pytest.raises(ModelError, match="melspec_2048_mean"):
        load_model("musicfm-msd", checkpoint=str(tmp_path / "d"))


def test_long_inputs_are_windowed_to_the_full_frame_grid(release):
    folder, _ = release
    whole = load_model("musicfm-msd", checkpoint=str(folder), window_s=None)
    windowed = load_model("musicfm-msd", checkpoint=str(folder), window_s=1.0, window_overlap_s=0.4)
    wav = 0.3 * torch.randn(1, 24000 * 3 + 500, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = whole(wav), windowed(wav)
    assert a.shape == b.shape == (3, 1, whole.num_frames(wav.shape[1]), 32)
    torch.testing.assert_close(b[0], a[0], rtol=1e-4, atol=1e-4)  # layer 0 (conv front end) is local
    assert bool(torch.isfinite(b).all())


def test_a_musicfm_folder_is_a_model_spec(tmp_path, release):
    folder, _ = release
    enc = load_model(str(folder))  # what `mertbench probe --model DIR` does
    assert enc.name == folder.name and enc.weights_info["checkpoint"] == str(folder / "pretrained_msd.pt")
    both = tmp_path / "both"
    both.mkdir()
    for f in ("pretrained_msd.pt", "msd_stats.json"):
        (both / f).write_bytes((folder / f).read_bytes())
    (both / "pretrained_fma.pt").write_bytes(b"")
    with pytest.raises(ModelError, match="holds both MusicFM checkpoints"):
        load_model(str(both))
