"""Consistent hashing of task ids over schedulers and seed peers."""

from __future__ import annotations

import hashlib

import pytest

from damselfly.common.hashring import HashRing

MEMBERS = ["10.0.0.1:8002", "10.0.0.2:8002", "10.0.0.3:8002", "10.0.0.4:8002"]
KEYS = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000)]


def test_empty_ring() -> None:
    ring = HashRing([])
    assert len(ring) == 0
    assert ring.get("k") is None
    assert ring.ordered("k") == []


def test_single_member_owns_everything() -> None:
    ring = HashRing(["only"])
    assert {ring.get(key) for key in KEYS} == {"only"}
    assert ring.ordered(KEYS[0]) == ["only"]


def test_duplicates_count_once() -> None:
    assert len(HashRing(["a", "b", "a"])) == 2


def test_owner_is_stable_and_independent_of_member_order() -> None:
    first = HashRing(MEMBERS)
    second = HashRing(list(reversed(MEMBERS)))
    for key in KEYS:
        owner = first.get(key)
        assert owner in MEMBERS
        assert first.get(key) == owner
        assert second.get(key) == owner


def test_every_member_is_reachable() -> None:
    ring = HashRing(MEMBERS)
    owners = [ring.get(key) for key in KEYS]
    for member in MEMBERS:
        # With 2000 keys over 4 members each owns a fair share, not a sliver.
        assert owners.count(member) > len(KEYS) // (4 * len(MEMBERS))


@pytest.mark.parametrize("removed", MEMBERS)
def test_removing_a_member_only_moves_its_keys(removed: str) -> None:
    before = HashRing(MEMBERS)
    after = HashRing([m for m in MEMBERS if m != removed])
    kept = 0
    for key in KEYS:
        old, new = before.get(key), after.get(key)
        if old == removed:
            assert new in MEMBERS and new != removed
        else:
            assert new == old
            kept += 1
    # Most keys keep their owner (about three quarters with four members).
    assert kept > len(KEYS) // 2


def test_adding_a_member_only_takes_keys_for_itself() -> None:
    before = HashRing(MEMBERS[:3])
    after = HashRing(MEMBERS)
    for key in KEYS:
        new = after.get(key)
        assert new == before.get(key) or new == MEMBERS[3]


@pytest.mark.parametrize("key", KEYS[:50])
def test_ordered_lists_every_member_once_starting_with_owner(key: str) -> None:
    ring = HashRing(MEMBERS)
    order = ring.ordered(key)
    assert sorted(order) == sorted(MEMBERS)
    assert order[0] == ring.get(key)


def test_ordered_fails_over_to_the_next_owner() -> None:
    # When the owner goes, the key moves to the second member of its ordered list.
    ring = HashRing(MEMBERS)
    for key in KEYS[:200]:
        order = ring.ordered(key)
        assert HashRing(order[1:]).get(key) == order[1]
