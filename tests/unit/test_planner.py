"""PiecePlanner: which piece next, from which parent."""

from __future__ import annotations

import random

import pytest

from damselfly.core.models import PieceInfo
from damselfly.daemon.download.planner import (
    LATE_UNMEASURED_S,
    MAX_INFLIGHT,
    MAX_PARENT_FAILURES,
    MIN_INFLIGHT,
    TARGET_LATENCY_S,
    PiecePlanner,
)

PIECE = 4


def pieces(*numbers: int) -> list[PieceInfo]:
    return [PieceInfo(n, n * PIECE, PIECE, crc32c=n) for n in numbers]


def planner_with(parents: dict[str, list[int]], *, done: set[int] | None = None) -> PiecePlanner:
    planner = PiecePlanner(done)
    for parent_id, numbers in parents.items():
        assert planner.add_parent(parent_id)
        planner.announce(parent_id, pieces(*numbers))
    return planner


def take(planner: PiecePlanner, now: float = 0.0) -> tuple[int, str] | None:
    """Ask for the next piece and mark it started, as a worker does."""
    got = planner.next(now)
    if got is None:
        return None
    piece, parent_id = got
    planner.started(piece.number, parent_id, now)
    return piece.number, parent_id


def test_every_piece_once_from_one_parent() -> None:
    planner = planner_with({"a": [3, 0, 2, 1]})
    order = []
    while (got := take(planner)) is not None:
        order.append(got)
        planner.finished(got[0], "a")
    assert sorted(order) == [(0, "a"), (1, "a"), (2, "a"), (3, "a")]


def test_rarest_piece_among_parents_first() -> None:
    planner = planner_with({"a": [0, 1, 2, 3], "b": [0, 1], "c": [0, 1, 3]})
    planner.parents["b"].load = planner.parents["c"].load = MIN_INFLIGHT  # only a is free
    assert take(planner) == (2, "a")  # held by a alone
    assert take(planner) == (3, "a")  # held by two parents, 0 and 1 by three


def test_children_of_one_seed_ask_for_different_pieces() -> None:
    firsts = set()
    for seed in range(20):
        planner = planner_with({"seed": list(range(64))})
        planner.rng = random.Random(seed)
        got = take(planner)
        assert got is not None
        firsts.add(got[0])
    assert len(firsts) >= 10  # not everyone starts with piece 0


def test_unmeasured_parent_gets_few_pieces_at_once() -> None:
    planner = planner_with({"a": list(range(20))})
    taken = [take(planner) for _ in range(MIN_INFLIGHT + 1)]
    assert taken[-1] is None
    assert planner.parents["a"].load == MIN_INFLIGHT


@pytest.mark.parametrize(
    ("bytes_per_s", "allowed"),
    [(1.0, MIN_INFLIGHT), (PIECE / TARGET_LATENCY_S * 3.5, 4), (1e12, MAX_INFLIGHT)],
)
def test_measured_parent_gets_what_it_can_turn_around(bytes_per_s: float, allowed: int) -> None:
    planner = planner_with({"a": list(range(40))})
    planner.parents["a"].bytes_per_s = bytes_per_s
    taken = 0
    while take(planner) is not None:
        taken += 1
    assert taken == allowed


@pytest.mark.parametrize("parent_count", [2, 3, 4])
def test_load_spreads_over_parents(parent_count: int) -> None:
    count = parent_count * MIN_INFLIGHT
    names = [f"p{i}" for i in range(parent_count)]
    planner = planner_with({name: list(range(count + 5)) for name in names})
    taken = [take(planner) for _ in range(count)]
    assert len({t[0] for t in taken if t}) == count  # all different pieces
    loads = {name: sum(1 for t in taken if t and t[1] == name) for name in names}
    assert set(loads.values()) == {MIN_INFLIGHT}


