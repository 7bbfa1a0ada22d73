"""The course website in a real browser: the index links the notebooks, and their pages show figures.

A partial site (two lectures and one lab, fast mode) is built with ``genlab.site`` into a
temporary folder, so the test fits CI; ``make site`` builds every notebook the same way.
Debian's Chromium is driven through Playwright (``executable_path``, no browser download);
without Chromium the test is skipped on a laptop and fails in CI, like the painter test.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.notebook]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("GENLAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = ["course/00_setup", "course/05_restoration", "labs/05_restoration"]


def _need(what: bool, reason: str) -> None:
    if what:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so the site test must run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    _need(importlib.util.find_spec("mkdocs_jupyter") is not None,
          "the site extra is not installed (pip install -e '.[site]')")
    from genlab import site as site_mod

    base = tmp_path_factory.mktemp("site")
    failed = site_mod.build(ROOT, only=PAGES, out=base / "site", stage=base / "stage")
    assert failed == 0, "genlab.site.build reported failures (see the captured output)"
    return base / "site"


def test_the_site_has_a_page_per_built_notebook(site):
    for page in PAGES:
        assert (site / f"{page}.html").is_file(), f"no page for {page}"
    index = (site / "index.html").read_text()
    for page in PAGES:
        assert f'href="{page}.html"' in index, f"the course map does not link {page}"


def test_index_and_two_pages_show_their_figures_in_a_browser(site):
    _need(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto((site / "index.html").as_uri())
            links = page.locator("article a[href$='.html']")
            hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
            for want in ("course/05_restoration.html", "labs/05_restoration.html"):
                assert want in hrefs, f"index links {hrefs}, not {want}"
            for want in ("course/05_restoration.html", "labs/05_restoration.html"):
                page.goto((site / want).as_uri())
                imgs = page.locator("img[src^='data:image/png']")
                assert imgs.count() >= 1, f"{want}: no figure (img) on the page"
                box = imgs.first.bounding_box()
                assert box and box["width"] > 50 and box["height"] > 20, f"{want}: the first figure is not drawn"
                assert "<matplotlib" not in page.content(), f"{want}: a stray matplotlib repr on the page"
        finally:
            browser.close()
