"""The Locust side of bench/load.py: the peak day's people and machines replayed against a
running platform. Not run by itself: bench/load.py writes the configuration (the day, the
keys, the places) to the file named by ``BF_LOAD_CONFIG`` and runs ``locust --headless`` on
this file; the figures are written to ``BF_LOAD_RESULTS`` when Locust quits.

Three kinds of users:

- ``Actor`` (``actors`` of them): the enterprise's office, the yard, the drivers, the cameras,
  the officers and cashiers, and the payment gateway. A scheduler greenlet keeps every
  truck's next action at its game time (game time runs ``speed`` times faster than the wall
  clock) and hands it to a free actor when due; how late it was handed over is measured
  (``lag``).
- ``Phone`` (``phones`` of them): every active truck's phone sends its position (OsmAnd, with
  the token its binding gave) every ``GPS_EVERY`` game seconds.
- ``BoardViewer`` (``viewers`` of them): the public board, refreshed every ``board_every``
  wall seconds with ``If-None-Match``.

Every request is named after what it is (``declaration``, ``gps``, ``board_panel``...); any
answer other than the expected one is an error, and a few of each are kept with their text.
"""

from __future__ import annotations

import heapq
import html
import itertools
import json
import math
import os
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import gevent
from gevent.queue import Empty, Queue
from locust import FastHttpUser, constant, constant_pacing, events, task
from locust.env import Environment

from borderflow.demo.traffic import GOODS
from borderflow.fees.gateway import sign, vnp_time

CONFIG: dict[str, Any] = json.loads(Path(os.environ["BF_LOAD_CONFIG"]).read_text())
GPS_EVERY = float(CONFIG["gps_every"])
CALL_POLL_EVERY = float(CONFIG["call_poll_every"])
WRITES = frozenset({"declaration", "bind", "booking", "park_entry", "acknowledge", "camera",
                    "movement", "step", "pay_online", "payment", "callback", "gps"})
READS = frozenset({"slots", "called", "trip", "invoice"})
BOARD = frozenset({"board", "board_panel"})
VISITS = 30
"""Officers' visits after which a truck still not through is left (and counted)."""


@dataclass
class Truck:
    plan: dict[str, Any]
    ref: str = ""
    token: str = ""
    phase: str = "new"  # travelling | waiting | driving_in | at_gate | done
    drive_from: float = 0.0
    drive_until: float = 0.0
    read_at: float | None = None
    inside: bool = False
    visits: int = 0
    parked_at: float = 0.0


