"""The HTML report in a real browser: Debian's headless Chromium driven by Selenium (chromium-driver).

The report renders with its charts and tables, the page logs no console error, the findings table
sorts and filters, and a banner carrying ``<script>`` is shown as text and never runs. The browser
runs inside the lab's scanner namespace (no default route) and only opens local files.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

import portlens
from tests.factories import HISTORY, TODAY, XSS, sample_drift, sample_result

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT_DIR = Path("/tmp/portlens-report-screenshots")  # kept after the run, to look at


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromium-driver are needed: scripts/sysdeps.sh test installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver: WebDriver, path: Path) -> list[dict[str, Any]]:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(path.as_uri())
    return list(driver.get_log("browser"))


def _visible_rows(driver: WebDriver) -> list[Any]:
    return [r for r in driver.find_elements(By.CSS_SELECTOR, "#findings-table tbody tr") if r.is_displayed()]


def _column(driver: WebDriver, index: int) -> list[str]:
    return [r.find_elements(By.TAG_NAME, "td")[index].text for r in _visible_rows(driver)]


def test_report_in_chromium(browser: WebDriver, tmp_path: Path) -> None:
    result = sample_result()
    a = portlens.assess(result, today=TODAY)
    path = tmp_path / "report.html"
    a.to_html(path, result=result, drift=sample_drift(), history=HISTORY)
    logs = _open(browser, path)
    assert [e for e in logs if e["level"] == "SEVERE"] == []  # no console error, no blocked resource
    assert browser.title == "portlens assessment"

    # the <script> banner, certificate fields and hostname carrying markup did not run and are shown as text
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    banners = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "pre.banner")]
    assert any(XSS in b for b in banners)
    assert "CN=<img src=x onerror=window.__pwned=2>" in browser.find_element(By.CSS_SELECTOR, "dl.tls").text
    assert browser.find_elements(By.CSS_SELECTOR, "#hosts img, #hosts script, #findings b") == []

    # charts: one bar per severity, the riskiest hosts, the matrix, the history lines
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-severity g.bar rect")) == 5
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-hosts g.hostbar")) == len(a.hosts)
    cells = browser.find_elements(By.CSS_SELECTOR, "#chart-matrix rect.cell:not(.empty)")
    assert len(cells) >= 5 and cells[0].size["width"] > 10
    assert browser.find_element(By.CSS_SELECTOR, "#chart-history-ports polyline").is_displayed()
    assert browser.find_element(By.ID, "changes").is_displayed()

    # the findings table: all rows, then sorting by a column and back
    total = len(a.findings)
    assert len(_visible_rows(browser)) == total
    assert browser.find_element(By.ID, "findings-count").text == f"{total} of {total}"
    port_header = browser.find_element(By.XPATH, "//table[@id='findings-table']//th[3]/button")
    port_header.click()  # descending first
    ports = [int(p.split("/")[0]) for p in _column(browser, 2) if p != "–"]
    assert ports == sorted(ports, reverse=True) and ports[0] == 31337
    port_header.click()
    ports = [int(p.split("/")[0]) for p in _column(browser, 2) if p != "–"]
    assert ports == sorted(ports) and ports[0] == 21
    sev_header = browser.find_element(By.XPATH, "//table[@id='findings-table']//th[1]/button")
    sev_header.click()
    assert _column(browser, 0)[0] == "critical"

    # filtering: free text, minimum severity, practice
    box = browser.find_element(By.ID, "filter-text")
    box.send_keys("redis")
    rows = _visible_rows(browser)
    assert len(rows) == 1 and "Redis" in rows[0].text
    assert browser.find_element(By.ID, "findings-count").text == f"1 of {total}"
    box.clear()
    box.send_keys(" ")  # clear() sends no input event; a space (trimmed away) does
    assert len(_visible_rows(browser)) == total
    Select(browser.find_element(By.ID, "filter-severity")).select_by_visible_text("high")
    assert set(_column(browser, 0)) == {"critical", "high"}
    assert len(_visible_rows(browser)) == a.counts["critical"] + a.counts["high"]
    Select(browser.find_element(By.ID, "filter-practice")).select_by_value("mfa")
    assert {f.id for f in a.at_least("high") if any(r.practice == "mfa" for r in f.remediation)} == set(
        _column(browser, 7)
    )
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

    # one screenshot of the page's top, which must not be blank
    Select(browser.find_element(By.ID, "filter-practice")).select_by_value("")
    browser.execute_script("window.scrollTo(0, 0)")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT_DIR / "report.png"
    assert browser.save_screenshot(str(shot))
    _assert_not_blank(shot)


def _assert_not_blank(png: Path) -> None:
    from PIL import Image

    with Image.open(png) as im:
        rgb = im.convert("RGB")
        assert rgb.size[0] >= 1000
        colors = rgb.getcolors(maxcolors=1 << 20) or []
        assert len(colors) > 50  # text, charts and badges, not one flat color
        most = max(n for n, _ in colors)
        assert most < 0.9 * rgb.size[0] * rgb.size[1]


def test_lab_scan_report_in_chromium(browser: WebDriver, truth: dict[str, Any], tmp_path: Path) -> None:
    """A real scan of the lab's hostile host (its script banner on 7106) and open host, via the CLI."""
    from tests.factories import run_cli

    path = tmp_path / "lab.html"
    targets = [truth["hostile"]["v4"], truth["open"]["v4"]]
    p = run_cli(
        "scan", *targets, "-p", "1-1024,7101-7106", "-q", "--services", "--service-timeout", "1", "-o", str(path)
    )
    assert p.returncode == 0, p.stderr
    logs = _open(browser, path)
    assert [e for e in logs if e["level"] == "SEVERE"] == []
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert browser.execute_script("return document.scripts.length") == 1
    # the hostile host's banner on 7106 carries <script>alert(1)</script>: shown as text (an alert that ran
    # would also have failed every call above with UnexpectedAlertPresentException)
    banners = [e.get_attribute("textContent") for e in browser.find_elements(By.CSS_SELECTOR, "pre.banner")]
    assert any("<script>" in b for b in banners), banners
    hosts = browser.find_elements(By.CSS_SELECTOR, "details.host")
    assert {h.get_attribute("id") for h in hosts} >= {f"host-{t}" for t in targets}
    shown = int(browser.find_element(By.ID, "findings-count").text.split()[0])
    assert shown == len(_visible_rows(browser)) > 0
