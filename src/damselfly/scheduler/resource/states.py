"""Peer and task state machines as tables: ``(state, event) -> state``."""

from __future__ import annotations

from enum import Enum


class PeerState(Enum):
    PENDING = "Pending"
    RECEIVED_EMPTY = "ReceivedEmpty"
    RECEIVED_NORMAL = "ReceivedNormal"
    RUNNING = "Running"
    BACK_TO_SOURCE = "BackToSource"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    LEAVE = "Leave"


class PeerEvent(Enum):
    REGISTER_EMPTY = "RegisterEmpty"
    REGISTER_NORMAL = "RegisterNormal"
    DOWNLOAD = "Download"
    DOWNLOAD_BACK_TO_SOURCE = "DownloadBackToSource"
    DOWNLOAD_SUCCEEDED = "DownloadSucceeded"
    DOWNLOAD_FAILED = "DownloadFailed"
    LEAVE = "Leave"


class TaskState(Enum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    LEAVE = "Leave"


class TaskEvent(Enum):
    DOWNLOAD = "Download"
    DOWNLOAD_SUCCEEDED = "DownloadSucceeded"
    DOWNLOAD_FAILED = "DownloadFailed"
    LEAVE = "Leave"


_RECEIVED = (PeerState.RECEIVED_EMPTY, PeerState.RECEIVED_NORMAL)
_ACTIVE = (*_RECEIVED, PeerState.RUNNING, PeerState.BACK_TO_SOURCE)

PEER_TRANSITIONS: dict[tuple[PeerState, PeerEvent], PeerState] = {
    (PeerState.PENDING, PeerEvent.REGISTER_EMPTY): PeerState.RECEIVED_EMPTY,
    (PeerState.PENDING, PeerEvent.REGISTER_NORMAL): PeerState.RECEIVED_NORMAL,
    **{(s, PeerEvent.DOWNLOAD): PeerState.RUNNING for s in _RECEIVED},
    **{
        (s, PeerEvent.DOWNLOAD_BACK_TO_SOURCE): PeerState.BACK_TO_SOURCE
        for s in (*_RECEIVED, PeerState.RUNNING)
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


class InvalidTransition(Exception):
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