@dataclass
class Replay:
    config: dict[str, Any]
    t0: float = 0.0
    heap: list[tuple[float, int, str, Any, tuple[Any, ...]]] = field(default_factory=list)
    work: Queue = field(default_factory=Queue)
    gps: Queue = field(default_factory=Queue)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    lag: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    counts: Counter[str] = field(default_factory=Counter)
    call_waits: list[float] = field(default_factory=list)
    through: list[float] = field(default_factory=list)
    finished: bool = False
    kinds: Counter[str] = field(default_factory=Counter)
    """Failed requests by request and kind of answer."""

    def __post_init__(self) -> None:
        self.speed = float(self.config["speed"])
        self.start = float(self.config["start"])
        self.end = self.start + float(self.config["seconds"])
        self.seq = itertools.count()
        self.trucks = [Truck(p) for p in self.config["trucks"]]
        self.rng = random.Random(self.config["seed"])
        self.officers = {"X-API-Key": self.config["officers_key"]}
        self.enterprise = {"X-API-Key": self.config["enterprise_key"]}

    # --- the clock and the schedule -----------------------------------------------------------

    def game_now(self) -> float:
        return self.start + (time.monotonic() - self.t0) * self.speed

    def at(self, game_t: float, queue: str, action: Any, *args: Any) -> None:
        if game_t >= self.end:
            return
        due = self.t0 + (game_t - self.start) / self.speed
        heapq.heappush(self.heap, (due, next(self.seq), queue, action, args))

    def after(self, game_seconds: float, queue: str, action: Any, *args: Any) -> None:
        self.at(self.game_now() + game_seconds, queue, action, *args)

    def schedule(self, environment: Environment) -> None:
        """Hands each action to the actors (or the phones) when its time comes; when the
        window is over, stops the run."""
        self.t0 = time.monotonic()
        for truck in self.trucks:
            self.at(truck.plan["declare_at"], "work", self.declare, truck)
        self.at(self.start + CALL_POLL_EVERY, "work", self.poll_calls)
        wall_end = self.t0 + (self.end - self.start) / self.speed
        while time.monotonic() < wall_end:
            now = time.monotonic()
            while self.heap and self.heap[0][0] <= now:
                due, _, queue, action, args = heapq.heappop(self.heap)
                (self.gps if queue == "gps" else self.work).put((due, action, args))
                if queue == "gps":  # the phone's next fix, whether this one is sent or not
                    truck = args[0]
                    if truck.phase != "done":
                        self.at(self.game_of(due) + GPS_EVERY, "gps", action, truck)
            wait = (self.heap[0][0] - now) if self.heap else 0.05
            gevent.sleep(min(max(wait, 0.0), 0.05))
        self.finished = True
        self.counts["left_in_queues_work"] = self.work.qsize()
        self.counts["left_in_queues_gps"] = self.gps.qsize()
        gevent.sleep(2)  # the requests under way end
        if environment.runner is not None:
            environment.runner.quit()

    def game_of(self, wall: float) -> float:
        return self.start + (wall - self.t0) * self.speed

    def take(self, queue: str, client: Any) -> None:
        source = self.gps if queue == "gps" else self.work
        try:
            due, action, args = source.get(timeout=0.5)
        except Empty:
            return
        if self.finished:
            return
        self.lag[queue].append((time.monotonic() - due) * 1000)
        action(client, *args)

    # --- requests -------------------------------------------------------------------------------

    def call(self, client: Any, name: str, method: str, path: str, expect: tuple[int, ...] = (200,),
             refused: tuple[int, ...] = (), **kwargs: Any) -> Any:
        """The request; its answer when it is one of ``expect``; ``refused`` answers are
        correct refusals (counted, not errors)."""
        with client.request(method, path, name=name, catch_response=True, **kwargs) as r:
            if r.status_code in expect:
                r.success()
                return r
            if r.status_code in refused:
                r.success()
                self.counts[f"{name}_refused_{r.status_code}"] += 1
                return None
            r.failure(f"HTTP {r.status_code}: {(r.text or '')[:300]}")
            return None

    # --- one truck ------------------------------------------------------------------------------

    def declare(self, client: Any, truck: Truck) -> None:
        plan = truck.plan
        r = self.call(client, "declaration", "POST", "/api/v1/declarations", (201,),
                      json=self.declaration(plan), headers=self.enterprise)
        if r is None:
            truck.phase = "done"
            return
        truck.ref = f"{r.json()['reference']}-1"
        truck.phase = "travelling"
        self.counts["declared"] += 1
        doc, key = self.config["drivers"][str(plan["index"])]
        bound = self.call(client, "bind", "POST", f"/api/v1/devices/phone-{plan['index']}/bind",
                          json={"driver_document": doc, "label": "phone"},
                          headers={"X-API-Key": key})
        if bound is not None:
            truck.token = bound.json()["token"]
            self.after(self.rng.uniform(0, GPS_EVERY), "gps", self.send_position, truck)
        if plan["books"]:
            self.book(client, truck)
        if plan["staged"]:
            self.after(plan["arrive_after"], "work", self.enter_park, truck)
        elif plan["flow"] == "export":
            self.after(plan["arrive_after"], "work", self.arrive_at_gate, truck)
        else:  # imports come across: the crossing step brings them into the gate area
            self.after(plan["arrive_after"], "work", self.cross, truck)

    def declaration(self, plan: dict[str, Any]) -> dict[str, Any]:
        hs, description, unit = GOODS[plan["group"]]
        i = plan["index"]
        rng = random.Random(i)
        payload = rng.choice([10, 18, 25, 30])
        weight = rng.randrange(payload * 400, payload * 950)
        body: dict[str, Any] = {
            "direction": plan["flow"],
            "enterprise": {"tax_code": self.config["tax_code"],
                           "name": "Cong ty Xuat nhap khau Tet"},
            "requested_gate": plan["gate"],
            "requested_date": self.config["date"],
            "goods": [{"hs_code": hs, "description": description,
                       "quantity": str(rng.randrange(100, 2000)), "unit": unit,
                       "net_weight_kg": weight, "value_usd": f"{weight * 1.7:.2f}"}],
            "vehicles": [{"plate": plate(i), "vehicle_type": "container_truck",
                          "payload_tonnes": str(payload),
                          "container": rng.choice(["none", "20ft", "40ft"]),
                          "driver": {"name": "Nguyen Van Tet", "document_type": "vn_citizen_id",
                                     "document_number": self.config["drivers"][str(i)][0],
                                     "phone": f"090{i:07d}", "crosses_border": False}}],
        }
        if plan["group"].startswith("fresh-"):
            body["quarantine"] = [{"kind": "plant", "certificate_number": f"KDTV-TET-{i:06d}"}]
        return body

    def book(self, client: Any, truck: Truck) -> None:
        plan = truck.plan
        r = self.call(client, "slots", "GET", f"/api/v1/gates/{plan['gate']}/slots",
                      params={"direction": plan["flow"], "count": 4})
        free = [s for s in (r.json() if r is not None else []) if s.get("free", 0) > 0]
        if not free:
            self.counts["booking_no_free_slot"] += 1
            return
        self.call(client, "booking", "POST", f"/api/v1/trips/{truck.ref}/booking", (201,),
                  refused=(409,), json={"slot_start": free[0]["start"]}, headers=self.enterprise)

    def enter_park(self, client: Any, truck: Truck) -> None:
        park = self.config["places"][truck.plan["gate"]]["park_code"]
        if self.move(client, truck, f"staging:{park}", "park_entry"):
            truck.phase, truck.parked_at = "waiting", self.game_now()
        else:
            truck.phase = "done"

    def poll_calls(self, client: Any) -> None:
        """The enterprise's dispatch office looks at its called trucks (every page)."""
        waiting = {t.ref: t for t in self.trucks if t.phase == "waiting"}
        offset = 0
        while waiting:
            r = self.call(client, "called", "GET", "/api/v1/trips", headers=self.enterprise,
                          params={"status": "called", "limit": 200, "offset": offset})
            if r is None:
                break
            page = r.json()
            for item in page["items"]:
                truck = waiting.pop(item["reference"], None)
                if truck is not None:
                    self.called(truck)
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                break
        self.after(CALL_POLL_EVERY, "work", self.poll_calls)

    def called(self, truck: Truck) -> None:
        now = self.game_now()
        self.counts["called"] += 1
        self.call_waits.append((now - truck.parked_at) / 60)
        truck.phase, truck.drive_from = "driving_in", now
        truck.drive_until = now + truck.plan["drive_in"]
        self.after(truck.plan["ack_after"], "work", self.acknowledge, truck)
        self.after(truck.plan["drive_in"], "work", self.arrive_at_gate, truck)

    def acknowledge(self, client: Any, truck: Truck) -> None:
        _doc, key = self.config["drivers"][str(truck.plan["index"])]
        self.call(client, "acknowledge", "POST", f"/api/v1/trips/{truck.ref}/acknowledge",
                  headers={"X-API-Key": key})

    def arrive_at_gate(self, client: Any, truck: Truck) -> None:
        """The entry camera reads the plate (which admits the truck); at a gate without one,
        the border guard records the entry."""
        camera = self.config["cameras"].get(truck.plan["gate"])
        if camera is not None:
            code, key = camera
            r = self.call(client, "camera", "POST", "/api/v1/plate-reads", (201,),
                          headers={"X-API-Key": key},
                          json={"camera": code, "plate": plate(truck.plan["index"]),
                                "confidence": 0.97, "time": datetime.now(UTC).isoformat(),
                                "direction": "in"})
            if r is not None:
                truck.read_at = self.game_now()
        else:
            self.move(client, truck, f"gate_area:{truck.plan['gate']}", "movement")
        truck.phase = "at_gate"
        self.after(truck.plan["step_gaps"][0], "work", self.visit, truck)

    def cross(self, client: Any, truck: Truck) -> None:
        truck.phase = "at_gate"
        self.visit(client, truck)

    def move(self, client: Any, truck: Truck, area: str, name: str) -> bool:
        r = self.call(client, name, "POST", f"/api/v1/trips/{truck.ref}/movements",
                      json={"action": "enter", "area": area}, headers=self.officers)
        return r is not None

    def visit(self, client: Any, truck: Truck) -> None:
        """An officer records what is pending (the cashier takes the fee when it is due)."""
        truck.visits += 1
        gaps = truck.plan["step_gaps"]
        next_gap = gaps[min(truck.visits, len(gaps) - 1)]
        r = self.call(client, "trip", "GET", f"/api/v1/trips/{truck.ref}", headers=self.officers)
        if r is None:
            truck.phase = "done"
            return
        trip = r.json()
        if trip["status"] in ("completed", "rejected", "cancelled"):
            self.finish(truck, trip["status"])
            return
        if truck.visits > VISITS:
            self.finish(truck, "left")
            return
        truck.inside = trip["status"] == "in_gate_area"
        if truck.read_at is not None and trip["status"] in ("declared", "at_staging", "called"):
            if self.game_now() - truck.read_at < 3600:  # the read waits for review
                self.after(300, "work", self.visit, truck)
                return
            self.move(client, truck, f"gate_area:{truck.plan['gate']}", "movement")
            truck.read_at = None
        pending = trip["pending_for_you"]
        if pending:
            if pending[0] == "fee":
                self.pay(client, truck)
            else:
                body: dict[str, Any] = {"outcome": "pass"}
                if pending[0] == "customs":
                    body["channel"] = truck.plan["channel"]
                self.call(client, "step", "POST",
                          f"/api/v1/trips/{truck.ref}/steps/{pending[0]}", json=body,
                          headers=self.officers)
        self.after(next_gap, "work", self.visit, truck)

    def finish(self, truck: Truck, how: str) -> None:
        truck.phase = "done"
        self.counts[f"trips_{how}"] += 1
        self.through.append((self.game_now() - truck.plan["declare_at"]) / 60)

    def pay(self, client: Any, truck: Truck) -> None:
        r = self.call(client, "invoice", "GET", f"/api/v1/trips/{truck.ref}/invoice",
                      headers=self.officers)
        if r is None or not r.json()["due"]:
            return
        invoice = r.json()
        if truck.plan["pays_online"]:
            started = self.call(client, "pay_online", "POST",
                                f"/api/v1/invoices/{invoice['number']}/pay-online", (201,),
                                json={}, headers=self.enterprise)
            if started is not None:
                self.gateway_callback(client, started.json()["payment_url"])
            return
        self.call(client, "payment", "POST", f"/api/v1/invoices/{invoice['number']}/payments",
                  (201,), json={"method": "cash", "amount": invoice["due"]},
                  headers=self.officers)

    def gateway_callback(self, client: Any, payment_url: str) -> None:
        """The gateway confirms the payment to the platform, server to server (VNPay's IPN,
        signed as the sandbox signs it)."""
        asked = dict(parse_qsl(urlsplit(payment_url).query))
        number = str(next(self.seq) + 14_000_000)
        params = {
            "vnp_Amount": asked["vnp_Amount"], "vnp_BankCode": "NCB",
            "vnp_BankTranNo": f"VNP{number}", "vnp_CardType": "ATM",
            "vnp_OrderInfo": asked.get("vnp_OrderInfo", ""),
            "vnp_PayDate": vnp_time(datetime.now(UTC)), "vnp_ResponseCode": "00",
            "vnp_TmnCode": asked["vnp_TmnCode"], "vnp_TransactionNo": number,
            "vnp_TransactionStatus": "00", "vnp_TxnRef": asked["vnp_TxnRef"],
            "vnp_SecureHashType": "HmacSHA512"}
        params["vnp_SecureHash"] = sign(params, self.config["hash_secret"])
        r = self.call(client, "callback", "GET", "/api/v1/payments/vnpay/ipn", params=params)
        if r is not None and r.json().get("RspCode") != "00":
            self.errors["callback_not_confirmed"] += 1
            self.samples.append(f"callback: {r.text[:200]}")

    def send_position(self, client: Any, truck: Truck) -> None:
        if truck.phase == "done" or not truck.token:
            return
        (lat, lon), kmh = self.where(truck)
        self.call(client, "gps", "GET", "/api/v1/telemetry/osmand", params={
            "id": truck.token, "lat": f"{lat:.6f}", "lon": f"{lon:.6f}",
            "timestamp": int(time.time() * 1000), "speed": f"{kmh / 1.852:.1f}",
            "accuracy": "8", "batt": "80"})

    def where(self, truck: Truck) -> tuple[tuple[float, float], float]:
        """Where the phone is: coming, in the park, on the road to the gate (short of the
        gate area until the trip shows the truck in it), at the gate."""
        place = self.config["places"][truck.plan["gate"]]
        if truck.phase == "travelling":
            return tuple(place["far"]), 35.0  # type: ignore[return-value]
        if truck.phase == "waiting":
            return tuple(place["park"]), 0.0  # type: ignore[return-value]
        if truck.phase == "driving_in":
            span = max(1.0, truck.drive_until - truck.drive_from)
            p = min(1.0, max(0.0, (self.game_now() - truck.drive_from) / span))
            (a, b), (c, d) = place["park"], place["road_end"]
            return (a + (c - a) * p, b + (d - b) * p), 35.0
        return tuple(place["gate" if truck.inside else "road_end"]), 0.0  # type: ignore[return-value]

    # --- the figures ----------------------------------------------------------------------------

    def figures(self, wall_seconds: float) -> dict[str, Any]:
        per_name = {}
        for name, took in sorted(self.latencies.items()):
            per_name[name] = summary(took, wall_seconds) | {"errors": self.errors[name]}
        classes = {}
        for cls, names in (("write", WRITES), ("read", READS), ("board", BOARD)):
            took = [t for n in names for t in self.latencies.get(n, [])]
            classes[cls] = summary(took, wall_seconds) | {
                "errors": sum(self.errors[n] for n in names)}
        return {"wall_seconds": round(wall_seconds, 1), "requests": per_name,
                "classes": classes, "errors": sum(self.errors.values()),
                "error_samples": self.samples[:60], "counts": dict(self.counts),
                "error_kinds": dict(self.kinds.most_common()),
                "lag_ms": {q: summary(v, wall_seconds) for q, v in self.lag.items()},
                "call_wait_minutes": summary(self.call_waits, wall_seconds),
                "through_minutes": summary(self.through, wall_seconds),
                "board_not_modified": self.counts["board_304"]}


