"""Peer and task state machines as tables: ``(state, event) -> state``.

The tables are Dragonfly's (reference/dragonfly.md §4.2). Side effects of a transition
(graph edges, back-to-source membership) live in ``models.Peer.fire``.
"""

from __future__ import annotations

from enum import Enum

from damselfly.core.errors import FailedPrecondition


class _State(Enum):
    """Members hash by identity, in C: ``Enum.__hash__`` is Python code, and states and
    events are hashed on every scheduling decision (transition tables, state sets). A
    member is a singleton and compares by identity, so nothing else changes."""

    __hash__ = object.__hash__


class PeerState(_State):
    PENDING = "Pending"
    RECEIVED_EMPTY = "ReceivedEmpty"
    RECEIVED_TINY = "ReceivedTiny"
    RECEIVED_SMALL = "ReceivedSmall"
    RECEIVED_NORMAL = "ReceivedNormal"
    RUNNING = "Running"
    BACK_TO_SOURCE = "BackToSource"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    LEAVE = "Leave"


class PeerEvent(_State):
    REGISTER_EMPTY = "RegisterEmpty"
    REGISTER_TINY = "RegisterTiny"
    REGISTER_SMALL = "RegisterSmall"
    REGISTER_NORMAL = "RegisterNormal"
    DOWNLOAD = "Download"
    DOWNLOAD_BACK_TO_SOURCE = "DownloadBackToSource"
    DOWNLOAD_SUCCEEDED = "DownloadSucceeded"
    DOWNLOAD_FAILED = "DownloadFailed"
    LEAVE = "Leave"


class TaskState(_State):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    LEAVE = "Leave"


class TaskEvent(_State):
    DOWNLOAD = "Download"
    DOWNLOAD_SUCCEEDED = "DownloadSucceeded"
    DOWNLOAD_FAILED = "DownloadFailed"
    LEAVE = "Leave"


RECEIVED_STATES = (
    PeerState.RECEIVED_EMPTY,
    PeerState.RECEIVED_TINY,
    PeerState.RECEIVED_SMALL,
    PeerState.RECEIVED_NORMAL,
)
_ACTIVE = (*RECEIVED_STATES, PeerState.RUNNING, PeerState.BACK_TO_SOURCE)
_REGISTER = {
    PeerEvent.REGISTER_EMPTY: PeerState.RECEIVED_EMPTY,
    PeerEvent.REGISTER_TINY: PeerState.RECEIVED_TINY,
    PeerEvent.REGISTER_SMALL: PeerState.RECEIVED_SMALL,
    PeerEvent.REGISTER_NORMAL: PeerState.RECEIVED_NORMAL,
}

PEER_TRANSITIONS: dict[tuple[PeerState, PeerEvent], PeerState] = {
    **{(PeerState.PENDING, event): state for event, state in _REGISTER.items()},
    **{(s, PeerEvent.DOWNLOAD): PeerState.RUNNING for s in RECEIVED_STATES},
    **{
        (s, PeerEvent.DOWNLOAD_BACK_TO_SOURCE): PeerState.BACK_TO_SOURCE
        for s in (*RECEIVED_STATES, PeerState.RUNNING)
    },
    **{(s, PeerEvent.DOWNLOAD_SUCCEEDED): PeerState.SUCCEEDED for s in _ACTIVE},
    **{
        (s, PeerEvent.DOWNLOAD_FAILED): PeerState.FAILED
        for s in (PeerState.PENDING, *_ACTIVE, PeerState.SUCCEEDED)
    },
    **{(s, PeerEvent.LEAVE): PeerState.LEAVE for s in PeerState if s is not PeerState.LEAVE},
}

TASK_TRANSITIONS: dict[tuple[TaskState, TaskEvent], TaskState] = {
    **{
        (s, TaskEvent.DOWNLOAD): TaskState.RUNNING
        for s in (TaskState.PENDING, TaskState.SUCCEEDED, TaskState.FAILED, TaskState.LEAVE)
    },
    **{
        (s, TaskEvent.DOWNLOAD_SUCCEEDED): TaskState.SUCCEEDED
        for s in (TaskState.LEAVE, TaskState.RUNNING, TaskState.FAILED)
    },
    (TaskState.RUNNING, TaskEvent.DOWNLOAD_FAILED): TaskState.FAILED,
    **{(s, TaskEvent.LEAVE): TaskState.LEAVE for s in TaskState if s is not TaskState.LEAVE},
}


class InvalidTransition(FailedPrecondition):
    """An event that the current state does not accept."""


def next_peer_state(state: PeerState, event: PeerEvent) -> PeerState:
    try:
        return PEER_TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(f"peer event {event.value} in state {state.value}") from None


def next_task_state(state: TaskState, event: TaskEvent) -> TaskState:
    try:
        return TASK_TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(f"task event {event.value} in state {state.value}") from None