def test_least_loaded_parent_serves_next() -> None:
    planner = planner_with({"a": [0, 1, 2, 3], "b": [0, 1, 2, 3]})
    first = take(planner)
    assert first is not None
    second = take(planner)
    assert second is not None and second[1] != first[1]
    planner.finished(first[0])  # first parent is idle again, the other busy
    third = take(planner)
    assert third is not None and third[1] == first[1]


def test_piece_only_one_parent_has() -> None:
    planner = planner_with({"a": [0, 1], "b": [0, 1, 5]})
    planner.started(0, "a")
    planner.started(1, "a")
    assert take(planner) == (5, "b")


def test_never_hands_out_done_or_twice_from_one_parent() -> None:
    planner = planner_with({"a": [0, 1, 2], "b": [0, 1, 2]}, done={1})
    handed = {take(planner), take(planner)}
    assert {h[0] for h in handed if h} == {0, 2}
    assert planner.next(now=1.0) is None  # in flight, but not late yet
    # Endgame: once late, each piece in flight is asked once more, from the other parent.
    late = LATE_UNMEASURED_S + 1
    duplicates = {take(planner, late), take(planner, late)}
    assert duplicates == {(h[0], "b" if h[1] == "a" else "a") for h in handed if h}
    assert planner.next(now=late) is None
    assert planner.finished(0, "a") is True
    assert planner.finished(0, "b") is False  # the slower copy is not needed
    assert planner.next(now=late) is None
    assert planner.done == {0, 1}


def test_endgame_waits_until_every_missing_piece_is_in_flight() -> None:
    planner = planner_with({"a": [0, 1], "b": [0, 1]})
    first, second = take(planner), take(planner)
    assert first is not None and second is not None
    assert {first[0], second[0]} == {0, 1}  # unstarted pieces go before any duplicate
    later = LATE_UNMEASURED_S + 1
    third = take(planner, later)  # then the oldest late piece, elsewhere
    assert third == (first[0], second[1])
    assert take(planner, later) == (second[0], first[1])
    assert take(planner, later) is None


def test_faster_parent_gets_more_pieces() -> None:
    planner = planner_with({"fast": list(range(40)), "slow": list(range(40))})
    planner.started(0, "fast")
    planner.finished(0, "fast", seconds=PIECE / 1e6)
    planner.started(1, "slow")
    planner.finished(1, "slow", seconds=PIECE / 1e5)
    taken = [t for t in (take(planner) for _ in range(MAX_INFLIGHT + MIN_INFLIGHT)) if t]
    by_fast = sum(1 for t in taken if t[1] == "fast")
    assert by_fast == MAX_INFLIGHT  # the fast one is filled before the slow one is asked
    assert len(taken) - by_fast == MIN_INFLIGHT


def test_failed_piece_not_asked_again_from_that_parent() -> None:
    planner = planner_with({"a": [0, 1]})
    first = take(planner)
    assert first is not None
    assert planner.failed(first[0], "a") is False
    assert take(planner) == (1 - first[0], "a")
    assert planner.next() is None  # only "a" has the failed piece, and "a" failed it
    planner.add_parent("b")
    planner.announce("b", pieces(first[0]))
    assert take(planner) == (first[0], "b")


def test_parent_dropped_after_max_failures() -> None:
    numbers = list(range(MAX_PARENT_FAILURES + 1))
    planner = planner_with({"a": numbers, "b": []})
    results = []
    for number in numbers[:MAX_PARENT_FAILURES]:
        planner.started(number, "a")
        results.append(planner.failed(number, "a"))
    assert results == [False] * (MAX_PARENT_FAILURES - 1) + [True]
    assert "a" not in planner.parents
    assert planner.next() is None  # its remaining piece is not asked for
    assert planner.add_parent("a") is False  # not taken back
    planner.announce("a", pieces(99))
    assert planner.next() is None


def test_failure_from_unknown_parent_is_only_recorded() -> None:
    planner = planner_with({"a": [0]})
    assert planner.failed(0, "ghost") is False
    assert take(planner) == (0, "a")


