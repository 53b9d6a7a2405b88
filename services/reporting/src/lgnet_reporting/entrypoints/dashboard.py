"""The dashboard: one HTML page whose script draws the charts (inline SVG, no external script: the machines
have no internet) from the JSON API. The page itself holds no data; every number comes from an authenticated API
call made with the token the user gives (kept in the tab's sessionStorage, or passed as #token=... in the URL
fragment, which never reaches the server)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

PAGE = resources.files("lgnet_reporting.entrypoints").joinpath("static/dashboard.html")


def router() -> APIRouter:
    api = APIRouter(tags=["dashboard"])

    @api.get("/dashboard", response_class=HTMLResponse, summary="Dashboard (charts drawn from the JSON API)")
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})

    return api
