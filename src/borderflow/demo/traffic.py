"""Demo traffic: actors that drive the real API the way enterprises, yard operators, border
guards, officers, cashiers, drivers' phones and the gates' cameras do, in accelerated time, so
every page shows live, plausible figures within a minute of ``make run``.

Calibrated to the Lang Son figures of the source documents: about 1,300–1,600 trucks a day
(``BORDERFLOW_DEMO_TRUCKS_PER_DAY``, 1,400 by default), roughly 27 % of them exports, shared
among the gates like the 2025 daily averages (Huu Nghi about 870, Tan Thanh 580, Chi Ma 230,
Coc Nam 76), with a morning peak of fresh fruit. At the default speed of 60 a simulated minute
takes a real second, so a simulated day takes 24 minutes.

The rules in here are only the actors' habits (how long a truck drives, how long an officer
takes); everything the platform decides (the queue, the calls, the fees, the steps' order) it
decides through its API, as for real actors.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from borderflow.clock import LOCAL_TZ

log = structlog.get_logger("borderflow.demo")

GATE_SHARES = {"huu-nghi": 870, "tan-thanh-dedicated": 580, "chi-ma": 230, "coc-nam": 76}
"""2025 daily averages of trucks per gate (the source documents)."""
EXPORT_SHARE = 0.27
HOURLY = (0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 1.8, 2.0, 1.9, 1.6, 1.3, 1.1,
          0.9, 1.1, 1.3, 1.3, 1.2, 1.0, 0.8, 0.6, 0.5, 0.4, 0.4, 0.3)
"""Relative declarations per local hour: the morning fruit peak, quieter nights."""
GOODS = {
    "fresh-fruit": ("0810.90", "Fresh dragon fruit", "carton"),
    "fresh-vegetables": ("0709.99", "Fresh vegetables", "crate"),
    "electrical-electronics": ("8471.30", "Laptop computers", "carton"),
    "machinery": ("8429.52", "Excavators", "piece"),
    "textiles-garments-footwear": ("6203.42", "Cotton trousers", "carton"),
    "plastics-rubber": ("3923.10", "Plastic crates", "pallet"),
}
FRUIT_SHARE_MORNING = 0.55
FRUIT_SHARE = 0.25
ONLINE_SHARE = 0.6
"""Fees paid online through the gateway (the rest in cash or by transfer at the counter)."""
DRIVER_APP_SHARE = 0.6
"""Trucks through the staging park whose driver runs the phone app (a demo driver's account):
the phone sends GPS positions all along the trip, and the driver may pay the fee."""
FIX_EVERY = 10
"""Simulated minutes between a phone's positions (fewer than the platform's 15 minutes of
silence that raise an alert, even at a speed of 1)."""
FIX_EVERY_DRIVING = 2
"""... and on the road from the park to the gate."""
APPROACH = (-0.03, 0.004)
"""Where trucks come from to the staging park: about 3 km south of it (lat, lon offsets)."""
DRIVER_PAYS = 0.5
"""Of the fees of those trucks, the share the driver pays online (the rest as for the others)."""
CAMERA_UNSURE = 0.15
"""Plate reads the camera is not sure of: they wait in the review queue for a border guard."""
CAMERA_CONFUSED = 0.1
"""Plate reads with one character confused (1/I, 0/O, 8/B, 5/S), read confidently: still
matched."""
CONFUSIONS = {"1": "I", "0": "O", "8": "B", "5": "S", "2": "Z"}
REVIEW_DELAY = (15.0, 50.0)
"""Simulated minutes before a border guard works a read in the review queue."""
BY_HAND_AFTER = 60.0
"""Simulated minutes after which a border guard records a movement by hand that the camera's
read has not (a read still in review, or none matched)."""
DRIVE_KMH = (25.0, 45.0)
KNOT_KMH = 1.852


def misread(plate: str, rng: random.Random) -> str:
    """The plate with one digit after the series read as the letter it resembles."""
    spots = [i for i, c in enumerate(plate) if i > 3 and c in CONFUSIONS]
    if not spots:
        return plate
    i = rng.choice(spots)
    return plate[:i] + CONFUSIONS[plate[i]] + plate[i + 1:]


Place = tuple[float, float]
"""(lat, lon)"""


@dataclass(frozen=True)
class Route:
    """The road a truck's phone reports along: the staging park, where the road ends short of
    the gate area (the entry camera admits the truck), and the gate."""

    park: Place
    road_end: Place
    gate: Place


def along(route: Route, progress: float) -> Place:
    """A point on the road from the park (a straight line here) at ``progress`` from 0 to 1."""
    (lat0, lon0), (lat1, lon1) = route.park, route.road_end
    p = min(1.0, max(0.0, progress))
    return lat0 + (lat1 - lat0) * p, lon0 + (lon1 - lon0) * p


def arrivals(trucks_per_day: float, hour: int) -> float:
    """Expected new declarations in one simulated minute at a local hour."""
    weight = HOURLY[hour] / (sum(HOURLY) / 24)
    return trucks_per_day / 1440 * weight


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


CONNECT_WAIT = 15.0
"""Real seconds the actors wait for the server to answer, at start (it may still be starting)
or later, before they give up."""
PROBE_TIMEOUT = 3.0
"""Real seconds one attempt to reach the server may take."""
FIX_HINT = ("set BORDERFLOW_PUBLIC_BASE_URL to the address this machine reaches the server at, "
            "or leave it unset to follow `borderflow serve --host --port`")


class Offline(Exception):
    """The platform does not accept connections (it is starting or stopping)."""


@dataclass
class Driver:
    """A demo driver with the phone app: an account (its API key) and a phone (device id)."""

    document: str
    key: str
    device: str
    busy: bool = False
    bound: bool = False
    token: str = ""
    """What binding gave the phone: it sends this as its id."""


@dataclass
class Truck:
    ref: str
    gate: str
    flow: str
    staged: bool
    phase: str  # travelling | waiting | called | driving_in | in_gate | done
    due: float
    """Simulated minute of the truck's next action."""
    seen_called: bool = False
    steps_done: int = 0
    plate: str = ""
    driver: Driver | None = None
    drive_from: float = 0.0
    """Simulated minute the truck left the staging park for the gate."""
    read_at: float | None = None
    """Simulated minute the entry camera read the plate."""
    inside: bool = False
    """The trip shows the truck in the gate area."""
    last_fix: float = -math.inf


