"""The dashboard: one HTML page whose script draws the charts (inline SVG, no external script: the machines
have no internet) from the JSON API. The page itself holds no data; every number comes from an authenticated API
call made with the token the user gives (kept in the tab's sessionStorage, or passed as #token=... in the URL
fragment, which never reaches the server)."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

PAGE = resources.files("lgnet_reporting.entrypoints").joinpath("static/dashboard.html")


def headers(page: str) -> dict[str, str]:
    """The page holds a bearer token (staff's, national's): it was served with no security header, so any site could
    frame it and any injected script would run. Only its own inline script runs (by its SHA-256), only its own
    inline style applies, it calls only this service's API, and no page may frame it; as the desk's headers."""

    def digest(tag: str) -> str:
        found = re.search(rf"<{tag}>(.*?)</{tag}>", page, re.S)
        body = found.group(1) if found else ""
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"

    policy = (
        f"default-src 'none'; script-src {digest('script')}; style-src {digest('style')}; connect-src 'self';"
        " img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def router() -> APIRouter:
    api = APIRouter(tags=["dashboard"])

    @api.get("/dashboard", response_class=HTMLResponse, summary="Dashboard (charts drawn from the JSON API)")
    async def dashboard() -> HTMLResponse:
        page = PAGE.read_text(encoding="utf-8")
        return HTMLResponse(page, headers=headers(page))

    return api
