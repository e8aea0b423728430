"""Output formats: markdown, LaTeX (structurally valid; compiled when a TeX engine exists),
CSV, self-contained HTML with the figures embedded, and the published reference rows."""
from __future__ import annotations

import base64
import csv
import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from conftest import full_official

from mertbench.report import build_report, write_report
from mertbench.report.reference import PAPER_CITATION, TABLE1_COLUMNS, load_published_rows, table1_header

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def small_report(specs_dir, put, results_dir):
    """Two models on two official tasks (one with 3 seeds) and one rendered task."""
    put("mert_tiny", "gtzan-genre", {"acc": [0.80, 0.82, 0.81]}, layers=5)
    put("mert_tiny", "emo", {"r2_valence": 0.5, "r2_arousal": 0.6}, layers=5)
    put("random&init", "gtzan-genre", {"acc": 0.55}, layers=5)
    put("mert_tiny", "render-pitch", {"acc": 0.9}, layers=5)
    return build_report(results_dir, tasks=["gtzan-genre", "emo", "render-pitch"], reference="paper",
                        reference_models=["MERT-95M RVQ-VAE", "previous SOTA"])


# ---------------------------------------------------------------- LaTeX structure helpers
def _strip_escapes(tex: str) -> str:
    return re.sub(r"\\[{}&%$#_]", "", tex)


def _balanced(tex: str) -> bool:
    depth = 0
    for ch in _strip_escapes(tex):
        depth += ch == "{"
        depth -= ch == "}"
        if depth < 0:
            return False
    return depth == 0


def _tabulars(tex: str) -> list[tuple[int, list[str]]]:
    """(declared column count, rows) of every tabular."""
    out = []
    for m in re.finditer(r"\\begin\{tabular\}\{([^}]*)\}(.*?)\\end\{tabular\}", tex, re.S):
        ncols = len(re.findall(r"[lcr]", m.group(1)))
        body = m.group(2)
        rows = [r for r in re.split(r"\\\\", body)]
        out.append((ncols, rows))
    return out


def _row_width(row: str) -> int:
    row = _strip_escapes(row)
    for rule in (r"\\toprule", r"\\midrule", r"\\bottomrule", r"\\cmidrule\(lr\)\{[^}]*\}"):
        row = re.sub(rule, "", row)
    if not row.strip():
        return 0
    width = 0
    for cell in row.split("&"):
        m = re.search(r"\\multicolumn\{(\d+)\}", cell)
        width += int(m.group(1)) if m else 1
    return width


def test_latex_is_structurally_valid(small_report):
    tex = small_report.to_latex()
    assert _balanced(tex)
    assert tex.count(r"\begin{table*}") == tex.count(r"\end{table*}") == 2
    tabs = _tabulars(tex)
    assert len(tabs) == 2
    for ncols, rows in tabs:
        widths = [_row_width(r) for r in rows]
        assert all(w in (0, ncols) for w in widths), (ncols, widths)
        assert sum(w == ncols for w in widths) >= 3  # two header rows + data rows
    assert r"\textbf{81.0}{\scriptsize$\pm$2.5}\textsuperscript{L2}" in tex
    assert r"random\&init" in tex and r"mert\_tiny" in tex
    assert r"MERT-95M RVQ-VAE$^\dagger$" in tex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine installed")
def test_latex_compiles(small_report, tmp_path):
    path = tmp_path / "report.tex"
    write_report(small_report, path, standalone=True)  # includes the figures as PNGs
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", path.name],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "report.pdf").stat().st_size > 1000


def test_markdown_table_shape_and_marks(small_report):
    md = small_report.to_markdown()
    lines = md.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("| Model"))
    ncells = lines[head].count(" | ") + 1
    body = []
    for line in lines[head + 2:]:
        if not line.startswith("|"):
            break
        body.append(line)
    assert all(l.replace("\\|", "").count(" | ") + 1 == ncells for l in body)
    assert "| MERT-95M RVQ-VAE † | 78.6 | **60.0** | **76.4** |" in md
    assert "| previous SOTA † | 83.5 | 61.7 | 72.1 |" in md  # not a system: never bold
    assert "| mert_tiny | **81.0** ± 2.5 @L2 |" in md
    assert "published, not measured by mertbench" in md and PAPER_CITATION in md


def test_csv_round_trips(small_report):
    rows = list(csv.DictReader(io.StringIO(small_report.to_csv())))
    by = {(r["table"], r["model"]): r for r in rows}
    tiny = by[("official", "mert_tiny")]
    assert float(tiny["gtzan_genre_acc"]) == pytest.approx(81.0)
    assert float(tiny["gtzan_genre_acc_ci95"]) == pytest.approx(2.48414, rel=1e-4)
    assert tiny["gtzan_genre_acc_layer"] == "2" and tiny["gtzan-genre_run_id"]
    assert by[("official", "random&init")]["gtzan_genre_acc_ci95"] == ""
    pub = by[("official", "MERT-95M RVQ-VAE")]
    assert pub["source"] == "published" and pub["emo_r2_arousal"] == "76.4"
    assert float(by[("render", "mert_tiny")]["render-pitch:acc"]) == pytest.approx(90.0)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.mark.parametrize("embed", ["png", "svg"])
