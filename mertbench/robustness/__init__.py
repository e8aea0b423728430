"""The robustness axis: clean-trained probes scored on deformed test splits (docs/robustness.md).

- :mod:`~mertbench.robustness.render`: deformed test splits rendered once into the cache (resumable);
- :mod:`~mertbench.robustness.run`: :func:`run_robustness`, one probe pass with every deformation as
  an extra evaluation split;
- :mod:`~mertbench.robustness.schema`: the results file (clean result + one outcome per deformation).
"""
from __future__ import annotations

from mertbench.robustness.run import resolve_deformations, run_robustness
from mertbench.robustness.schema import DeformationOutcome, RobustnessResult, iter_robustness, load_robustness

__all__ = ["DeformationOutcome", "RobustnessResult", "iter_robustness", "load_robustness", "resolve_deformations",
           "run_robustness"]
