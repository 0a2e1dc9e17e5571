"""Benchmark of the slot planner against the exact optimum, an LP bound and first-come-first-served.

Run from the repository root::

    .venv/bin/python bench/plan.py                  # 10,000 and 100,000 trucks, seed 20261123
    .venv/bin/python bench/plan.py --quick          # smoke run on 2,000 trucks
    .venv/bin/python bench/plan.py --sizes 10000 --seed 7

The problem: ``N`` trucks, ``G`` gates, ``S`` half-hour slots. Truck ``i`` may be served from slot
``release[i]`` on, at the gates its goods group permits, at most ``capacity[g, s]`` trucks per
gate and slot. Objective: total weighted waiting, ``sum w_i * (slot_i - r_i)``, where a truck
that fits nowhere within the horizon costs ``w_i * (S - r_i)``.

Methods compared on the same instance:

1. the planner, ``borderflow.domain.dispatch_planner.plan`` (best of 3 calls, instance generation
   excluded);
2. the exact optimum: OR-Tools ``SimpleMinCostFlow`` on the per-truck network (source -> truck,
   capacity 1 -> every permitted open (gate, slot >= release), cost ``w_i * (s - r_i)`` ->
   sink, capacity ``capacity[g, s]``; plus an overflow arc truck -> sink with the unplanned
   cost). No horizon restriction. The same problem is also solved on the aggregated network
   (one node per class of interchangeable trucks: same release, weight and group) as a check;
3. the LP relaxation of the per-truck problem, solved by HiGHS through
   ``scipy.optimize.linprog(method="highs")`` (only for sizes <= ``--lp-max-trucks``);
4. first-come-earliest-slot (FCFS).

Every method's objective and feasibility are recomputed here from its (gate, slot) arrays; no
solver's own figure is trusted. OR-Tools and scipy both bundle HiGHS and must not share a
process, so each solver runs in its own child process (``--solve mcf|mcf-agg|lp``) that rebuilds
the instance from (size, seed) and checks its fingerprint. The last line printed is one JSON
object with the figures of the largest instance.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

DEFAULT_SEED = 20261123
GATES = 20
SLOTS = 48  # 30-minute slots over one day, slot 0 = 00:00
GROUPS = 30
PERMITTED_MIN, PERMITTED_MAX = 3, 20  # gates per goods group, inclusive
# Priority classes: (name, weight per slot waited, share of trucks).
PRIORITY_CLASSES = (("perishable", 5.0, 0.10), ("AEO", 2.0, 0.25), ("normal", 1.0, 0.65))
CAPACITY_RATIO = 1.10  # total capacity over the day / number of trucks
# Gate sizes: 4 large, 8 medium, 8 small (relative throughput 3 : 2 : 1), shuffled over gates.
GATE_SIZES = (3.0,) * 4 + (2.0,) * 8 + (1.0,) * 8
NIGHT_CLOSED = (*range(0, 12), *range(44, 48))  # small gates: closed 22:00-06:00
LUNCH_CLOSED = (23, 24, 25)  # 11:30-13:00 at the lunch-break gates
LUNCH_GATES = 6  # medium or small gates with a lunch break
LP_MAX_TRUCKS = 10_000
TARGET_SECONDS, TARGET_GAP, TARGET_SPEEDUP = 1.0, 0.005, 5.0


# --------------------------------------------------------------------------- instance


@dataclass(frozen=True)
class Instance:
    capacity: IntArray  # (G, S)
    release: IntArray  # (N,)
    weight: FloatArray  # (N,)
    group: IntArray  # (N,)
    permitted: BoolArray  # (K, G)
    seed: int

    @property
    def trucks(self) -> int:
        return int(self.release.shape[0])

    @property
    def slots(self) -> int:
        return int(self.capacity.shape[1])

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for array in (self.capacity, self.release, self.weight, self.group, self.permitted):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]



def _mcf_result(smcf: Any, scale: float, t0: float, t1: float, t2: float,
                gate: np.ndarray, slot: np.ndarray) -> dict[str, Any]:
    """What each min-cost-flow run reports: timings, the solver's objective, size, plan."""
    return {
        "build_seconds": t1 - t0,
        "solve_seconds": t2 - t1,
        "solver_objective": smcf.optimal_cost() / scale,
        "arcs": int(smcf.num_arcs()),
        "nodes": int(smcf.num_nodes()),
        "gate": gate,
        "slot": slot,
    }

