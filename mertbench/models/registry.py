"""Resolve model specs to encoders: registered names, checkpoint folders, plugin strings."""
from __future__ import annotations

import difflib
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mertbench.errors import ModelError
from mertbench.models.contract import Encoder
from mertbench.registry import Registry

#: Modules whose import registers the built-in encoders (imported lazily on first lookup).
BUILTIN_MODULES: list[str] = [
    "mertbench.models.handcrafted",
    "mertbench.models.mert",
    "mertbench.models.hf_audio",
    "mertbench.models.shipped",
    "mertbench.models.crepe",
    "mertbench.models.musicnn",
    "mertbench.models.muq",
    "mertbench.models.musicfm",
    "mertbench.models.beatthis",
    "mertbench.models.clap",
]

#: registered names that were renamed (old -> new); loading an old name raises a ModelError naming the new one.
RENAMED: dict[str, str] = {"tiny": "toy"}

DirectoryLoader = Callable[..., "Encoder | None"]


@dataclass
class EncoderEntry:
    """A registered encoder: a factory plus static facts for listings (no instantiation needed)."""

    name: str
    factory: Callable[..., Encoder]
    description: str = ""
    info: dict[str, Any] = field(default_factory=dict)


#: registered encoders (built-ins plus plugins of the ``mertbench.models`` entry-point group)
ENCODERS: Registry[EncoderEntry] = Registry("model", builtins=BUILTIN_MODULES, group="mertbench.models",
                                            error=ModelError)
_DIR_LOADERS: list[tuple[int, str, DirectoryLoader]] = []


def register_encoder(name: str, description: str = "", **info: Any) -> Callable[[Callable[..., Encoder]], Callable[..., Encoder]]:
    """Decorator: register ``factory(**options) -> Encoder`` under ``name``.

    ``info`` holds static facts shown by ``mertbench models list`` (sample_rate, frame_rate,
    num_layers, dim, parameters). Registering a name twice raises.
    """

    def deco(factory: Callable[..., Encoder]) -> Callable[..., Encoder]:
        ENCODERS.add(name, EncoderEntry(name, factory, description, dict(info)),
                     same=lambda old, new: old.factory is new.factory)
        return factory

    return deco


def register_directory_loader(name: str, loader: DirectoryLoader, priority: int = 0) -> None:
    """Register ``loader(path, **options) -> Encoder | None`` for checkpoint folders.

    Loaders are tried in descending priority; the first that returns an Encoder wins; a loader
    returns None when the folder is not its format.
    """
    if any(n == name for _, n, _ in _DIR_LOADERS):
        return
    _DIR_LOADERS.append((priority, name, loader))
    _DIR_LOADERS.sort(key=lambda t: -t[0])


def list_encoders() -> list[EncoderEntry]:
    """All registered encoders, sorted by name."""
    return [entry for _, entry in ENCODERS.items()]


def _load_plugin(spec: str, options: dict[str, Any]) -> Encoder:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ModelError(f"plugin {spec!r}: cannot import module {module_name!r} "
                         f"({type(exc).__name__}: {exc}); is it installed or on PYTHONPATH?") from exc
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise ModelError(f"plugin {spec!r}: module {module_name!r} has no callable {attr!r}")
    try:
        return factory(**options)
    except Exception as exc:
        raise ModelError(f"plugin {spec!r}: factory raised {type(exc).__name__}: {exc}") from exc


