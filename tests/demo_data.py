"""A platform full of demo data, as a user of ``make run`` sees it, for the page crawler and
the README screenshots.

The demo traffic's actors (``borderflow.demo.traffic``) drive the real API over HTTP for two
and a half simulated hours of a Monday morning (one tick a simulated minute, the clock moved
by hand, the dispatcher run every five minutes: deterministic); then a few trips are taken to
the states a page must show (called with an order for the demo driver, held with a reason and
a note, rejected, cancelled, urgent, booked). From the start a gate is closed and another's
capacity limited, and the driver's phone falls silent; a camera's unsure read waits for
review, the partner side's bulletin gives its yards' counts, and eight weeks of past crossings
(this year and the year before) and this year's targets feed the reports.
"""

from __future__ import annotations

import asyncio
import copy
import fcntl
import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.engine import make_url

from borderflow.account import security
from borderflow.app import create_app
from borderflow.bootstrap import demo_accounts
from borderflow.clock import LOCAL_TZ, FixedClock
from borderflow.config import Settings
from borderflow.demo import run as demo_run
from borderflow.demo.traffic import GOODS, Traffic
from borderflow.exchange.signing import SigningKey
from borderflow.report import facts, synthetic
from borderflow.store.models import Account
from borderflow.store.session import make_engine, make_session_factory
from tests import factories
from tests.conftest import NOW, TODAY, Database, _free_port, reset_to_seed
from tests.exchange.conftest import CN_BULLETIN

START = NOW - timedelta(hours=2)
"""06:00 in Lang Son, an hour before the gates open."""
MINUTES = 150
"""Simulated minutes of demo traffic (until 08:30)."""
DISPATCH_EVERY = 5
HISTORY_WEEKS = 8
STAGING = "staging:viettel-logistics-park"
TOMORROW_SLOT = f"{(TODAY + timedelta(days=2)).isoformat()}T09:00:00+07:00"
USERNAMES = tuple(d.username for d in demo_accounts("", "", ""))
"""Every demo account (bootstrap.demo_accounts): one per role, and a second enterprise."""
PHONE = "demo-phone-driver"

FREE_TEXT = (
    "Thiếu giấy phép vận tải liên vận", "Lấy mẫu kiểm dịch thanh long",
    "Phát hiện sinh vật gây hại", "Khách hàng hủy đơn", "Hàng cứu trợ y tế",
    "Sạt lở đường vào cửa khẩu", "Sửa chữa một làn xe", "điện thoại của tài xế",
)
"""What the people of this demo type (notes, reasons, labels), in Vietnamese as at the gate."""


@dataclass
class Demo:
    """The demo platform: where it is, its clock, and the trips worth looking at."""

    base_url: str
    settings: Settings
    clock: FixedClock
    trips: dict[str, str] = field(default_factory=dict)
    """What a trip shows (``called``, ``held``, ``rejected`` ...) -> its reference."""
    declarations: dict[str, str] = field(default_factory=dict)
    plates: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    """Proper names and free text typed by the demo's people (enterprise and driver names,
    goods descriptions, notes), which pages show as they were typed."""
    invoices: set[str] = field(default_factory=set)

    def token(self, username: str) -> dict[str, str]:
        """Headers with a bearer token for a demo account, valid now."""
        engine = make_engine(self.settings.database_url)
        try:
            with make_session_factory(engine, write=False)() as s:
                account = s.scalars(select(Account).where(Account.username == username)).one()
                token = security.issue_token(account.id, account.username,
                                             key=self.settings.resolved_secret_key(),
                                             now=self.clock.now(), minutes=15)
        finally:
            engine.dispose()
        return {"Authorization": f"Bearer {token}"}


def fresh_database(template: Database, folder: Path) -> Database:
    """A database holding the test seed (see tests.conftest.database), for a module."""
    if template.backend == "sqlite":
        dst = folder / "demo.db"
        shutil.copyfile(make_url(template.url).database or "", dst)
        return Database(f"sqlite:///{dst}", "sqlite")
    return reset_to_seed(template)


