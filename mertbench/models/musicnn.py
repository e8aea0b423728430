"""musicnn (Pons & Serra 2019), the music auto-tagger, as a frame-level encoder.

Weights: the ``MTT_musicnn`` (MagnaTagATune) and ``MSD_musicnn`` (Million Song Dataset) TensorFlow
checkpoints in the musicnn 0.1.0 wheel (ISC licence, Music Technology Group, Universitat Pompeu
Fabra), read with mertbench's own checkpoint reader (:mod:`mertbench.models.tf_checkpoint`; neither
TensorFlow nor musicnn is imported) and converted to safetensors by
:mod:`mertbench.models.wheel_weights`.

Front end of the input, as musicnn's ``extractor.batch_data``: 16 kHz audio,
``librosa.feature.melspectrogram`` (power 2, 512-point FFT, periodic Hann window, hop 256, centred
frames with reflect padding as in librosa 0.7, which musicnn requires; 96 Slaney mel bands 0-8 kHz
with Slaney area normalisation) computed here with ``torch.stft`` and nnAudio's copy of librosa's
mel filter bank; cast to float16 (as musicnn does; values saturate at float16's maximum instead
of becoming inf) and compressed as ``log10(10000 x + 1)``. ``T = 1 + N // 256`` frames: 62.5 Hz.

Network (musicnn/models.py ``build_musicnn``), on 3-second patches of 187 frames:

* input BatchNorm (one scalar mean/variance over the whole log-mel patch);
* front end: timbral convs ``7 x 38`` and ``7 x 67`` (time x mel, 204 filters each, time padded
  3+3) and temporal convs ``128 x 1``, ``64 x 1``, ``32 x 1`` (51 filters each, TensorFlow 'same'
  padding), each ReLU -> BatchNorm -> max over the mel axis: 408 + 153 = 561 channels per frame;
* mid end: three ``Conv1d(k=7, 64 filters, padding 3)`` -> ReLU -> BatchNorm, the second and third
  with residual connections (cnn1, cnn2 = cnn1 + conv, cnn3 = cnn2 + conv);
* back end (per patch): max and mean over time of ``[front end, cnn1, cnn2, cnn3]`` (753
  channels, interleaved max/mean = 1506) -> BatchNorm -> Dense 200 + ReLU -> BatchNorm
  ("penultimate") -> Dense 50 -> sigmoid (the tags). All BatchNorms have eps 1e-3.

Layers (one D): cnn1, cnn2, cnn3 (64 channels each) per mel frame, ``[3, B, T, 64]``. The front
end (561 channels per frame: a different D) and the per-patch back end (mean/max pools, the
200-dim penultimate, the taggram) are not layers; :meth:`MusicnnEncoder.patch_outputs` returns
them per 3-second patch.

Patching: musicnn's extractor runs non-overlapping 187-frame patches and drops an incomplete last
one. Here the clip's frames are cut the same way (patches start at 0, 187, 374, ...) and each
patch runs alone, so each frame's features equal musicnn's for every complete patch; the frames
after the last complete patch come from the patch of the last 187 frames of the clip (so they
too see 3 seconds), and a clip shorter than one patch runs whole (the network is fully
convolutional in time). Every frame therefore depends only on its own patch.
"""
from __future__ import annotations

import struct
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mertbench.errors import ModelError
from mertbench.models.contract import Encoder
from mertbench.models.registry import register_encoder
from mertbench.models.wheel_weights import WeightSpec, load_weights, register_weights

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH = 187  # librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
BN_EPS = 1e-3
FLOAT16_MAX = 65504.0
TIMBRAL = ((7, int(0.4 * N_MELS)), (7, int(0.7 * N_MELS)))  # (7, 38), (7, 67)
TEMPORAL = (128, 64, 32)
FRONT_FILTERS, TEMPO_FILTERS, MID_FILTERS, BACK_UNITS, NUM_TAGS = 204, 51, 64, 200, 50


def _bn(c: int, two_d: bool = False) -> nn.Module:
    return nn.BatchNorm2d(c, eps=BN_EPS) if two_d else nn.BatchNorm1d(c, eps=BN_EPS)