def release_profile(slots: int) -> FloatArray:
    """Arrival intensity over the day: a floor plus a morning (08:00) and an afternoon (15:00)
    peak."""
    s = np.arange(slots, dtype=np.float64)
    profile = 0.25 + np.exp(-(((s - 16.0) / 5.0) ** 2)) + 0.8 * np.exp(-(((s - 30.0) / 6.0) ** 2))
    return np.asarray(profile / profile.sum(), dtype=np.float64)


def make_instance(trucks: int, seed: int) -> Instance:
    """One random day; the same (trucks, seed) always gives the same instance."""
    rng = np.random.default_rng([seed, trucks])
    # Goods groups: each permitted at a random 3-20 of the gates; popularity ~ Dirichlet(1).
    permitted = np.zeros((GROUPS, GATES), dtype=np.bool_)
    for k in range(GROUPS):
        count = int(rng.integers(PERMITTED_MIN, PERMITTED_MAX + 1))
        permitted[k, rng.choice(GATES, size=count, replace=False)] = True
    popularity = rng.dirichlet(np.ones(GROUPS))
    group = rng.choice(GROUPS, size=trucks, p=popularity).astype(np.int64)
    # Priority classes and release slots.
    weights = np.array([w for _, w, _ in PRIORITY_CLASSES])
    shares = np.array([p for _, _, p in PRIORITY_CLASSES])
    weight = weights[rng.choice(len(weights), size=trucks, p=shares)]
    release = rng.choice(SLOTS, size=trucks, p=release_profile(SLOTS)).astype(np.int64)
    # Capacity: per-gate throughput by size, closures, scaled to CAPACITY_RATIO * trucks.
    size = rng.permutation(np.array(GATE_SIZES))
    open_ = np.ones((GATES, SLOTS), dtype=np.bool_)
    small = np.flatnonzero(size == min(GATE_SIZES))
    open_[np.ix_(small, np.array(NIGHT_CLOSED))] = False
    not_large = np.flatnonzero(size < max(GATE_SIZES))
    lunch = rng.choice(not_large, size=LUNCH_GATES, replace=False)
    open_[np.ix_(lunch, np.array(LUNCH_CLOSED))] = False
    raw = size[:, None] * open_
    total = round(CAPACITY_RATIO * trucks)
    real = raw / raw.sum() * total
    capacity = np.floor(real).astype(np.int64)
    short = total - int(capacity.sum())
    frac = (real - capacity).ravel()
    top = np.argsort(-frac, kind="stable")[:short]  # largest remainders, ties by index
    capacity.ravel()[top] += 1
    return Instance(capacity, release, weight, group, permitted, seed)


def describe(inst: Instance) -> list[str]:
    cap = inst.capacity
    per_gate = cap.sum(axis=1)
    closed = int((cap == 0).sum())
    counts = [int((inst.weight == w).sum()) for _, w, _ in PRIORITY_CLASSES]
    classes = ", ".join(
        f"{name} w={w:g}: {c}" for (name, w, _), c in zip(PRIORITY_CLASSES, counts, strict=True)
    )
    gates_per_group = inst.permitted.sum(axis=1)
    return [
        f"trucks {inst.trucks}, gates {cap.shape[0]}, slots {cap.shape[1]} x 30 min, "
        f"goods groups {inst.permitted.shape[0]} (permitted gates per group "
        f"{gates_per_group.min()}-{gates_per_group.max()}, mean {gates_per_group.mean():.1f})",
        f"priority classes: {classes}",
        f"capacity: total {int(cap.sum())} = {cap.sum() / inst.trucks:.3f} x trucks; per gate "
        f"per day {per_gate.min()}-{per_gate.max()}; closed (gate, slot) cells {closed}",
        f"seed {inst.seed}, instance fingerprint {inst.fingerprint()}",
    ]


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Check:
    objective: float
    feasible: bool
    unplanned: int
    problems: tuple[str, ...]


