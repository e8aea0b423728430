"""The model contract and the encoder registry.

An :class:`Encoder` turns a batch of mono waveforms ``[B, N]`` at ``sample_rate`` Hz into hidden
states ``[L, B, T, D]``: ``L = num_layers`` layers (the pre-transformer embedding counts as one,
as in HF ``hidden_states``), ``T`` frames at ``frame_rate`` Hz, ``D = dim`` features.

Plug in any model with :func:`register_encoder`, a checkpoint directory, or a plugin string
``"package.module:factory"`` (the factory returns an Encoder). Check it with
``mertbench models validate SPEC``.
"""
from mertbench.models.contract import Encoder, ValidationReport, validate_encoder
from mertbench.models.registry import (
    EncoderEntry,
    list_encoders,
    load_model,
    register_directory_loader,
    register_encoder,
)

__all__ = [
    "Encoder",
    "EncoderEntry",
    "ValidationReport",
    "list_encoders",
    "load_model",
    "register_directory_loader",
    "register_encoder",
    "validate_encoder",
]
