"""Browser tests: real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Fixtures: `chromium` (one browser per session), `browser_page` (a fresh context and page per
test; what the page requested and logged goes to `page_log`), `screenshots` (the folder
`.dynaprice/screenshots/`) and `screenshot(name)` (a full-page PNG of `browser_page` there).
Log in with `portal_browser.log_in`. Without Chromium the tests skip (`make test` installs it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.settings import REPO_ROOT
from tests.browser.portal_browser import CHROMIUM, PageLog, launch_chromium

SCREENSHOTS = REPO_ROOT / ".dynaprice" / "screenshots"


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    """One headless Chromium per test module (Playwright's sync API keeps an event loop
    running in this thread while it lives: later tests' asyncio.run would fail); skips when
    Chromium is not installed."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs it (apt-get install "
                    "chromium chromium-driver, as root); set CHROMIUM_PATH for another binary")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def browser_page(chromium, page_log: PageLog) -> Iterator:
    """A page in a context of its own (its own sessionStorage), 1280x900."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page_log.watch(page)
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def screenshot(browser_page, screenshots: Path,
               request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Save a full-page PNG of `browser_page` as `<test name>-<name>.png`; return its path."""
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def shoot(name: str) -> Path:
        path = screenshots / f"{test}-{name}.png"
        browser_page.screenshot(path=str(path), full_page=True)
        return path

    return shoot
