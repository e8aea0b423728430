"""The task types a spec can declare (one probe family each; ``mertbench/probe/families``)."""
from __future__ import annotations

from typing import Literal

TaskType = Literal["multiclass", "multilabel", "regression", "key", "beat", "separation"]
