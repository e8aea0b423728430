"""The checked-in results/ and the tables generated from it (issue 18 item 3).

Every table that README.md and docs/ show from results/ must equal what `mertbench report`
produces from the checked-in results files (`mertbench report --check`): a changed result or a
hand-edited table fails here until `mertbench report --write` is run and committed."""
from __future__ import annotations

from pathlib import Path

from mertbench.report.generated import load_tables, sync_tables
from mertbench.results import iter_results

ROOT = Path(__file__).resolve().parents[1]


def test_checked_in_tables_equal_what_report_produces():
    statuses = sync_tables(ROOT / "results")
    stale = [s for s in statuses if s.state != "current"]
    assert not stale, ("tables differ from results/: run `mertbench report --write` and commit\n"
                       + "\n".join(s.diff for s in stale))
    assert {s.id for s in statuses} == {t.id for t in load_tables(ROOT / "results" / "tables.yaml")}


def test_checked_in_results_are_valid_and_carry_provenance():
    found = list(iter_results(ROOT / "results", strict=True))
    assert found, "results/runs holds no results"
    for path, result in found:
        prov = result.provenance
        assert prov.protocol == "mertbench-cpu" and prov.git_hash and prov.config_hash, path
        assert not prov.git_hash.endswith("-dirty"), f"{path}: produced from a modified checkout"
        assert prov.seed is not None and prov.task_version == result.task_version, path
