"""What the service sends to a peer, and the ports it is given (clock aside)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from damselfly.core.errors import Code
from damselfly.core.models import DownloadRequest, HostInfo, ParentInfo


@dataclass(frozen=True)
class ParentsResponse:
    """Candidate parents; a later one for the same peer names only parents it lacks."""

    parents: list[ParentInfo]


@dataclass(frozen=True)
class BackToSourceResponse:
    description: str


@dataclass(frozen=True)
class EmptyTaskResponse:
    pass


@dataclass(frozen=True)
class FailedResponse:
    code: Code
    description: str


Response = ParentsResponse | BackToSourceResponse | EmptyTaskResponse | FailedResponse
Respond = Callable[[Response], None]


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...


SeedTrigger = Callable[[HostInfo, str, DownloadRequest], None]
