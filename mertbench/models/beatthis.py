"""Beat This! (Foscarin, Schlüter & Widmer, ISMIR 2024), the beat and downbeat tracker, as an encoder.

A port, not a wrapper: the ``beat-this`` package (1.1.0) imports torchaudio for its mel front end
(and ``beat_this.inference`` imports it at module level), and torchaudio's binary must match the
installed torch exactly; its network also needs ``einops`` and ``rotary-embedding-torch``. The
network is small, so it is written here in plain PyTorch with the same module names, and reads
the released Lightning checkpoints (``final0``, ``small0``, ...; MIT licence) unchanged; no extra
is needed. ``tests/models/test_beat_this.py`` checks it against the package's own modules when
their wheels are on the machine.

Weights: the checkpoints the package downloads (``https://cloud.cp.jku.at/public.php/dav/files/
7ik4RrBKTS273gp/<name>.ckpt``, cached by torch hub as ``beat_this-<name>.ckpt``). The file is a
PyTorch Lightning checkpoint: ``state_dict`` (the network under the prefix ``model.``) and
``hyper_parameters`` (``transformer_dim`` 512 for ``final*``, 128 for ``small*``, ...); it is read
with ``torch.load(weights_only=True)``.

Front end (``beat_this.preprocessing.LogMelSpect``): 22.05 kHz mono; STFT with a 1024-point
periodic Hann window, hop 441, centred frames with reflect padding, magnitudes divided by the
window's L2 norm (torchaudio's ``normalized="frame_length"``); 128 Slaney-scale mel bands from 30
Hz to 11 kHz (triangles in Hz without area normalisation, torchaudio's ``melscale_fbanks``);
``log1p(1000 x)``. ``T = 1 + N // 441`` frames: 50 Hz.

Network (``beat_this.model.beat_tracker.BeatThis``): a stem (BatchNorm over the 128 bands, a 4x3
conv with frequency stride 4, BatchNorm, GELU), three front-end blocks (a frequency-then-time
"partial" transformer, a 2x3 conv with frequency stride 2 doubling the channels, BatchNorm, GELU),
a linear map of the flattened ``channels x bands`` (1024) to ``transformer_dim``, then
``n_layers`` (6) pre-norm transformer blocks (RMSNorm, rotary position embeddings on queries and
keys, per-head sigmoid gates, GELU feed-forward) and a final RMSNorm; the head is one linear map
to (beat, downbeat) logits, the beat logit adding the downbeat one (``sum_head``).

Layers (``L = n_layers + 1``, ``D = transformer_dim``): the transformer's input (the front end's
projection), then each block's output, the last after the final RMSNorm (the head's input), as
HF ``hidden_states``. The front-end blocks (1024 values per frame) are not layers.

Long inputs run as the package does (``beat_this.inference.split_piece``): 1500-frame (30 s)
chunks that overlap by 2 x 6 border frames, the first and last zero-padded by the border; each
chunk's border frames are dropped and earlier chunks win where chunks overlap.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mertbench.errors import ModelError
from mertbench.models.contract import Encoder
from mertbench.models.registry import register_encoder

SAMPLE_RATE = 22050
N_FFT = 1024
HOP = 441
N_MELS = 128
F_MIN, F_MAX = 30.0, 11000.0
LOG_MULTIPLIER = 1000.0
CHUNK_FRAMES = 1500
BORDER_FRAMES = 6
CHECKPOINT_URL = "https://cloud.cp.jku.at/public.php/dav/files/7ik4RrBKTS273gp"
#: hyper-parameters of the network (PLBeatThis / BeatThis arguments) and their defaults
HPARAMS: dict[str, Any] = {"spect_dim": 128, "transformer_dim": 512, "ff_mult": 4, "n_layers": 6, "head_dim": 32,
                           "stem_dim": 32, "sum_head": True, "partial_transformers": True}


# ----------------------------------------------------------------------------------------------
# front end
# ----------------------------------------------------------------------------------------------


def _hz_to_mel(f: float) -> float:
    """Slaney's mel scale (linear to 1 kHz, logarithmic above) of a frequency in Hz."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    if f < min_log_hz:
        return f / f_sp
    return min_log_hz / f_sp + math.log(f / min_log_hz) / (math.log(6.4) / 27.0)


