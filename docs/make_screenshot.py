"""Take the README's screenshot: the Compare page on a stored experiment, in headless Chromium.

    ADAPTLAB_HOME=... python docs/make_screenshot.py demo-fortunes   # writes docs/screenshots/compare.png

The experiment must be in the results store of ADAPTLAB_HOME (run `adaptlab demo fortunes` first).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.serve import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    SETTLED,
    free_port,
    start_streamlit,
    stop,
    wait_healthy,
    whole_page_screenshot,
)

OUT = ROOT / "docs" / "screenshots" / "compare.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--max-height", type=int, default=1900, help="crop below this many pixels")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    take(args.experiment, args.out, args.max_height)


def take(experiment: str, out: Path = OUT, max_height: int = 1900) -> None:
    """The Compare page on `experiment` (in ADAPTLAB_HOME's store), whole, cropped at max_height, saved to out."""
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "ADAPTLAB_AUTOSTART_WORKER": "0", "HF_HUB_OFFLINE": "1"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_streamlit(port, env, Path(tempfile.mkdtemp()) / "streamlit.log")
    try:
        wait_healthy(url, server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{url}/compare")
            page.get_by_role("heading", name="Compare", exact=True).wait_for(timeout=90_000)
            page.wait_for_selector(SETTLED, timeout=90_000)
            page.locator('[data-testid="stSelectbox"]').filter(has_text="Experiment").first.click()
            page.get_by_role("option", name=experiment, exact=True).click()
            page.wait_for_timeout(1000)  # the rerun starts
            page.wait_for_selector(SETTLED, timeout=180_000)
            page.get_by_text("Computing intervals").wait_for(state="detached", timeout=180_000)
            page.locator(".js-plotly-plot").nth(2).wait_for(timeout=90_000)
            page.mouse.move(0, 0)
            out.parent.mkdir(parents=True, exist_ok=True)
            whole_page_screenshot(page, out, 1440, 1000, max_height)
            browser.close()
    finally:
        stop([server])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
