"""The HTML report opened in a real browser (headless Chromium driven by Selenium), offline:
tables, figures and links render, and the page requests nothing from the network. A screenshot
is kept as a CI artifact (``$MERTBENCH_ARTIFACTS``, default ``artifacts/`` in the repository).

Needs the Debian ``chromium`` and ``chromium-driver`` packages and ``selenium`` (test extra);
skipped without them unless ``MERTBENCH_REQUIRE_BROWSER=1`` (set by ``.ci/run``), where a missing
browser fails the test instead.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from mertbench.report import build_report, write_report

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _browser_or_skip():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        selenium_ok = False
    else:
        selenium_ok = True
    missing = [name for name, ok in (("chromium", chromium), ("chromedriver", driver), ("selenium", selenium_ok))
               if not ok]
    if missing:
        why = (f"no {', '.join(missing)}: apt-get install chromium chromium-driver; "
               "pip install -e '.[test]' (selenium)")
        if os.environ.get("MERTBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return chromium, driver


@pytest.fixture
def browser():
    chromium, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--proxy-server=http://127.0.0.1:9",  # any network request fails
                "--no-first-run", "--disable-background-networking", "--disable-component-update"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()


def _requests(drv) -> list[str]:
    urls = []
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def test_report_renders_offline_in_chromium(specs_dir, put, results_dir, tmp_path, browser):
    put("mert_tiny", "gtzan-genre", {"acc": [0.80, 0.82, 0.81]}, layers=5)
    put("mert_tiny", "emo", {"r2_valence": 0.5, "r2_arousal": 0.6}, layers=5)
    put("random&init <b>", "gtzan-genre", {"acc": 0.55}, layers=5)
    put("mert_tiny", "render-pitch", {"acc": 0.9}, layers=5)
    report = build_report(results_dir, tasks=["gtzan-genre", "emo", "render-pitch"], reference="paper",
                          reference_models=["MERT-95M RVQ-VAE"])
    page = tmp_path / "site" / "report.html"
    written = write_report(report, page)
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    assert browser.title == "mertbench report"
    # tables: one per leaderboard, with a row per model and published row
    tables = browser.find_elements(By.CSS_SELECTOR, "section table")
    assert len(tables) == 2
    official_rows = tables[0].find_elements(By.CSS_SELECTOR, "tbody tr")
    names = [r.find_element(By.CSS_SELECTOR, "th, td").text for r in official_rows]
    assert "mert_tiny" in names and "random&init <b>" in names and any("MERT-95M" in n for n in names)
    assert not browser.find_elements(By.CSS_SELECTOR, "td b")  # the model name stayed text
    cell = tables[0].find_element(By.XPATH, ".//td[contains(., '81.0')]")
    assert cell.is_displayed() and "±" in cell.text
    # figures: every embedded image decoded (naturalWidth > 0) and laid out
    imgs = browser.find_elements(By.CSS_SELECTOR, "figure img")
    assert len(imgs) == len(report.plots()) >= 3
    for img in imgs:
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 100
        assert img.size["width"] > 50 and img.size["height"] > 50
    # links: in-page anchors point at existing ids; file links at files that exist
    links = browser.find_elements(By.CSS_SELECTOR, "a[href]")
    anchors = [a for a in links if a.get_attribute("href").startswith(page.as_uri() + "#")]
    assert len(anchors) >= 3
    for a in anchors:
        ident = a.get_attribute("href").split("#", 1)[1]
        assert browser.find_elements(By.ID, ident), ident
    files = [a for a in links if a not in anchors]
    assert len(files) == 2 * len(report.plots())
    for a in files:
        url = urlparse(a.get_attribute("href"))
        assert url.scheme == "file" and Path(unquote(url.path)).is_file(), url
        assert Path(unquote(url.path)).parent == written.plots_dir
    # nothing but the page itself (and data: images) was requested
    requested = _requests(browser)
    assert requested and all(u.startswith(("file:", "data:")) for u in requested), requested
    assert not [u for u in requested if u.startswith(("http:", "https:", "ws:", "wss:"))]
    # the screenshot is a CI artifact
    art = Path(os.environ.get("MERTBENCH_ARTIFACTS", REPO / "artifacts"))
    art.mkdir(parents=True, exist_ok=True)
    shot = art / "report-screenshot.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_wide_leaderboard_stays_readable_in_a_1280_pixel_window(specs_dir, put, results_dir, tmp_path, browser):
    """Issue 18: the 14-task table (25 columns) and long display names in a 1280-px window: the page
    itself never scrolls sideways, the table scrolls inside its box, and the model names stay in view
    when it is scrolled to its last column."""
    from selenium.webdriver.common.by import By

    from tests.report.conftest import full_official

    for i, model in enumerate(["mert-tiny (pretrained, 6,000 steps) with a long name", "logmel", "cqt", "mfcc"]):
        full_official(put, model, base=0.4 + 0.05 * i)
    report = build_report(results_dir, suite="official", reference="paper")
    page = tmp_path / "wide" / "report.html"
    write_report(report, page)
    browser.set_window_size(1280, 1000)
    browser.get(page.as_uri())
    width = browser.execute_script("return window.innerWidth")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width + 1
    box = browser.find_element(By.CSS_SELECTOR, "div.scroll")
    table = box.find_element(By.CSS_SELECTOR, "table")
    assert box.size["width"] <= width
    browser.execute_script("arguments[0].scrollLeft = arguments[0].scrollWidth", box)
    left = browser.execute_script("return arguments[0].getBoundingClientRect().left", box)
    for name in table.find_elements(By.CSS_SELECTOR, "tbody th.model"):
        rect = browser.execute_script("return arguments[0].getBoundingClientRect()", name)
        assert rect["left"] >= left - 1 and rect["right"] <= left + box.size["width"] + 1, name.text
        assert name.text  # visible text
    last = table.find_elements(By.CSS_SELECTOR, "tbody tr")[0].find_elements(By.CSS_SELECTOR, "td")[-1]
    assert last.is_displayed()
    rect = browser.execute_script("return arguments[0].getBoundingClientRect()", last)
    assert rect["right"] <= left + box.size["width"] + 1  # the last column is reachable
    art = Path(os.environ.get("MERTBENCH_ARTIFACTS", REPO / "artifacts"))
    art.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(art / "report-wide-1280.png"))