def _mel_to_hz(m: Tensor) -> Tensor:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return torch.where(m >= min_log_mel, min_log_hz * torch.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                f_min: float = F_MIN, f_max: float = F_MAX) -> Tensor:
    """``[n_fft // 2 + 1, n_mels]`` triangular Slaney-scale filters without normalisation (float32,
    computed as torchaudio's ``melscale_fbanks(norm=None, mel_scale="slaney")``)."""
    freqs = torch.linspace(0, sample_rate // 2, n_fft // 2 + 1)
    pts = _mel_to_hz(torch.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))
    width = pts[1:] - pts[:-1]
    dist = pts[None, :] - freqs[:, None]
    rising = -dist[:, :-2] / width[:-1]
    falling = dist[:, 2:] / width[1:]
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


class LogMel(nn.Module):
    """Beat This!'s input: ``log1p(1000 * mel magnitude)``, ``[B, N] -> [B, T, 128]``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)
        self.register_buffer("fb", mel_filters(), persistent=False)

    def forward(self, wav: Tensor) -> Tensor:
        spec = torch.stft(wav.float(), N_FFT, HOP, window=self.window, center=True, pad_mode="reflect",
                          return_complex=True)
        mag = (spec / self.window.square().sum().sqrt()).abs()  # [B, F, T]
        return torch.log1p(LOG_MULTIPLIER * torch.matmul(mag.transpose(1, 2), self.fb))


# ----------------------------------------------------------------------------------------------
# network (module names as beat_this.model, so that the released state dict loads unchanged)
# ----------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.scale = size ** 0.5
        self.gamma = nn.Parameter(torch.ones(size))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=-1) * self.scale * self.gamma


class Rotary(nn.Module):
    """Rotary position embedding over the sequence axis (-2), adjacent feature pairs rotated together
    (as rotary-embedding-torch's ``rotate_queries_or_keys`` with its default 'lang' frequencies)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.freqs = nn.Parameter(1.0 / (10000 ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim)),
                                  requires_grad=False)

    def forward(self, t: Tensor) -> Tensor:
        pos = torch.arange(t.shape[-2], device=t.device, dtype=t.dtype)
        angles = (pos[:, None] * self.freqs.to(t.dtype)[None, :]).repeat_interleave(2, dim=-1)  # [n, d]
        pairs = t.unflatten(-1, (-1, 2))
        rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
        return t * angles.cos() + rotated * angles.sin()


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int, rotary_embed: Rotary) -> None:
        super().__init__()
        self.heads = heads
        self.rotary_embed = rotary_embed
        self.norm = RMSNorm(dim)
        self.to_qkv = nn.Linear(dim, heads * dim_head * 3, bias=False)
        self.to_gates = nn.Linear(dim, heads)
        self.to_out = nn.ModuleList([nn.Linear(heads * dim_head, dim, bias=False)])

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(x)
        b, n, _ = x.shape
        q, k, v = self.to_qkv(x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)  # 3 x [b, h, n, d]
        out = F.scaled_dot_product_attention(self.rotary_embed(q), self.rotary_embed(k), v)
        out = out * self.to_gates(x).transpose(1, 2)[..., None].sigmoid()
        return self.to_out[0](out.transpose(1, 2).reshape(b, n, -1))


