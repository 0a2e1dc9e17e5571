"""Border procedures as data: the ordered steps a trip passes at a gate, for one direction.

The reference network defines each procedure; a gate names one per direction it permits. A
step says which role records it, when it applies, which steps must be done before it, and
which steps may run alongside it (those with the same prerequisites). Deadlines run between
two milestones of a trip (called → reached the gate; crossed → returned).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

StepKind = Literal[
    "declaration",  # information declared before arrival
    "transport",  # transport to the staging area (done on arrival there)
    "vehicle_control",  # called forward and admitted into the gate area (done on entry)
    "medical",  # medical examination of the driver
    "border_guard",  # border-guard inspection of vehicle and people in/out of the gate
    "quarantine",  # plant/animal quarantine
    "customs",  # customs inspection (green/yellow/red channel)
    "transshipment",  # goods moved between Vietnamese and partner trucks
    "fee",  # border-gate infrastructure fee
    "crossing",  # the vehicle crosses the border line
    "exit",  # the vehicle leaves the gate area inland (imports)
]
STEP_KINDS: tuple[StepKind, ...] = (
    "declaration", "transport", "vehicle_control", "medical", "border_guard", "quarantine",
    "customs", "transshipment", "fee", "crossing", "exit",
)

Condition = Literal["always", "quarantine", "transshipment", "driver_crosses"]
"""When a step applies: always; when the goods need quarantine; where the gate transships;
when the driver crosses the border."""

Milestone = Literal[
    "created", "staging_entered", "called", "gate_area_entered", "crossed", "returned",
    "completed",
]
MILESTONES: tuple[Milestone, ...] = (
    "created", "staging_entered", "called", "gate_area_entered", "crossed", "returned",
    "completed",
)

DeadlineCondition = Literal["always", "driver_crosses", "vn_vehicle_crosses"]

OWNER_ROLES = frozenset({
    "enterprise", "regulator", "yard_operator", "customs", "border_guard", "quarantine",
    "health", "cashier",
})


@dataclass(frozen=True)
class Step:
    code: str
    kind: StepKind
    role: str
    name_vi: str
    name_en: str
    name_zh: str
    applies: Condition = "always"
    after: tuple[str, ...] | None = None
    """Steps that must be done (or not apply) first; default: the step listed before."""

    def __post_init__(self) -> None:
        if self.role not in OWNER_ROLES:
            raise ValueError(
                f"role '{self.role}' cannot own a step; use one of {', '.join(sorted(OWNER_ROLES))}"
            )


@dataclass(frozen=True)
class Deadline:
    """A trip must reach milestone ``ends`` within ``minutes`` of milestone ``starts``."""

    code: str
    name_en: str
    starts: Milestone
    ends: Milestone
    minutes: int
    applies: DeadlineCondition = "always"

    def __post_init__(self) -> None:
        if self.minutes < 1:
            raise ValueError("minutes must be at least 1")
        if self.starts == self.ends:
            raise ValueError("a deadline must end at another milestone than it starts")


@dataclass(frozen=True)
class Procedure:
    code: str
    direction: Literal["export", "import"]
    steps: tuple[Step, ...]
    deadlines: tuple[Deadline, ...] = ()

    def __post_init__(self) -> None:
        codes = [s.code for s in self.steps]
        if not codes:
            raise ValueError("a procedure needs at least one step")
        if len(codes) != len(set(codes)):
            raise ValueError("step codes must be unique within a procedure")
        if self.steps[0].kind != "declaration":
            raise ValueError("a procedure starts with the declaration step")
        seen: set[str] = set()
        for step in self.steps:
            for before in step.after or ():
                if before not in seen:
                    raise ValueError(
                        f"step '{step.code}' comes after '{before}', which must be listed "
                        "earlier in the procedure"
                    )
            seen.add(step.code)
        kinds = [s.kind for s in self.steps]
        for once in ("transport", "vehicle_control", "crossing", "exit"):
            if kinds.count(once) > 1:
                raise ValueError(f"a procedure has at most one '{once}' step")
        if "crossing" not in kinds:
            raise ValueError("a procedure must include the crossing step")
        deadline_codes = [d.code for d in self.deadlines]
        if len(deadline_codes) != len(set(deadline_codes)):
            raise ValueError("deadline codes must be unique within a procedure")

    def step(self, code: str) -> Step | None:
        return next((s for s in self.steps if s.code == code), None)

    def step_of_kind(self, kind: StepKind) -> Step | None:
        return next((s for s in self.steps if s.kind == kind), None)

    def prerequisites(self, code: str) -> tuple[str, ...]:
        """The steps that must be done (or not apply) before ``code``."""
        for i, s in enumerate(self.steps):
            if s.code == code:
                if s.after is not None:
                    return s.after
                return (self.steps[i - 1].code,) if i > 0 else ()
        raise KeyError(code)

    def parallel_with(self, code: str) -> tuple[str, ...]:
        """Steps that may run at the same time as ``code`` (same prerequisites)."""
        mine = set(self.prerequisites(code))
        return tuple(
            s.code for s in self.steps
            if s.code != code and set(self.prerequisites(s.code)) == mine
        )

    def applicable(self, facts: Collection[Condition]) -> tuple[str, ...]:
        """Codes of the steps that apply to a trip with these facts."""
        return tuple(s.code for s in self.steps if s.applies == "always" or s.applies in facts)


@dataclass(frozen=True)
class ReasonCode:
    """A coded reason for holding or rejecting a trip at a step."""

    code: str
    name_vi: str
    name_en: str
    name_zh: str
    use: Literal["hold", "reject", "both"] = "both"