class MusicnnNet(nn.Module):
    """musicnn's network on log-mel patches ``[n, T, 96]``."""

    def __init__(self) -> None:
        super().__init__()
        self.input_bn = _bn(1, two_d=True)
        self.timbral = nn.ModuleList(nn.Conv2d(1, FRONT_FILTERS, k) for k in TIMBRAL)
        self.timbral_bn = nn.ModuleList(_bn(FRONT_FILTERS, True) for _ in TIMBRAL)
        self.temporal = nn.ModuleList(nn.Conv2d(1, TEMPO_FILTERS, (k, 1)) for k in TEMPORAL)
        self.temporal_bn = nn.ModuleList(_bn(TEMPO_FILTERS, True) for _ in TEMPORAL)
        front = len(TIMBRAL) * FRONT_FILTERS + len(TEMPORAL) * TEMPO_FILTERS  # 561
        self.mid = nn.ModuleList(nn.Conv1d(front if i == 0 else MID_FILTERS, MID_FILTERS, 7) for i in range(3))
        self.mid_bn = nn.ModuleList(_bn(MID_FILTERS) for _ in range(3))
        pooled = 2 * (front + 3 * MID_FILTERS)  # 1506
        self.pool_bn = _bn(pooled)
        self.penultimate = nn.Linear(pooled, BACK_UNITS)
        self.penultimate_bn = _bn(BACK_UNITS)
        self.classifier = nn.Linear(BACK_UNITS, NUM_TAGS)

    def front_end(self, logmel: torch.Tensor) -> torch.Tensor:
        """``[n, T, 96]`` -> ``[n, 561, T]`` (timbral 204 + 204, temporal 51 x 3)."""
        x = self.input_bn(logmel[:, None])  # [n, 1, T, F]
        feats = []
        padded = F.pad(x, (0, 0, 3, 3))
        for conv, bn in zip(self.timbral, self.timbral_bn):
            feats.append(bn(F.relu(conv(padded))).amax(dim=-1))
        for k, conv, bn in zip(TEMPORAL, self.temporal, self.temporal_bn):
            same = F.pad(x, (0, 0, (k - 1) // 2, k - 1 - (k - 1) // 2))  # TensorFlow 'same' (more after)
            feats.append(bn(F.relu(conv(same))).amax(dim=-1))
        return torch.cat(feats, dim=1)

    def mid_end(self, front: torch.Tensor) -> list[torch.Tensor]:
        """``[n, 561, T]`` -> cnn1, cnn2, cnn3 ``[n, 64, T]`` each (residual from the second on)."""
        outs, x = [], front
        for i, (conv, bn) in enumerate(zip(self.mid, self.mid_bn)):
            y = bn(F.relu(conv(F.pad(x, (3, 3)))))
            x = y if i == 0 else y + x
            outs.append(x)
        return outs

    def back_end(self, front: torch.Tensor, mids: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-patch pools, penultimate layer and tag probabilities."""
        feats = torch.cat([front, *mids], dim=1)  # [n, 753, T]
        max_pool, mean_pool = feats.amax(dim=-1), feats.mean(dim=-1)
        flat = torch.stack([max_pool, mean_pool], dim=-1).flatten(1)  # TF: concat on a trailing axis, flatten
        pen = self.penultimate_bn(F.relu(self.penultimate(self.pool_bn(flat))))
        return {"max_pool": max_pool, "mean_pool": mean_pool, "penultimate": pen,
                "taggram": torch.sigmoid(self.classifier(pen))}


class MusicnnEncoder(Encoder):
    """musicnn's mid-end layers (cnn1..3, 64 dims) at the mel frame rate, 62.5 Hz (see the module doc)."""

    def __init__(self, name: str = "musicnn", tags: tuple[str, ...] = ()) -> None:
        super().__init__()
        from nnAudio.librosa_functions import get_mel

        self.net = MusicnnNet()
        self.name = name
        self.sample_rate = SAMPLE_RATE
        self.frame_rate = SAMPLE_RATE / HOP
        self.num_layers = 3
        self.dim = MID_FILTERS
        self.normalize = None
        self.tags = tuple(tags)
        mel = get_mel(SAMPLE_RATE, N_FFT, N_MELS, 0.0, SAMPLE_RATE / 2, htk=False, norm=1)
        self.register_buffer("mel_basis", torch.as_tensor(np.asarray(mel), dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)
        self.weights_info: dict[str, Any] = {}

    def num_frames(self, num_samples: int) -> int:
        return 1 + num_samples // HOP

    @property
    def min_samples(self) -> int:
        """The centred STFT pads by reflection: more than ``n_fft // 2`` samples are needed."""
        return N_FFT // 2 + 1

    def logmel(self, wav: torch.Tensor) -> torch.Tensor:
        """musicnn's input: ``log10(10000 * float16(mel power) + 1)``, ``[B, T, 96]``."""
        spec = torch.stft(wav.float(), N_FFT, HOP, window=self.window, center=True, pad_mode="reflect",
                          return_complex=True)
        power = spec.real.square() + spec.imag.square()
        mel = torch.einsum("mf,bft->btm", self.mel_basis, power)
        mel16 = mel.clamp(max=FLOAT16_MAX).half().float()
        return torch.log10(10000 * mel16 + 1)

    @staticmethod
    def patch_starts(t: int) -> list[int]:
        """Start frames of the patches covering ``t`` frames (see the module doc)."""
        if t <= PATCH:
            return [0]
        starts = list(range(0, t - PATCH + 1, PATCH))
        if starts[-1] + PATCH < t:
            starts.append(t - PATCH)
        return starts

    def _run(self, logmel: torch.Tensor, backend: bool = False):
        """Per patch: ``(starts, length, [cnn1, cnn2, cnn3] [n_patches * B, 64, P], back-end outputs)``."""
        b, t, _ = logmel.shape
        starts = self.patch_starts(t)
        p = min(PATCH, t)
        patches = torch.cat([logmel[:, s:s + p] for s in starts])  # [len(starts) * B, p, 96]
        front = self.net.front_end(patches)
        mids = self.net.mid_end(front)
        back = self.net.back_end(front, mids) if backend else {}
        return starts, p, mids, back, front

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[3, B, T, 64]``. Items shorter than the batch (``lengths``) run alone at their own
        length, so that padding never changes a frame; their frames past the end are zeros."""
        if lengths is not None and int(lengths.min()) < wav.shape[1]:
            out = wav.new_zeros(self.num_layers, wav.shape[0], self.num_frames(wav.shape[1]), self.dim)
            for i, n in enumerate(lengths.tolist()):
                h = self.forward(wav[i:i + 1, :int(n)])
                out[:, i, :h.shape[2]] = h[:, 0]
            return out
        logmel = self.logmel(wav)
        b, t, _ = logmel.shape
        starts, p, mids, _, _ = self._run(logmel)
        out = logmel.new_empty(self.num_layers, b, t, self.dim)
        covered = 0
        for j, s in enumerate(starts):  # the last patch may overlap the one before: it fills only the tail
            for i, m in enumerate(mids):
                out[i, :, covered:s + p] = m[j * b:(j + 1) * b, :, covered - s:].transpose(1, 2)
            covered = s + p
        return out

    @torch.no_grad()
    def patch_outputs(self, wav: torch.Tensor) -> dict[str, torch.Tensor]:
        """musicnn's per-patch outputs ``[B, n_patches, ...]``: ``taggram`` (50 tag probabilities, names
        in :attr:`tags`), ``penultimate`` (200), ``mean_pool``/``max_pool`` (753), plus ``starts``
        (first frame of each patch; the last patch may overlap the one before it)."""
        logmel = self.logmel(wav)
        b = logmel.shape[0]
        starts, _, _, back, _ = self._run(logmel, backend=True)
        out = {k: v.reshape(len(starts), b, -1).transpose(0, 1) for k, v in back.items()}
        out["starts"] = torch.tensor(starts)
        return out

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d.update(patch_frames=PATCH, weights=self.weights_info)
        return d


#: TensorFlow variable scope -> our module, in the order build_musicnn creates them
_CONVS = ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2", "mid.0", "mid.1", "mid.2"]
_BNS = ["input_bn", "timbral_bn.0", "timbral_bn.1", "temporal_bn.0", "temporal_bn.1", "temporal_bn.2",
        "mid_bn.0", "mid_bn.1", "mid_bn.2", "pool_bn", "penultimate_bn"]


def tf_to_torch(tf_vars: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """musicnn checkpoint variables (``conv2d_5/kernel``, ``batch_normalization_3/gamma``, ...) -> our state dict."""
    names: dict[str, str] = {}
    for i, mod in enumerate(_CONVS):
        tf_name = "conv2d" if i == 0 else f"conv2d_{i}"
        names[f"{tf_name}/kernel"], names[f"{tf_name}/bias"] = f"{mod}.weight", f"{mod}.bias"
    for i, mod in enumerate(_BNS):
        tf_name = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
        for tf_key, key in (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
                            ("moving_variance", "running_var")):
            names[f"{tf_name}/{tf_key}"] = f"{mod}.{key}"
    for tf_name, mod in (("dense", "penultimate"), ("dense_1", "classifier")):
        names[f"{tf_name}/kernel"], names[f"{tf_name}/bias"] = f"{mod}.weight", f"{mod}.bias"
    expected = MusicnnNet().state_dict()
    out: dict[str, torch.Tensor] = {}
    missing = sorted(n for n in names if n not in tf_vars)
    if missing:
        raise ModelError(f"not a musicnn checkpoint: missing variables {missing[:4]}")
    for tf_name, key in names.items():
        v = torch.from_numpy(np.ascontiguousarray(tf_vars[tf_name])).float()
        if key.endswith(".weight") and v.ndim == 4:  # conv kernel [kh, kw, in, out]
            v = v.permute(3, 2, 0, 1)  # Conv2d [out, in, kh, kw]
            if expected[key].ndim == 3:  # mid end: kernel [7, C, 1, 64] -> Conv1d [64, C, 7]
                v = v[:, 0].permute(0, 2, 1)
        elif key.endswith(".weight") and v.ndim == 2:  # dense [in, out] -> Linear [out, in]
            v = v.T
        if tuple(v.shape) != tuple(expected[key].shape):
            raise ModelError(f"musicnn variable {tf_name}: shape {tuple(v.shape)} does not fit {key} "
                             f"{tuple(expected[key].shape)}")
        out[key] = v.contiguous()
    for key, ref in expected.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.zeros_like(ref)
    return out


def _converter(folder: str):
    def convert(members: dict[str, bytes]) -> dict[str, torch.Tensor]:
        from mertbench.models.tf_checkpoint import read_tensors

        try:
            tf_vars = read_tensors(members[f"musicnn/{folder}/.index"],
                                   [members[f"musicnn/{folder}/.data-00000-of-00001"]])
        except (ValueError, struct.error, UnicodeDecodeError) as exc:
            raise ModelError(f"musicnn/{folder}: cannot read the TensorFlow checkpoint: {exc}") from exc
        return tf_to_torch(tf_vars)

    return convert


MODELS = {"musicnn-mtt": ("MTT_musicnn", "MagnaTagATune"), "musicnn-msd": ("MSD_musicnn", "Million Song Dataset")}
for _name, (_folder, _) in MODELS.items():
    register_weights(WeightSpec(_name, "musicnn", (f"musicnn/{_folder}/.index", f"musicnn/{_folder}/.data-00000-of-00001"),
                                _converter(_folder), {"architecture": _folder}))


def load_musicnn(name: str, wheel: str | None = None, download: bool = True) -> MusicnnEncoder:
    """``musicnn-mtt`` / ``musicnn-msd`` with their released weights (converted from the musicnn wheel on first use)."""
    enc = MusicnnEncoder(name=name, tags=TAGS[name])
    tensors, info = load_weights(name, wheel=wheel, download=download)
    enc.net.load_state_dict(tensors, strict=True)
    enc.weights_info = {k: info[k] for k in ("package", "version", "wheel_sha256", "sha256", "license") if k in info}
    return enc.eval()


def _params() -> int:
    return sum(p.numel() for p in MusicnnNet().parameters())


#: tag names of the two models' outputs (musicnn/configuration.py)
TAGS: dict[str, tuple[str, ...]] = {
    "musicnn-mtt": (
        "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano", "ambient",
        "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals", "no vocals",
        "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
        "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello",
        "no voice", "weird", "country", "metal", "female voice", "choral"),
    "musicnn-msd": (
        "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
        "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
        "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient",
        "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening",
        "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House",
        "happy"),
}


@register_encoder("musicnn-mtt", "musicnn auto-tagger trained on MagnaTagATune (musicnn 0.1.0 weights, fetched once "
                  "from its wheel): mid-end cnn1-3, 3 x 64 at 62.5 Hz, 16 kHz (docs/models.md)",
                  sample_rate=SAMPLE_RATE, frame_rate=SAMPLE_RATE / HOP, num_layers=3, dim=MID_FILTERS,
                  parameters=_params, family="musicnn", weights="wheel:musicnn")
def musicnn_mtt(wheel: str | None = None, download: bool = True) -> MusicnnEncoder:
    return load_musicnn("musicnn-mtt", wheel=wheel, download=download)


@register_encoder("musicnn-msd", "musicnn auto-tagger trained on the Million Song Dataset (musicnn 0.1.0 weights, "
                  "fetched once from its wheel): mid-end cnn1-3, 3 x 64 at 62.5 Hz, 16 kHz (docs/models.md)",
                  sample_rate=SAMPLE_RATE, frame_rate=SAMPLE_RATE / HOP, num_layers=3, dim=MID_FILTERS,
                  parameters=_params, family="musicnn", weights="wheel:musicnn")
def musicnn_msd(wheel: str | None = None, download: bool = True) -> MusicnnEncoder:
    return load_musicnn("musicnn-msd", wheel=wheel, download=download)


@register_encoder("random-musicnn", "musicnn's architecture with random weights (seed 0; seed= to change): the "
                  "random-init baseline of musicnn-mtt / musicnn-msd (no download)",
                  sample_rate=SAMPLE_RATE, frame_rate=SAMPLE_RATE / HOP, num_layers=3, dim=MID_FILTERS,
                  parameters=_params, family="musicnn", weights="random")
def random_musicnn(seed: int = 0) -> MusicnnEncoder:
    """musicnn with PyTorch's default init under ``seed`` (BatchNorm at its initial statistics)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        enc = MusicnnEncoder(name="random-musicnn", tags=TAGS["musicnn-mtt"])
    enc.weights_info = {"random_init_seed": int(seed)}
    return enc.eval()
