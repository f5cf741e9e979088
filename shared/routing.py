"""Route order for a staff member's day: nearest neighbour, then 2-opt.

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

The algorithm: nearest neighbour from the start, then 2-opt (reverse a
segment whenever that shortens the path) until no reversal helps. For the
handful of jobs in a day this is instant and, in practice, optimal or close;
no dependency on a solver library is needed (OR-Tools would be thousands of
times larger than the problem).
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


def shortest_open_path(dist: Sequence[Sequence[float]], start: int = 0) -> list[int]:
    """Nearest neighbour from `start`, then 2-opt."""
    return two_opt(dist, nearest_neighbour(dist, start))


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
