"""The administrators' pages: their home (what the platform holds, where to change it), and
what the account, device and publishing pages share (who may open them, their forms)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from borderflow.account import admin_views
from borderflow.api.deps import Ctx, Db
from borderflow.domain.access import Principal
from borderflow.errors import N_, AppError, FieldError
from borderflow.fees import tariffs
from borderflow.network import service as networks
from borderflow.telemetry import cameras
from borderflow.telemetry import views as devices
from borderflow.web.pages import STALE_FORM, csrf_ok, formatter, render, signed_in

router = APIRouter(include_in_schema=False)

FOR_ADMINS = N_("This page is for the platform's administrators.")


def admin_only(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    """The signed-in administrator, else the login page or a 403 page."""
    return signed_in(request, ctx, db, lambda p: p.may("account.manage"), FOR_ADMINS)


def refused_form(request: Request, csrf: str) -> str | None:
    """The message for a form that did not come from this site's page (else None)."""
    return None if csrf_ok(request, csrf) else formatter(request).gettext(STALE_FORM)


def problems(request: Request, exc: AppError, fields: Callable[[str], str] = lambda f: f
             ) -> tuple[str, dict[str, str]]:
    """An error for a form: the message at the top and each field's (the field paths of the
    service named as the form names its inputs)."""
    fmt = formatter(request)
    named = [FieldError(fields(f.field), f.reason) for f in exc.fields]
    return fmt.error(exc), fmt.field_errors(named)


def page(request: Request, template: str, who: Principal, status: int = 200,
         **values: Any) -> Response:
    """An admin page: the admin's sub-menu marks where they are."""
    return render(request, template, status=status, user=who, sections=SECTIONS, **values)


SECTIONS: tuple[tuple[str, str], ...] = (
    ("/admin", N_("Overview")),
    ("/admin/accounts", N_("Accounts")),
    ("/admin/devices", N_("Cameras and GPS devices")),
    ("/admin/network", N_("Reference network")),
    ("/admin/fees", N_("Fee schedule")),
)


@router.get("/admin", response_class=HTMLResponse)
def admin_home(request: Request, ctx: Ctx, db: Db) -> Response:
    """What the platform holds now: accounts, cameras, devices, the network and fee
    schedule in force, each with the page that changes it. Role: admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    total, active = admin_views.account_counts(db)
    found = tariffs.in_force_or_none(db, now)
    listed = cameras.cameras(db)
    phones = devices.device_summary(db, now=now, silent_minutes=ctx.settings
                                    .device_silent_minutes)
    return page(request, "admin.html", who, accounts=total, active=active,
                cameras=len(listed), cameras_live=sum(1 for c in listed if c["active"]),
                devices=phones, network=networks.version_in_force(db, now),
                tariff=found[0] if found else None)
