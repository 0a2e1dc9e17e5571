"""The station recursion against queueing theory: Erlang C for one M/M/c station, Jackson's
product form for a tandem, and Little's law on a whole scenario's outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from borderflow.sim.kernels import fifo_station, stations_only

NO_HOURS = np.zeros(0)


def erlang_c_wait(lam: float, mu: float, c: int) -> float:
    """Mean waiting time in queue of an M/M/c station."""
    a = lam / mu
    rho = a / c
    top = a**c / math.factorial(c) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def poisson_arrivals(rng: np.random.Generator, lam: float, n: int) -> np.ndarray:
    return np.cumsum(rng.exponential(1 / lam, n))


@pytest.mark.parametrize(("lam", "mu", "c"), [(2.4, 1.0, 3), (0.7, 1.0, 1), (6.0, 0.5, 14)])
def test_one_mmc_station_waits_as_erlang_c(lam: float, mu: float, c: int) -> None:
    rng = np.random.default_rng(2)  # fixed: the estimate's standard error here is about 1%
    n = 2_000_000
    arrival = poisson_arrivals(rng, lam, n)
    service = rng.exponential(1 / mu, n)
    start = fifo_station(arrival, service, c, NO_HOURS, NO_HOURS)
    warm = n // 20
    simulated = float((start - arrival)[warm:].mean())
    assert simulated == pytest.approx(erlang_c_wait(lam, mu, c), rel=0.02)


def tandem(arrival: np.ndarray, service: np.ndarray, servers: list[int]
           ) -> tuple[np.ndarray, np.ndarray]:
    """Trucks through stations in series, event by event as the engine runs them (always
    open)."""
    n, steps = service.shape
    route_prereq = np.full((1, steps, 2), -1, dtype=np.int64)
    route_prereq[0, 0, 0] = -2
    for j in range(1, steps):
        route_prereq[0, j, 0] = j - 1
    start, _done, leave, _ = stations_only(
        arrival, np.zeros(n, dtype=np.int64), service, np.ones((n, steps), dtype=np.bool_),
        np.arange(steps, dtype=np.int64)[None, :], route_prereq,
        np.array([steps], dtype=np.int64), np.zeros(steps, dtype=np.int64),
        np.array(servers, dtype=np.int64), NO_HOURS, NO_HOURS, np.array([0, 0], dtype=np.int64))
    return start, leave


def test_a_tandem_of_stations_matches_the_jackson_network() -> None:
    # Jackson: each station of an open network with Poisson arrivals behaves as an
    # independent M/M/c with the same arrival rate; sojourn = sum of the stations' sojourns.
    rng = np.random.default_rng(7)
    lam, n = 1.5, 1_000_000
    stations = [(1.0, 2), (2.0, 1), (0.4, 5)]  # (service rate, servers)
    arrival = poisson_arrivals(rng, lam, n)
    service = np.column_stack([rng.exponential(1 / mu, n) for mu, _ in stations])
    start, leave = tandem(arrival, service, [c for _, c in stations])
    warm = n // 20
    expected = sum(erlang_c_wait(lam, mu, c) + 1 / mu for mu, c in stations)
    assert float((leave - arrival)[warm:].mean()) == pytest.approx(expected, rel=0.02)
    # and each station on its own waits as its M/M/c
    ready = np.column_stack([arrival, start[:, :-1] + service[:, :-1]])
    for j, (mu, c) in enumerate(stations):
        wait = float((start[:, j] - ready[:, j])[warm:].mean())
        assert wait == pytest.approx(erlang_c_wait(lam, mu, c), rel=0.03)


def test_a_station_serves_only_while_open_and_never_more_than_its_servers() -> None:
    rng = np.random.default_rng(3)
    arrival = np.sort(rng.uniform(0, 3000, 4000))
    service = rng.exponential(5.0, 4000)
    opens = np.array([420.0, 1860.0])
    closes = np.array([1080.0, 2520.0])
    start = fifo_station(arrival, service, 4, opens, closes)
    served = np.isfinite(start)
    inside = ((start[served, None] >= opens) & (start[served, None] < closes)).any(axis=1)
    assert inside.all()
    assert (start[served] >= arrival[served]).all()
    # at every start, at most 4 trucks are in service
    s, e = start[served], start[served] + service[served]
    for t in s[::97]:
        assert int(((s <= t) & (e > t)).sum()) <= 4
