"""The trip reducer: random valid and invalid event sequences never produce an invalid state,
and replaying the accepted events rebuilds the state exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderflow.config import DEFAULT_NETWORK_FILE
from borderflow.domain import trip as domain
from borderflow.errors import AppError
from borderflow.network import service as networks

NETWORK = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
GATES = {"export": ["huu-nghi", "chi-ma"], "import": ["tan-thanh-dedicated", "huu-nghi"]}


def created(gate: str, flow: str, *, quarantine: str = "none", crosses: bool = False,
            country: str = "VN") -> domain.Event:
    g = NETWORK.gate(gate)
    procedure = NETWORK.procedure_for(gate, flow)  # type: ignore[arg-type]
    assert g is not None
    assert procedure is not None
    facts = {"plate": "29C-123.45", "plate_key": "29C12345", "vehicle_country": country,
             "driver": {"name": "A", "document_type": "vn_citizen_id",
                        "document_number": "001089012345", "phone": "+84912345678"},
             "driver_crosses": crosses, "quarantine_kind": quarantine, "perishable": False,
             "enterprise_tax_code": "0100109106"}
    return domain.Event("trip.created", T0, "enterprise", {
        "id": "t1", "declaration_id": "d1", "reference": "BF-TEST-0001/1", "gate": gate,
        "flow": flow, "direction": flow, "priority": "normal", "transshipment": g.transshipment,
        "procedure": domain.procedure_to_dict(procedure), "facts": facts})


def areas_for(gate: str) -> list[str]:
    g = NETWORK.gate(gate)
    assert g is not None
    other = next(x for x in NETWORK.gates if x.code != gate)
    return ["staging:viettel-logistics-park", f"gate_area:{gate}",
            *(f"yard:{y.code}" for y in g.yards), f"gate_area:{other.code}"]


def area_gate(area: str) -> str:
    return NETWORK.area_codes().get(area, "")


STEP_CODES = sorted({s.code for p in NETWORK.procedures for s in p.steps} | {"nonsense"})


@st.composite
def scenario(draw: Any) -> tuple[domain.Event, list[tuple[str, dict[str, Any]]]]:
    flow = draw(st.sampled_from(["export", "import"]))
    gate = draw(st.sampled_from(GATES[flow]))
    first = created(gate, flow, quarantine=draw(st.sampled_from(["none", "plant", "animal"])),
                    crosses=draw(st.booleans()), country=draw(st.sampled_from(["VN", "CN"])))
    action = st.one_of(
        st.tuples(st.just("step.passed"),
                  st.fixed_dictionaries({"step": st.sampled_from(STEP_CODES),
                                         "channel": st.sampled_from(["green", "red", None])})),
        st.tuples(st.sampled_from(["step.held", "step.rejected"]),
                  st.fixed_dictionaries({"step": st.sampled_from(STEP_CODES),
                                         "reason_code": st.sampled_from(["documents-missing",
                                                                         ""])})),
        st.tuples(st.sampled_from(["step.released", "step.voided"]),
                  st.fixed_dictionaries({"step": st.sampled_from(STEP_CODES)})),
        st.tuples(st.sampled_from(["area.entered", "area.left"]),
                  st.fixed_dictionaries({"area": st.sampled_from(areas_for(gate))})),
        st.tuples(st.sampled_from(["trip.called", "trip.returned", "trip.cancelled"]),
                  st.just({})),
        st.tuples(st.just("fee.assessed"), st.just(FEE_OPEN)),
        st.tuples(st.sampled_from(["fee.settled", "fee.unsettled"]),
                  st.fixed_dictionaries({"invoice": st.sampled_from(["INV-1", "INV-2"]),
                                         "how": st.sampled_from(["paid", "waived", "lost"])})),
    )
    return first, draw(st.lists(action, min_size=5, max_size=60))


FEE_OPEN = {"invoice": "INV-1", "stage": "final", "total": 150000, "status": "open"}


def _clean(payload: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in payload.items() if v is not None}
    if "area" in out:
        out["gate"] = area_gate(out["area"])
    return out


def check_invariants(state: dict[str, Any]) -> None:
    assert state["status"] in domain.STATUSES
    loc = state["location"]
    in_gate = isinstance(loc, str) and (loc.startswith("yard:") or loc.startswith("gate_area:"))
    if state["status"] == "in_gate_area":
        assert in_gate
    if state["status"] == "at_staging":
        assert isinstance(loc, str)
        assert loc.startswith("staging:")
    if in_gate:
        assert loc == f"gate_area:{state['gate']}" or area_gate(loc) == state["gate"]
    for code, st_ in state["steps"].items():
        if st_["status"] == "passed":
            # a step is only ever passed once its prerequisites were satisfied
            spec = next(s for s in state["procedure"]["steps"] if s["code"] == code)
            for before in spec["after"]:
                assert state["steps"][before]["status"] in ("passed", "skipped")
    if state["status"] == "completed":
        assert all(s["status"] in ("passed", "skipped") for s in state["steps"].values())
    # the fee step is passed only while the fee is paid or waived, or once a step that needed
    # it (crossing, exit) has passed
    fee_step = next(s["code"] for s in state["procedure"]["steps"] if s["kind"] == "fee")
    later = domain.dependents(state, fee_step)
    if state["steps"][fee_step]["status"] == "passed" and not any(
            state["steps"][d]["status"] == "passed" for d in later):
        assert domain.fee_settled(state)


def valid_action(state: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Actions that move the trip forward from here (the generator mixes them with noise so
    sequences reach deep states: held, released, completed, returned)."""
    out: list[tuple[str, dict[str, Any]]] = []
    gate = state["gate"]
    for spec in domain.pending_steps(state):
        kind = spec["kind"]
        if kind == "transport":
            out.append(("area.entered", {"area": "staging:viettel-logistics-park"}))
        elif kind == "vehicle_control":
            out.append(("trip.called", {}))
            out.append(("area.entered", {"area": f"gate_area:{gate}"}))
        elif kind == "fee" and not domain.fee_settled(state):
            if state.get("fee") is None:
                out.append(("fee.assessed", FEE_OPEN))
            else:
                out.append(("fee.settled", {"invoice": "INV-1", "how": "paid"}))
        else:
            channel = "green" if kind == "customs" else None
            out.append(("step.passed", {"step": spec["code"], "channel": channel}))
    for code, st_ in state["steps"].items():
        if st_["status"] == "held":
            out.append(("step.released", {"step": code}))
    if state["location"] == "partner":
        out.append(("trip.returned", {}))
    return out


