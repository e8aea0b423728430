"""LAION-CLAP (laion-clap, laion-clap-music): released .pt checkpoints read into transformers' HTS-AT.

The released files (``630k-audioset-best.pt``, ``music_audioset_epoch_15_esc_90.14.pt`` in the hub
repository ``lukewys/laion_clap``) are LAION's training checkpoints: ``{"epoch", "name",
"state_dict", "optimizer"}`` with DDP's ``module.`` prefix on every key (laion_clap 1.1.7's
``clap_module/factory.py:load_state_dict`` strips it). The audio-branch key names and shapes below
follow laion_clap 1.1.7's ``clap_module/htsat.py`` (``HTSAT_Swin_Transformer``: torchlibrosa's
``spectrogram_extractor.stft.conv_real/imag`` [513, 1, 1024] and ``logmel_extractor.melW`` [513,
64], ``bn0``, ``patch_embed``, ``layers.i.blocks.j`` with ``attn.qkv``, ``attn.proj``,
``relative_position_bias_table/index``, a persistent ``attn_mask`` in shifted blocks,
``layers.i.downsample``, ``norm``, the tagging head ``tscam_conv`` / ``head``), ``create_htsat_model``
(tiny: embed 96, depths 2-2-6-2; base: 128, 2-2-12-2; heads 4-8-16-32; window 8) and ``model.py``
(``audio_projection.0/2``, ``logit_scale_a``, the text branch).

When the laion_clap 1.1.7 wheel is on this machine ($MERTBENCH_WHEELS or /tmp; .ci/run downloads
it), its own ``htsat.py`` runs from the wheel (torchlibrosa stubbed by a reference front end) and
the layers must match it.
"""
from __future__ import annotations

import math
import sys
import types
import zipfile

import numpy as np
import pytest
import torch
from wheel_testkit import real_wheel

from mertbench.errors import ModelError
from mertbench.models import load_model
from mertbench.models.contract import validate_encoder

WHEEL = "laion_clap-1.1.7-py3-none-any.whl"
SMALL = (8, (2, 2, 2, 2), (1, 2, 4, 8))  # embed dim, depths, heads: a small HTS-AT in the released layout


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))  # an empty hub cache
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))


