"""Peer and task state machines against Dragonfly's tables (reference/dragonfly.md §4.2).

The expected tables are written out here from the reference, by state and event names,
independently of the code; every (state, event) pair is checked, allowed or refused.
"""

from __future__ import annotations

import itertools

import pytest

from damselfly.scheduler.resource.states import (
    PEER_TRANSITIONS,
    TASK_TRANSITIONS,
    InvalidTransition,
    PeerEvent,
    PeerState,
    TaskEvent,
    TaskState,
    next_peer_state,
    next_task_state,
)

RECEIVED = ["ReceivedEmpty", "ReceivedTiny", "ReceivedSmall", "ReceivedNormal"]
ALL_PEER_STATES = [
    "Pending",
    "ReceivedEmpty",
    "ReceivedTiny",
    "ReceivedSmall",
    "ReceivedNormal",
    "Running",
    "BackToSource",
    "Succeeded",
    "Failed",
    "Leave",
]

# event: (from states, to state)
PEER_RULES: dict[str, tuple[list[str], str]] = {
    "RegisterEmpty": (["Pending"], "ReceivedEmpty"),
    "RegisterTiny": (["Pending"], "ReceivedTiny"),
    "RegisterSmall": (["Pending"], "ReceivedSmall"),
    "RegisterNormal": (["Pending"], "ReceivedNormal"),
    "Download": (RECEIVED, "Running"),
    "DownloadBackToSource": ([*RECEIVED, "Running"], "BackToSource"),
    "DownloadSucceeded": ([*RECEIVED, "Running", "BackToSource"], "Succeeded"),
    "DownloadFailed": (
        ["Pending", *RECEIVED, "Running", "BackToSource", "Succeeded"],
        "Failed",
    ),
    "Leave": ([s for s in ALL_PEER_STATES if s != "Leave"], "Leave"),
}

TASK_RULES: dict[str, tuple[list[str], str]] = {
    "Download": (["Pending", "Succeeded", "Failed", "Leave"], "Running"),
    "DownloadSucceeded": (["Leave", "Running", "Failed"], "Succeeded"),
    "DownloadFailed": (["Running"], "Failed"),
    "Leave": (["Pending", "Running", "Succeeded", "Failed"], "Leave"),
}

EXPECTED_PEER: dict[tuple[PeerState, PeerEvent], PeerState] = {
    (PeerState(source), PeerEvent(event)): PeerState(target)
    for event, (sources, target) in PEER_RULES.items()
    for source in sources
}
EXPECTED_TASK: dict[tuple[TaskState, TaskEvent], TaskState] = {
    (TaskState(source), TaskEvent(event)): TaskState(target)
    for event, (sources, target) in TASK_RULES.items()
    for source in sources
}


def test_peer_state_names_match_reference() -> None:
    assert sorted(s.value for s in PeerState) == sorted(ALL_PEER_STATES)
    assert sorted(e.value for e in PeerEvent) == sorted(PEER_RULES)


def test_task_state_names_match_reference() -> None:
    assert sorted(s.value for s in TaskState) == sorted(
        ["Pending", "Running", "Succeeded", "Failed", "Leave"]
    )
    assert sorted(e.value for e in TaskEvent) == sorted(TASK_RULES)


def test_peer_table_is_exactly_the_reference() -> None:
    assert PEER_TRANSITIONS == EXPECTED_PEER


def test_task_table_is_exactly_the_reference() -> None:
    assert TASK_TRANSITIONS == EXPECTED_TASK


@pytest.mark.parametrize(("state", "event"), list(itertools.product(PeerState, PeerEvent)), ids=str)
def test_peer_transition(state: PeerState, event: PeerEvent) -> None:
    expected = EXPECTED_PEER.get((state, event))
    if expected is None:
        with pytest.raises(InvalidTransition, match=f"{event.value} in state {state.value}"):
            next_peer_state(state, event)
    else:
        assert next_peer_state(state, event) is expected


@pytest.mark.parametrize(("state", "event"), list(itertools.product(TaskState, TaskEvent)), ids=str)
def test_task_transition(state: TaskState, event: TaskEvent) -> None:
    expected = EXPECTED_TASK.get((state, event))
    if expected is None:
        with pytest.raises(InvalidTransition, match=f"{event.value} in state {state.value}"):
            next_task_state(state, event)
    else:
        assert next_task_state(state, event) is expected
