"""The portals need nothing from outside the server: no http(s) URL anywhere in their
templates, JS or CSS, and every local script, stylesheet and link of a rendered page is served."""

import re
from pathlib import Path
from urllib.parse import urljoin

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serve_apps.errors import install_error_handlers
from serve_apps.portal import PORTALS, STATIC_ROOT, mount_portal, page_names

ASSETS = sorted(p for p in STATIC_ROOT.rglob("*") if p.suffix in {".html", ".js", ".css"})
PAGES = [p for p in ASSETS if p.suffix == ".html"]
LOCAL_REFERENCE = re.compile(r'(?:src|href)="([^"#]+)"')


def test_there_are_pages_for_both_portals_and_the_login() -> None:
    folders = {page.parent.name for page in PAGES}
    assert {"common", "ads", "retail"} <= folders


@pytest.mark.parametrize("asset", ASSETS, ids=lambda p: str(p.relative_to(STATIC_ROOT)))
def test_no_asset_names_an_outside_url(asset: Path) -> None:
    text = asset.read_text()
    assert re.findall(r"https?://\S+", text) == []  # pages use paths relative to the server
    assert re.findall(r"//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", text) == []  # nor //host.tld
    assert "@import" not in text and "fonts.googleapis" not in text


def _portal_client(name: str) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    mount_portal(app, name)
    return TestClient(app)


PAGE_URLS = [(name, f"/portal/{stem}.html") for name in PORTALS
             for stem in sorted(page_names(STATIC_ROOT / name))] + [
    (name, "/portal/common/login.html") for name in PORTALS]


@pytest.mark.parametrize(("portal", "url"), PAGE_URLS, ids=lambda v: str(v))
def test_every_local_reference_of_a_rendered_page_is_served(portal: str, url: str) -> None:
    client = _portal_client(portal)
    page = client.get(url)
    assert page.status_code == 200 and page.text.startswith("<!doctype html>")
    references = [r for r in LOCAL_REFERENCE.findall(page.text) if not r.startswith("data:")]
    assert any(r.endswith("portal.js") for r in references)
    for reference in references:
        target = urljoin(url, reference)
        assert client.get(target).status_code == 200, f"{url} -> {target}"


def test_partials_and_unknown_pages_are_not_found() -> None:
    client = _portal_client("ads")
    for url in ("/portal/common/_layout.html", "/portal/review.html", "/portal/nope.html"):
        answer = client.get(url)
        assert answer.status_code == 404 and answer.json()["error"] == "not_found", url


def test_an_unknown_portal_is_refused() -> None:
    with pytest.raises(ValueError, match="no portal 'shop'"):
        mount_portal(FastAPI(), "shop")
