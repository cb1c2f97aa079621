"""Debian's Chromium driven by Selenium, for the web tests: one browser per test session.

The set-up installs `chromium` and `chromium-driver` with apt-get when they are missing (CI runs as
root on a fresh machine); no browser build is downloaded. Pages are shown at a phone's size (`browser`) or a desktop's (`desktop_browser`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PHONE = {"width": 390, "height": 844, "pixelRatio": 2}
DESKTOP = {"width": 1280, "height": 900}


def ensure_chromium() -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail("the browser tests need Debian's chromium and chromium-driver: apt-get install chromium chromium-driver")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"], check=True, env=env, capture_output=True)


def chromium(device: dict[str, int] | None) -> object:
    """Debian's Chromium, headless; `device`: the phone to emulate, or None for a desktop window."""
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=nl-BE"):
        options.add_argument(flag)
    if device is not None:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": device})
    else:
        options.add_argument(f"--window-size={DESKTOP['width']},{DESKTOP['height']}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    driver = chromium(PHONE)
    try:
        yield driver
    finally:
        driver.quit()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def desktop_browser() -> Iterator[object]:
    """A second browser at a desktop's size, for the pages coordinators read at their desk."""
    driver = chromium(None)
    try:
        yield driver
    finally:
        driver.quit()  # type: ignore[attr-defined]


def accessibility_violations(driver) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """axe-core's violations on the page now shown (WCAG 2 A and AA rules, and best practices)."""
    from axe_selenium_python import Axe

    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results["violations"]
    ]



def save_page(driver, path: Path, height: int) -> None:  # type: ignore[no-untyped-def]
    """A picture of the page from its top, at most `height` CSS pixels tall (more than the window shows)."""
    import base64

    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], height), "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    path.write_bytes(base64.b64decode(shot["data"]))
