"""The web app's routers, one per area, combined into ``router`` (with HEAD wherever GET works)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from whoopkit.web.routers import account, auth, dashboard, drivers, health, insights, views


def _answer_head_like_get(area: APIRouter) -> None:
    # HTTP requires HEAD wherever GET works (uptime checks and link checkers use it); FastAPI's
    # routes, unlike Starlette's, do not add it, so HEAD would be a 405. The server drops the body.
    # Done on each area's own routes: FastAPI includes routers by reference, not by copy.
    for route in area.routes:
        if isinstance(route, APIRoute) and route.methods and "GET" in route.methods:
            route.methods.add("HEAD")


router = APIRouter()
for _area in (dashboard, health, auth, account, views, insights, drivers):
    _answer_head_like_get(_area.router)
    router.include_router(_area.router)

__all__ = ["router"]
