"""A real headless Chromium drives the app: pick a preset, upload a photo, paint, see a preview, Stop.

Keeps a screenshot of the page in artifacts/browser.png.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ROOT, needs_shared, served_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    needs_shared,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with served_app(tmp_path_factory.mktemp("gradio")) as (demo, url):
        yield url, demo


def _set_slider(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_paint_and_stop_in_chromium(url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    address, demo = url
    photo = tmp_path / "photo.png"
    image = Image.new("RGB", (160, 120), (90, 140, 220))
    image.paste((60, 120, 40), (0, 80, 160, 120))
    image.save(photo)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.goto(address)
            expect(page.get_by_text("artstyle — paint your photo")).to_be_visible(timeout=30_000)
            # Pick The Scream from the gallery: the dropdown follows.
            page.locator("#preset-gallery button").filter(has_text="The Scream").first.click()
            expect(page.locator("#preset input")).to_have_value("The Scream — Edvard Munch, 1893", timeout=10_000)
            page.locator("#content input[type=file]").set_input_files(str(photo))
            expect(page.locator("#content img")).to_be_visible(timeout=10_000)
            _set_slider(page, "size", 96)
            _set_slider(page, "steps", 400)
            started = demo.artstyle_runs.started
            page.locator("#run").click()
            expect(page.locator("#result img")).to_be_visible(timeout=90_000)  # a preview arrived
            expect(page.locator("#status textarea")).to_have_value(re.compile(r"/400"), timeout=30_000)
            time.sleep(2)  # a few more previews and points on the loss curve
            page.locator("#stop").click()
            deadline = time.monotonic() + 30
            while demo.artstyle_runs.active and time.monotonic() < deadline:
                time.sleep(0.1)
            assert demo.artstyle_runs.started == started + 1
            assert demo.artstyle_runs.active == 0 and demo.artstyle_runs.last_step < 400  # Stop stopped it
            expect(page.locator("#result img")).to_be_visible()  # the last preview is kept
            page.screenshot(path=str(ARTIFACTS / "browser.png"), full_page=True)
        finally:
            browser.close()


def _inside_viewport(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    slack = 1.0  # sub-pixel layout: scrollIntoView may leave the top edge at -0.16 px
    return (
        box is not None
        and box["y"] >= -slack
        and box["y"] + box["height"] <= size["height"] + slack
        and box["x"] >= -slack
    )


PAINTED_WIDTH_JS = """() => {
  const img = document.querySelector("#result img");
  const panel = document.getElementById("result").getBoundingClientRect();
  const box = img.getBoundingClientRect();
  // object-fit: contain paints the picture inside the img box at the picture's aspect ratio.
  const painted = Math.min(box.width, box.height * img.naturalWidth / img.naturalHeight);
  return painted / panel.width;
}"""


@pytest.mark.parametrize("viewport", [(1366, 768), (390, 844)], ids=["laptop", "phone"])
def test_first_minute_photo_painting_paint_result_in_view(url, tmp_path, viewport):
    """A newcomer's flow: photo, painting, Paint needs no scrolling; the result is in view while it paints
    (on a phone the page brings it there) and fills its panel when done."""
    from playwright.sync_api import expect, sync_playwright

    address, demo = url
    photo = tmp_path / "photo.png"
    image = Image.new("RGB", (160, 120), (90, 140, 220))
    image.paste((60, 120, 40), (0, 80, 160, 120))
    image.save(photo)
    name = "x".join(map(str, viewport))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.goto(address)
            expect(page.locator("#run")).to_be_visible(timeout=30_000)
            # The test's own shortcut, not the user's flow: a short run. Then back to the top of the page.
            _set_slider(page, "size", 128)
            _set_slider(page, "steps", 60)
            page.evaluate("window.scrollTo(0, 0)")
            page.locator("#content input[type=file]").set_input_files(str(photo))
            expect(page.locator("#content img")).to_be_visible(timeout=10_000)
            page.locator("#preset-gallery button").filter(has_text="The Scream").first.click()
            expect(page.locator("#preset input")).to_have_value("The Scream — Edvard Munch, 1893", timeout=10_000)
            assert page.evaluate("window.scrollY") == 0 or viewport[0] < 600  # a phone may scroll to the gallery
            assert _inside_viewport(page, "#run"), "Paint is below the fold"
            page.screenshot(path=str(ARTIFACTS / f"first-minute-{name}-before.png"))
            page.locator("#run").click()
            expect(page.locator("#status textarea")).to_have_value(re.compile(r"/60"), timeout=60_000)
            expect(page.locator("#result img")).to_be_visible(timeout=30_000)  # a preview arrived
            box = page.locator("#result").bounding_box()
            assert _inside_viewport(page, "#result"), f"the result is off screen while it paints: {box}"
            page.screenshot(path=str(ARTIFACTS / f"first-minute-{name}-mid.png"))
            expect(page.locator("#status textarea")).to_have_value(re.compile(r"done"), timeout=120_000)
            page.wait_for_timeout(500)  # the final PNG replaces the last preview
            page.screenshot(path=str(ARTIFACTS / f"first-minute-{name}-after.png"))
            box = page.locator("#result").bounding_box()
            assert _inside_viewport(page, "#result"), f"the result left the screen when the run ended: {box}"
            ratio = page.evaluate(PAINTED_WIDTH_JS)
            print(f"{name}: the final image is painted at {ratio:.0%} of its panel's width")
            assert ratio >= 0.9
            page.screenshot(path=str(ARTIFACTS / f"first-minute-{name}-after.png"))
        finally:
            browser.close()
