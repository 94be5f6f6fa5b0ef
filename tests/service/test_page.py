"""The web page in headless Chromium (Debian's `chromium` through Playwright): search, thumbnails, play."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import missing
from tests.service.conftest import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_search_page_plays_the_moment(live_server: LiveServer, tmp_path: Path) -> None:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        missing("no Chromium at /usr/bin/chromium: install Debian's `chromium` to run the browser test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.goto(live_server.url + "/")
            page.fill("#query", "a red circle spins")
            page.click("#search-button")
            page.wait_for_selector(".moment", timeout=30_000)
            cards = page.locator(".moment")
            assert cards.count() >= 1
            assert "moments in" in page.inner_text("#status")
            first = cards.nth(0)
            assert first.locator(".span").inner_text() and "score" in first.locator(".score").inner_text()
            mark = first.locator(".timeline span")
            assert float(mark.evaluate("m => parseFloat(m.style.width)")) > 0
            said = page.locator(".moment .matched").all_inner_texts()
            assert said and all(text.split(": ", 1)[0] in ("subtitles", "ocr", "concepts") for text in said)
            loaded = (
                "[...document.querySelectorAll('.moment img')].every(i => i.complete && i.naturalWidth > 0)"
            )
            page.wait_for_function(f"() => {loaded}", timeout=30_000)
            start = float(first.get_attribute("data-start") or "nan")
            video_id = first.get_attribute("data-video-id")
            first.click()
            page.wait_for_function("() => document.getElementById('player').readyState >= 1", timeout=30_000)
            src = page.eval_on_selector("#player", "v => v.currentSrc")
            assert src.endswith(f"/v1/videos/{video_id}/media")
            position = page.eval_on_selector("#player", "v => v.currentTime")
            assert position >= start - 0.05
            page.screenshot(path=str(tmp_path / "page.png"))
        finally:
            browser.close()
