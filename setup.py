"""Build hook: ship the top-level ``tasks/``, ``baselines/``, ``protocols/`` and ``deformations/`` folders inside the wheel.

The declarative task specs, baseline specs, protocols and deformation vocabulary live at the repository root (where users read and
edit them). A non-editable ``pip install .`` copies them to ``mertbench/_resources/`` so that
:func:`mertbench.paths.resource_dir` finds them after installation too.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESOURCE_DIRS = ("tasks", "baselines", "protocols", "deformations")


class BuildPyWithResources(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        for name in RESOURCE_DIRS:
            src = root / name
            if not src.is_dir():
                continue
            dst = Path(self.build_lib) / "mertbench" / "_resources" / name
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithResources})
