"""Every web page's router, in one list for the application to include."""

from __future__ import annotations

from fastapi import APIRouter

from borderflow.web import (
    account_page,
    board,
    cashier,
    control_room,
    driver,
    officer,
    pages,
    password,
    portal,
    portal_bookings,
    portal_forms,
    register,
    reports,
    sim,
    team,
    yard,
)

ROUTERS: tuple[APIRouter, ...] = (
    pages.router,
    board.router,
    driver.router,
    officer.router,
    control_room.router,
    portal.router,
    portal_forms.router,
    portal_bookings.router,
    reports.router,
    sim.router,
    account_page.router,
    register.router,
    password.router,
    team.router,
    yard.router,
)
