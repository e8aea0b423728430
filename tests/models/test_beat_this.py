"""Beat This! (beat-this, beat-this-small): the port read from a checkpoint in the released layout.

The released checkpoints (``final0.ckpt``, ``small0.ckpt``, ... from the authors' server) are
PyTorch Lightning files: ``state_dict`` holds the network under ``model.`` and
``hyper_parameters`` its geometry. The key names and shapes below follow the package's modules
(beat_this 1.1.0: ``beat_this/model/beat_tracker.py``, ``roformer.py``; ``rotary_embedding_torch``
stores its ``freqs`` as a parameter of every attention that shares it) and a published inventory
of the real ``small0`` file (166 tensors, 2,101,352 values; ``final0``: 166 tensors, 20,253,104
values; both load with ``torch.load(weights_only=True)``).

When the pure-Python wheels of beat-this 1.1.0, einops and rotary-embedding-torch are on this
machine ($MERTBENCH_WHEELS or /tmp; .ci/run downloads them), the package's own network and chunking
code run from the wheels (torchaudio, which it imports for the mel front end, is stubbed) and the
port must match them exactly.
"""
from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch
from wheel_testkit import real_wheel

from mertbench.errors import ModelError
from mertbench.models import load_model
from mertbench.models.contract import validate_encoder

WHEELS = ("beat_this-1.1.0-py3-none-any.whl", "einops-0.8.2-py3-none-any.whl",
          "rotary_embedding_torch-0.9.1-py3-none-any.whl")
SMALL = {"spect_dim": 128, "fps": 50, "transformer_dim": 128, "ff_mult": 4, "n_layers": 6, "stem_dim": 32,
         "dropout": {"frontend": 0.1, "transformer": 0.2}, "lr": 0.0008, "weight_decay": 0.01,
         "pos_weights": {"beat": 1, "downbeat": 1}, "head_dim": 32, "loss_type": "shift_tolerant_weighted_bce",
         "warmup_steps": 1000, "max_epochs": 100, "use_dbn": False, "eval_trim_beats": 5, "sum_head": True,
         "partial_transformers": True}  # PLBeatThis.__init__ arguments, saved by save_hyperparameters()


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("MERTBENCH_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch-hub"))  # an empty torch hub cache