def test_add_parent_twice() -> None:
    planner = PiecePlanner()
    assert planner.add_parent("a")
    assert not planner.add_parent("a")


def test_announce_from_unknown_parent_is_ignored() -> None:
    planner = PiecePlanner()
    planner.announce("ghost", pieces(0))
    assert planner.next() is None


def test_dropping_a_parent_forgets_its_pieces() -> None:
    planner = planner_with({"a": [0], "b": [1]})
    planner.drop_parent("a")
    assert take(planner) == (1, "b")
    assert planner.next() is None


# complete / stalled / missing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "done", "complete"),
    [
        (-1, set(), False),
        (-1, {0, 1}, False),
        (0, set(), True),
        (3, {0, 1}, False),
        (3, {0, 1, 2}, True),
    ],
)
def test_complete(total: int, done: set[int], complete: bool) -> None:
    planner = PiecePlanner(done)
    planner.total = total
    assert planner.complete() is complete


def test_missing() -> None:
    planner = PiecePlanner({0, 2})
    assert planner.missing() == []  # unknown total
    planner.total = 5
    assert planner.missing() == [1, 3, 4]


def test_not_stalled_while_a_parent_may_announce_more() -> None:
    planner = planner_with({"a": []})
    assert not planner.stalled()


def test_not_stalled_while_a_piece_is_in_flight() -> None:
    planner = planner_with({"a": [0]})
    take(planner)
    planner.parent_finished("a")
    assert not planner.stalled()
    planner.failed(0, "a")
    assert planner.stalled()


def test_not_stalled_while_pieces_remain_to_fetch() -> None:
    planner = planner_with({"a": [0, 1]})
    planner.parent_finished("a")
    assert not planner.stalled()
    take(planner)
    take(planner)
    planner.finished(0)
    planner.finished(1)
    assert planner.stalled()  # total unknown, nothing left anywhere


def test_stalled_when_every_parent_is_done_and_has_nothing_new() -> None:
    planner = planner_with({"a": [0], "b": [0, 1]}, done={0, 1})
    planner.total = 3
    planner.parent_finished("a")
    assert not planner.stalled()  # "b" may still announce piece 2
    planner.parent_finished("b")
    assert planner.stalled()


def test_stalled_with_no_parents() -> None:
    planner = PiecePlanner()
    planner.total = 2
    assert planner.stalled()


def test_not_stalled_when_complete() -> None:
    planner = PiecePlanner({0, 1})
    planner.total = 2
    assert not planner.stalled()


def test_dropped_parent_does_not_keep_the_download_alive() -> None:
    planner = planner_with({"a": [0, 1, 2, 3]})
    planner.total = 4
    for number in range(MAX_PARENT_FAILURES):
        planner.started(number, "a")
        planner.failed(number, "a")
    assert planner.stalled()


def test_rarity_counts_each_parent_once() -> None:
    planner = planner_with({"a": [0, 1], "b": [0, 0, 0, 0], "c": [1], "d": [1]})
    for other in ("b", "c", "d"):
        planner.parents[other].load = MIN_INFLIGHT  # only a is free
    assert take(planner) == (0, "a")  # 0 held by two parents (b announced it 4 times), 1 by 3


def test_rarity_counts_only_parents_still_held() -> None:
    planner = planner_with({"a": [2, 3], "b": [2], "c": [3], "d": [3]})
    planner.parents["b"].load = MIN_INFLIGHT  # only a is free
    planner.drop_parent("c")
    planner.drop_parent("d")
    assert take(planner) == (3, "a")  # held by a alone now, 2 by a and b


def test_a_piece_done_is_wanted_from_no_parent() -> None:
    planner = planner_with({"a": [0, 1], "b": [0, 1]}, done={0})
    assert all(p.wanted == {1} for p in planner.parents.values())
    planner.finished(1, "b")
    assert all(not p.wanted for p in planner.parents.values())
    planner.announce("a", pieces(2))
    assert planner.parents["a"].wanted == {2}
