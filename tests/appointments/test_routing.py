"""Route order for a staff member's day (shared/appointments/routing.py): known geometry, no database."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from shared.appointments import routing
from shared.appointments.routing import Point


def planar(points: list[tuple[float, float]]) -> list[list[float]]:
    """Euclidean distances, so the optimal answers are the obvious ones."""
    return [[math.dist(a, b) for b in points] for a in points]


def brute_force(dist, start: int = 0) -> float:
    rest = [i for i in range(len(dist)) if i != start]
    return min(routing.path_length(dist, [start, *p]) for p in itertools.permutations(rest))


def crosses(p1, p2, p3, p4) -> bool:
    def orient(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return (orient(p1, p2, p3) * orient(p1, p2, p4) < 0) and (orient(p3, p4, p1) * orient(p3, p4, p2) < 0)


def test_the_haversine_distance_matches_known_values():
    london, manchester = Point(51.5074, -0.1278), Point(53.4808, -2.2426)
    assert routing.haversine_km(london, manchester) == pytest.approx(262.0, abs=1.5)
    assert routing.haversine_km(london, london) == 0
    # One degree of latitude is ~111.2 km everywhere.
    assert routing.haversine_km(Point(50, 0), Point(51, 0)) == pytest.approx(111.2, abs=0.1)


def test_points_on_a_line_are_visited_in_order_from_the_end_they_start_at():
    xs = [7, 0, 3, 9, 1, 5]
    dist = planar([(x, 0) for x in xs])
    start = xs.index(0)
    order = routing.shortest_open_path(dist, start)
    assert [xs[i] for i in order] == [0, 1, 3, 5, 7, 9]
    assert routing.path_length(dist, order) == pytest.approx(9)


def test_starting_in_the_middle_of_a_line_goes_to_the_near_end_first():
    xs = [0, 4, 5, 10]
    dist = planar([(x, 0) for x in xs])
    order = routing.shortest_open_path(dist, xs.index(4))
    assert [xs[i] for i in order] == [4, 0, 5, 10]  # 4 + 5 + 5 = 14, shorter than 4 -> 5 -> 10 -> 0 (16)
    assert routing.path_length(dist, order) == pytest.approx(brute_force(dist, 1))


def test_a_square_is_walked_round_its_sides_not_across():
    corners = [(0, 0), (1, 1), (1, 0), (0, 1)]
    dist = planar(corners)
    order = routing.shortest_open_path(dist, 0)
    assert routing.path_length(dist, order) == pytest.approx(3)  # three sides, no diagonal


def test_two_opt_removes_a_crossing():
    # A zig-zag through a rectangle: 0 -> 2 crosses 1 -> 3.
    pts = [(0, 0), (0, 1), (3, 0), (3, 1)]
    dist = planar(pts)
    crossing = [0, 3, 1, 2]  # (0,0)->(3,1)->(0,1)->(3,0): the two long legs cross
    assert crosses(pts[0], pts[3], pts[1], pts[2])
    improved = routing.two_opt(dist, crossing)
    assert improved[0] == 0
    assert routing.path_length(dist, improved) < routing.path_length(dist, crossing)
    legs = list(zip(improved, improved[1:]))
    for (a, b), (c, d) in itertools.combinations(legs, 2):
        assert not crosses(pts[a], pts[b], pts[c], pts[d]), improved
    assert routing.path_length(dist, improved) == pytest.approx(brute_force(dist))


def test_two_opt_never_makes_a_path_longer_and_leaves_no_improving_reversal():
    rng = random.Random(20261121)
    for _ in range(40):
        pts = [(rng.uniform(0, 10), rng.uniform(0, 10)) for _ in range(rng.randint(2, 9))]
        dist = planar(pts)
        greedy = routing.nearest_neighbour(dist, 0)
        better = routing.two_opt(dist, greedy)
        assert sorted(better) == list(range(len(pts))) and better[0] == 0
        assert routing.path_length(dist, better) <= routing.path_length(dist, greedy) + 1e-9
        # 2-optimal: no single reversal shortens it.
        for i, j in itertools.combinations(range(1, len(better)), 2):
            candidate = better[:i] + better[i:j + 1][::-1] + better[j + 1:]
            assert routing.path_length(dist, candidate) >= routing.path_length(dist, better) - 1e-9
        assert routing.path_length(dist, better) <= brute_force(dist) * 1.25


def test_nearest_neighbour_is_fooled_where_two_opt_is_not():
    # Greedy from 0 goes to the close point 1 then has to come back across: 2-opt fixes it.
    pts = [(0, 0), (1, 0), (-1.5, 0), (5, 0)]
    dist = planar(pts)
    greedy = routing.nearest_neighbour(dist, 0)
    assert greedy == [0, 1, 2, 3]
    best = routing.shortest_open_path(dist, 0)
    assert routing.path_length(dist, greedy) == pytest.approx(10)
    assert routing.path_length(dist, best) == pytest.approx(brute_force(dist)) == pytest.approx(8)


LONDON = {"NW1": Point(51.53232, -0.14275), "E1": Point(51.51627, -0.06033),
          "SW1A": Point(51.50197, -0.13386), "N1": Point(51.53758, -0.09821)}


def test_where_two_opt_stops_short_a_small_day_is_solved_exactly():
    # From NW1 the nearest district is N1; NN goes N1 -> E1 -> SW1A (12.0 km) and no
    # reversal improves it, but SW1A -> N1 -> E1 (11.6 km) is shorter.
    names = list(LONDON)
    dist = routing.distance_matrix(list(LONDON.values()))
    heuristic = routing.two_opt(dist, routing.nearest_neighbour(dist, 0))
    assert [names[i] for i in heuristic] == ["NW1", "N1", "E1", "SW1A"]
    best = routing.shortest_open_path(dist, 0)
    assert [names[i] for i in best] == ["NW1", "SW1A", "N1", "E1"]
    assert routing.path_length(dist, best) == pytest.approx(brute_force(dist))
    assert routing.path_length(dist, best) < routing.path_length(dist, heuristic) - 0.3
    # Relocating one stop also finds it (the rule for days too long to solve exactly).
    assert routing.relocate(dist, heuristic) == best


def test_the_exact_solver_agrees_with_brute_force():
    rng = random.Random(5)
    for _ in range(30):
        pts = [(rng.uniform(0, 10), rng.uniform(0, 10)) for _ in range(rng.randint(1, 8))]
        dist = planar(pts)
        start = rng.randrange(len(pts))
        order = routing.exact_open_path(dist, start)
        assert order[0] == start and sorted(order) == list(range(len(pts)))
        assert routing.path_length(dist, order) == pytest.approx(brute_force(dist, start))


def test_a_long_day_uses_the_heuristic_and_ends_locally_optimal():
    rng = random.Random(7)
    pts = [(rng.uniform(0, 10), rng.uniform(0, 10)) for _ in range(routing.EXACT_LIMIT + 7)]
    dist = planar(pts)
    order = routing.shortest_open_path(dist, 0)
    assert order[0] == 0 and sorted(order) == list(range(len(pts)))
    assert routing.path_length(dist, order) <= routing.path_length(dist, routing.nearest_neighbour(dist, 0))
    assert routing.two_opt(dist, order) == order and routing.relocate(dist, order) == order


def test_degenerate_inputs():
    assert routing.nearest_neighbour([], 0) == []
    assert routing.shortest_open_path([[0.0]], 0) == [0]
    assert routing.shortest_open_path([], 0) == []
    assert routing.travel_minutes(0) == 0
    assert routing.travel_minutes(10) == math.ceil(10 * routing.ROAD_FACTOR / routing.AVERAGE_SPEED_KMH * 60)


def job(i, lat, lon, start, end, status="booked"):
    return {"id": f"job-{i}", "latitude": lat, "longitude": lon, "status": status,
            "starts_at": f"2031-03-04T{start}:00+00:00", "ends_at": f"2031-03-04T{end}:00+00:00"}


def test_a_day_gets_a_time_order_with_travel_estimates_and_a_shorter_suggested_route():
    # Along one meridian: base at 50.0, jobs booked far, near, middle.
    day = {"base_outcode": "AB1", "base_latitude": 50.0, "base_longitude": 0.0, "jobs": [
        job(1, 50.3, 0.0, "09:00", "10:00"),
        job(2, 50.1, 0.0, "10:05", "11:00"),
        job(3, 50.2, 0.0, "13:00", "14:00"),
        job(4, None, None, "15:00", "16:00"),
        job(5, 50.05, 0.0, "16:00", "17:00", status="cancelled"),
    ]}
    plan = routing.plan_day(day)
    assert plan["start"] == {"kind": "base", "outcode": "AB1"}
    assert [leg["id"] for leg in plan["time_order"]] == ["job-1", "job-2", "job-3"]
    assert [leg["id"] for leg in plan["route"]] == ["job-2", "job-3", "job-1"]
    km = 111.2 * 0.1
    assert plan["route_km"] == pytest.approx(3 * km, abs=0.1)
    assert plan["time_order_km"] == pytest.approx(3 * km + 2 * km + 1 * km, abs=0.1)
    assert plan["route_saves_km"] == pytest.approx(3 * km, abs=0.1)
    first, second, third = plan["time_order"]
    assert first["gap_minutes"] is None and first["km"] == pytest.approx(3 * km, abs=0.1)
    # 22 km in 5 minutes cannot be done: flagged; 11 km in two hours can.
    assert second["gap_minutes"] == 5 and second["tight"] is True
    assert second["travel_minutes"] == routing.travel_minutes(second["km"])
    assert third["gap_minutes"] == 120 and third["tight"] is False
    assert plan["unrouted"] == ["job-4"]
    assert plan["jobs"] == day["jobs"]  # the jobs themselves are untouched, in time order


def test_without_a_base_the_route_starts_at_the_first_job_by_time():
    day = {"base_latitude": None, "base_longitude": None, "jobs": [
        job(1, 50.1, 0.0, "09:00", "10:00"), job(2, 50.3, 0.0, "11:00", "12:00"), job(3, 50.0, 0.0, "13:00", "14:00")]}
    plan = routing.plan_day(day)
    assert plan["start"] == {"kind": "first_job", "id": "job-1"}
    assert plan["route"][0] == {"id": "job-1", "km": 0.0, "travel_minutes": 0}
    assert [leg["id"] for leg in plan["route"]] == ["job-1", "job-3", "job-2"]


def test_an_empty_day_has_an_empty_route():
    plan = routing.plan_day({"jobs": []})
    assert plan["route"] == [] and plan["time_order"] == [] and plan["route_km"] == 0 and plan["start"] is None