@dataclass
class Traffic:
    """The actors. ``keys``: API keys of the demo enterprise and of the demo officers."""

    base_url: str
    enterprise_key: str
    officers_key: str
    tax_code: str
    staged_gates: frozenset[str]
    permitted: dict[tuple[str, str], list[str]]
    """(gate, flow) -> goods groups of :data:`GOODS` the gate permits in that direction."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(LOCAL_TZ))
    """The platform's clock (dates and hours of the simulated day follow it)."""
    speed: float = 60.0
    trucks_per_day: float = 1400.0
    seed: int = 20261123
    drivers: list[Driver] = field(default_factory=list)
    cameras: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Gate -> its entry camera (``gate_in``, export lanes): code and API key."""
    routes: dict[str, Route] = field(default_factory=dict)
    """Gate -> the road from its staging park (gates with one)."""
    minute: float = 0.0
    trucks: dict[str, Truck] = field(default_factory=dict)
    declared: int = 0
    errors: int = 0
    positions: int = 0
    reads: int = 0
    in_review: dict[int, float] = field(default_factory=dict)
    """Reads waiting for an officer -> the simulated minute the officer works them."""
    connect_wait: float = CONNECT_WAIT
    failure: str | None = None
    """Why the actors stopped before the server did: it could not be reached."""

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - a simulation, not a secret

    # --- the actors' habits (pure) ---------------------------------------------------------

    def pick_gate_and_flow(self) -> tuple[str, str, str] | None:
        flow = "export" if self.rng.random() < EXPORT_SHARE else "import"
        gates = [g for g in GATE_SHARES if self.permitted.get((g, flow))]
        if not gates:
            return None
        gate = self.rng.choices(gates, weights=[GATE_SHARES[g] for g in gates])[0]
        goods = self.permitted[(gate, flow)]
        hour = self.clock().astimezone(LOCAL_TZ).hour
        fruit = [g for g in goods if g.startswith("fresh-")]
        share = FRUIT_SHARE_MORNING if 5 <= hour < 10 else FRUIT_SHARE
        group = self.rng.choice(fruit if fruit and self.rng.random() < share else goods)
        return gate, flow, group

    def declaration(self, gate: str, flow: str, group: str,
                    driver: Driver | None = None) -> dict[str, Any]:
        hs, description, unit = GOODS[group]
        n = self.rng.randrange(100000)
        province = self.rng.choice(["12C", "12H", "29C", "51D", "98C"])
        plate = f"{province}-{n // 100:03d}.{n % 100:02d}"
        # a citizen ID: province code, century and sex, year of birth, serial
        doc = (f"{self.rng.randint(1, 96):03d}{self.rng.choice('0123')}"
               f"{self.rng.randrange(60, 100) % 100:02d}{self.rng.randrange(10**6):06d}")
        payload = self.rng.choice([10, 18, 25, 30])
        weight = self.rng.randrange(payload * 400, payload * 950)
        phone = f"0{self.rng.choice(['90', '91', '93', '94', '96', '97', '98'])}" \
                f"{self.rng.randrange(10**7):07d}"
        if driver is not None:
            doc = driver.document
        body: dict[str, Any] = {
            "direction": flow,
            "enterprise": {"tax_code": self.tax_code, "name": "Cong ty Demo Xuat nhap khau"},
            "requested_gate": gate,
            "requested_date": self.clock().astimezone(LOCAL_TZ).date().isoformat(),
            "goods": [{"hs_code": hs, "description": description,
                       "quantity": str(self.rng.randrange(100, 2000)), "unit": unit,
                       "net_weight_kg": weight,
                       "value_usd": f"{weight * self.rng.uniform(0.5, 4):.2f}"}],
            "vehicles": [{"plate": plate, "vehicle_type": "container_truck",
                          "payload_tonnes": str(payload),
                          "container": self.rng.choice(["none", "20ft", "40ft"]),
                          "driver": {"name": "Nguyen Van Demo", "document_type": "vn_citizen_id",
                                     "document_number": doc,
                                     "phone": phone,
                                     "crosses_border": self.rng.random() < 0.2}}],
        }
        if group.startswith("fresh-"):
            body["quarantine"] = [{"kind": "plant",
                                   "certificate_number": f"KDTV-DEMO-{n:06d}"}]
        return body

    def later(self, low: float, high: float) -> float:
        return self.minute + self.rng.uniform(low, high)

    # --- one simulated minute ----------------------------------------------------------------

    async def tick(self, client: httpx.AsyncClient) -> None:
        hour = self.clock().astimezone(LOCAL_TZ).hour
        for _ in range(poisson(self.rng, arrivals(self.trucks_per_day, hour))):
            await self._declare(client)
        if any(t.phase == "waiting" for t in self.trucks.values()):
            await self._notice_calls(client)
        for truck in list(self.trucks.values()):
            if truck.driver is not None and self.minute - truck.last_fix >= (
                    FIX_EVERY_DRIVING if truck.phase == "driving_in" else FIX_EVERY):
                await self._send_position(client, truck)
            if truck.due <= self.minute:
                await self._act(client, truck)
        if self.cameras and int(self.minute) % 5 == 0:
            await self._work_review_queue(client)
        for truck in self.trucks.values():
            if truck.phase == "done" and truck.driver is not None:
                truck.driver.busy = False
        self.trucks = {r: t for r, t in self.trucks.items() if t.phase != "done"}
        self.minute += 1

    async def _call(self, client: httpx.AsyncClient, method: str, url: str, key: str | None,
                    **kwargs: Any) -> httpx.Response | None:
        try:
            r = await client.request(method, url, headers={"X-API-Key": key} if key else {},
                                     **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # the server is not listening (starting or stopping), or not at this address
            raise Offline(str(exc) or type(exc).__name__) from None
        except httpx.HTTPError as exc:
            self.errors += 1
            log.warning("demo request failed", url=url, reason=str(exc) or type(exc).__name__)
            return None
        if r.status_code >= 400:
            self.errors += 1
            log.info("demo request refused", url=url, status=r.status_code,
                     reason=r.text[:200])
        return r

    async def _declare(self, client: httpx.AsyncClient) -> None:
        picked = self.pick_gate_and_flow()
        if picked is None:
            return
        gate, flow, group = picked
        staged = flow == "export" and gate in self.staged_gates
        driver = self._free_driver() if staged and gate in self.routes else None
        body = self.declaration(gate, flow, group, driver)
        r = await self._call(client, "POST", "/api/v1/declarations", self.enterprise_key,
                             json=body)
        if r is None or r.status_code != 201:
            return
        ref = f"{r.json()['reference']}-1"
        self.declared += 1
        self.trucks[ref] = Truck(ref, gate, flow, staged, "travelling", self.later(20, 120),
                                 plate=body["vehicles"][0]["plate"], driver=driver)
        if driver is not None:
            driver.busy = True
            if not driver.bound:  # the driver binds the phone once, as on the driver page
                bound = await self._call(client, "POST", f"/api/v1/devices/{driver.device}/bind",
                                         driver.key, json={"driver_document": driver.document,
                                                           "label": "demo phone"})
                driver.bound = bound is not None and bound.status_code == 200
                if bound is not None and driver.bound:
                    driver.token = bound.json()["token"]

    def _free_driver(self) -> Driver | None:
        """A demo driver with the app, free for a trip (some trucks' drivers have it)."""
        free = [d for d in self.drivers if not d.busy]
        if not free or self.rng.random() >= DRIVER_APP_SHARE:
            return None
        return self.rng.choice(free)

    def where(self, truck: Truck) -> tuple[Place, float] | None:
        """Where the truck is for its phone, and its speed in km/h: coming to the park, in it,
        on the road to the gate, waiting at the gate for the trip to show it in, then in the
        gate area."""
        route = self.routes.get(truck.gate)
        if route is None:
            return None
        if truck.phase == "travelling":
            return (route.park[0] + APPROACH[0], route.park[1] + APPROACH[1]), \
                self.rng.uniform(*DRIVE_KMH)
        if truck.phase == "waiting":
            return route.park, 0.0
        if truck.phase == "driving_in":
            span = max(1.0, truck.due - truck.drive_from)
            return along(route, (self.minute - truck.drive_from) / span), \
                self.rng.uniform(*DRIVE_KMH)
        return (route.gate if truck.inside else route.road_end), 0.0

    async def _send_position(self, client: httpx.AsyncClient, truck: Truck) -> None:
        """The driver's phone (Traccar Client, OsmAnd protocol): one fix every two simulated
        minutes on the road from the park to the gate, every ten elsewhere."""
        place = self.where(truck)
        if place is None or truck.driver is None or not truck.driver.bound:
            return
        (lat, lon), kmh = place
        truck.last_fix = self.minute
        r = await self._call(client, "GET", "/api/v1/telemetry/osmand", None, params={
            "id": truck.driver.token, "lat": f"{lat:.6f}", "lon": f"{lon:.6f}",
            "timestamp": int(self.clock().timestamp() * 1000), "speed": f"{kmh / KNOT_KMH:.1f}",
            "accuracy": "8", "batt": str(self.rng.randrange(30, 100))})
        if r is not None and r.status_code == 200:
            self.positions += 1

    async def _read_plate(self, client: httpx.AsyncClient, truck: Truck) -> bool:
        """The gate's entry camera reads the plate of a truck driving in (mostly sure; some
        reads confuse a character; some are unsure and wait for an officer)."""
        camera = self.cameras.get(truck.gate)
        if camera is None:
            return False
        code, key = camera
        plate, confidence = truck.plate, self.rng.uniform(0.93, 0.995)
        draw = self.rng.random()
        if draw < CAMERA_UNSURE:
            confidence = self.rng.uniform(0.55, 0.85)
        elif draw < CAMERA_UNSURE + CAMERA_CONFUSED:
            plate = misread(plate, self.rng)
        r = await self._call(client, "POST", "/api/v1/plate-reads", key, json={
            "camera": code, "plate": plate, "confidence": round(confidence, 3),
            "time": self.clock().isoformat(), "direction": "in"})
        if r is None or r.status_code != 201:
            return False
        self.reads += 1
        truck.read_at = self.minute
        return True

    async def _work_review_queue(self, client: httpx.AsyncClient) -> None:
        """A border guard works the reads waiting for review: a few minutes after each
        arrives, confirms it as the likeliest trip, or dismisses it when there is none."""
        r = await self._call(client, "GET", "/api/v1/plate-reads/review", self.officers_key,
                             params={"limit": 100})
        if r is None or r.status_code != 200:
            return
        waiting = {item["id"]: item for item in r.json()}
        self.in_review = {i: m for i, m in self.in_review.items() if i in waiting}
        for read_id, item in waiting.items():
            when = self.in_review.setdefault(read_id, self.later(*REVIEW_DELAY))
            if when > self.minute:
                continue
            expected = [c for c in item["candidate_trips"] if c["expected"]]
            if expected:
                done = await self._call(client, "POST", f"/api/v1/plate-reads/{read_id}/confirm",
                                        self.officers_key,
                                        json={"trip": expected[0]["reference"]})
                if done is not None and done.status_code == 200:
                    continue
            # none expected, or the truck is in already (by hand, or its phone's position)
            await self._call(client, "POST", f"/api/v1/plate-reads/{read_id}/dismiss",
                             self.officers_key, json={"reason": "no expected truck"})

    async def _notice_calls(self, client: httpx.AsyncClient) -> None:
        r = await self._call(client, "GET", "/api/v1/trips", self.officers_key,
                             params={"status": "called", "limit": 200})
        if r is None or r.status_code != 200:
            return
        for item in r.json()["items"]:
            truck = self.trucks.get(item["reference"])
            if truck is not None and truck.phase == "waiting":
                truck.phase, truck.due = "driving_in", self.later(8, 40)
                truck.drive_from = self.minute

    async def _move(self, client: httpx.AsyncClient, truck: Truck, area: str) -> bool:
        r = await self._call(client, "POST", f"/api/v1/trips/{truck.ref}/movements",
                             self.officers_key, json={"action": "enter", "area": area})
        return r is not None and r.status_code == 200

    async def _act(self, client: httpx.AsyncClient, truck: Truck) -> None:
        if truck.phase == "travelling":
            if truck.staged:  # into the logistics park; the dispatcher calls it
                if await self._move(client, truck, "staging:viettel-logistics-park"):
                    truck.phase, truck.due = "waiting", math.inf
                else:
                    truck.phase = "done"
            elif truck.flow == "export":  # gates without a staging area: straight in
                await self._arrive_at_gate(client, truck)
            else:  # imports come across: the crossing step brings them into the gate area
                truck.phase, truck.due = "in_gate", self.minute
        elif truck.phase == "driving_in":
            await self._arrive_at_gate(client, truck)
        elif truck.phase == "in_gate":
            await self._next_step(client, truck)

    async def _arrive_at_gate(self, client: httpx.AsyncClient, truck: Truck) -> None:
        """The gate's entry camera reads the plate (which admits the truck), or, at a gate
        without one, the border guard records the entry."""
        if await self._read_plate(client, truck):
            truck.phase, truck.due = "in_gate", self.later(1, 5)
            return
        ok = await self._move(client, truck, f"gate_area:{truck.gate}")
        truck.phase, truck.due = ("in_gate", self.later(3, 15)) if ok else ("done", 0)

    async def _next_step(self, client: httpx.AsyncClient, truck: Truck) -> None:
        """An officer records what is pending (a cashier takes the fee first when it is due)."""
        r = await self._call(client, "GET", f"/api/v1/trips/{truck.ref}", self.officers_key)
        if r is None or r.status_code != 200:
            truck.phase = "done"
            return
        trip = r.json()
        if trip["status"] in ("completed", "rejected", "cancelled") or truck.steps_done > 20:
            truck.phase = "done"
            return
        truck.inside = trip["status"] == "in_gate_area"
        if truck.read_at is not None and trip["status"] in ("declared", "at_staging", "called"):
            # the entry camera's read is not on the trip yet (it waits for an officer)
            if self.minute - truck.read_at < BY_HAND_AFTER:
                truck.due = self.later(3, 8)
                return
            await self._move(client, truck, f"gate_area:{truck.gate}")
            truck.read_at = None
        pending = list(trip["pending_for_you"])
        if not pending:
            truck.due = self.later(5, 15)
            return
        step = pending[0]
        if step == "fee":
            await self._pay(client, truck)
        else:
            await self._pass(client, truck, step)
        truck.steps_done += 1
        truck.due = self.later(3, 20)

    async def _pass(self, client: httpx.AsyncClient, truck: Truck, step: str) -> None:
        body: dict[str, Any] = {"outcome": "pass"}
        if step == "customs":
            body["channel"] = self.rng.choices(["green", "yellow", "red"], [85, 12, 3])[0]
        await self._call(client, "POST", f"/api/v1/trips/{truck.ref}/steps/{step}",
                         self.officers_key, json=body)

    async def _pay(self, client: httpx.AsyncClient, truck: Truck) -> None:
        r = await self._call(client, "GET", f"/api/v1/trips/{truck.ref}/invoice",
                             self.officers_key)
        if r is None or r.status_code != 200 or not r.json()["due"]:
            return
        inv = r.json()
        if truck.driver is not None and self.rng.random() < DRIVER_PAYS and \
                await self._pay_online(client, inv["number"], truck.driver.key):
            return  # the driver pays on the phone
        if self.rng.random() < ONLINE_SHARE and await self._pay_online(client, inv["number"]):
            return
        method = self.rng.choice(["cash", "bank_transfer"])
        await self._call(client, "POST", f"/api/v1/invoices/{inv['number']}/payments",
                         self.officers_key,
                         json={"method": method, "amount": inv["due"],
                               "reference": f"FT{self.rng.randrange(10**9)}"
                               if method == "bank_transfer" else None})

    async def _pay_online(self, client: httpx.AsyncClient, number: str,
                          key: str | None = None) -> bool:
        """The enterprise (or the driver) pays at the gateway's page, as a payer's browser
        does; the gateway confirms to the platform server to server."""
        r = await self._call(client, "POST", f"/api/v1/invoices/{number}/pay-online",
                             key or self.enterprise_key, json={})
        if r is None or r.status_code != 201:
            return False
        page = urlsplit(r.json()["payment_url"])
        confirm = page.path.replace("vpcpay.html", "confirm")
        try:
            done = await client.post(confirm, data={"query": page.query, "outcome": "pay"},
                                     headers={"Accept": "application/json"})
        except httpx.HTTPError:
            return False
        return done.status_code == 200

    async def reach(self, client: httpx.AsyncClient, stop: asyncio.Event) -> bool:
        """Wait until the platform answers at :attr:`base_url` (its liveness probe), trying
        again for :attr:`connect_wait` seconds; then give up (:meth:`give_up`). False also when
        ``stop`` is set meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_wait
        while not stop.is_set():
            try:
                r = await client.get("/healthz", timeout=PROBE_TIMEOUT)
            except httpx.TransportError as exc:
                reason = f"no answer ({str(exc) or type(exc).__name__})"
            else:
                if r.status_code == 200 and _is_ours(r):
                    return True
                reason = f"answered HTTP {r.status_code}, not as a Borderflow server"
            left = deadline - loop.time()
            if left <= 0:
                self.give_up(reason)
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(0.5, left))
        return False

    def give_up(self, reason: str) -> None:
        """Stop the actors for good, with an error saying what was tried and what to set."""
        self.failure = f"cannot reach the server at {self.base_url}: {reason}"
        log.error(f"demo traffic stopped: {self.failure}; {FIX_HINT}", url=self.base_url,
                  reason=reason, waited_seconds=self.connect_wait,
                  fix="BORDERFLOW_PUBLIC_BASE_URL")

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every simulated minute until ``stop`` is set; stop early, with an error, when
        the server cannot be reached for :attr:`connect_wait` seconds."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            if not await self.reach(client, stop):
                return
            log.info("demo traffic started", url=self.base_url, speed=self.speed,
                     trucks_per_day=self.trucks_per_day)
            offline_since: float | None = None
            while not stop.is_set():
                started = asyncio.get_running_loop().time()
                try:
                    await self.tick(client)
                    offline_since = None
                except Offline as exc:  # stopping, most likely: try again at the next tick
                    offline_since = started if offline_since is None else offline_since
                    if started - offline_since >= self.connect_wait and not stop.is_set():
                        self.give_up(f"no answer any more ({exc})")
                        return
                except Exception:  # the demo must keep going; it is logged
                    log.exception("demo tick failed")
                wait = max(0.0, 60.0 / self.speed - (asyncio.get_running_loop().time()
                                                     - started))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)


def _is_ours(r: httpx.Response) -> bool:
    """The answer of Borderflow's liveness probe."""
    try:
        body = r.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") == "ok" and "version" in body
