"""Report hardening: runs on other data or with many skipped examples are marked, never bold;
the note about several runs names the run actually shown; model names cannot inject markdown."""
from __future__ import annotations

import markdown_it
import pytest

from mertbench.report import build_report
from mertbench.report.markdown import report_markdown


def _cells(table, task_col: str) -> dict:
    return {r.model: r.cell(task_col) for r in table.rows}


def test_a_row_measured_on_other_data_is_marked_and_not_bold(specs_dir, put, results_dir):
    put("a", "gtzan-genre", {"acc": 0.60}, fingerprint="f" * 16)
    put("b", "gtzan-genre", {"acc": 0.70}, fingerprint="f" * 16)
    put("c", "gtzan-genre", {"acc": 0.90}, fingerprint="e" * 16)  # best value, other data
    table = build_report(results_dir).table("official")
    cells = _cells(table, "gtzan_genre_acc")
    assert cells["c"].caveat and "other data" in cells["c"].caveat and not cells["c"].best
    assert cells["b"].best and cells["a"].caveat is None and cells["b"].caveat is None
    assert any(n.startswith("‡ c, gtzan-genre") and "eeeeeeeeee" in n and "ffffffffff" in n for n in table.notes)
    md = report_markdown(build_report(results_dir))
    assert "90.0‡" in md and "**70.0**" in md and "**90.0" not in md


def test_same_data_everywhere_gives_no_mark(specs_dir, put, results_dir):
    put("a", "gtzan-genre", {"acc": 0.60}, fingerprint="f" * 16)
    put("b", "gtzan-genre", {"acc": 0.70}, fingerprint="f" * 16)
    table = build_report(results_dir).table("official")
    assert all(c.caveat is None for c in _cells(table, "gtzan_genre_acc").values())
    assert not any("‡" in n for n in table.notes)


def test_many_skipped_examples_mark_the_cell_few_give_a_note(specs_dir, put, results_dir):
    put("many", "gtzan-genre", {"acc": 0.95}, skipped={"test/unreadable_audio": 3000}, examples={"test": 290})
    put("few", "gtzan-genre", {"acc": 0.50}, skipped={"test/unreadable_audio": 2}, examples={"test": 288})
    put("none", "gtzan-genre", {"acc": 0.40}, examples={"test": 290})
    table = build_report(results_dir).table("official")
    cells = _cells(table, "gtzan_genre_acc")
    assert cells["many"].caveat and "91% of the test examples skipped" in cells["many"].caveat
    assert not cells["many"].best and cells["few"].best and cells["few"].caveat is None
    assert any("few, gtzan-genre" in n and "0.7% of test" in n for n in table.notes)


def test_caveat_row_average_is_not_bold(specs_dir, put, results_dir):
    from conftest import OFFICIAL

    for name, (_, metrics, _) in OFFICIAL.items():
        test = {m: (0.5 if s == "unit" else 4.0) for m, s in metrics}
        put("good", name, test, fingerprint="a" * 16)
        put("other", name, {m: (0.9 if s == "unit" else 9.0) for m, s in metrics},
            fingerprint="b" * 16 if name == "gtzan-genre" else "a" * 16)
        put("third", name, test, fingerprint="a" * 16)
    rows = {r.model: r for r in build_report(results_dir).table("official").rows}
    assert rows["other"].avg > rows["good"].avg
    assert not rows["other"].avg_best and rows["good"].avg_best


def test_newest_note_names_the_run_shown_when_a_newer_run_has_another_version(specs_dir, put, results_dir):
    put("mine", "emo", {"r2_valence": 0.5, "r2_arousal": 0.6}, task_version="2", run_id="v2",
        created="2026-01-01T00:00:00+00:00")
    put("mine", "emo", {"r2_valence": 0.9, "r2_arousal": 0.9}, task_version="1", run_id="v1new",
        created="2026-05-01T00:00:00+00:00")
    table = build_report(results_dir).table("official")
    note = next(n for n in table.notes if n.startswith("mine, emo: 2 runs"))
    assert "showing the newest of task version 2 (run v2" in note
    put("mine", "emo", {"r2_valence": 0.5, "r2_arousal": 0.6}, task_version="2", run_id="v2b",
        created="2026-06-01T00:00:00+00:00")
    note = next(n for n in build_report(results_dir).table("official").notes if n.startswith("mine, emo: 3 runs"))
    assert "showing the newest (run v2b" in note


EVIL = "x|y*_[click](http://evil.example)<img src=x onerror=alert(1)>`code` www.evil.example"


def test_markdown_report_escapes_model_names(specs_dir, put, results_dir):
    put(EVIL, "gtzan-genre", {"acc": 0.60})
    put("plain", "gtzan-genre", {"acc": 0.50})
    md = report_markdown(build_report(results_dir))
    html = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    assert "<img" not in html and "<a " not in html and "<em>" not in html and "<code>" not in html
    table_html = html[html.index("<table>"):html.index("</table>")]
    assert table_html.count("<tr>") == 3  # header + two rows: the '|' did not add a column or row
    rows = table_html.split("<tr>")[2:]
    cells = [r.count("<td") for r in rows]
    assert cells[0] == cells[1]
    # the name survives as text
    text = html.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    assert EVIL in text


@pytest.mark.parametrize("name", ["mert-tiny-render", "m.e.r.t_v1", "cqt"])
def test_ordinary_names_render_unchanged(specs_dir, put, results_dir, name):
    put(name, "gtzan-genre", {"acc": 0.60})
    html = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(report_markdown(build_report(results_dir)))
    assert f'<td style="text-align:left">{name}</td>' in html
