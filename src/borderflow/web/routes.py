"""Every web page's router, in one list for the application to include."""

from __future__ import annotations

from fastapi import APIRouter

from borderflow.web import (
    account_page,
    admin,
    admin_accounts,
    admin_devices,
    admin_publish,
    board,
    cashier,
    control_room,
    driver,
    exchange_page,
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
    trip_control,
    yard,
)

ROUTERS: tuple[APIRouter, ...] = (
    pages.router,
    board.router,
    driver.router,
    trip_control.router,
    officer.router,
    control_room.router,
    portal.router,
    portal_forms.router,
    portal_bookings.router,
    reports.router,
    sim.router,
    account_page.router,
    admin.router,
    admin_accounts.router,
    admin_devices.router,
    admin_publish.router,
    exchange_page.router,
    register.router,
    password.router,
    team.router,
    cashier.router,
    yard.router,
)