def check(inst: Instance, gate: IntArray, slot: IntArray) -> Check:
    """Recompute the objective and check every hard constraint of an assignment."""
    n, (g_count, s_count) = inst.trucks, inst.capacity.shape
    gate = np.asarray(gate)
    slot = np.asarray(slot)
    if gate.shape != (n,) or slot.shape != (n,):
        return Check(float("nan"), False, -1, ("wrong shape",))
    problems: list[str] = []
    planned = gate >= 0
    if ((slot >= 0) != planned).any():
        problems.append("gate and slot disagree on which trucks are planned")
        planned &= slot >= 0
    g, s = gate[planned], slot[planned]
    if (g >= g_count).any() or (s >= s_count).any():
        problems.append("gate or slot index out of range")
        return Check(float("nan"), False, -1, tuple(problems))
    idx = np.flatnonzero(planned)
    bad = int((~inst.permitted[inst.group[idx], g]).sum())
    if bad:
        problems.append(f"{bad} trucks at a gate their goods group may not use")
    early = int((s < inst.release[idx]).sum())
    if early:
        problems.append(f"{early} trucks before their release slot")
    used = np.bincount(g * s_count + s, minlength=g_count * s_count)
    over = int(np.maximum(used - inst.capacity.ravel(), 0).sum())
    if over:
        problems.append(f"{over} trucks above capacity")
    served = np.where(planned, slot, s_count)
    objective = float((inst.weight * (served - inst.release)).sum())
    return Check(objective, not problems, int((~planned).sum()), tuple(problems))


# --------------------------------------------------------------------------- FCFS


def fcfs(inst: Instance) -> tuple[IntArray, IntArray]:
    """First come, earliest slot: trucks in release order (ties by index); each takes the
    earliest slot >= its release at any permitted gate with room, lowest gate index first.

    Rooms only shrink and releases only grow in this order, so the earliest slot with room for
    a goods group never moves back: one pointer per group keeps the scan linear."""
    room = inst.capacity.T.tolist()  # room[s][g]
    slots = inst.slots
    gates_of = [np.flatnonzero(row).tolist() for row in inst.permitted]
    pointer = [0] * len(gates_of)
    order = np.argsort(inst.release, kind="stable")
    gate = np.full(inst.trucks, -1, dtype=np.int64)
    slot = np.full(inst.trucks, -1, dtype=np.int64)
    release = inst.release.tolist()
    group = inst.group.tolist()
    for i in order.tolist():
        k = group[i]
        gates = gates_of[k]
        s = max(pointer[k], release[i])
        while s < slots:
            row = room[s]
            for g in gates:
                if row[g] > 0:
                    row[g] -= 1
                    gate[i] = g
                    slot[i] = s
                    break
            else:
                s += 1
                continue
            break
        pointer[k] = s
    return gate, slot


# --------------------------------------------------------------------------- networks


def cost_scale(weight: FloatArray) -> int:
    """Smallest power of ten that makes every weight an integer (SimpleMinCostFlow needs integer
    costs)."""
    for digits in range(7):
        scaled = weight * 10**digits
        if np.allclose(scaled, np.round(scaled), rtol=0, atol=1e-9):
            return int(10**digits)
    raise ValueError("weights need more than 6 decimals")


@dataclass(frozen=True)
class Cells:
    """The open (gate, slot) cells each (goods group, release) pair may use."""

    cell_gate: IntArray  # (C,) open cells, numbered 0..C-1
    cell_slot: IntArray
    cell_cap: IntArray
    by_pair: dict[tuple[int, int], IntArray]  # (group, release) -> cell numbers


def open_cells(inst: Instance) -> Cells:
    s_count = inst.slots
    cell_gate, cell_slot = np.nonzero(inst.capacity > 0)
    cell_cap = inst.capacity[cell_gate, cell_slot]
    by_pair: dict[tuple[int, int], IntArray] = {}
    pairs = np.unique(inst.group * (s_count + 1) + inst.release)
    for key in pairs.tolist():
        k, r = divmod(key, s_count + 1)
        mask = inst.permitted[k, cell_gate] & (cell_slot >= r)
        by_pair[(k, r)] = np.flatnonzero(mask).astype(np.int64)
    return Cells(cell_gate.astype(np.int64), cell_slot.astype(np.int64), cell_cap, by_pair)


