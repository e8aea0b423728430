"""Checkpoint files of peer models that are not shipped: found locally, in a cache, or downloaded.

Used by the LAION-CLAP and Beat This! loaders. A checkpoint is resolved, in order, from

1. ``checkpoint=PATH``: the file itself, or a folder holding the expected file name;
2. a cache: the Hugging Face cache (``hub=`` repositories) or torch hub's checkpoint folder
   (``torch.hub.get_dir()/checkpoints``, where the official packages keep their downloads);
3. a download, only when ``download`` is true, ``MERTBENCH_OFFLINE`` (and, for the hub,
   ``HF_HUB_OFFLINE``) is not set and the host (``HF_ENDPOINT`` for the hub) accepts a connection.

Otherwise a :class:`~mertbench.errors.ModelError` names the missing file and where to get it.
Files are read with ``torch.load(weights_only=True)``; a pickle that needs more than plain
containers and tensors is read with the stub unpickler of :mod:`mertbench.models.mert.checkpoint`
(no class of the file is ever imported or run).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from mertbench.errors import ModelError


def offline() -> bool:
    """True when ``MERTBENCH_OFFLINE`` is set to a non-empty value other than ``0``."""
    return os.environ.get("MERTBENCH_OFFLINE", "") not in ("", "0")


def reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether the host of ``url`` accepts a TCP connection (False when offline)."""
    if offline():
        return False
    parsed = urlparse(url)
    host, port = parsed.hostname or "", parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def torch_hub_file(filename: str) -> Path:
    """Where torch hub keeps a downloaded checkpoint called ``filename``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def hub_cached(repo: str, filename: str) -> Path | None:
    """``filename`` of hub repository ``repo`` in the local Hugging Face cache, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo, filename)
    except Exception:  # noqa: BLE001 - no hub library or an unreadable cache: not cached
        return None
    return Path(found) if isinstance(found, str) else None


def resolve_checkpoint(model: str, filename: str, checkpoint: str | os.PathLike | None, *,
                       names: tuple[str, ...] = (), hub: str | None = None, url: str | None = None,
                       cache_name: str | None = None, download: bool = True) -> Path:
    """The checkpoint file of ``model`` (see the module doc); ModelError naming the file when absent.

    ``filename``: the released file name; ``names``: other names it may have in a folder;
    ``hub``: a Hugging Face repository holding ``filename``; ``url``: a direct download address,
    saved to torch hub's checkpoint folder as ``cache_name`` (default ``filename``).
    """
    wanted = (filename, *names)
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    where = f"{endpoint}/{hub}/resolve/main/{filename}" if hub else (url or "")
    hub_offline = bool(hub) and os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    how = f"download {where} and pass checkpoint=PATH (the file or its folder)"
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if path.is_file():
            return path
        if path.is_dir():
            for name in wanted:
                if (path / name).is_file():
                    return path / name
            raise ModelError(f"{model}: {path} holds none of {', '.join(wanted)} (checkpoint= folder); {how}")
        raise ModelError(f"{model}: checkpoint file {path} not found; {how}")
    cached = hub_cached(hub, filename) if hub else None
    if cached is None and url:
        local = torch_hub_file(cache_name or filename)
        cached = local if local.is_file() else None
    if cached is not None:
        return cached
    if download and not offline() and not hub_offline and where and reachable(where):
        try:
            if hub:
                from huggingface_hub import hf_hub_download

                return Path(hf_hub_download(hub, filename))
            target = torch_hub_file(cache_name or filename)
            target.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(where, str(target), progress=False)
            return target
        except Exception as exc:  # noqa: BLE001 - any failed download becomes the same clear error
            raise ModelError(f"{model}: downloading {filename} from {where} failed ({type(exc).__name__}: "
                             f"{exc}); {how}") from exc
    place = f"the Hugging Face cache of {hub}" if hub else f"{torch_hub_file(cache_name or filename)}"
    why = ("MERTBENCH_OFFLINE is set" if offline() else "HF_HUB_OFFLINE is set" if hub_offline
           else "downloading is off (download=False)" if not download else "the download host is unreachable")
    raise ModelError(f"{model}: weights file {filename} not found (not in {place}; {why}); {how}")


def safe_load(path: Path, model: str) -> Any:
    """``torch.load`` without trusting the pickle: ``weights_only=True``, else inert stubs for classes."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as first:  # noqa: BLE001
        from mertbench.models.mert.checkpoint import _RestrictedPickleModule

        try:
            return torch.load(str(path), map_location="cpu", weights_only=False, pickle_module=_RestrictedPickleModule)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"{model}: cannot read {path} as a PyTorch checkpoint ({type(first).__name__}: "
                             f"{first})") from exc