def load_model(spec: str, **options: Any) -> Encoder:
    """Resolve ``spec`` to an Encoder in eval mode.

    ``spec`` is one of:
      - a registered name (``mertbench models list``), e.g. ``logmel`` or ``mert-95m``;
      - a checkpoint directory (HF MERT-v1 format, or any format a directory loader knows);
      - a plugin string ``package.module:factory`` whose factory returns an Encoder;
      - ``hf:<hub id or folder>``: any transformers audio model with hidden states.
    ``options`` are passed to the factory / loader.
    """
    ENCODERS.load()
    if spec.startswith("hf:"):  # any transformers audio model by hub id: hf:facebook/hubert-base-ls960
        return load_model("hf-audio", model=spec[3:], **options)
    if spec in RENAMED and spec not in ENCODERS:
        raise ModelError(f"the model {spec!r} is now called {RENAMED[spec]!r} (the test encoder was renamed so "
                         f"that it is not confused with the pretraining preset 'tiny'); use {RENAMED[spec]!r}")
    if spec in ENCODERS:
        enc = ENCODERS.get(spec).factory(**options)
    elif Path(spec).expanduser().is_dir():
        path = Path(spec).expanduser()
        enc = None
        for _, _name, loader in _DIR_LOADERS:
            enc = loader(path, **options)
            if enc is not None:
                break
        if enc is None:
            raise ModelError(f"{path}: not a checkpoint folder mertbench can read "
                             f"(expected config.json + pytorch_model.bin or model.safetensors); "
                             f"known formats: {[n for _, n, _ in _DIR_LOADERS] or 'none registered'}")
    elif ":" in spec and not Path(spec).exists():
        enc = _load_plugin(spec, options)
    else:
        close = difflib.get_close_matches(spec, ENCODERS.names(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ModelError(f"unknown model {spec!r}: not a registered name, an existing checkpoint folder, "
                         f"or a 'module:factory' plugin string.{hint} See `mertbench models list`.")
    if not isinstance(enc, Encoder):
        raise ModelError(f"{spec!r} resolved to {type(enc).__name__}, not a mertbench.models.Encoder")
    return enc.eval()


def weights_status(entry: EncoderEntry) -> tuple[str, str]:
    """``(source, here)`` of an encoder's weights for listings, without loading anything.

    ``source`` (from the ``weights`` fact of its registration): ``none`` (handcrafted), ``random``
    (random init, seeded), ``shipped`` (inside mertbench), ``hub:<id>`` (Hugging Face hub),
    ``wheel:<package>`` (read from a pinned PyPI wheel), ``user`` (a path the user passes),
    ``hub:<id>:<file>`` (one checkpoint file of a hub repository), ``url:<file>`` (a file downloaded
    into torch hub's checkpoint folder).
    ``here``: ``yes`` (nothing to fetch), ``cached`` (in the Hugging Face cache), ``converted`` /
    ``wheel here`` (wheel weights converted, or their wheel found locally), ``download`` (the hub
    downloads it on first use), ``folder`` (in the folder the encoder's ``folder_env``
    variable names), ``fetch`` (``mertbench models fetch NAME`` or first use downloads
    the wheel), ``missing`` (a damaged install), ``-`` (depends on a path the user passes).
    """
    source = str(entry.info.get("weights", "?"))
    if source in ("none", "random"):
        return source, "yes"
    if source == "shipped":
        folder = Path(__file__).resolve().parent / "weights" / entry.name.removeprefix("random-")  # shipped.WEIGHTS_DIR
        return source, "yes" if (folder / "SHA256SUMS").is_file() else "missing"
    if source.startswith("url:"):  # user_weights.torch_hub_file (not imported: it imports mert, which imports this)
        import torch

        return source, "cached" if (Path(torch.hub.get_dir()) / "checkpoints" / source[4:]).is_file() else "download"
    if source.startswith("hub:"):
        repo, _, filename = source[4:].partition(":")
        # the file whose presence counts: hub:<id>:<file>, else the encoder's hub_file fact, else config.json
        hub_file = filename or str(entry.info.get("hub_file", "config.json"))
        folder_env = entry.info.get("folder_env")  # an env var naming a folder of the user's download
        if folder_env and os.environ.get(str(folder_env)) and \
                (Path(os.environ[str(folder_env)]).expanduser() / hub_file).is_file():
            return source, "folder"
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(repo, hub_file)
        except Exception:  # noqa: BLE001 - no hub library or an unreadable cache: treat as not cached
            cached = None
        return source, "cached" if isinstance(cached, str) else "download"
    if source.startswith("wheel:"):
        from mertbench.models.wheel_weights import WEIGHT_SPECS, converted, find_wheel

        if converted(entry.name) is not None:
            return source, "converted"
        spec = WEIGHT_SPECS.get(entry.name)
        if spec is not None:
            try:
                find_wheel(spec, download=False)
                return source, "wheel here"
            except ModelError:
                pass
        return source, "fetch"
    return source, "-"