def per_truck_arcs(inst: Instance, cells: Cells) -> tuple[IntArray, IntArray]:
    """All (truck, cell) arcs of the per-truck network, trucks grouped by (group, release)."""
    s_count = inst.slots
    key = inst.group * (s_count + 1) + inst.release
    order = np.argsort(key, kind="stable")
    keys, starts, counts = np.unique(key[order], return_index=True, return_counts=True)
    tails: list[IntArray] = []
    heads: list[IntArray] = []
    for key_value, start, count in zip(keys.tolist(), starts.tolist(), counts.tolist(),
                                       strict=True):
        targets = cells.by_pair[divmod(key_value, s_count + 1)]
        trucks = order[start:start + count]
        tails.append(np.repeat(trucks, len(targets)))
        heads.append(np.tile(targets, count))
    return np.concatenate(tails), np.concatenate(heads)


def solve_mcf_per_truck(inst: Instance) -> dict[str, Any]:
    from ortools.graph.python import min_cost_flow  # never in the LP process

    t0 = time.perf_counter()
    n, s_count = inst.trucks, inst.slots
    scale = cost_scale(inst.weight)
    w_int = np.round(inst.weight * scale).astype(np.int64)
    cells = open_cells(inst)
    arc_truck, arc_cell = per_truck_arcs(inst, cells)
    # nodes: 0 source, 1..n trucks, n+1..n+C cells, n+C+1 sink
    n_cells = len(cells.cell_cap)
    source, sink = 0, n + n_cells + 1
    truck_node = np.arange(1, n + 1, dtype=np.int64)
    cell_node = n + 1 + np.arange(n_cells, dtype=np.int64)
    wait = cells.cell_slot[arc_cell] - inst.release[arc_truck]
    tails = np.concatenate([np.zeros(n, np.int64), truck_node[arc_truck], truck_node,
                            cell_node])
    heads = np.concatenate([truck_node, cell_node[arc_cell], np.full(n, sink, np.int64),
                            np.full(n_cells, sink, np.int64)])
    caps = np.concatenate([np.ones(n + len(arc_truck) + n, np.int64), cells.cell_cap])
    costs = np.concatenate([np.zeros(n, np.int64), w_int[arc_truck] * wait,
                            w_int * (s_count - inst.release), np.zeros(n_cells, np.int64)])
    smcf = min_cost_flow.SimpleMinCostFlow()
    arcs = smcf.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps, costs
    )
    arcs = np.asarray(arcs)
    del tails, heads, caps, costs, wait
    smcf.set_nodes_supplies(np.array([source, sink], np.int32), np.array([n, -n], np.int64))
    t1 = time.perf_counter()
    status = smcf.solve()
    t2 = time.perf_counter()
    if status != smcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow status {status}")
    flows = np.asarray(smcf.flows(arcs[n:n + len(arc_truck)].astype(np.int32)))
    used = np.flatnonzero(flows > 0)
    gate = np.full(n, -1, np.int64)
    slot = np.full(n, -1, np.int64)
    gate[arc_truck[used]] = cells.cell_gate[arc_cell[used]]
    slot[arc_truck[used]] = cells.cell_slot[arc_cell[used]]
    return _mcf_result(smcf, scale, t0, t1, t2, gate, slot)