def detours(state: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Holding or rejecting a step that could be passed now."""
    out: list[tuple[str, dict[str, Any]]] = []
    for spec in domain.pending_steps(state):
        out.append(("step.held", {"step": spec["code"], "reason_code": "sampling"}))
        out.append(("step.rejected", {"step": spec["code"], "reason_code": "documents-missing"}))
    return out


SEEN_STATUSES: set[str] = set()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario(), st.data())
def test_random_sequences_keep_the_state_valid_and_replayable(
    case: tuple[domain.Event, list[tuple[str, dict[str, Any]]]], data: st.DataObject,
) -> None:
    first, noise = case
    state = domain.apply(None, first)
    accepted = [first]
    transitions = {(a, b) for a, b, _ in domain.STATUS_TRANSITIONS}
    for i, random_action in enumerate(noise):
        forward, aside = valid_action(state), detours(state)
        kind, payload = random_action
        choice = data.draw(st.integers(0, 9), label="what next")
        if aside and choice == 0:
            kind, payload = data.draw(st.sampled_from(aside), label="detour")
        elif forward and choice > 2:
            kind, payload = data.draw(st.sampled_from(forward), label="forward action")
        event = domain.Event(kind, T0 + timedelta(minutes=i + 1), "officer",  # type: ignore[arg-type]
                             _clean(payload))
        try:
            new = domain.apply(state, event)
        except AppError:
            continue  # refused: nothing changed
        if new["status"] != state["status"]:
            assert (state["status"], new["status"]) in transitions
        assert new["version"] == state["version"] + 1
        state = new
        accepted.append(event)
        check_invariants(state)
        SEEN_STATUSES.add(state["status"])
    assert domain.replay(accepted) == state
    assert state["version"] == len(accepted)


def test_the_random_walks_reach_every_status() -> None:
    """Guards the property test above against only exploring shallow states."""
    test_random_sequences_keep_the_state_valid_and_replayable()
    assert set(domain.STATUSES) - SEEN_STATUSES == set()


def test_refused_events_leave_the_state_untouched() -> None:
    state = domain.apply(None, created("huu-nghi", "export"))
    snapshot = repr(state)
    expected = "still expected: transport, vehicle_control, border_guard"
    with pytest.raises(domain.StepNotReady, match=expected):
        domain.apply(state, domain.Event("step.passed", T0, "x", {"step": "customs",
                                                                  "channel": "green"}))
    with pytest.raises(domain.InvalidTransition, match="an exit needs an entry"):
        domain.apply(state, domain.Event("area.left", T0, "x",
                                         {"area": "staging:viettel-logistics-park"}))
    assert repr(state) == snapshot


def test_the_fee_step_passes_only_once_the_fee_is_settled() -> None:
    state = domain.apply(None, created("huu-nghi", "export"))
    steps = [domain.Event("area.entered", T0, "yard", {"area": "staging:viettel-logistics-park",
                                                       "gate": "huu-nghi"}),
             domain.Event("trip.called", T0, "dispatcher", {}),
             domain.Event("area.entered", T0, "bg", {"area": "gate_area:huu-nghi",
                                                     "gate": "huu-nghi"})]
    for e in steps:
        state = domain.apply(state, e)
    with pytest.raises(domain.InvalidTransition, match="no invoice yet"):
        domain.apply(state, domain.Event("step.passed", T0, "cashier", {"step": "fee"}))
    state = domain.apply(state, domain.Event("fee.assessed", T0, "system", FEE_OPEN))
    with pytest.raises(domain.InvalidTransition, match="invoice INV-1 is open"):
        domain.apply(state, domain.Event("step.passed", T0, "cashier", {"step": "fee"}))
    with pytest.raises(domain.InvalidTransition, match="current invoice"):
        domain.apply(state, domain.Event("fee.settled", T0, "system",
                                         {"invoice": "INV-9", "how": "paid"}))
    paid = domain.apply(state, domain.Event("fee.settled", T0, "system",
                                            {"invoice": "INV-1", "how": "paid"}))
    assert paid["steps"]["fee"]["status"] == "passed"  # it was ready: it passes at once
    assert paid["steps"]["fee"]["by"] == "fee settled"
    # a voided payment before the crossing opens the step again
    owed = domain.apply(paid, domain.Event("fee.unsettled", T0, "system",
                                           {"invoice": "INV-1", "status": "open"}))
    assert owed["steps"]["fee"]["status"] == "pending"


def test_the_dispatcher_is_woken_only_by_changes_it_acts_on() -> None:
    before = {"status": "declared", "location": None, "gate": "huu-nghi", "priority": "normal",
              "booking": None, "steps": {"customs": {"status": "pending"}}}
    assert not domain.affects_dispatch(before, dict(before, version=3))
    assert domain.affects_dispatch(before, dict(before, status="at_staging",
                                                location="staging:viettel-logistics-park"))
    assert domain.affects_dispatch(before, dict(before, priority="urgent"))
    assert domain.affects_dispatch(before, dict(before, steps={"customs": {"status": "held"}}))
