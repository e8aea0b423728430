"""Exception types. Every error a user can cause derives from :class:`MertbenchError`.

The CLI catches ``MertbenchError`` and prints its message (which names the file or field at
fault and the fix) without a traceback, exiting with code 1.
"""
from __future__ import annotations


class MertbenchError(Exception):
    """Base class for errors caused by input (files, specs, options), not by bugs."""


class AudioError(MertbenchError):
    """An audio file is missing, unreadable, truncated, empty or holds NaN/inf samples."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class SpecError(MertbenchError):
    """A task, model or baseline spec is malformed (unknown key, wrong type, missing field)."""


class DataError(MertbenchError):
    """A dataset copy is missing, incomplete or does not match its official layout."""


class ModelError(MertbenchError):
    """A model spec cannot be resolved, or an encoder breaks the model contract."""


class ResultsError(MertbenchError):
    """A results JSON is malformed or does not follow the results schema."""
