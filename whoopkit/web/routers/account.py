"""Hosted mode's ``/account`` (who you are, what is stored) and ``POST /account/delete``.

Deleting needs the page's CSRF token and the confirmation box; it revokes WHOOP's access, then removes the
user's login, rows and sessions (``whoopkit.hosted.accounts``). Locally there are no accounts: both are 404s.
"""

from __future__ import annotations

import logging

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from whoopkit.web.deps import SESSION_COOKIE, ServiceDep, WebDep
from whoopkit.web.errors import error_page, render
from whoopkit.web.routers.auth import read_form, refused_post

logger = logging.getLogger(__name__)

router = APIRouter()

CONFIRM_VALUES = frozenset({"1", "on", "yes", "true"})


def _not_here(request: Request) -> Response:
    return error_page(request, 404, "Not found", "This whoopkit runs for one person and has no accounts.")


@router.get("/account")
async def account(request: Request, web: WebDep, service: ServiceDep) -> Response:
    """The signed-in user's account: their WHOOP name, what is stored and synced, sign out and delete."""
    if not web.hosted:
        return _not_here(request)
    status = await anyio.to_thread.run_sync(service.store_status)
    profile = await anyio.to_thread.run_sync(service.stored_profile)
    return render(
        request,
        "account.html",
        title="Account",
        profile=profile,
        user_id=await service.user_id(),
        collections=status.collections,
        login=service.auth_status(),
    )


@router.post("/account/delete")
async def delete_account(request: Request, web: WebDep, service: ServiceDep) -> Response:
    """Revoke WHOOP access and delete the account, its data and its sessions (the box must be ticked)."""
    if not web.hosted:
        return _not_here(request)
    form = await read_form(request)
    refusal = refused_post(request, form, "delete your account")
    if refusal is not None:
        return refusal
    if not any(v.strip().lower() in CONFIRM_VALUES for v in form.get("confirm", [])):
        return error_page(
            request,
            400,
            "Tick the box to delete your account",
            "Nothing was deleted: tick “Yes, delete my account and all my data”, then press Delete.",
        )
    user_id = await service.user_id()
    await web.require_accounts().delete_account(user_id)
    response = RedirectResponse("/?deleted=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    return response
