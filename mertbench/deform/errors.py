"""Errors of the deformation layer."""
from __future__ import annotations

from mertbench.errors import MertbenchError


class DeformationError(MertbenchError):
    """A deformation cannot run (bad input, unknown name, missing noise source)."""


class DeformationInvalid(DeformationError):
    """A deformation is invalid for a task (or for one example of it): never scored.

    ``reason`` says why, in words fit for a report (e.g. "a pitch shift moves the render-emotion
    valence target, which cannot be transformed").
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
