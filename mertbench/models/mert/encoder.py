""":class:`MertEncoder`: a :class:`~mertbench.models.mert.model.MertModel` behind the mertbench model
contract, and :func:`save_pretrained`."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from mertbench.errors import ModelError
from mertbench.models.contract import Encoder
from mertbench.models.mert.checkpoint import save_mert_dir
from mertbench.models.mert.model import MertModel
from mertbench.models.windowing import windowed_frames


class MertEncoder(Encoder):
    """A :class:`MertModel` behind the mertbench model contract: ``[B, N] -> [L, B, T, D]``.

    ``L = num_hidden_layers + 1`` (13 for 95M, 25 for 330M), ``D = hidden_size``,
    ``frame_rate = sample_rate / 320`` (75 Hz at 24 kHz). Batched inputs with ``lengths`` are
    right-padded; every item's valid frames are independent of the batch (masked GroupNorm), and
    padded frames are zero in the output. ``normalize`` (``"zmuv"`` or None) is the waveform
    normalisation callers apply first (from the checkpoint's preprocessor_config.json
    ``do_normalize``). Inputs longer than ``window_s`` seconds run in windows with
    ``window_overlap_s`` overlap, stitched at the overlap midpoints (see
    :func:`mertbench.models.windowing.windowed_frames`); ``window_s=None`` disables windowing.
    """

    model: MertModel

    def __init__(self, model: MertModel, name: str, normalize: str | None, *, window_s: float | None = 60.0,
                 window_overlap_s: float = 5.0, source: str | None = None):
        super().__init__()
        if normalize not in (None, "zmuv", "peak"):
            raise ModelError(f"normalize must be 'zmuv', 'peak' or None; got {normalize!r}")
        cfg = model.config
        self.model = model
        self.name = name
        self.sample_rate = int(cfg.sample_rate)
        self.frame_rate = float(cfg.frame_rate)
        self.num_layers = cfg.num_hidden_layers + 1
        self.dim = cfg.hidden_size
        self.normalize = normalize
        self.window_s = window_s
        self.window_overlap_s = window_overlap_s
        #: where the weights came from (checkpoint folder, preset + seed), for provenance
        self.source = source or name

    @property
    def min_samples(self) -> int:
        """One frame of the convolutional front end (its receptive field, 400 samples for MERT)."""
        return int(self.model.config.receptive_field)

    def num_frames(self, num_samples: int) -> int:
        return self.model.num_frames(num_samples)

    def _encode(self, wav: Tensor, lengths: Tensor | None) -> Tensor:
        mask = None
        if lengths is not None and bool((lengths < wav.shape[1]).any()):
            mask = torch.arange(wav.shape[1], device=wav.device)[None, :] < lengths[:, None]
        out = self.model(wav, attention_mask=mask, masked_group_norm=True)
        hs = out.stacked_hidden_states if out.stacked_hidden_states is not None else torch.stack(out.hidden_states)
        if out.padding_mask is not None:
            hs = hs.masked_fill(out.padding_mask[None, :, :, None], 0.0)
        return hs

    def forward(self, wav: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``wav [B, N]`` (optional ``lengths [B]`` valid samples) -> ``[L, B, T, D]`` float."""
        if wav.ndim != 2:
            raise ModelError(f"{self.name}: expected a waveform batch [B, N]; got shape {tuple(wav.shape)}")
        wav = wav.to(next(self.model.parameters()).device)
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=wav.device).to(torch.long)
            short = lengths < self.model.config.receptive_field
            if bool(short.any()):
                raise ModelError(f"{self.name}: item(s) {short.nonzero().flatten().tolist()} have fewer than "
                                 f"{self.model.config.receptive_field} samples (one frame)")
        cfg = self.model.config
        return windowed_frames(self._encode, wav, lengths, window_s=self.window_s,
                               overlap_s=self.window_overlap_s, sample_rate=cfg.sample_rate,
                               stride=cfg.total_stride, receptive_field=cfg.receptive_field,
                               num_frames=self.num_frames)

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d.update(source=self.source, window_s=self.window_s, window_overlap_s=self.window_overlap_s,
                 pre_ln=self.model.config.do_stable_layer_norm)
        return d

    def save_pretrained(self, out_dir: str | Path, safe_serialization: bool = True) -> None:
        """Write a HF MERT-v1 folder (see :func:`save_pretrained`), keeping this encoder's normalisation."""
        save_pretrained(self.model, out_dir, normalize=self.normalize == "zmuv",
                        safe_serialization=safe_serialization)


def save_pretrained(model: MertModel, out_dir: str | Path, normalize: bool | None = None,
                    safe_serialization: bool = True) -> None:
    """Write ``config.json``, ``model.safetensors`` (or ``pytorch_model.bin``) and ``preprocessor_config.json``.

    HF MERT-v1 key layout with the legacy ``weight_g``/``weight_v`` names for the positional
    conv; every file is written atomically. ``normalize`` sets the processor's ``do_normalize``
    (None = False: waveforms are not normalised, as in MERT pretraining). A ``mertbench.json``
    with provenance is written next to them.
    """
    save_mert_dir(model, out_dir, do_normalize=bool(normalize), safe_serialization=safe_serialization)