def _feed_forward(dim: int, mult: int) -> nn.Sequential:
    # indices as beat_this's FeedForward.net: norm, linear, GELU, dropout, linear, dropout
    return nn.Sequential(RMSNorm(dim), nn.Linear(dim, dim * mult), nn.GELU(), nn.Identity(),
                         nn.Linear(dim * mult, dim), nn.Identity())


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = _feed_forward(dim, mult)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class PartialFT(nn.Module):
    """Attention and feed-forward along frequency (per frame), then along time (per band)."""

    def __init__(self, dim: int, dim_head: int, rotary_embed: Rotary) -> None:
        super().__init__()
        heads = dim // dim_head
        self.attnF = Attention(dim, heads, dim_head, rotary_embed)
        self.ffF = FeedForward(dim)
        self.attnT = Attention(dim, heads, dim_head, rotary_embed)
        self.ffT = FeedForward(dim)

    def forward(self, x: Tensor) -> Tensor:
        b, c, f, t = x.shape
        x = x.permute(0, 3, 2, 1).reshape(b * t, f, c)
        x = x + self.attnF(x)
        x = x + self.ffF(x)
        x = x.view(b, t, f, c).transpose(1, 2).reshape(b * f, t, c)
        x = x + self.attnT(x)
        x = x + self.ffT(x)
        return x.view(b, f, t, c).permute(0, 3, 1, 2)


class FrontendBlock(nn.Module):
    def __init__(self, cin: int, partial: bool, dim_head: int, rotary_embed: Rotary) -> None:
        super().__init__()
        self.partial = PartialFT(cin, dim_head, rotary_embed) if partial else nn.Identity()
        self.conv2d = nn.Conv2d(cin, cin * 2, (2, 3), stride=(2, 1), padding=(0, 1), bias=False)
        self.norm = nn.BatchNorm2d(cin * 2)

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(self.norm(self.conv2d(self.partial(x))))


class Stem(nn.Module):
    def __init__(self, spect_dim: int, stem_dim: int) -> None:
        super().__init__()
        self.bn1d = nn.BatchNorm1d(spect_dim)
        self.conv2d = nn.Conv2d(1, stem_dim, (4, 3), stride=(4, 1), padding=(0, 1), bias=False)
        self.bn2d = nn.BatchNorm2d(stem_dim)

    def forward(self, x: Tensor) -> Tensor:  # [b, t, f] -> [b, c, f / 4, t]
        return F.gelu(self.bn2d(self.conv2d(self.bn1d(x.transpose(1, 2))[:, None])))


class Frontend(nn.Module):
    def __init__(self, hp: dict[str, Any], rotary_embed: Rotary) -> None:
        super().__init__()
        self.stem = Stem(hp["spect_dim"], hp["stem_dim"])
        dims = [hp["stem_dim"] * 2 ** i for i in range(3)]
        self.blocks = nn.ModuleList(FrontendBlock(d, hp["partial_transformers"], hp["head_dim"], rotary_embed)
                                    for d in dims)
        bands = hp["spect_dim"] // 4 // 8
        self.linear = nn.Linear(dims[-1] * 2 * bands, hp["transformer_dim"])

    def forward(self, spect: Tensor) -> Tensor:
        x = self.stem(spect)
        for block in self.blocks:
            x = block(x)
        return self.linear(x.permute(0, 3, 1, 2).flatten(2))  # b c f t -> b t (c f)


