"""Robustness in `mertbench report`: the Robust. column next to Avg, the table, the heat map."""
from __future__ import annotations

import csv
import io
import math

import yaml

from mertbench.report import build_report
from mertbench.results import write_result
from mertbench.robustness import run_robustness

TOY = "mertbench.probe.synthetic:toy_encoder"


def test_report_shows_robustness_score_table_and_heatmap(task_env, tmp_path, one_thread):
    from mertbench.probe.synthetic import write_tone_task

    data, specs = task_env
    write_tone_task(data, specs, name="tones-rep", n_classes=3, counts={"train": 6, "valid": 3, "test": 4},
                    max_epochs=5)
    drown = tmp_path / "drown.yaml"
    drown.write_text(yaml.safe_dump({
        "family": "drown", "version": 1, "description": "x", "kind": "noise",
        "labels": {"types": {t: "keep" for t in ("multiclass", "multilabel", "regression", "key", "beat",
                                                  "separation")}},
        "deformations": [{"name": "drown", "params": {"color": "white", "snr_db": -40}, "seed": 0}]}))
    results = tmp_path / "results"
    res, _ = run_robustness(TOY, "tones-rep", ["identity", "gain-minus-12db", str(drown)], seeds=2, progress=False,
                            out=results)
    write_result(res.clean, results / "runs" / "toy" / "tones-rep" / f"{res.clean.run_id}.json")
    (results / "robustness" / "junk").mkdir(parents=True)
    (results / "robustness" / "junk" / "bad.json").write_text("{")
    report = build_report(results_dir=results, suite="custom")
    table = report.tables[0]
    (row,) = table.rows
    p = res.primary_metric
    expected = (res.outcome("gain-minus-12db").retention[p].mean + res.outcome("drown").retention[p].mean) / 2
    assert table.robust_enabled and math.isclose(row.robustness, expected)  # identity never counts
    md = report.to_markdown()
    assert "| Robust. |" in md.split("## Robustness")[0]
    assert f"| {100 * expected:.1f} |" in md
    section = md.split("## Robustness")[1]
    assert section.count("| tones-rep |") == 3 and "| identity |" in section and "| +0.0 |" in section
    assert "Malformed robustness file (not used)" in md and "bad.json" in md
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert math.isclose(float(rows[0]["robustness"]), 100 * expected, rel_tol=1e-5)
    html = report.to_html()
    assert 'id="robustness"' in html and "Robustness heat map" in html and ">Robust.</th>" in html
    assert any(pl.stem == "robustness_heatmap" for pl in report.plots())
    latex = report.to_latex()
    assert "Robust." in latex
    # generated documents: the robustness part alone, and the heat map saved by --write
    from mertbench.report.generated import begin_marker, end_marker, sync_tables

    (results / "robustness" / "junk" / "bad.json").unlink()
    (results / "tables.yaml").write_text(yaml.safe_dump({"tables": [
        {"id": "rob", "file": "doc.md", "suite": "custom", "part": "robustness", "heatmap": "fig/heat.png"},
        {"id": "board", "file": "doc.md", "suite": "custom"}]}))
    doc = tmp_path / "doc.md"
    doc.write_text("\n".join([begin_marker("rob"), end_marker("rob"), begin_marker("board"), end_marker("board")]))
    sync_tables(results, write=True)
    text = doc.read_text()
    rob = text.split(begin_marker("rob"))[1].split(end_marker("rob"))[0]
    board = text.split(begin_marker("board"))[1].split(end_marker("board"))[0]
    assert rob.strip().startswith("## Robustness") and "| drown |" in rob and "| Robust. |" not in rob
    assert "| Robust. |" in board and "## Robustness" not in board
    assert (tmp_path / "fig" / "heat.png").read_bytes()[:4] == b"\x89PNG"
    assert [st.state for st in sync_tables(results)] == ["current", "current"]
    # without robustness files nothing changes
    import shutil

    shutil.move(str(results / "robustness"), str(tmp_path / "elsewhere"))
    plain = build_report(results_dir=results, suite="custom")
    assert not plain.tables[0].robust_enabled and "Robust" not in plain.to_markdown()