def test_html_is_well_formed_and_embeds_the_plots(small_report, tmp_path, embed):
    out = tmp_path / "site" / "report.html"
    written = write_report(small_report, out, embed=embed)
    text = out.read_text(encoding="utf-8")
    root = ET.fromstring(text)  # well-formed XML (XHTML syntax)
    tables = [e for e in root.iter("table")]
    assert len(tables) == 2
    parser = _Collector()
    parser.feed(text)
    assert sum(t == "tr" for t, _ in parser.tags) >= 2 * 2 + 4
    published = [a for t, a in parser.tags if t == "tr" and "published" in a.get("class", "")]
    assert len(published) == 2
    # figures: heatmap + layer plot per task with runs, per table
    expected = {"official_heatmap", "official_layers_gtzan-genre", "official_layers_emo",
                "render_heatmap", "render_layers_render-pitch"}
    assert {p.stem for p in small_report.plots()} == expected
    if embed == "png":
        imgs = [e for e in root.iter("img")]
        assert len(imgs) == len(expected)
        for img in imgs:
            src = img.get("src")
            assert src.startswith("data:image/png;base64,")
            data = base64.b64decode(src.split(",", 1)[1])
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    else:
        svgs = [e for e in root.iter(f"{SVG_NS}svg")]
        assert len(svgs) == len(expected)
        for svg in svgs:
            drawn = [e for e in svg.iter() if e.tag in (f"{SVG_NS}path", f"{SVG_NS}image")]
            assert len(drawn) >= 5 and len(ET.tostring(svg)) > 5000
        ids = [e.get("id") for e in root.iter() if e.get("id")]
        assert len(ids) == len(set(ids)), "inline SVG ids collide"
    # files next to the report, PNG and SVG
    assert written.plots_dir == tmp_path / "site" / "report_plots"
    for stem in expected:
        assert (written.plots_dir / f"{stem}.png").stat().st_size > 5000
        ET.parse(written.plots_dir / f"{stem}.svg")
    # the seeded cell with its CI and layer; published badge
    assert "± 2.5" in text and '<sup class="layer">L2</sup>' in text and "published †" in text


def test_markdown_file_links_the_saved_plots(small_report, tmp_path):
    written = write_report(small_report, tmp_path / "board.md")
    md = (tmp_path / "board.md").read_text(encoding="utf-8")
    assert "![official: heatmap]" not in md  # titles are the table titles
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == 5 and all((tmp_path / l).is_file() for l in links)
    assert written.plots_dir == tmp_path / "board_plots"


def test_published_rows_match_the_shipped_csv():
    header = table1_header()
    assert header == [c.id for c in TABLE1_COLUMNS]
    rows = {r.model: r for r in load_published_rows()}
    assert len(rows) == 11 and rows["previous SOTA"].aggregate
    assert rows["MusiCNN"].values["mtt_roc"].value == 90.6 and rows["MusiCNN"].values["mtt_roc"].earlier
    assert "gtzan_beat_f1" not in rows["MusiCNN"].values  # empty = not reported
    assert rows["Jukebox-5B"].values["musdb_sdr_vocals"].value == 5.1


def test_reference_paper_rows_are_marked_and_averaged(specs_dir, put, results_dir):
    full_official(put, "mine")
    report = build_report(results_dir, reference="paper")
    table = report.table("official")
    pub = [r for r in table.rows if r.published]
    assert len(pub) == 11 and all(r.citation == PAPER_CITATION for r in pub)
    rows = {r.model: r for r in table.rows}
    # MERT-330M RVQ-VAE by hand: MTT (91.3+40.2)/2=65.75, GS 65.6, GTZAN 79.3, beat 87.9,
    # EMO (61.2+74.7)/2=67.95, NSynth 72.6 / 94.4, VocalSet 76.9 / 87.1, MTG (78.1+19.8)/2=48.95,
    # (76.5+14.0)/2=45.25, (86.7+18.6)/2=52.65, (83.4+29.9)/2=56.65, MUSDB (5.3+5.6+3.6+3.0)/4=4.375
    by_hand = (65.75 + 65.6 + 79.3 + 87.9 + 67.95 + 72.6 + 94.4 + 76.9 + 87.1 + 48.95 + 45.25 + 52.65
               + 56.65 + 4.375) / 14
    assert rows["MERT-330M RVQ-VAE"].avg == pytest.approx(by_hand)
    assert rows["MusiCNN"].avg is None and rows["previous SOTA"].avg is None
    assert not any(c.best for c in rows["previous SOTA"].cells.values())
    # published and measured compete for bold: the published MTT ROC 91.5* beats 50.0
    assert rows["Jukebox-5B"].cell("mtt_roc").best and not rows["mine"].cell("mtt_roc").best
    md = report.to_markdown()
    assert "| Jukebox-5B † | **91.5**\\* |" in md
    without = build_report(results_dir)
    assert not any(r.published for r in without.table("official").rows)