def solve_mcf_aggregated(inst: Instance) -> dict[str, Any]:
    """Exact optimum on the class network: trucks with the same release, weight and group are
    interchangeable, so one node per class with supply = its count."""
    from ortools.graph.python import min_cost_flow

    t0 = time.perf_counter()
    n, s_count = inst.trucks, inst.slots
    scale = cost_scale(inst.weight)
    weights, widx = np.unique(inst.weight, return_inverse=True)
    key = (inst.group * len(weights) + widx) * (s_count + 1) + inst.release
    keys, member_of, counts = np.unique(key, return_inverse=True, return_counts=True)
    cells = open_cells(inst)
    n_classes, n_cells = len(keys), len(cells.cell_cap)
    sink = n_classes + n_cells
    tails, heads, caps, costs, arc_cell = [], [], [], [], []
    for c, (key_value, count) in enumerate(zip(keys.tolist(), counts.tolist(), strict=True)):
        kw, r = divmod(key_value, s_count + 1)
        k, wi = divmod(kw, len(weights))
        w = round(weights[wi] * scale)
        targets = cells.by_pair[(k, r)]
        m = len(targets)
        tails.append(np.full(m + 1, c, np.int64))
        heads.append(np.append(n_classes + targets, sink))
        caps.append(np.full(m + 1, count, np.int64))
        costs.append(np.append(w * (cells.cell_slot[targets] - r), w * (s_count - r)))
        arc_cell.append(np.append(targets, -1))
    cell_nodes = n_classes + np.arange(n_cells, dtype=np.int64)
    tails.append(cell_nodes)
    heads.append(np.full(n_cells, sink, np.int64))
    caps.append(cells.cell_cap)
    costs.append(np.zeros(n_cells, np.int64))
    smcf = min_cost_flow.SimpleMinCostFlow()
    arcs = np.asarray(smcf.add_arcs_with_capacity_and_unit_cost(
        np.concatenate(tails).astype(np.int32), np.concatenate(heads).astype(np.int32),
        np.concatenate(caps), np.concatenate(costs),
    ))
    supplies = np.append(counts, -n).astype(np.int64)
    smcf.set_nodes_supplies(np.append(np.arange(n_classes), sink).astype(np.int32), supplies)
    t1 = time.perf_counter()
    status = smcf.solve()
    t2 = time.perf_counter()
    if status != smcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow status {status}")
    class_arcs = np.concatenate(arc_cell)
    flows = np.asarray(smcf.flows(arcs[:len(class_arcs)].astype(np.int32)))
    # Arcs are ordered by class and each class's outflow equals its count, so repeating each
    # arc's cell by its flow lines up with the class's trucks sorted by class.
    cell_seq = np.repeat(class_arcs, flows)
    members = np.argsort(member_of, kind="stable")
    gate = np.full(n, -1, np.int64)
    slot = np.full(n, -1, np.int64)
    planned = cell_seq >= 0
    gate[members[planned]] = cells.cell_gate[cell_seq[planned]]
    slot[members[planned]] = cells.cell_slot[cell_seq[planned]]
    return {**_mcf_result(smcf, scale, t0, t1, t2, gate, slot), "classes": n_classes}


def solve_lp(inst: Instance, time_limit: float) -> dict[str, Any]:
    """LP relaxation of the per-truck problem (x in [0, 1] per truck and open permitted cell,
    u in [0, 1] per truck for "unplanned"), by HiGHS through scipy."""
    from scipy import sparse  # never in the OR-Tools process
    from scipy.optimize import linprog

    t0 = time.perf_counter()
    n, s_count = inst.trucks, inst.slots
    cells = open_cells(inst)
    arc_truck, arc_cell = per_truck_arcs(inst, cells)
    m = len(arc_truck)
    c = np.concatenate([
        inst.weight[arc_truck] * (cells.cell_slot[arc_cell] - inst.release[arc_truck]),
        inst.weight * (s_count - inst.release),
    ])
    columns = np.arange(m + n)
    a_eq = sparse.csr_matrix(
        (np.ones(m + n), (np.concatenate([arc_truck, np.arange(n)]), columns)), shape=(n, m + n)
    )
    a_ub = sparse.csr_matrix(
        (np.ones(m), (arc_cell, np.arange(m))), shape=(len(cells.cell_cap), m + n)
    )
    t1 = time.perf_counter()
    res = linprog(
        c, A_ub=a_ub, b_ub=cells.cell_cap.astype(np.float64), A_eq=a_eq, b_eq=np.ones(n),
        bounds=(0, 1), method="highs", options={"time_limit": time_limit},
    )
    t2 = time.perf_counter()
    out: dict[str, Any] = {
        "build_seconds": t1 - t0,
        "solve_seconds": t2 - t1,
        "status": int(res.status),
        "message": str(res.message),
        "variables": m + n,
        "constraints": n + len(cells.cell_cap),
    }
    if res.status == 0:
        x = res.x
        out["objective"] = float(res.fun)
        out["fractional"] = int(((x > 1e-6) & (x < 1 - 1e-6)).sum())
    return out


# --------------------------------------------------------------------------- child processes