def released_shapes(transformer_dim: int = 512, n_layers: int = 6, head_dim: int = 32, stem_dim: int = 32,
                    ff_mult: int = 4) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a released Beat This! network state dict (without Lightning's ``model.``)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for k in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{k}"] = (c,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    def attention(prefix: str, dim: int) -> None:
        heads = dim // head_dim
        shapes[f"{prefix}.rotary_embed.freqs"] = (head_dim // 2,)
        shapes[f"{prefix}.norm.gamma"] = (dim,)
        shapes[f"{prefix}.to_qkv.weight"] = (3 * heads * head_dim, dim)
        shapes[f"{prefix}.to_gates.weight"] = (heads, dim)
        shapes[f"{prefix}.to_gates.bias"] = (heads,)
        shapes[f"{prefix}.to_out.0.weight"] = (dim, heads * head_dim)

    def feed_forward(prefix: str, dim: int, mult: int) -> None:
        shapes[f"{prefix}.net.0.gamma"] = (dim,)
        shapes[f"{prefix}.net.1.weight"], shapes[f"{prefix}.net.1.bias"] = (dim * mult, dim), (dim * mult,)
        shapes[f"{prefix}.net.4.weight"], shapes[f"{prefix}.net.4.bias"] = (dim, dim * mult), (dim,)

    bn("frontend.stem.bn1d", 128)
    shapes["frontend.stem.conv2d.weight"] = (stem_dim, 1, 4, 3)
    bn("frontend.stem.bn2d", stem_dim)
    dim = stem_dim
    for i in range(3):
        p = f"frontend.blocks.{i}"
        for axis in "FT":
            attention(f"{p}.partial.attn{axis}", dim)
            feed_forward(f"{p}.partial.ff{axis}", dim, 4)
        shapes[f"{p}.conv2d.weight"] = (2 * dim, dim, 2, 3)
        bn(f"{p}.norm", 2 * dim)
        dim *= 2
    shapes["frontend.linear.weight"], shapes["frontend.linear.bias"] = (transformer_dim, dim * 4), (transformer_dim,)
    for i in range(n_layers):
        attention(f"transformer_blocks.layers.{i}.0", transformer_dim)
        feed_forward(f"transformer_blocks.layers.{i}.1", transformer_dim, ff_mult)
    shapes["transformer_blocks.norm.gamma"] = (transformer_dim,)
    shapes["task_heads.beat_downbeat_lin.weight"], shapes["task_heads.beat_downbeat_lin.bias"] = (2, transformer_dim), (2,)
    return shapes


def released_checkpoint(path, hparams: dict | None = None, seed: int = 0, extra: dict | None = None,
                        drop: str | None = None):
    """A Lightning checkpoint in the released layout with random weights, saved at ``path``."""
    hp = dict(SMALL, **(hparams or {}))
    g = torch.Generator().manual_seed(seed)
    freqs = 1.0 / 10000 ** (torch.arange(0, hp["head_dim"], 2).float() / hp["head_dim"])
    sd = {}
    for key, shape in released_shapes(hp["transformer_dim"], hp["n_layers"], hp["head_dim"], hp["stem_dim"],
                                      hp["ff_mult"]).items():
        if key.endswith("num_batches_tracked"):
            v = torch.tensor(12345)
        elif key.endswith("rotary_embed.freqs"):
            v = freqs.clone()
        elif key.endswith("running_var"):
            v = 0.5 + torch.rand(shape, generator=g)
        elif key.endswith(("gamma", "bn1d.weight", "bn2d.weight", "norm.weight")):
            v = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else 10
            v = torch.randn(shape, generator=g) / fan_in ** 0.5
        sd[f"model.{key}"] = v
    if drop:
        del sd[drop]
    sd.update(extra or {})
    ckpt = {"epoch": 99, "global_step": 123456, "pytorch-lightning_version": "2.3.0", "state_dict": sd,
            "hparams_name": "kwargs", "hyper_parameters": hp}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return ckpt


def test_released_layout_matches_the_published_inventory_and_the_port():
    from mertbench.models.beatthis import BeatThisNet

    small, final = released_shapes(128), released_shapes(512)
    assert len(small) == len(final) == 166
    assert sum(math.prod(s) for k, s in small.items() if not k.endswith("num_batches_tracked")) == 2_101_352
    assert sum(math.prod(s) for k, s in final.items() if not k.endswith("num_batches_tracked")) == 20_253_104
    for dim, shapes in ((128, small), (512, final)):
        with torch.device("meta"):
            own = BeatThisNet(transformer_dim=dim).state_dict()
        assert {k: tuple(v.shape) for k, v in own.items()} == shapes


@pytest.fixture
def small_ckpt(tmp_path):
    path = tmp_path / "weights" / "small0.ckpt"
    released_checkpoint(path)
    return path


def test_loads_a_released_checkpoint_and_keeps_the_contract(small_ckpt):
    enc = load_model("beat-this-small", checkpoint=str(small_ckpt.parent))  # the folder holding small0.ckpt
    assert (enc.name, enc.sample_rate, enc.frame_rate, enc.num_layers, enc.dim) == ("beat-this-small", 22050, 50.0, 7, 128)
    ckpt = torch.load(small_ckpt, weights_only=True)
    own = enc.net.state_dict()
    assert set(own) == {k.removeprefix("model.") for k in ckpt["state_dict"]}  # every tensor used, strictly
    assert all(torch.equal(own[k.removeprefix("model.")], v) for k, v in ckpt["state_dict"].items())
    for n in (22050, 22050 * 5 // 2 + 17):
        wav = torch.randn(2, n, generator=torch.Generator().manual_seed(n)) * 0.1
        with torch.no_grad():
            h, again = enc(wav), enc(wav)
        assert h.shape == (7, 2, 1 + n // 441, 128) and enc.num_frames(n) == h.shape[2]
        assert torch.equal(h, again)
    report = validate_encoder(enc, seconds=(0.5, 1.3))
    assert report.ok, [c for c in report.checks if not c.passed]


def test_the_file_itself_and_padded_batches(small_ckpt):
    enc = load_model("beat-this-small", checkpoint=str(small_ckpt))
    wav = torch.randn(2, 22050, generator=torch.Generator().manual_seed(1)) * 0.1
    with torch.no_grad():
        full = enc(wav, lengths=torch.tensor([22050, 15000]))
        alone = enc(wav[1:, :15000])
    assert torch.equal(full[:, 1, :alone.shape[2]], alone[:, 0])
    assert not full[:, 1, alone.shape[2]:].any()


def test_geometry_comes_from_the_hyper_parameters(tmp_path):
    path = tmp_path / "final0.ckpt"
    released_checkpoint(path, {"transformer_dim": 64, "n_layers": 2, "sum_head": False})
    enc = load_model("beat-this", checkpoint=str(path))
    assert (enc.num_layers, enc.dim, enc.net.hparams["sum_head"]) == (3, 64, False)
    with torch.no_grad():
        out = enc.beat_logits(torch.randn(1, 22050) * 0.1)
        last = enc(torch.randn(1, 22050) * 0.1)
    assert out["beat"].shape == out["downbeat"].shape == (1, 51) and last.shape == (3, 1, 51, 64)


def test_strict_loading_names_missing_and_unexpected_tensors(tmp_path):
    released_checkpoint(tmp_path / "a" / "small0.ckpt", drop="model.frontend.linear.bias")
    with pytest.raises(ModelError, match=r"missing \['frontend.linear.bias'\]"):
        load_model("beat-this-small", checkpoint=str(tmp_path / "a"))
    released_checkpoint(tmp_path / "b" / "small0.ckpt", extra={"model.frontend.extra.weight": torch.zeros(2)})
    with pytest.raises(ModelError, match=r"unexpected \['frontend.extra.weight'\]"):
        load_model("beat-this-small", checkpoint=str(tmp_path / "b"))
    released_checkpoint(tmp_path / "c" / "small0.ckpt", {"transformer_dim": 256})
    ckpt = torch.load(tmp_path / "c" / "small0.ckpt", weights_only=True)
    ckpt["hyper_parameters"]["transformer_dim"] = 128  # shapes disagree with the hyper-parameters
    torch.save(ckpt, tmp_path / "c" / "small0.ckpt")
    with pytest.raises(ModelError, match="shapes do not fit"):
        load_model("beat-this-small", checkpoint=str(tmp_path / "c"))


def test_missing_weights_name_the_file_and_where_to_get_it(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match=r"final0\.ckpt not found.*MERTBENCH_OFFLINE.*https://cloud\.cp\.jku\.at/"
                                         r"public\.php/dav/files/7ik4RrBKTS273gp/final0\.ckpt"):
        load_model("beat-this")
    monkeypatch.delenv("MERTBENCH_OFFLINE")
    with pytest.raises(ModelError, match=r"small0\.ckpt not found.*download=False"):
        load_model("beat-this-small", download=False)
    with pytest.raises(ModelError, match="not a Beat This! checkpoint name"):
        load_model("beat-this", name="../../etc/x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"holds none of small0\.ckpt, beat_this-small0\.ckpt"):
        load_model("beat-this-small", checkpoint=str(tmp_path / "empty"))
    with pytest.raises(ModelError, match=r"checkpoint file .*nothere\.ckpt not found"):
        load_model("beat-this-small", checkpoint=str(tmp_path / "nothere.ckpt"))


def test_the_torch_hub_cache_of_the_package_is_used_and_listed():
    from mertbench.models.registry import ENCODERS, weights_status
    from mertbench.models.user_weights import torch_hub_file

    entry = ENCODERS.get("beat-this-small")
    assert weights_status(entry) == ("url:beat_this-small0.ckpt", "download")
    released_checkpoint(torch_hub_file("beat_this-small0.ckpt"))  # where beat_this.inference.load_model keeps it
    assert weights_status(entry) == ("url:beat_this-small0.ckpt", "cached")
    assert load_model("beat-this-small").dim == 128


def test_mel_filters_match_librosa_without_normalisation():
    from nnAudio.librosa_functions import get_mel

    from mertbench.models.beatthis import mel_filters

    ref = get_mel(22050, 1024, 128, 30.0, 11000.0, htk=False, norm=None, dtype=np.float64).T
    ours = mel_filters().double().numpy()
    assert ours.shape == (513, 128)
    np.testing.assert_allclose(ours, ref, atol=2e-5)


def test_logmel_matches_a_numpy_stft():
    from mertbench.models.beatthis import LogMel, mel_filters

    wav = np.random.default_rng(0).standard_normal(5000) * 0.1
    padded = np.pad(wav, 512, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, 1024)[::441]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)
    mag = np.abs(np.fft.rfft(frames * window, axis=-1)) / np.sqrt((window ** 2).sum())
    ref = np.log1p(1000 * mag @ mel_filters().double().numpy())
    ours = LogMel()(torch.from_numpy(wav).float()[None])[0].double().numpy()
    assert ours.shape == (1 + 5000 // 441, 128)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


def test_chunks_cover_every_frame_as_the_package_splits(small_ckpt):
    from mertbench.models.beatthis import chunk_starts

    assert chunk_starts(100) == [-6] and chunk_starts(1490) == [-6, -4] and chunk_starts(3000) == [-6, 1482, 1506]
    enc = load_model("beat-this-small", checkpoint=str(small_ckpt), chunk_frames=40, border_frames=6)
    wav = torch.randn(1, 441 * 99, generator=torch.Generator().manual_seed(2)) * 0.1
    with torch.no_grad():
        h = enc(wav)
        spect = enc.spect(wav)
        first = torch.stack(enc.net.hidden_states(torch.nn.functional.pad(spect[:, :34], (0, 0, 6, 0))))
    assert h.shape[2] == 100 and h.abs().sum(dim=(0, 1, 3)).min() > 0  # no frame left empty
    assert torch.allclose(h[:, :, :28], first[:, :, 6:34], atol=1e-5)  # the first chunk's interior


def _reference(monkeypatch):
    paths = [real_wheel(w) for w in WHEELS]
    if not all(paths):
        pytest.skip(f"reference wheels not found ({', '.join(WHEELS)}; .ci/run downloads them)")
    for p in paths:
        monkeypatch.syspath_prepend(str(p))
    if "torchaudio" not in sys.modules:  # only the mel front end (not used here) needs it
        monkeypatch.setitem(sys.modules, "torchaudio", types.ModuleType("torchaudio"))
    from beat_this import inference
    from beat_this.model.beat_tracker import BeatThis

    return BeatThis, inference


def test_matches_the_package_network_and_chunking(tmp_path, monkeypatch):
    BeatThis, inference = _reference(monkeypatch)
    path = tmp_path / "final0.ckpt"
    ckpt = released_checkpoint(path, {"transformer_dim": 64, "n_layers": 3}, seed=3)
    ref = BeatThis(**{k: ckpt["hyper_parameters"][k] for k in ("spect_dim", "transformer_dim", "ff_mult", "n_layers",
                                                                 "head_dim", "stem_dim", "sum_head")})
    ref.load_state_dict({k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()})
    ref.eval()
    enc = load_model("beat-this", checkpoint=str(path), chunk_frames=60, border_frames=6)
    wav = torch.randn(1, 441 * 150, generator=torch.Generator().manual_seed(4)) * 0.1
    with torch.no_grad():
        spect = enc.spect(wav)
        states = torch.stack(enc.net.hidden_states(spect))
        torch.testing.assert_close(states[0], ref.frontend(spect), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(states[-1], ref.transformer_blocks(ref.frontend(spect)), rtol=1e-5, atol=1e-5)
        want = inference.split_predict_aggregate(spect[0], 60, 6, "keep_first", ref)
        got = enc.beat_logits(wav)
    torch.testing.assert_close(got["beat"][0], want["beat"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got["downbeat"][0], want["downbeat"], rtol=1e-5, atol=1e-5)
