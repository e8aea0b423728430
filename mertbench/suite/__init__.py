"""``mertbench suite``: the whole benchmark for one or more models in one resumable command.

- :mod:`mertbench.suite.plan`: which (model, task) jobs a suite has, which are done, stale, failed
  or missing their data, and what they cost (audio hours, forward passes, calibrated wall time).
- :mod:`mertbench.suite.state`: one JSON file per job on disk (status, result, log, error), so a
  suite can be watched and resumed from any machine that sees the results folder.
- :mod:`mertbench.suite.worker`: runs one job (extraction, then the all-layer probe) with its output
  in a log file; never raises, records the outcome instead.
- :mod:`mertbench.suite.executors`: ``local`` (worker processes) and ``slurm`` (submitit).
- :mod:`mertbench.suite.run`: plan, run what is missing, report failures.
"""
from __future__ import annotations

from mertbench.suite.plan import SuiteJob, SuitePlan, plan_suite
from mertbench.suite.run import SuiteOutcome, run_suite, suite_status

__all__ = ["SuiteJob", "SuitePlan", "SuiteOutcome", "plan_suite", "run_suite", "suite_status"]
