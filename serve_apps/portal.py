"""The browser portals: pages rendered from Jinja templates, plus static JS/CSS, served by an
app under its own route prefix.

`mount_portal(app, "ads")` renders the pages of `serve_apps/portal_static/ads/` at
`<prefix>/portal/` (each page extends `common/_layout.html`, which draws the head and the
portal's navigation from `PORTALS`), serves the folder's scripts and stylesheets beside them,
the shared `portal_static/common/` (login page, portal.js, portal.css, plotly.min.js from the
`plotly` package) at `<prefix>/portal/common/`, and `GET <prefix>/portal/session`, which says
who a key speaks for. Pages need no build step and no internet; they call the app's public
endpoints with the key the login page keeps in sessionStorage.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import plotly
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from core.api_keys import ADS_ROLES, RETAIL_ROLES, Principal
from serve_apps.errors import ApiError
from serve_apps.protection import Protection

STATIC_ROOT = Path(__file__).resolve().parent / "portal_static"
COMMON = STATIC_ROOT / "common"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


@dataclass(frozen=True)
class NavLink:
    href: str
    label: str
    staff_only: bool = False


@dataclass(frozen=True)
class PortalSpec:
    """What the layout needs to know of a portal, and who may use it."""

    title: str
    roles: tuple[str, ...]
    nav: tuple[NavLink, ...]
    stylesheets: tuple[str, ...] = ()  # the portal's own, on every page but the login


PORTALS = {
    "retail": PortalSpec("dynaprice retail", RETAIL_ROLES, (
        NavLink("./", "Live prices & alerts"), NavLink("review.html", "Review queue"),
        NavLink("experiments.html", "Experiments"), NavLink("charts.html", "Charts")),
        stylesheets=("retail.css",)),
    "ads": PortalSpec("dynaprice ads", ADS_ROLES, (
        NavLink("./", "Pricing explorer"), NavLink("plan.html", "Plan & book"),
        NavLink("bookings.html", "Bookings & results"),
        NavLink("operations.html", "Operations", staff_only=True))),
}


def page_names(folder: Path) -> frozenset[str]:
    """The pages of a portal folder: its .html templates, but partials (`_name.html`)."""
    return frozenset(p.stem for p in folder.glob("*.html") if not p.name.startswith("_"))


@cache
def _templates(folder: Path) -> Environment:
    """One Jinja environment per page folder (it caches the compiled templates)."""
    return Environment(loader=FileSystemLoader([folder, COMMON]),
                       autoescape=select_autoescape(["html"]))


def render_page(name: str, page: str) -> str:
    """Page `page` (a template stem) of portal `name`, or of `common` for the shared pages."""
    spec = PORTALS[name]
    folder = COMMON if page.startswith("common/") else STATIC_ROOT / name
    shared = folder == COMMON
    return _templates(folder).get_template(f"{page.removeprefix('common/')}.html").render(
        portal=spec, common="" if shared else "common/",
        stylesheets=() if shared else spec.stylesheets)


def mount_portal(app: FastAPI, name: str) -> None:
    """Serve portal `name` (a folder of portal_static/) and the shared assets on `app`."""
    pages = STATIC_ROOT / name
    if name not in PORTALS or not pages.is_dir():
        raise ValueError(f"no portal {name!r}: expected one of {sorted(PORTALS)} with a "
                         f"folder under {STATIC_ROOT}")
    known, shared = page_names(pages), page_names(COMMON)
    PortalUser = Annotated[Principal, Protection.require(*PORTALS[name].roles)]

    def html(page: str, available: frozenset[str], prefix: str = "") -> HTMLResponse:
        if page not in available:
            raise ApiError(404, "not_found", f"no portal page {page}.html")
        return HTMLResponse(render_page(name, prefix + page))

    @app.get("/portal/session", tags=["portal"],
             summary="Who the key speaks for, and whether it may use this portal")
    async def portal_session(principal: PortalUser) -> dict[str, Any]:
        return {"portal": name, "name": principal.name, "roles": sorted(principal.roles),
                "advertiser_id": principal.advertiser_id,
                "staff": principal.has_any(("sales", "admin"))}

    @app.get("/portal/common/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/portal/common/{page}.html", include_in_schema=False)
    async def shared_page(page: str) -> HTMLResponse:
        return html(page, shared, "common/")

    @app.get("/portal/", include_in_schema=False)
    async def index_page() -> HTMLResponse:
        return html("index", known)

    @app.get("/portal/{page}.html", include_in_schema=False)
    async def portal_page(page: str) -> HTMLResponse:
        return html(page, known)

    app.mount("/portal/common", StaticFiles(directory=COMMON), name="portal-common")
    app.mount("/portal", StaticFiles(directory=pages), name=f"portal-{name}")
