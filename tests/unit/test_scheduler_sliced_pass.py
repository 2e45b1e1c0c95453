"""Passes over every peer (garbage collection, pushed parents) run in spaced slices."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from damselfly.scheduler.server import SLICE_GAP_S, SLICE_PEERS, SlicedOverPeers, slice_gap_s
from tests.unit.service_harness import Harness


def harness_with_peers(count: int) -> Harness:
    h = Harness()
    h.started_seed()
    for index in range(count - 1):
        h.register(h.host(f"h{index}"), f"peer-{index}")
    assert len(h.service.resources.peers) == count
    return h


def test_a_pass_visits_every_peer_once_in_slices_spaced_in_time() -> None:
    h = harness_with_peers(3 * SLICE_PEERS + 5)
    slices: list[list[str]] = []
    times: list[float] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        passed = asyncio.Event()

        def job(peer_ids: list[str]) -> None:
            slices.append(peer_ids)
            times.append(loop.time())
            if len(slices) == 4:
                passed.set()

        sliced = SlicedOverPeers(h.service, job, within_s=10.0)
        sliced()
        sliced()  # a pass is under way: no second one
        await asyncio.wait_for(passed.wait(), 5)
        sliced()  # the pass is over: the next one starts
        assert len(slices) == 5

    asyncio.run(scenario())
    visited = [peer_id for chunk in slices[:4] for peer_id in chunk]
    assert sorted(visited) == sorted(h.service.resources.peers)
    assert [len(chunk) for chunk in slices] == [SLICE_PEERS] * 3 + [5, SLICE_PEERS]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times[:4])]
    assert min(gaps) >= SLICE_GAP_S * 0.9  # the loop serves requests in between


def test_a_failing_slice_ends_the_pass_and_the_next_pass_starts_over() -> None:
    h = harness_with_peers(2 * SLICE_PEERS)
    calls: list[int] = []

    def job(peer_ids: list[str]) -> None:
        calls.append(len(peer_ids))
        raise RuntimeError("boom")

    async def scenario() -> None:
        sliced = SlicedOverPeers(h.service, job, within_s=10.0)
        sliced()
        sliced()  # the failed pass is over: this one starts
        assert calls == [SLICE_PEERS, SLICE_PEERS]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("peers", "within_s", "gap_s"),
    [
        (15_000, 5.0, SLICE_GAP_S),  # peer GC every 10 s: the usual gap
        (15_000, 0.5, SLICE_GAP_S),  # 235 slices of 2 ms fit in half a second
        (64_000, 0.5, 0.5 / 1000),  # 1,000 slices: closer together
        (0, 0.5, SLICE_GAP_S),
    ],
)
def test_slices_come_closer_when_a_pass_would_not_end_in_time(
    peers: int, within_s: float, gap_s: float
) -> None:
    assert slice_gap_s(peers, within_s) == pytest.approx(gap_s)
    slices = -(-peers // SLICE_PEERS)
    assert (slices - 1) * slice_gap_s(peers, within_s) <= within_s
