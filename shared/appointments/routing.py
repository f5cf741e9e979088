"""Route order for a staff member's day: exact for a small day, else nearest neighbour + 2-opt.

Jobs are located by their postcode district's centroid (public.uk_outcodes,
via public.my_jobs), so a distance is the great-circle distance between two
district centroids: good for ordering visits across a town or a county, blind
inside one district (two jobs in one district are 0 km apart).

Fixed times. Appointments are booked for a time, so a pure travelling-salesman
order would often ask the staff member to be somewhere they are not booked.
The portal therefore shows two things, and says which is which:

* `time_order`: the jobs as booked (authoritative), each leg with its
  distance, a travel estimate and `tight` when the estimate is longer than
  the gap between the end of the previous job and the start of this one;
* `route`: the suggested visiting order (shortest open path from the start
  point), with its total against the time order's total. It is advice for
  the parts of the day that are flexible: check-in is allowed from the start
  of the job's day (see the staff_portal migration), so a staff member may
  take jobs out of time order when customers allow.

The start point is the staff member's base district (staff.base_outcode) when
it is known, else the first job by time. The path is open: the day ends at
the last job. Cancelled and no-show jobs are not visited; jobs without a
known district are listed in `unrouted`.

The algorithm: a day of up to twelve jobs (plus the base) is solved exactly
(Held-Karp dynamic programming); 2-opt alone is not enough even there (see
tests/appointments/test_routing.py: three London districts where it stops at
a local optimum). A longer day takes nearest neighbour from the start, then
2-opt (reverse a segment whenever that shortens the path) and single-stop
relocation (or-opt) until neither helps. No solver library is needed for
problems this size (OR-Tools would dwarf the problem and the install).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

EARTH_RADIUS_KM = 6371.0088
# Road distance is longer than the great-circle distance between two points;
# ~1.3 is the usual detour index for British roads.
ROAD_FACTOR = 1.3
# Door-to-door average for a van between nearby districts (urban and rural mixed).
AVERAGE_SPEED_KMH = 30.0
NOT_VISITED = frozenset({"cancelled", "no_show", "held"})
_EPSILON = 1e-9


@dataclass(frozen=True)
class Point:
    latitude: float
    longitude: float


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance in km (mean Earth radius), as private.haversine_km computes it."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def travel_minutes(km: float) -> int:
    """A travel estimate: great-circle km × ROAD_FACTOR at AVERAGE_SPEED_KMH, rounded up."""
    return math.ceil(km * ROAD_FACTOR / AVERAGE_SPEED_KMH * 60 - _EPSILON) if km > 0 else 0


def distance_matrix(points: Sequence[Point]) -> list[list[float]]:
    return [[haversine_km(a, b) for b in points] for a in points]


def path_length(dist: Sequence[Sequence[float]], order: Sequence[int]) -> float:
    return sum(dist[a][b] for a, b in zip(order, order[1:]))


def nearest_neighbour(dist: Sequence[Sequence[float]], start: int = 0) -> list[int]:
    """An open path through every node from `start`, always to the nearest unvisited one (ties: lowest index)."""
    n = len(dist)
    if n == 0:
        return []
    order, left = [start], set(range(n)) - {start}
    while left:
        here = order[-1]
        step = min(left, key=lambda j: (dist[here][j], j))
        order.append(step)
        left.remove(step)
    return order


def two_opt(dist: Sequence[Sequence[float]], order: Sequence[int]) -> list[int]:
    """Improve an open path with its first node fixed: reverse order[i..j] while that shortens it.

    Reversing order[i..j] replaces the edges (i-1, i) and (j, j+1) with (i-1, j)
    and (i, j+1); at the open end (j is last) only the first pair changes. The
    result has no improving reversal left (it is "2-optimal"): on a plane no
    two of its legs cross.
    """
    path = list(order)
    n = len(path)
    improved = True
    while improved:
        improved = False
        for i in range(1, n - 1):
            for j in range(i + 1, n):
                a, b = path[i - 1], path[i]
                c = path[j]
                before = dist[a][b]
                after = dist[a][c]
                if j + 1 < n:
                    d = path[j + 1]
                    before += dist[c][d]
                    after += dist[b][d]
                if after < before - _EPSILON:
                    path[i:j + 1] = reversed(path[i:j + 1])
                    improved = True
    return path


def relocate(dist: Sequence[Sequence[float]], order: Sequence[int]) -> list[int]:
    """Or-opt with segments of one: move a single stop elsewhere while that shortens the path
    (the first node stays first). Catches what 2-opt cannot: one stop visited out of the way."""
    path = list(order)
    improved = True
    while improved:
        improved = False
        for i in range(1, len(path)):
            rest = path[:i] + path[i + 1:]
            best, where = path_length(dist, path), None
            for k in range(1, len(rest) + 1):
                candidate = path_length(dist, rest[:k] + [path[i]] + rest[k:])
                if candidate < best - _EPSILON:
                    best, where = candidate, k
            if where is not None:
                path = rest[:where] + [path[i]] + rest[where:]
                improved = True
    return path


def exact_open_path(dist: Sequence[Sequence[float]], start: int = 0) -> list[int]:
    """The shortest open path from `start` through every node (Held-Karp, O(n² 2ⁿ)): for small days."""
    n = len(dist)
    others = [i for i in range(n) if i != start]
    m = len(others)
    if m == 0:
        return [start] if n else []
    inf = float("inf")
    cost = [[inf] * m for _ in range(1 << m)]
    parent = [[-1] * m for _ in range(1 << m)]
    for j in range(m):
        cost[1 << j][j] = dist[start][others[j]]
    for mask in range(1, 1 << m):
        for j in range(m):
            here = cost[mask][j]
            if here == inf or not mask & (1 << j):
                continue
            for k in range(m):
                if mask & (1 << k):
                    continue
                nxt = mask | (1 << k)
                candidate = here + dist[others[j]][others[k]]
                if candidate < cost[nxt][k] - _EPSILON:
                    cost[nxt][k], parent[nxt][k] = candidate, j
    full = (1 << m) - 1
    last = min(range(m), key=lambda j: (cost[full][j], j))
    path, mask = [], full
    while last != -1:
        path.append(others[last])
        last, mask = parent[mask][last], mask & ~(1 << last)
    return [start, *reversed(path)]


EXACT_LIMIT = 13  # nodes (base + 12 jobs): Held-Karp takes ~35 ms in Python at 13, doubling per node


def shortest_open_path(dist: Sequence[Sequence[float]], start: int = 0) -> list[int]:
    """Exact for small days (≤ EXACT_LIMIT nodes); else nearest neighbour, then 2-opt and
    single-stop relocation until neither helps."""
    if len(dist) <= EXACT_LIMIT:
        return exact_open_path(dist, start)
    path = nearest_neighbour(dist, start)
    while True:
        better = relocate(dist, two_opt(dist, path))
        if path_length(dist, better) >= path_length(dist, path) - _EPSILON:
            return better
        path = better


# ---------------------------------------------------------------------------
# A day of jobs (the shape public.my_jobs returns)
# ---------------------------------------------------------------------------
def _point(latitude, longitude) -> Point | None:
    if latitude is None or longitude is None:
        return None
    return Point(float(latitude), float(longitude))


def _leg(km: float) -> dict:
    return {"km": round(km, 2), "travel_minutes": travel_minutes(km)}


def plan_day(day: dict) -> dict:
    """`day` (one element of public.my_jobs) with `time_order`, `route` and their totals added.

    Jobs keep their fields; the added keys describe legs by job id.
    """
    jobs = list(day.get("jobs") or [])
    base = _point(day.get("base_latitude"), day.get("base_longitude"))
    visited = [j for j in jobs if j.get("status") not in NOT_VISITED]
    located = [j for j in visited if _point(j.get("latitude"), j.get("longitude")) is not None]
    unrouted = [j["id"] for j in visited if j not in located]

    points = [_point(j["latitude"], j["longitude"]) for j in located]
    if base is not None:
        points = [base, *points]
    offset = 1 if base is not None else 0
    dist = distance_matrix(points)

    # The time order, from the same start point.
    time_legs: list[dict] = []
    previous: int | None = 0 if base is not None else None
    previous_end: datetime | None = None
    for index, job in enumerate(located):
        node = index + offset
        km = dist[previous][node] if previous is not None else 0.0
        leg = {"id": job["id"], **_leg(km), "gap_minutes": None, "tight": False}
        start = _parse_time(job.get("starts_at"))
        if previous_end is not None and start is not None:
            gap = int((start - previous_end).total_seconds() // 60)
            leg["gap_minutes"] = gap
            leg["tight"] = leg["travel_minutes"] > gap
        time_legs.append(leg)
        previous, previous_end = node, _parse_time(job.get("ends_at"))
    time_km = path_length(dist, list(range(len(points))))

    route_legs: list[dict] = []
    route_km = 0.0
    if points:
        order = shortest_open_path(dist, 0)
        route_km = path_length(dist, order)
        previous = None
        for node in order:
            if node < offset:
                previous = node
                continue
            km = dist[previous][node] if previous is not None else 0.0
            route_legs.append({"id": located[node - offset]["id"], **_leg(km)})
            previous = node

    return {
        **day,
        "start": ({"kind": "base", "outcode": day.get("base_outcode")} if base is not None
                  else {"kind": "first_job", "id": located[0]["id"]} if located else None),
        "time_order": time_legs,
        "time_order_km": round(time_km, 2),
        "route": route_legs,
        "route_km": round(route_km, 2),
        "route_saves_km": round(time_km - route_km, 2),
        "unrouted": unrouted,
    }


def _parse_time(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