def kind_of(failure: str) -> str:
    """What a failed answer was: its status and error code, or where it came from."""
    status = failure.split(":", 1)[0].removeprefix("HTTP ").strip()
    marker = '"code":"'
    if marker in failure:
        code = failure.split(marker, 1)[1].split('"', 1)[0]
        return f"{status} {code}"
    if "No server is available" in failure:
        return f"{status} load balancer: no API process up"
    if "502 Bad Gateway" in failure:
        return f"{status} load balancer: the API process's answer cut"
    return status[:80]


def plate(i: int) -> str:
    """A plate of its own for each truck of the day."""
    return f"{('12C', '12H', '29C', '51D', '98C')[i % 5]}-{i // 100:03d}.{i % 100:02d}"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: list[float], wall_seconds: float) -> dict[str, float]:
    return {"count": len(values), "per_second": round(len(values) / max(wall_seconds, 1e-9), 1),
            "p50": round(percentile(values, 0.5), 1), "p99": round(percentile(values, 0.99), 1),
            "max": round(max(values), 1) if values else 0.0}


REPLAY = Replay(CONFIG)
STARTED: list[float] = []


@events.request.add_listener
def _record(name: str, response_time: float, exception: Exception | None, **_: Any) -> None:
    if REPLAY.finished:
        return
    REPLAY.latencies[name].append(response_time)
    if exception is not None:
        REPLAY.errors[name] += 1
        REPLAY.kinds[f"{name}: {kind_of(str(exception))}"] += 1
        if REPLAY.errors[name] <= 3:  # a few of each
            REPLAY.samples.append(f"{name}: {str(exception)[:300]}")