class Transformer(nn.Module):
    def __init__(self, hp: dict[str, Any], rotary_embed: Rotary) -> None:
        super().__init__()
        dim, dh = hp["transformer_dim"], hp["head_dim"]
        self.layers = nn.ModuleList(nn.ModuleList([Attention(dim, dim // dh, dh, rotary_embed),
                                                   FeedForward(dim, hp["ff_mult"])]) for _ in range(hp["n_layers"]))
        self.norm = RMSNorm(dim)


class Head(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.beat_downbeat_lin = nn.Linear(dim, 2)


class BeatThisNet(nn.Module):
    """Beat This!'s network on log-mel spectrograms ``[B, T, 128]`` (see the module doc)."""

    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        hp = {**HPARAMS, **{k: v for k, v in hparams.items() if k in HPARAMS}}
        if hp["transformer_dim"] % hp["head_dim"] or hp["stem_dim"] % hp["head_dim"]:
            raise ModelError(f"Beat This!: transformer_dim {hp['transformer_dim']} and stem_dim {hp['stem_dim']} "
                             f"must be multiples of head_dim {hp['head_dim']}")
        self.hparams = hp
        rotary = Rotary(hp["head_dim"])  # one module, shared by every attention (as in the package)
        self.frontend = Frontend(hp, rotary)
        self.transformer_blocks = Transformer(hp, rotary)
        self.task_heads = Head(hp["transformer_dim"])

    def hidden_states(self, spect: Tensor) -> list[Tensor]:
        """The front end's projection, then each block's output (the last after the final norm)."""
        x = self.frontend(spect)
        states = [x]
        for block in self.transformer_blocks.layers:
            x = block[0](x) + x  # attention
            x = block[1](x) + x  # feed-forward
            states.append(x)
        states[-1] = self.transformer_blocks.norm(x)
        return states

    def logits(self, last: Tensor) -> dict[str, Tensor]:
        """Beat and downbeat logits ``[B, T]`` from the last hidden state."""
        out = self.task_heads.beat_downbeat_lin(last)
        beat, downbeat = out[..., 0], out[..., 1]
        return {"beat": beat + downbeat if self.hparams["sum_head"] else beat, "downbeat": downbeat}


def chunk_starts(t: int, chunk: int = CHUNK_FRAMES, border: int = BORDER_FRAMES) -> list[int]:
    """First frames of the chunks covering ``t`` frames (negative: zero padding), as the package's
    ``split_piece(avoid_short_end=True)``: a step of ``chunk - 2 border``, the last chunk moved back
    to end ``border`` frames past the end."""
    starts = list(range(-border, t - border, chunk - 2 * border))
    if t > chunk - 2 * border:
        starts[-1] = t - (chunk - border)
    return starts


# ----------------------------------------------------------------------------------------------
# encoder
# ----------------------------------------------------------------------------------------------


class BeatThisEncoder(Encoder):
    """Beat This!'s transformer input and block outputs at 50 Hz (see the module doc)."""

    def __init__(self, name: str = "beat-this", chunk_frames: int = CHUNK_FRAMES, border_frames: int = BORDER_FRAMES,
                 **hparams: Any) -> None:
        super().__init__()
        self.net = BeatThisNet(**hparams)
        self.spect = LogMel()
        self.name = name
        self.sample_rate = SAMPLE_RATE
        self.frame_rate = SAMPLE_RATE / HOP
        self.num_layers = self.net.hparams["n_layers"] + 1
        self.dim = self.net.hparams["transformer_dim"]
        self.normalize = None
        self.chunk_frames, self.border_frames = int(chunk_frames), int(border_frames)
        if self.chunk_frames <= 2 * self.border_frames:
            raise ModelError(f"{name}: chunk_frames ({chunk_frames}) must exceed twice border_frames ({border_frames})")
        self.weights_info: dict[str, Any] = {}

    def num_frames(self, num_samples: int) -> int:
        return 1 + num_samples // HOP

    @property
    def min_samples(self) -> int:
        """The centred STFT pads by reflection: more than ``n_fft // 2`` samples are needed."""
        return N_FFT // 2 + 1

    def _run(self, spect: Tensor, logits: bool = False) -> Tensor | dict[str, Tensor]:
        """Hidden states ``[L, B, T, D]`` (or logits) of ``spect [B, T, 128]``, chunked as the package."""
        b, t, _ = spect.shape
        c, m = self.chunk_frames, self.border_frames
        out: Any = None
        for s in reversed(chunk_starts(t, c, m)):  # earlier chunks overwrite later ones ("keep_first")
            piece = F.pad(spect[:, max(s, 0):min(s + c, t)], (0, 0, max(0, -s), max(0, min(m, s + c - t))))
            states = self.net.hidden_states(piece)
            lo, hi = s + m, s + m + piece.shape[1] - 2 * m  # frames this chunk fills (borders dropped)
            if logits:
                res = self.net.logits(states[-1][:, m:piece.shape[1] - m])
                if out is None:
                    out = {k: v.new_full((b, t), -1000.0) for k, v in res.items()}
                for k, v in res.items():
                    out[k][:, lo:hi] = v
                continue
            kept = torch.stack(states)[:, :, m:piece.shape[1] - m]
            if out is None:
                out = kept.new_zeros(self.num_layers, b, t, self.dim)
            out[:, :, lo:hi] = kept
        return out

    def forward(self, wav: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``[L, B, T, D]``. Items shorter than the batch (``lengths``) run alone at their own length,
        so that padding never changes a frame; their frames past the end are zeros."""
        if wav.ndim != 2:
            raise ModelError(f"{self.name}: expected a waveform batch [B, N]; got shape {tuple(wav.shape)}")
        wav = wav.to(self.net.frontend.linear.weight.device)
        if lengths is not None and int(lengths.min()) < wav.shape[1]:
            out = wav.new_zeros(self.num_layers, wav.shape[0], self.num_frames(wav.shape[1]), self.dim)
            for i, n in enumerate(torch.as_tensor(lengths).tolist()):
                h = self.forward(wav[i:i + 1, :int(n)])
                out[:, i, :h.shape[2]] = h[:, 0]
            return out
        return self._run(self.spect(wav))

    @torch.no_grad()
    def beat_logits(self, wav: Tensor) -> dict[str, Tensor]:
        """The tracker's frame-wise ``beat`` and ``downbeat`` logits ``[B, T]`` (the head, not a layer), as
        the package's ``Audio2Frames`` (without its resampling: ``wav`` is at 22.05 kHz)."""
        return self._run(self.spect(wav.to(self.net.frontend.linear.weight.device)), logits=True)

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d.update(chunk_frames=self.chunk_frames, border_frames=self.border_frames, weights=self.weights_info)
        return d


# ----------------------------------------------------------------------------------------------
# checkpoints
# ----------------------------------------------------------------------------------------------


def network_state_dict(ckpt: Any, source: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(network state dict, hyper-parameters)`` of a Beat This! Lightning checkpoint (or a bare state dict)."""
    if not isinstance(ckpt, dict):
        raise ModelError(f"{source}: not a Beat This! checkpoint (a {type(ckpt).__name__}, expected a dict)")
    sd = ckpt.get("state_dict", ckpt)
    hp = ckpt.get("hyper_parameters") or {}
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise ModelError(f"{source}: not a Beat This! checkpoint (no 'state_dict' of tensors)")
    out = {}
    for key, v in sd.items():
        key = key.replace("_orig_mod.", "")  # torch.compile'd training runs
        out[key.removeprefix("model.")] = v
    hp = {k: v for k, v in dict(hp).items() if k in HPARAMS or k in ("fps",)} if isinstance(hp, dict) else {}
    if "transformer_dim" not in hp and "frontend.linear.weight" in out:  # bare state dict: geometry from shapes
        hp["transformer_dim"] = int(out["frontend.linear.weight"].shape[0])
        hp["n_layers"] = len({k.split(".")[2] for k in out if k.startswith("transformer_blocks.layers.")})
        hp["partial_transformers"] = any(".partial." in k for k in out)
    return out, hp


def load_state(net: BeatThisNet, sd: dict[str, Tensor], source: str) -> None:
    """Strict load: every tensor of the checkpoint is used and every parameter is filled."""
    own = net.state_dict()
    missing, unexpected = sorted(set(own) - set(sd)), sorted(set(sd) - set(own))
    if missing or unexpected:
        raise ModelError(f"{source}: does not fit Beat This! {net.hparams} (missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]})")
    bad = [f"{k} {tuple(sd[k].shape)} != {tuple(v.shape)}" for k, v in own.items() if tuple(sd[k].shape) != tuple(v.shape)]
    if bad:
        raise ModelError(f"{source}: tensor shapes do not fit Beat This! {net.hparams}: {bad[:3]}")
    freqs = [sd[k] for k in own if k.endswith("rotary_embed.freqs")]
    if any(not torch.equal(f, freqs[0]) for f in freqs[1:]):
        raise ModelError(f"{source}: the rotary frequencies differ between layers (one shared module expected)")
    net.load_state_dict(sd, strict=True)


def load_beat_this(checkpoint: str | Path | None = None, name: str = "final0", download: bool = True,
                   chunk_frames: int = CHUNK_FRAMES, border_frames: int = BORDER_FRAMES,
                   model_name: str | None = None) -> BeatThisEncoder:
    """A Beat This! checkpoint as an encoder.

    ``checkpoint``: a ``.ckpt`` file or a folder holding ``<name>.ckpt`` / ``beat_this-<name>.ckpt``;
    without it, ``beat_this-<name>.ckpt`` in torch hub's checkpoint folder (where the package caches
    its downloads), else downloaded from the authors' server when ``download`` and online.
    """
    from mertbench.models.user_weights import resolve_checkpoint, safe_load

    label = model_name or "beat-this"
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        raise ModelError(f"{label}: {name!r} is not a Beat This! checkpoint name (final0, small0, single_final1, "
                         f"fold3, ...)")
    path = resolve_checkpoint(label, f"{name}.ckpt", checkpoint, names=(f"beat_this-{name}.ckpt",),
                              url=f"{CHECKPOINT_URL}/{name}.ckpt", cache_name=f"beat_this-{name}.ckpt",
                              download=download)
    sd, hp = network_state_dict(safe_load(path, label), str(path))
    if int(hp.get("spect_dim", N_MELS)) != N_MELS or float(hp.get("fps", 50)) != SAMPLE_RATE / HOP:
        raise ModelError(f"{path}: spect_dim {hp.get('spect_dim')} / fps {hp.get('fps')}: only the released "
                         f"128-band, 50 fps front end is supported")
    enc = BeatThisEncoder(name=model_name or f"beat-this-{name}", chunk_frames=chunk_frames, border_frames=border_frames, **hp)
    load_state(enc.net, sd, str(path))
    enc.weights_info = {"checkpoint": str(path), "hyper_parameters": enc.net.hparams}
    return enc.eval()


def _params(**hp: Any) -> Any:
    def count() -> int:
        with torch.device("meta"):
            return sum(p.numel() for p in BeatThisNet(**hp).parameters())
    return count


_INFO = {"sample_rate": SAMPLE_RATE, "frame_rate": SAMPLE_RATE / HOP, "family": "Beat This!"}


@register_encoder("beat-this", "Beat This! beat tracker final0 (user-fetched Lightning checkpoint; checkpoint=PATH "
                  "or torch hub cache, else downloaded): transformer input + 6 blocks, 7 x 512 at 50 Hz, 22.05 kHz "
                  "(docs/models.md)", num_layers=7, dim=512, parameters=_params(), weights="url:beat_this-final0.ckpt",
                  **_INFO)
def beat_this(checkpoint: str | None = None, name: str = "final0", download: bool = True, **options: Any) -> BeatThisEncoder:
    return load_beat_this(checkpoint, name=name, download=download, model_name="beat-this" if name == "final0" else None,
                          **options)


@register_encoder("beat-this-small", "Beat This! small0 (user-fetched; checkpoint=PATH or torch hub cache, else "
                  "downloaded): transformer input + 6 blocks, 7 x 128 at 50 Hz, 22.05 kHz (docs/models.md)",
                  num_layers=7, dim=128, parameters=_params(transformer_dim=128), weights="url:beat_this-small0.ckpt",
                  **_INFO)
def beat_this_small(checkpoint: str | None = None, name: str = "small0", download: bool = True,
                    **options: Any) -> BeatThisEncoder:
    return load_beat_this(checkpoint, name=name, download=download,
                          model_name="beat-this-small" if name == "small0" else None, **options)