def _relative_index(w: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (w - 1)
    return rel[..., 0] * (2 * w - 1) + rel[..., 1]


def _shift_mask(res: int, w: int) -> torch.Tensor:
    s = w // 2
    img = torch.zeros(res, res)
    cuts = (slice(0, -w), slice(-w, -s), slice(-s, None))
    for i, (a, b) in enumerate((a, b) for a in cuts for b in cuts):
        img[a, b] = i
    win = img.view(res // w, w, res // w, w).permute(0, 2, 1, 3).reshape(-1, w * w)
    diff = win[:, None, :] - win[:, :, None]
    return diff.masked_fill(diff != 0, -100.0)


def stft_kernels(n_fft: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """torchlibrosa's STFT conv kernels: DFT rows times a periodic Hann window, ``[513, 1, 1024]``."""
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
    window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / n_fft)
    angle = 2 * math.pi * k * n / n_fft
    return (torch.cos(angle) * window)[:, None].float(), (-torch.sin(angle) * window)[:, None].float()


def released_audio_branch(embed: int, depths, heads, seed: int = 0, classes: int = 527,
                          meta: bool = False) -> dict[str, torch.Tensor]:
    """``audio_branch.*`` of a released unfused LAION-CLAP checkpoint, random weights (layout of htsat.py);
    ``meta``: shapes only (meta tensors)."""
    from nnAudio.librosa_functions import get_mel

    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}

    def rnd(*shape, scale=None):
        if meta:
            return torch.empty(shape, device="meta")
        fan_in = shape[-1] if len(shape) > 1 else 10
        return torch.randn(shape, generator=g) * (scale if scale is not None else fan_in ** -0.5)

    def ln(prefix, c):
        sd[f"{prefix}.weight"], sd[f"{prefix}.bias"] = 1 + rnd(c, scale=0.1), rnd(c, scale=0.1)

    real, imag = stft_kernels()
    sd["spectrogram_extractor.stft.conv_real.weight"], sd["spectrogram_extractor.stft.conv_imag.weight"] = real, imag
    sd["logmel_extractor.melW"] = torch.from_numpy(get_mel(48000, 1024, 64, 50.0, 14000.0, htk=False, norm=1).T.copy())
    ln("bn0", 64)
    sd["bn0.running_mean"], sd["bn0.running_var"] = -20 + rnd(64, scale=5.0), 20 + 10 * torch.rand(64, generator=g)
    sd["bn0.num_batches_tracked"] = torch.tensor(100000)
    sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"] = rnd(embed, 1, 4, 4, scale=0.25), rnd(embed, scale=0.1)
    ln("patch_embed.norm", embed)
    res = 64
    for i, (depth, h) in enumerate(zip(depths, heads)):
        c = embed * 2 ** i
        w = min(8, res)
        for j in range(depth):
            p = f"layers.{i}.blocks.{j}"
            ln(f"{p}.norm1", c)
            sd[f"{p}.attn.relative_position_bias_table"] = rnd((2 * w - 1) ** 2, h, scale=0.02)
            sd[f"{p}.attn.relative_position_index"] = _relative_index(w)
            sd[f"{p}.attn.qkv.weight"], sd[f"{p}.attn.qkv.bias"] = rnd(3 * c, c), rnd(3 * c, scale=0.02)
            sd[f"{p}.attn.proj.weight"], sd[f"{p}.attn.proj.bias"] = rnd(c, c), rnd(c, scale=0.02)
            ln(f"{p}.norm2", c)
            sd[f"{p}.mlp.fc1.weight"], sd[f"{p}.mlp.fc1.bias"] = rnd(4 * c, c), rnd(4 * c, scale=0.02)
            sd[f"{p}.mlp.fc2.weight"], sd[f"{p}.mlp.fc2.bias"] = rnd(c, 4 * c), rnd(c, scale=0.02)
            if j % 2 == 1 and res > w:
                sd[f"{p}.attn_mask"] = _shift_mask(res, w)
        if i < len(depths) - 1:
            sd[f"layers.{i}.downsample.reduction.weight"] = rnd(2 * c, 4 * c)
            ln(f"layers.{i}.downsample.norm", 4 * c)
            res //= 2
    final = embed * 2 ** (len(depths) - 1)
    ln("norm", final)
    sd["tscam_conv.weight"], sd["tscam_conv.bias"] = rnd(classes, final, 2, 3), rnd(classes, scale=0.02)
    sd["head.weight"], sd["head.bias"] = rnd(classes, classes), rnd(classes, scale=0.02)
    return {f"audio_branch.{k}": v for k, v in sd.items()}


def released_checkpoint(path, embed=SMALL[0], depths=SMALL[1], heads=SMALL[2], seed=0, extra=None, drop=None):
    """A LAION-CLAP training checkpoint (``module.`` keys, optimizer state) saved at ``path``."""
    sd = released_audio_branch(embed, depths, heads, seed)
    sd.update({"text_branch.embeddings.word_embeddings.weight": torch.zeros(10, 4),
               "text_branch.embeddings.position_ids": torch.arange(8)[None],
               "text_projection.0.weight": torch.zeros(4, 4), "text_transform.sequential.0.weight": torch.zeros(4, 4),
               "audio_projection.0.weight": torch.zeros(4, embed * 8), "audio_projection.0.bias": torch.zeros(4),
               "audio_projection.2.weight": torch.zeros(4, 4), "audio_projection.2.bias": torch.zeros(4),
               "audio_transform.sequential.0.weight": torch.zeros(4, 4),
               "logit_scale_a": torch.tensor(2.0), "logit_scale_t": torch.tensor(2.0)})
    if drop:
        del sd[drop]
    sd.update(extra or {})
    ckpt = {"epoch": 15, "name": "music_audioset", "state_dict": {f"module.{k}": v for k, v in sd.items()},
            "optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(3)}},
                          "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.0, "params": [0]}]}}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return ckpt


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("clap") / "630k-audioset-best.pt"
    released_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def small_enc(small_file):
    return load_model("laion-clap", checkpoint=str(small_file.parent), download=False)


def test_real_geometries_build_and_name_every_tensor():
    """HTS-AT tiny and base in the released layout fit transformers' model key for key (meta tensors)."""
    from transformers import ClapAudioModel

    from mertbench.models.clap import GEOMETRY, audio_config, geometry, laion_to_hf

    for size, (embed, depths) in GEOMETRY.items():
        if size == "large":
            continue
        with torch.device("meta"):
            shapes = {k: v.shape for k, v in ClapAudioModel(audio_config(embed, depths)).state_dict().items()}
        layout = released_audio_branch(embed, depths, (4, 8, 16, 32), meta=True)
        assert geometry(layout, size) == {"embed_dim": embed, "depths": depths, "heads": (4, 8, 16, 32), "window": 8,
                                          "mel_bins": 64}
        hf, front, unused = laion_to_hf(layout, size)
        assert {k: v.shape for k, v in hf.items()} == shapes and len(front) == 3
        assert len(unused) == 4 + sum(d // 2 for d in depths[:3])  # tagging head and the shifted-window masks


def test_loads_a_released_checkpoint_and_keeps_the_contract(small_enc, small_file):
    enc = small_enc
    assert (enc.name, enc.sample_rate, enc.frame_rate, enc.num_layers, enc.dim) == ("laion-clap", 48000, 25.6, 5, 128)
    ckpt = torch.load(small_file, weights_only=True)  # the released format loads without unpickling code
    sd = {k.removeprefix("module."): v for k, v in ckpt["state_dict"].items()}
    own = enc.model.state_dict()
    qkv = sd["audio_branch.layers.2.blocks.1.attn.qkv.weight"]
    assert torch.equal(own["audio_encoder.layers.2.blocks.1.attention.self.key.weight"], qkv[8 * 4:16 * 4])
    assert torch.equal(enc.front_end.melW, sd["audio_branch.logmel_extractor.melW"])
    assert enc.weights_info["unused_tensors"] == 4 + 3 + len([k for k in sd if not k.startswith("audio_branch.")])
    wav = torch.randn(2, 48000 * 3 + 11, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad():
        h, again = enc(wav), enc(wav)
    assert h.shape == (5, 2, math.ceil(wav.shape[1] / 1875), 128) == (5, 2, enc.num_frames(wav.shape[1]), 128)
    assert torch.equal(h, again) and torch.isfinite(h).all()
    report = validate_encoder(enc, seconds=(1.0, 2.5))
    assert report.ok, [c for c in report.checks if not c.passed]


def test_windows_are_ten_seconds_and_repeat_padded(small_enc):
    from mertbench.models.clap import ClapEncoder

    enc = small_enc
    wav = torch.randn(1, 48000 * 13, generator=torch.Generator().manual_seed(1)) * 0.1
    win = enc.windows(wav)
    assert win.shape == (1, 2, 480000)
    tail = wav[0, 480000:]
    assert torch.equal(win[0, 1, :tail.numel() * 3], tail.repeat(3)) and not win[0, 1, tail.numel() * 3:].any()
    quantized = (wav * 32767).to(torch.int16) / 32767  # LAION's int16 round trip, before the windows
    with torch.no_grad():
        h = enc(wav)
        first = enc.window_states(quantized[:, :480000])
        zero = ClapEncoder(enc.model, enc.front_end, "z", pad="zero").windows(wav)
        unquantized = ClapEncoder(enc.model, enc.front_end, "u", quantize=False)(quantized)
    assert h.shape[2] == math.ceil(48000 * 13 / 1875) and torch.allclose(h[:, :, :256], first, atol=1e-5)
    assert torch.equal(unquantized, h)
    assert not zero[0, 1, tail.numel():].any()
    # coarse stages are repeated to 256 positions per window: the last layer changes every 8 frames
    assert torch.equal(h[4, 0, :8], h[4, 0, :1].expand(8, -1)) and not torch.equal(h[4, 0, 7], h[4, 0, 8])


def test_padded_batches_run_each_item_at_its_length(small_enc):
    wav = torch.randn(2, 48000, generator=torch.Generator().manual_seed(2)) * 0.1
    with torch.no_grad():
        full = small_enc(wav, lengths=torch.tensor([48000, 30000]))
        alone = small_enc(wav[1:, :30000])
    assert torch.equal(full[:, 1, :alone.shape[2]], alone[:, 0]) and not full[:, 1, alone.shape[2]:].any()


def test_strict_loading_and_refused_files(tmp_path):
    released_checkpoint(tmp_path / "a.pt", drop="audio_branch.layers.1.blocks.0.mlp.fc2.bias")
    with pytest.raises(ModelError, match=r"missing \['audio_encoder.layers.1.blocks.0.output.dense.bias'\]"):
        load_model("laion-clap", checkpoint=str(tmp_path / "a.pt"))
    released_checkpoint(tmp_path / "b.pt", extra={"audio_branch.layers.0.blocks.0.extra.weight": torch.zeros(2)})
    with pytest.raises(ModelError, match=r"unexpected \['audio_encoder.layers.0.blocks.0.extra.weight'\]"):
        load_model("laion-clap", checkpoint=str(tmp_path / "b.pt"))
    released_checkpoint(tmp_path / "c.pt", extra={"something_else.weight": torch.zeros(2)})
    with pytest.raises(ModelError, match=r"not LAION-CLAP's: \['something_else.weight'\]"):
        load_model("laion-clap", checkpoint=str(tmp_path / "c.pt"))
    released_checkpoint(tmp_path / "d.pt", extra={"audio_branch.patch_embed.fusion_model.local_att.0.weight": torch.zeros(2)})
    with pytest.raises(ModelError, match="fusion checkpoint"):
        load_model("laion-clap", checkpoint=str(tmp_path / "d.pt"))
    torch.save({"state_dict": {"module.x": torch.zeros(1)}}, tmp_path / "e.pt")
    with pytest.raises(ModelError, match="not a LAION-CLAP checkpoint"):
        load_model("laion-clap", checkpoint=str(tmp_path / "e.pt"))


class _Evil:
    def __reduce__(self):
        import os

        return os.system, ("touch pwned-by-checkpoint",)


def test_a_checkpoint_pickling_code_loads_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = released_checkpoint(tmp_path / "630k-audioset-best.pt")
    ckpt["args"] = _Evil()  # weights_only=True refuses it; the stub unpickler keeps it inert
    torch.save(ckpt, tmp_path / "630k-audioset-best.pt")
    enc = load_model("laion-clap", checkpoint=str(tmp_path))
    assert enc.dim == 128 and not (tmp_path / "pwned-by-checkpoint").exists()


def test_missing_weights_name_the_file_and_where_to_get_it(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match=r"630k-audioset-best\.pt not found.*MERTBENCH_OFFLINE.*"
                                         r"https://huggingface\.co/lukewys/laion_clap/resolve/main/630k-audioset-best\.pt"):
        load_model("laion-clap")
    monkeypatch.delenv("MERTBENCH_OFFLINE")
    with pytest.raises(ModelError, match=r"music_audioset_epoch_15_esc_90\.14\.pt not found.*download=False"):
        load_model("laion-clap-music", download=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match=r"630k-audioset-best\.pt not found.*HF_HUB_OFFLINE is set"):
        load_model("laion-clap")
    with pytest.raises(ModelError, match="is not a checkpoint file name"):
        load_model("laion-clap", file="../secret.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"holds none of music_audioset_epoch_15_esc_90\.14\.pt"):
        load_model("laion-clap-music", checkpoint=str(tmp_path / "empty"))


def test_hub_cache_is_listed_and_used(tmp_path, small_file):
    from mertbench.models.registry import ENCODERS, weights_status

    entry = ENCODERS.get("laion-clap")
    assert weights_status(entry) == ("hub:lukewys/laion_clap:630k-audioset-best.pt", "download")
    snap = tmp_path / "hf-cache" / "models--lukewys--laion_clap" / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (snap / "630k-audioset-best.pt").symlink_to(small_file)
    (tmp_path / "hf-cache" / "models--lukewys--laion_clap" / "refs").mkdir()
    (tmp_path / "hf-cache" / "models--lukewys--laion_clap" / "refs" / "main").write_text("0" * 40)
    assert weights_status(entry) == ("hub:lukewys/laion_clap:630k-audioset-best.pt", "cached")
    assert load_model("laion-clap").dim == 128


def test_front_end_is_a_power_spectrogram_through_the_stored_mel_matrix(small_enc):
    wav = np.random.default_rng(0).standard_normal(48000) * 0.1
    padded = np.pad(wav, 512, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, 1024)[::480]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    ref = 10 * np.log10(np.maximum(power @ small_enc.front_end.melW.double().numpy(), 1e-10))
    ours = small_enc.front_end(torch.from_numpy(wav).float()[None])[0, 0].double().numpy()
    assert ours.shape == (101, 64)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def _laion_htsat(monkeypatch):
    """laion_clap 1.1.7's HTSAT_Swin_Transformer, run from its wheel (torchlibrosa and utils stubbed)."""
    path = real_wheel(WHEEL)
    if path is None:
        pytest.skip(f"{WHEEL} not found ($MERTBENCH_WHEELS or /tmp; .ci/run downloads it)")
    from torch import nn

    class _Stft(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_real = nn.Conv1d(1, 513, 1024, stride=480, bias=False)
            self.conv_imag = nn.Conv1d(1, 513, 1024, stride=480, bias=False)

    class Spectrogram(nn.Module):  # torchlibrosa.stft.Spectrogram: reflect-padded conv STFT, power 2
        def __init__(self, **kw):
            super().__init__()
            self.stft = _Stft()

        def forward(self, x):
            x = torch.nn.functional.pad(x[:, None], (512, 512), mode="reflect")
            return (self.stft.conv_real(x) ** 2 + self.stft.conv_imag(x) ** 2).transpose(1, 2)[:, None]

    class LogmelFilterBank(nn.Module):  # torchlibrosa.stft.LogmelFilterBank (ref 1, amin 1e-10, no top_db)
        def __init__(self, **kw):
            super().__init__()
            self.melW = nn.Parameter(torch.zeros(513, kw["n_mels"]))

        def forward(self, x):
            return 10 * torch.log10(torch.clamp(torch.matmul(x, self.melW), min=1e-10))

    class SpecAugmentation(nn.Module):
        def __init__(self, **kw):
            super().__init__()

    def interpolate(x, ratio):
        return x[:, :, None, :].repeat(1, 1, ratio, 1).reshape(x.shape[0], x.shape[1] * ratio, x.shape[2])

    stft = types.ModuleType("torchlibrosa.stft")
    stft.Spectrogram, stft.LogmelFilterBank = Spectrogram, LogmelFilterBank
    aug = types.ModuleType("torchlibrosa.augmentation")
    aug.SpecAugmentation = SpecAugmentation
    pkg = types.ModuleType("laion_ref")
    pkg.__path__ = []
    utils = types.ModuleType("laion_ref.utils")
    utils.do_mixup, utils.interpolate = None, interpolate
    for name, mod in (("torchlibrosa", types.ModuleType("torchlibrosa")), ("torchlibrosa.stft", stft),
                      ("torchlibrosa.augmentation", aug), ("laion_ref", pkg), ("laion_ref.utils", utils)):
        monkeypatch.setitem(sys.modules, name, mod)
    with zipfile.ZipFile(path) as zf:
        for member in ("feature_fusion", "htsat"):
            mod = types.ModuleType(f"laion_ref.{member}")
            mod.__package__ = "laion_ref"
            monkeypatch.setitem(sys.modules, mod.__name__, mod)
            exec(compile(zf.read(f"laion_clap/clap_module/{member}.py"), f"laion_clap/clap_module/{member}.py", "exec"),
                 mod.__dict__)
    return sys.modules["laion_ref.htsat"]


@pytest.mark.filterwarnings("ignore:torch.meshgrid")  # inside laion_clap's htsat.py
def test_matches_laion_htsat(small_file, small_enc, monkeypatch):
    htsat = _laion_htsat(monkeypatch)
    cfg = types.SimpleNamespace(window_size=1024, hop_size=480, sample_rate=48000, mel_bins=64, fmin=50, fmax=14000)
    ref = htsat.HTSAT_Swin_Transformer(spec_size=256, patch_size=4, patch_stride=(4, 4), num_classes=527,
                                       embed_dim=SMALL[0], depths=list(SMALL[1]), num_heads=list(SMALL[2]),
                                       window_size=8, config=cfg)
    ckpt = torch.load(small_file, weights_only=True)
    sd = {k.removeprefix("module.audio_branch."): v for k, v in ckpt["state_dict"].items() if ".audio_branch." in k}
    assert set(sd) == set(ref.state_dict())  # the test's layout is exactly LAION's
    ref.load_state_dict(sd, strict=True)
    ref.eval()
    stages = []
    for layer in ref.layers:  # each stage's output before its patch merging
        layer.blocks[-1].register_forward_hook(lambda m, i, o: stages.append(o[0]))
    embedded = []
    ref.patch_embed.register_forward_hook(lambda m, i, o: embedded.append(o))
    wav = torch.randn(1, 480000, generator=torch.Generator().manual_seed(3)) * 0.1
    x = wav[0].double().numpy()  # hook.py's quantisation: float32_to_int16 then int16_to_float32
    quantized = torch.from_numpy((np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16) / 32767.0).float()[None]
    with torch.no_grad():
        out = ref({"waveform": quantized}, device="cpu")
        ours = small_enc(wav)[:, 0]
    grids = [embedded[0]] + stages[:-1] + [ref.norm(stages[-1])]
    for i, g in enumerate(grids):
        side = int(math.isqrt(g.shape[1]))
        tokens = g.reshape(1, side, side, -1).permute(0, 3, 1, 2)  # [1, C, rows, time]
        want = tokens.reshape(1, -1, 4, side // 4, side).permute(0, 2, 4, 3, 1).reshape(4 * side, -1)
        want = want.repeat_interleave(256 // want.shape[0], dim=0)
        torch.testing.assert_close(ours[i], want, rtol=1e-4, atol=1e-4, msg=f"layer {i}")
    # LAION's pooled embedding is the time-and-band mean of the last layer
    torch.testing.assert_close(out["embedding"][0], ours[4].reshape(256, 2, -1).mean(dim=(0, 1)), rtol=1e-4, atol=1e-4)