def demo_settings(database: Database, folder: Path) -> Settings:
    return Settings(database_url=database.url, var_dir=folder / "var",
                    secret_key="test-secret-key-that-is-long-enough-for-hs256",
                    log_level="WARNING", public_base_url="https://gate.example",
                    dispatch_interval_seconds=0, notify_interval_seconds=0,
                    telemetry_bus="inline", board_share_seconds=0)


@contextmanager
def serving(settings: Settings, clock: FixedClock) -> Iterator[tuple[FastAPI, httpx.Client]]:
    """The platform on a real port (the payment sandbox calls it back over HTTP)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(settings.model_copy(update={"public_base_url": base}), clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            yield app, client
    finally:
        server.should_exit = True
        thread.join(15)
        app.state.ctx.engine.dispose()


@contextmanager
def demo_site(template: Database, folder: Path, shared: Path | None = None
              ) -> Iterator[tuple[Demo, httpx.Client]]:
    """A served platform full of demo data (see :func:`populate`), in ``folder``.

    On SQLite with ``shared`` (a folder every process of the test run sees), the first module
    that asks populates a platform and keeps a copy of it there (the database, its ``var``
    folder, what :class:`Demo` knows and the clock); the others get a copy of that copy,
    served afresh: the same data without driving the traffic again (half a minute each). A
    copy is private to its module: what a module's tests change is not seen by another."""
    database = fresh_database(template, folder)
    settings = demo_settings(database, folder)
    if shared is None or database.backend != "sqlite":
        clock = FixedClock(START)
        with serving(settings, clock) as (app, client):
            demo = Demo(str(client.base_url), settings, clock)
            populate(demo, app, client)
            yield demo, client
        return
    kept = shared / "demo-site"
    with _locked(shared / "demo-site.lock"):
        if not (kept / "demo.json").exists():
            _build_and_keep(settings, kept)
        _restore(kept, settings)
    known = json.loads((kept / "demo.json").read_text())
    clock = FixedClock(datetime.fromisoformat(known.pop("now")))
    with serving(settings, clock) as (_app, client):
        demo = Demo(str(client.base_url), settings, clock, trips=known["trips"],
                    declarations=known["declarations"], plates=set(known["plates"]),
                    names=set(known["names"]), invoices=set(known["invoices"]))
        yield demo, client


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_and_keep(settings: Settings, kept: Path) -> None:
    """Populate a platform on ``settings``' database and keep a consistent copy in ``kept``."""
    clock = FixedClock(START)
    with serving(settings, clock) as (app, client):
        demo = Demo(str(client.base_url), settings, clock)
        populate(demo, app, client)
    building = kept.with_name(kept.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    _copy_sqlite(make_url(settings.database_url).database or "", building / "demo.db")
    if settings.var_dir.exists():
        shutil.copytree(settings.var_dir, building / "var")
    known = {"now": clock.now().isoformat(), "trips": demo.trips,
             "declarations": demo.declarations, "plates": sorted(demo.plates),
             "names": sorted(demo.names), "invoices": sorted(demo.invoices)}
    (building / "demo.json").write_text(json.dumps(known))
    building.rename(kept)


def _restore(kept: Path, settings: Settings) -> None:
    """The kept platform into ``settings``' database file and ``var`` folder."""
    _copy_sqlite(str(kept / "demo.db"), make_url(settings.database_url).database or "")
    if (kept / "var").exists():
        shutil.rmtree(settings.var_dir, ignore_errors=True)
        shutil.copytree(kept / "var", settings.var_dir)


def _copy_sqlite(source: str | Path, target: str | Path) -> None:
    """A consistent copy of a SQLite database (its write-ahead log included)."""
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def populate(demo: Demo, app: FastAPI, client: httpx.Client) -> None:
    demo.clock.set(START)
    traffic = demo_run.build(app.state.ctx)
    traffic.base_url = demo.base_url
    _phone(demo, client)
    _controls(demo, client)
    # in a thread of its own: the caller may be in an event loop (Playwright's)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _drive(demo, traffic)).result()
    _named_trips(demo, client, traffic)
    _partner_side(demo, client)
    _history(demo, client)
    demo.names |= {"Cong ty Demo Xuat nhap khau", "Nguyen Van Demo", "demo phone",
                   "no expected truck", "Cong ty TNHH Xuat nhap khau Demo",
                   *(description for _, description, _ in GOODS.values())}
    demo.names |= set(FREE_TEXT)


async def _drive(demo: Demo, traffic: Traffic) -> None:
    async with httpx.AsyncClient(base_url=demo.base_url, timeout=60) as client:
        for minute in range(MINUTES):
            demo.clock.set(START + timedelta(minutes=minute))
            await traffic.tick(client)
            if minute % DISPATCH_EVERY == 0:
                r = await client.post("/api/v1/dispatch/run", headers=demo.token("regulator"))
                assert r.status_code == 200, r.text
        demo.plates |= {t.plate for t in traffic.trucks.values()}
    demo.clock.set(START + timedelta(minutes=MINUTES))


class _Api:
    def __init__(self, demo: Demo, client: httpx.Client) -> None:
        self.demo, self.client = demo, client

    def __call__(self, method: str, url: str, who: str, expect: int = 200,
                 **kwargs: Any) -> Any:
        r = self.client.request(method, url, headers=self.demo.token(who), **kwargs)
        assert r.status_code == expect, (method, url, r.status_code, r.text)
        return r.json() if r.content else None

    def declare(self, plate: str, *, fruit: bool = False, driver: str | None = None,
                name: str = "Hoang Van Binh", **changes: Any) -> tuple[str, str]:
        body = factories.fruit_declaration() if fruit else factories.declaration()
        body["requested_date"] = TODAY.isoformat()
        vehicle = body["vehicles"][0]
        vehicle["plate"] = plate
        vehicle["driver"]["name"] = name
        vehicle["driver"]["crosses_border"] = True
        if driver is not None:
            vehicle["driver"]["document_number"] = driver
        else:
            vehicle["driver"]["document_number"] = f"0010890{len(self.demo.plates):05d}"
        body.update(changes)
        d = self("POST", "/api/v1/declarations", "enterprise", 201, json=body)
        self.demo.plates.add(plate)
        self.demo.names |= {name, body["enterprise"]["name"],
                            *(g["description"] for g in body["goods"])}
        return d["reference"], d["id"]

    def into_gate_area(self, ref: str) -> None:
        self("POST", f"/api/v1/trips/{ref}/movements", "yard",
             json={"action": "enter", "area": STAGING})
        self("POST", f"/api/v1/trips/{ref}/call", "regulator", json={})
        self("POST", f"/api/v1/trips/{ref}/movements", "borderguard",
             json={"action": "enter", "area": "gate_area:huu-nghi"})

    def step(self, ref: str, step: str, who: str, **body: Any) -> None:
        body.setdefault("outcome", "pass")
        self("POST", f"/api/v1/trips/{ref}/steps/{step}", who, json=body)


def _phone(demo: Demo, client: httpx.Client) -> None:
    """The demo driver binds the phone and it reports from the park at six, then falls
    silent (its battery is flat): the control room is alerted once the driver has a trip."""
    bound = _Api(demo, client)("POST", f"/api/v1/devices/{PHONE}/bind", "driver",
                               json={"driver_document": factories.DRIVER_DOC,
                                     "label": FREE_TEXT[7]})
    park = (21.91200, 106.70300)  # the staging park's centre
    client.get("/api/v1/telemetry/osmand", params={
        "id": bound["token"], "lat": f"{park[0]:.6f}", "lon": f"{park[1]:.6f}",
        "timestamp": int(demo.clock.now().timestamp() * 1000), "speed": "0",
        "accuracy": "8", "batt": "3"}).raise_for_status()


def _named_trips(demo: Demo, client: httpx.Client, traffic: Traffic) -> None:
    api = _Api(demo, client)
    # the demo driver's trip: medical supplies, urgent, in the park, called to the gate by the
    # dispatcher (an order to acknowledge); the phone fell silent on the way
    ref, _ = api.declare("29C-811.21", driver=factories.DRIVER_DOC, name="Nguyen Van Tai")
    called = f"{ref}-1"
    api("POST", f"/api/v1/trips/{called}/movements", "yard",
        json={"action": "enter", "area": STAGING})
    api("POST", f"/api/v1/trips/{called}/priority", "regulator",
        json={"priority": "urgent", "reason": FREE_TEXT[4]})
    cycle = api("POST", "/api/v1/dispatch/run", "regulator")
    assert called in [c["trip"] for c in cycle["called"]], cycle
    demo.trips["called"] = called
    # the same driver's next trip: declared for the day after tomorrow, booked in a slot
    body_date = (TODAY + timedelta(days=2)).isoformat()
    ref, _ = api.declare("29C-811.22", driver=factories.DRIVER_DOC, name="Nguyen Van Tai",
                         requested_date=body_date)
    api("POST", f"/api/v1/trips/{ref}-1/booking", "enterprise", 201,
        json={"slot_start": TOMORROW_SLOT})
    demo.trips["booked"] = f"{ref}-1"
    # waiting in the park, urgent too
    ref, _ = api.declare("29C-811.23", name="Tran Van Hung")
    api("POST", f"/api/v1/trips/{ref}-1/movements", "yard",
        json={"action": "enter", "area": STAGING})
    api("POST", f"/api/v1/trips/{ref}-1/priority", "regulator",
        json={"priority": "urgent", "reason": FREE_TEXT[4]})
    demo.trips["waiting"] = f"{ref}-1"
    # in the gate area: passed steps, quarantine held for sampling with a note
    ref, _ = api.declare("29C-811.24", fruit=True, name="Le Van Nam")
    held = f"{ref}-1"
    api.into_gate_area(held)
    api.step(held, "medical", "health")
    api.step(held, "border_guard", "borderguard")
    api.step(held, "quarantine", "quarantine", outcome="hold", reason_code="sampling",
             note=FREE_TEXT[1])
    demo.trips["held"] = held
    # in the gate area, customs hold for missing documents, fee still open
    ref, _ = api.declare("29C-811.25", name="Pham Van Duc")
    docs = f"{ref}-1"
    api.into_gate_area(docs)
    api.step(docs, "medical", "health")
    api.step(docs, "border_guard", "borderguard", outcome="hold",
             reason_code="documents-missing", note=FREE_TEXT[0])
    demo.trips["held_documents"] = docs
    # rejected at quarantine
    ref, _ = api.declare("29C-811.26", fruit=True, name="Vu Van Long")
    rejected = f"{ref}-1"
    api.into_gate_area(rejected)
    api.step(rejected, "medical", "health")
    api.step(rejected, "border_guard", "borderguard")
    api.step(rejected, "quarantine", "quarantine", outcome="reject",
             reason_code="quarantine-failed", note=FREE_TEXT[2])
    demo.trips["rejected"] = rejected
    # cancelled by the enterprise
    ref, decl = api.declare("29C-811.27", name="Dang Van Son")
    api("POST", f"/api/v1/declarations/{decl}/cancel", "enterprise",
        json={"reason": FREE_TEXT[3]})
    demo.trips["cancelled"] = f"{ref}-1"
    # through every step, customs yellow channel, paid at the counter, crossed
    ref, _ = api.declare("29C-811.28", fruit=True, name="Bui Van Thanh")
    done = f"{ref}-1"
    api.into_gate_area(done)
    for step, who in (("medical", "health"), ("border_guard", "borderguard"),
                      ("quarantine", "quarantine")):
        api.step(done, step, who)
    api.step(done, "customs", "customs", channel="yellow")
    invoice = api("GET", f"/api/v1/trips/{done}/invoice", "cashier")
    api("POST", f"/api/v1/invoices/{invoice['number']}/payments", "cashier", 201,
        json={"method": "cash", "amount": invoice["due"]})
    api.step(done, "crossing", "borderguard")
    demo.trips["completed"] = done
    demo.invoices.add(invoice["number"])
    # in the gate area, every check passed, its fee open
    ref, _ = api.declare("29C-811.29", name="Ngo Van Quang")
    owing = f"{ref}-1"
    api.into_gate_area(owing)
    for step, who in (("medical", "health"), ("border_guard", "borderguard")):
        api.step(owing, step, who)
    api.step(owing, "customs", "customs", channel="green")
    demo.trips["fee_open"] = owing
    demo.invoices.add(api("GET", f"/api/v1/trips/{owing}/invoice", "cashier")["number"])
    # declared for today, not yet arrived
    ref, _ = api.declare("29C-811.30", name="Do Van Minh")
    demo.trips["declared"] = f"{ref}-1"
    # the entry camera is unsure of a plate: the read waits for a border guard
    camera, key = traffic.cameras["huu-nghi"]
    r = client.post("/api/v1/plate-reads", headers={"X-API-Key": key}, json={
        "camera": camera, "plate": "29C-811.2I", "confidence": 0.61,
        "time": demo.clock.now().isoformat(), "direction": "in"})
    assert r.status_code == 201, r.text


def _controls(demo: Demo, client: httpx.Client) -> None:
    """From six in the morning: a landslide closes Coc Nam, one lane of Huu Nghi's exports is
    under repair."""
    api = _Api(demo, client)
    until = (TODAY + timedelta(days=1)).isoformat() + "T18:00:00+07:00"
    api("POST", "/api/v1/gates/coc-nam/controls", "regulator", 201,
        json={"kind": "closure", "ends_at": until, "reason": FREE_TEXT[5]})
    api("POST", "/api/v1/gates/huu-nghi/controls", "regulator", 201,
        json={"kind": "capacity", "direction": "export", "vehicles_per_hour": 6,
              "starts_at": demo.clock.now().isoformat(), "ends_at": until,
              "reason": FREE_TEXT[6]})


def _partner_side(demo: Demo, client: httpx.Client) -> None:
    api = _Api(demo, client)
    key = SigningKey(Ed25519PrivateKey.generate())
    api("POST", "/api/v1/exchange/keys", "admin", 201,
        json={"side": "CN", "public_key": key.public_pem, "note": "trao tay tại hội đàm"})
    bulletin = copy.deepcopy(CN_BULLETIN)
    api("POST", "/api/v1/exchange/bulletins", "liaison", 201, json=key.sign(bulletin))


def _history(demo: Demo, client: httpx.Client) -> None:
    """Eight weeks of crossings before today, and the same weeks a year before; this year's
    targets."""
    api = _Api(demo, client)
    year = TODAY.year
    api("PUT", f"/api/v1/reports/targets/{year}/vehicles_crossed", "regulator",
        json={"value": 3_000})
    api("PUT", f"/api/v1/reports/targets/{year}/turnover_usd", "regulator",
        json={"value": 120_000_000})
    engine = make_engine(demo.settings.database_url)
    first = TODAY - timedelta(weeks=HISTORY_WEEKS)
    with make_session_factory(engine)() as session:
        for start, seed in ((first.replace(year=first.year - 1), 1), (first, 2)):
            rows = synthetic.facts(start, HISTORY_WEEKS * 7, seed=seed, per_day=40,
                                   enterprises=12, tz=LOCAL_TZ)
            facts.load(session, ((f"demo{start.year}:{i}", f) for i, f in enumerate(rows)),
                       now=demo.clock.now())
        session.commit()
    engine.dispose()