def child(args: argparse.Namespace) -> None:
    """Run one solver in this process and print its figures as the last line (JSON)."""
    inst = make_instance(args.trucks, args.seed)
    if args.fingerprint and args.fingerprint != inst.fingerprint():
        raise SystemExit("instance fingerprint differs from the parent's")
    out: dict[str, Any]
    if args.solve == "lp":
        out = solve_lp(inst, args.lp_time_limit)
    else:
        solver = solve_mcf_per_truck if args.solve == "mcf" else solve_mcf_aggregated
        out = solver(inst)
        result = check(inst, out.pop("gate"), out.pop("slot"))
        out.update(objective=result.objective, feasible=result.feasible,
                   unplanned=result.unplanned, problems=list(result.problems))
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_child(solve: str, inst: Instance, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable, str(Path(__file__).resolve()), "--solve", solve,
        "--trucks", str(inst.trucks), "--seed", str(inst.seed),
        "--fingerprint", inst.fingerprint(), "--lp-time-limit", str(args.lp_time_limit),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- main


def best_of(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def gap(value: float, optimum: float) -> float:
    if optimum == 0:
        return 0.0 if value == 0 else float("inf")
    return (value - optimum) / optimum


def run_instance(trucks: int, args: argparse.Namespace) -> dict[str, Any]:
    inst = make_instance(trucks, args.seed)
    print(f"\n=== {trucks:,} trucks ===")
    for line in describe(inst):
        print("  " + line)

    if args.stand_in:
        def planner() -> tuple[IntArray, IntArray, float]:
            g, s = fcfs(inst)
            return g, s, float("nan")
        planner_name = "planner (STAND-IN: FCFS)"
    else:
        from borderflow.domain.dispatch_planner import PlanInput, plan

        inp = PlanInput(capacity=inst.capacity, release=inst.release, weight=inst.weight,
                        group=inst.group, permitted=inst.permitted)

        def planner() -> tuple[IntArray, IntArray, float]:
            result = plan(inp)
            return result.gate, result.slot, result.total_weighted_wait
        planner_name = "planner"

    plan_seconds, (p_gate, p_slot, p_reported) = best_of(3, planner)
    p_check = check(inst, p_gate, p_slot)
    fcfs_seconds, (f_gate, f_slot) = best_of(3, lambda: fcfs(inst))
    f_check = check(inst, f_gate, f_slot)
    mcf = run_child("mcf", inst, args)
    agg = run_child("mcf-agg", inst, args)
    lp = run_child("lp", inst, args) if trucks <= args.lp_max_trucks else None

    optimum = mcf.get("objective", agg.get("objective", float("nan")))
    both = "objective" in mcf and "objective" in agg
    if both and abs(mcf["objective"] - agg["objective"]) > 1e-6:
        print(f"  WARNING: per-truck optimum {mcf['objective']} != aggregated {agg['objective']}")

    rows: list[tuple[str, str, str, str, str, str]] = []

    def row(name: str, seconds: float | None, value: float | None, feasible: str,
            unplanned: int | None) -> None:
        rows.append((
            name,
            "-" if seconds is None else f"{seconds:.3f}",
            "-" if value is None else f"{value:,.0f}",
            "-" if value is None else f"{gap(value, optimum):.5f}",
            feasible,
            "-" if unplanned is None else str(unplanned),
        ))

    def feas(c: Check) -> str:
        return "ok" if c.feasible else "INFEASIBLE: " + "; ".join(c.problems)

    row(planner_name + " (best of 3)", plan_seconds, p_check.objective, feas(p_check),
        p_check.unplanned)
    for label, res in (("min-cost flow, per-truck network (solve)", mcf),
                       ("min-cost flow, aggregated classes (solve)", agg)):
        if "error" in res:
            rows.append((label, "-", "-", "-", "ERROR: " + res["error"], "-"))
        else:
            feasible = "ok" if res["feasible"] else "INFEASIBLE: " + "; ".join(res["problems"])
            row(label, res["solve_seconds"], res["objective"], feasible, res["unplanned"])
    if lp is not None:
        if "objective" in lp:
            row("LP relaxation, HiGHS via scipy (linprog)", lp["solve_seconds"], lp["objective"],
                f"bound ({lp['fractional']} fractional vars)", None)
        else:
            rows.append(("LP relaxation, HiGHS via scipy (linprog)",
                         f"{lp.get('solve_seconds', float('nan')):.3f}", "-", "-",
                         "NOT SOLVED: " + lp.get("message", lp.get("error", "?")), "-"))
    row("FCFS, earliest slot (best of 3)", fcfs_seconds, f_check.objective, feas(f_check),
        f_check.unplanned)

    header = ("method", "seconds", "weighted wait", "gap vs opt", "feasibility", "unplanned")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    print()
    for r in (header, tuple("-" * w for w in widths), *rows):
        print("  " + "  ".join(
            cell.ljust(w) if i in (0, 4) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        ))

    mcf_seconds = mcf.get("solve_seconds", float("nan"))
    mcf_total = mcf_seconds + mcf.get("build_seconds", float("nan"))
    plan_gap = gap(p_check.objective, optimum)
    fcfs_gap = gap(f_check.objective, optimum)
    speedup = mcf_seconds / plan_seconds
    print()
    if "arcs" in mcf:
        print(f"  per-truck network: {mcf['nodes']:,} nodes, {mcf['arcs']:,} arcs; build "
              f"{mcf['build_seconds']:.2f} s + solve {mcf_seconds:.2f} s, peak memory of its "
              f"process {mcf['peak_rss_mib']:,.0f} MiB")
    if "arcs" in agg:
        print(f"  aggregated network: {agg['classes']:,} classes, {agg['arcs']:,} arcs; build "
              f"{agg['build_seconds']:.2f} s + solve {agg['solve_seconds']:.3f} s")
    if lp is not None and "variables" in lp:
        print(f"  LP: {lp['variables']:,} variables, {lp['constraints']:,} constraints; build "
              f"{lp['build_seconds']:.2f} s + linprog {lp['solve_seconds']:.2f} s, peak memory "
              f"{lp['peak_rss_mib']:,.0f} MiB")
    if not args.stand_in and abs(p_reported - p_check.objective) > 1e-6 * max(1.0, optimum):
        print(f"  WARNING: planner reports {p_reported:,.1f}, recomputed {p_check.objective:,.1f}")
    print(f"  planner / optimum = {p_check.objective / optimum:.5f}  (gap {plan_gap:.5f}); "
          f"FCFS / optimum = {f_check.objective / optimum:.5f}  (gap {fcfs_gap:.5f})")
    print(f"  speed-up of the planner: {speedup:.1f}x vs min-cost flow solve, "
          f"{mcf_total / plan_seconds:.1f}x vs build + solve; FCFS takes {fcfs_seconds:.3f} s")
    print(f"  targets: planner <= {TARGET_SECONDS:g} s: {verdict(plan_seconds <= TARGET_SECONDS)}"
          f" ({plan_seconds:.3f} s); gap <= {TARGET_GAP:g}: {verdict(plan_gap <= TARGET_GAP)}"
          f" ({plan_gap:.5f}); >= {TARGET_SPEEDUP:g}x faster than the per-truck min-cost flow: "
          f"{verdict(speedup >= TARGET_SPEEDUP)} ({speedup:.1f}x); feasible: "
          f"{verdict(p_check.feasible)}")
    return {
        "trucks": trucks,
        "plan_seconds": round(plan_seconds, 4),
        "mcf_seconds": round(mcf_seconds, 4),
        "gap_vs_optimum": round(plan_gap, 6),
        "fcfs_gap_vs_optimum": round(fcfs_gap, 6),
        "speedup_vs_mcf": round(speedup, 2),
    }


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated truck counts (default 10000,100000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--quick", action="store_true", help="smoke run on 2,000 trucks")
    parser.add_argument("--lp-max-trucks", type=int, default=LP_MAX_TRUCKS,
                        help="solve the LP relaxation only up to this many trucks")
    parser.add_argument("--lp-time-limit", type=float, default=300.0,
                        help="time limit for HiGHS on the LP, seconds (default 300)")
    parser.add_argument("--stand-in", action="store_true",
                        help="use FCFS in place of the planner (testing the script only)")
    # internal: run one solver in a child process
    parser.add_argument("--solve", choices=("mcf", "mcf-agg", "lp"), help=argparse.SUPPRESS)
    parser.add_argument("--trucks", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--fingerprint", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.solve:
        child(args)
        return
    sizes = [2000] if args.quick else [int(x) for x in args.sizes.split(",") if x.strip()]
    print(f"slot planner benchmark: sizes {sizes}, seed {args.seed}, python "
          f"{sys.version.split()[0]}, numpy {np.__version__}")
    summaries = [run_instance(trucks, args) for trucks in sizes]
    largest = max(summaries, key=lambda s: s["trucks"])
    print()
    print(json.dumps(largest))


if __name__ == "__main__":
    main()