@events.test_start.add_listener
def _start(environment: Environment, **_: Any) -> None:
    STARTED.append(time.monotonic())
    gevent.spawn(REPLAY.schedule, environment)


@events.quitting.add_listener
def _write(environment: Environment, **_: Any) -> None:
    wall = time.monotonic() - (STARTED[0] if STARTED else time.monotonic())
    Path(os.environ["BF_LOAD_RESULTS"]).write_text(json.dumps(REPLAY.figures(wall)))


class Actor(FastHttpUser):
    fixed_count = int(CONFIG["actors"])
    wait_time = constant(0)
    network_timeout = 60.0
    connection_timeout = 10.0

    @task
    def act(self) -> None:
        REPLAY.take("work", self.client)


class Phone(FastHttpUser):
    fixed_count = int(CONFIG["phones"])
    wait_time = constant(0)
    network_timeout = 60.0
    connection_timeout = 10.0

    @task
    def report(self) -> None:
        REPLAY.take("gps", self.client)


SCREEN_LANGUAGES = (("vi", 0.7), ("zh", 0.2), ("en", 0.1))
"""The browsers' languages of the public screens (Accept-Language)."""
PANEL_ADDRESS = re.compile(r'id="board-panel" hx-get="([^"]+)"')


class BoardViewer(FastHttpUser):
    """A screen showing the public board in its browser's language: the page once, then
    the panel the page refreshes (its ``hx-get`` address) every ``board_every`` seconds,
    sending back the ETag it holds."""

    weight = 1
    wait_time = constant_pacing(float(CONFIG["board_every"]))
    network_timeout = 60.0
    connection_timeout = 10.0
    etag = ""
    panel = "/board/panel"

    def on_start(self) -> None:
        gevent.sleep(random.uniform(0, float(CONFIG["board_every"])))
        lang = random.choices([code for code, _ in SCREEN_LANGUAGES],
                              [share for _, share in SCREEN_LANGUAGES])[0]
        with self.client.get("/board", name="board", headers={"Accept-Language": lang},
                             catch_response=True) as r:
            if r.status_code == 200:
                found = PANEL_ADDRESS.search(r.text or "")
                if found:
                    self.panel = html.unescape(found.group(1))
                r.success()
            else:
                r.failure(f"HTTP {r.status_code}: {(r.text or '')[:300]}")

    @task
    def refresh(self) -> None:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        with self.client.get(self.panel, name="board_panel", headers=headers,
                             catch_response=True) as r:
            if r.status_code == 304:
                REPLAY.counts["board_304"] += 1
                r.success()
            elif r.status_code == 200:
                self.etag = r.headers.get("ETag", "")
                r.success()
            else:
                r.failure(f"HTTP {r.status_code}: {(r.text or '')[:300]}")
