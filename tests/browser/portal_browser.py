"""Driving the portals in Chromium: launch, log in with an API key, watch what a page asks for."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def launch_chromium(playwright):
    """Chromium from the system package through Playwright's bundled driver (no download)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@dataclass
class PageLog:
    """Every URL a page requested, and its console errors and uncaught exceptions."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def watch(self, page) -> None:
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda message: message.type == "error"
                and self.console_errors.append(message.text))
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def foreign_requests(self, base_url: str) -> list[str]:
        """Requests to any origin but the server's (data: and blob: URLs stay in the page)."""
        origin = urlsplit(base_url)[:2]
        return [url for url in self.requests
                if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url)[:2] != origin]


def log_in(page, portal_url: str, key: str) -> None:
    """Open `portal_url`, get sent to the login page, log in with `key`, land back there."""
    page.goto(portal_url)
    page.wait_for_url("**/portal/common/login.html**")
    page.fill("#api-key", key)
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/login.html" not in url)
    page.wait_for_selector("body.portal-ready")
