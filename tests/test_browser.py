"""Report and leaderboard pages in a real browser: Debian's Chromium driven by Playwright (`executable_path`: no
browser download). Every image loads, the console stays clean, the leaderboard sorts on a click, and the pages are
usable on a 390 px wide phone. Skipped, with the reason, where Chromium or Playwright is missing (`.ci/run`
installs Debian's `chromium`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import tracked_experiment

from genrebench.report import build_report
from genrebench.report.leaderboard import build_leaderboard
from genrebench.robustness import evaluate_run

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("GENREBENCH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
if CHROMIUM is None:
    pytest.skip("no Chromium: install Debian's chromium (apt-get install chromium)", allow_module_level=True)

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Two tracked experiments (one with a LEAKY variant), a robustness evaluation, their reports under
    `reports/`, and the leaderboard over them: the pages a user opens."""
    root = tmp_path_factory.mktemp("site")
    # One folder, so one dataset, one feature cache and one MLflow store for both experiments.
    alpha = tracked_experiment(root, "alpha", "base: baseline\n", per_label=5)
    beta = tracked_experiment(root, "beta", "base: baseline\nsweep: {data.split.unit: [track, chunk]}\n",
                              per_label=5)
    assert alpha["uri"] == beta["uri"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENREBENCH_CACHE", str(root / "cache"))
        evaluate_run(alpha["rows"][0]["run_id"], ["noise:snr=10", "gain:db=-12"], tracking_uri=alpha["uri"],
                     progress=False)
    pages = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for name in ("alpha", "beta"):
            pages[name] = build_report([name], None, None, root / "reports" / name, alpha["uri"])["index_html"]
        pages["board"] = build_leaderboard(root / "reports" / "index.html", alpha["uri"])["html"]
    return pages


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser, path: Path, viewport: dict | None = None):
    """A page at `path` with every console error and uncaught exception collected in `page.problems`."""
    page = browser.new_page(viewport=viewport or {"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    page.problems = problems
    return page


def _images(page) -> list[dict]:
    return page.evaluate("Array.from(document.images).map(i => ({src: i.getAttribute('src'), "
                         "ok: i.complete && i.naturalWidth > 0}))")


@pytest.mark.parametrize("name", ["alpha", "beta"])
def test_a_report_loads_every_image_without_console_errors(site, browser, name):
    page = _open(browser, site[name])
    images = _images(page)
    assert len(images) >= 4 and all(i["ok"] for i in images), [i for i in images if not i["ok"]]
    if name == "alpha":  # the robustness evaluation's section and heatmap
        assert page.locator("h2", has_text="Robustness").count() == 1
        assert any(i["src"].endswith("robustness.png") for i in images)
    assert page.problems == []
    page.close()


@pytest.mark.parametrize("name", ["alpha", "beta", "board"])
def test_pages_are_usable_on_a_phone(site, browser, name):
    page = _open(browser, site[name], PHONE)
    # Nothing makes the page itself scroll sideways: wide tables scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate("Array.from(document.images).every(i => i.getBoundingClientRect().right <= 390)")
    heading = page.locator("h1").bounding_box()
    assert heading["width"] <= PHONE["width"]
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 14  # readable without zooming
    assert page.problems == []
    page.close()


def _column(page, index: int) -> list[str]:
    return page.evaluate(f"Array.from(document.querySelectorAll('table.board tbody tr')).map("
                         f"r => r.cells[{index}].textContent.trim())")


def test_the_leaderboard_sorts_when_a_heading_is_clicked(site, browser):
    page = _open(browser, site["board"])
    entries = _column(page, 1)
    assert len(entries) == 3 and sum("LEAKY" in e for e in entries) == 1
    assert _column(page, 0)[0] == "1" and "—" in _column(page, 0)  # the LEAKY variant is never ranked
    acc = page.get_by_role("button", name="test track acc")
    acc.click()
    first = [float(v) for v in _column(page, 3)]
    assert first == sorted(first, reverse=True)  # higher is better: best first
    assert page.locator("th", has=acc).get_attribute("aria-sort") == "descending"
    acc.click()
    assert [float(v) for v in _column(page, 3)] == sorted(first)
    page.get_by_role("button", name="experiment / variant").click()
    names = _column(page, 1)
    assert names == sorted(names, key=str.lower)
    page.get_by_role("button", name="rank").click()
    assert _column(page, 0)[0] == "1"
    assert page.problems == []
    page.close()


def test_the_leaderboard_links_to_the_experiments_report(site, browser):
    page = _open(browser, site["board"])
    row = page.locator("table.board tbody tr", has_text="alpha / alpha")
    link = row.get_by_role("link", name="report")
    link.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/reports/alpha/index.html") and "genrebench report: alpha" in page.title()
    assert page.problems == []
    page.close()
