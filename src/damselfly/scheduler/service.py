"""Scheduler use cases: register hosts and peers, handle peer reports, send decisions.

One writer: every method runs on the event loop and never awaits between reading and
changing state. Output goes through each peer's ``Respond`` callback; time comes from
the Clock, delays from the Timers, so the whole service runs under a fake clock in tests.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from damselfly.common.clock import Clock
from damselfly.common.hashring import HashRing
from damselfly.core.errors import Code, FailedPrecondition, NotFound, PermissionDenied
from damselfly.core.models import DownloadRequest, HostInfo, ParentInfo, PieceInfo, Priority
from damselfly.scheduler.config import SchedulingConfig
from damselfly.scheduler.resource.models import Host, Peer, Task
from damselfly.scheduler.resource.states import PeerEvent, PeerState, TaskEvent, TaskState
from damselfly.scheduler.resource.store import Resources
from damselfly.scheduler.scheduling.decide import (
    BackToSource,
    Fail,
    Limits,
    Parents,
    Wait,
    decide,
)
from damselfly.scheduler.scheduling.filters import rejection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParentsResponse:
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

_PARENT_STATES = (PeerState.RUNNING, PeerState.BACK_TO_SOURCE, PeerState.SUCCEEDED)


class SchedulerService:
    def __init__(
        self,
        config: SchedulingConfig,
        clock: Clock,
        timers: Timers,
        trigger_seed: SeedTrigger,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.timers = timers
        self.trigger_seed = trigger_seed
        self.rng = rng or random.Random()
        self.resources = Resources()
        self.limits = Limits(config.candidate_parent_limit, config.filter_parent_limit)
        self._respond: dict[str, Respond] = {}
        self._waiting: dict[str, tuple[int, TimerHandle]] = {}

    # Hosts -------------------------------------------------------------------

    def announce_host(self, info: HostInfo, interval_s: float) -> None:
        now = self.clock.now()
        host = self.resources.hosts.get(info.id)
        if host is None:
            self.resources.hosts[info.id] = Host(info, interval_s, updated_at=now)
            log.info("host %s joined (%s:%d, seed=%s)", info.id, info.ip, info.port, info.type)
        else:
            host.info, host.announce_interval_s, host.updated_at = info, interval_s, now

    def leave_host(self, host_id: str) -> None:
        host = self.resources.hosts.pop(host_id, None)
        if host is None:
            return
        for peer in list(host.peers.values()):
            self._forget(peer)
        log.info("host %s left", host_id)

    def seed_hosts(self) -> list[Host]:
        return [h for h in self.resources.hosts.values() if h.is_seed]

    # Peers -------------------------------------------------------------------

    def register_peer(
        self, host_id: str, task_id: str, peer_id: str, download: DownloadRequest, respond: Respond
    ) -> None:
        now = self.clock.now()
        host = self.resources.hosts.get(host_id)
        if host is None:
            raise NotFound(f"host {host_id} is not announced; announce the host first")
        if download.priority is Priority.LEVEL1:
            raise PermissionDenied("downloads with priority 1 are forbidden")
        task = self.resources.tasks.get(task_id)
        if task is None:
            task = Task(task_id, download, now, self.config.back_to_source_count)
            self.resources.tasks[task_id] = task
        old = self.resources.peers.get(peer_id)
        if old is not None:
            self._forget(old)
        peer = Peer(peer_id, task, host, download, created_at=now, updated_at=now)
        self.resources.add_peer(peer)
        self._respond[peer_id] = respond
        peer.block_parents.add(peer_id)
        if download.need_back_to_source:
            peer.need_back_to_source = True
        elif not self._has_available_parent(peer):
            self._arrange_first_download(peer)
        if task.state is TaskState.SUCCEEDED and task.content_length == 0:
            peer.fire(PeerEvent.REGISTER_EMPTY, now)
            respond(EmptyTaskResponse())
            return
        if task.state is not TaskState.RUNNING:
            task.fire(TaskEvent.DOWNLOAD, now)
        peer.fire(PeerEvent.REGISTER_NORMAL, now)
        self._schedule(peer, attempt=0)

    def _has_available_parent(self, peer: Peer) -> bool:
        return any(
            p.state in _PARENT_STATES and p.host.id != peer.host.id and p.id != peer.id
            for p in peer.task.peers.values()
        )

    def _arrange_first_download(self, peer: Peer) -> None:
        """Nobody has the task: a seed peer fetches it, or the peer itself does."""
        task, now = peer.task, self.clock.now()
        if peer.host.is_seed or peer.priority is Priority.LEVEL3:
            peer.need_back_to_source = True
            return
        if peer.priority is Priority.LEVEL2:
            return
        recently_failed = (
            task.seed_failed_at is not None
            and now - task.seed_failed_at < self.config.seed_peer_failed_timeout_s
        )
        seed = self._seed_for(task.id)
        if seed is None or recently_failed:
            peer.need_back_to_source = True
            return
        if task.seed_triggered_at is None or not self._seed_is_working(task):
            task.seed_triggered_at = now
            log.info("task %s: triggering seed peer %s", task.id[:12], seed.id)
            self.trigger_seed(seed.info, task.id, task.download)

    def _seed_for(self, task_id: str) -> Host | None:
        seeds = {h.id: h for h in self.seed_hosts()}
        chosen = HashRing(seeds).get(task_id)
        return seeds.get(chosen) if chosen else None

    def _seed_is_working(self, task: Task) -> bool:
        """A seed peer of the task is downloading, or was asked and has yet to register."""
        seeds = [p for p in task.peers.values() if p.host.is_seed]
        if any(p.state not in (PeerState.FAILED, PeerState.LEAVE) for p in seeds):
            return True
        asked = task.seed_triggered_at
        return (
            not seeds
            and asked is not None
            and self.clock.now() - asked < self.config.seed_peer_register_timeout_s
        )

    def seed_trigger_failed(self, task_id: str, description: str) -> None:
        """The seed could not be reached: waiting peers fetch from the origin themselves."""
        task = self.resources.tasks.get(task_id)
        if task is None:
            return
        task.seed_failed_at = self.clock.now()
        log.warning("task %s: seed trigger failed: %s", task_id[:12], description)
        for peer in self._waiting_peers(task):
            peer.need_back_to_source = True
            self._schedule(peer, attempt=self._waiting[peer.id][0])

    def _waiting_peers(self, task: Task) -> list[Peer]:
        return [p for p in task.peers.values() if p.id in self._waiting]

    def _schedule(self, peer: Peer, attempt: int) -> None:
        waited_out = attempt >= self.config.retry_back_to_source_limit
        decision = decide(peer, self.limits, self.rng, waited_out=waited_out)
        self._stop_waiting(peer.id)
        respond = self._respond.get(peer.id)
        if respond is None:
            return
        if isinstance(decision, Parents):
            now = self.clock.now()
            peer.release_parents()
            for parent in decision.peers:
                peer.task.graph.add_edge(parent.id, peer.id)
                parent.host.concurrent_uploads += 1
                parent.host.upload_count += 1
            peer.updated_at = now
            respond(ParentsResponse([ParentInfo(p.id, p.host.info) for p in decision.peers]))
        elif isinstance(decision, BackToSource):
            peer.need_back_to_source = True
            respond(BackToSourceResponse(decision.reason))
        elif isinstance(decision, Fail):
            respond(FailedResponse(Code.FAILED_PRECONDITION, decision.reason))
        elif isinstance(decision, Wait):
            log.debug(
                "peer %s waits (attempt %d): %s",
                peer.id,
                attempt,
                {p.id: rejection(peer, p) for p in peer.task.peers.values()},
            )
            handle = self.timers.call_later(
                self._retry_delay(), lambda: self._retry(peer.id, attempt + 1)
            )
            self._waiting[peer.id] = (attempt, handle)

    def _retry_delay(self) -> float:
        return self.config.retry_interval_s * self.rng.uniform(0.75, 1.25)

    def _retry(self, peer_id: str, attempt: int) -> None:
        self._waiting.pop(peer_id, None)
        peer = self.resources.peers.get(peer_id)
        if peer is not None and peer.state in (PeerState.RECEIVED_NORMAL, PeerState.RUNNING):
            self._schedule(peer, attempt)

    def _stop_waiting(self, peer_id: str) -> None:
        entry = self._waiting.pop(peer_id, None)
        if entry is not None:
            entry[1].cancel()

    def _wake_waiters(self, task: Task) -> None:
        for peer in self._waiting_peers(task):
            self._schedule(peer, attempt=self._waiting[peer.id][0])

    def _peer(self, peer_id: str) -> Peer:
        peer = self.resources.peers.get(peer_id)
        if peer is None:
            raise NotFound(f"peer {peer_id} is not registered; register it first")
        return peer

    def download_started(self, peer_id: str) -> None:
        peer = self._peer(peer_id)
        if peer.state is not PeerState.RUNNING:
            peer.fire(PeerEvent.DOWNLOAD, self.clock.now())

    def back_to_source_started(self, peer_id: str) -> None:
        peer = self._peer(peer_id)
        if peer.state is not PeerState.BACK_TO_SOURCE:
            if not peer.task.can_back_to_source():
                raise FailedPrecondition("the task's back-to-source budget is spent")
            peer.fire(PeerEvent.DOWNLOAD_BACK_TO_SOURCE, self.clock.now())
        self._wake_waiters(peer.task)

    def reschedule(self, peer_id: str, blocked: Iterable[str]) -> None:
        peer = self._peer(peer_id)
        peer.block_parents.update(blocked)
        peer.release_parents()
        self._schedule(peer, attempt=0)

    def pieces_finished(self, peer_id: str, pieces: Iterable[PieceInfo]) -> None:
        peer = self._peer(peer_id)
        now = self.clock.now()
        had_none = len(peer.finished) == 0
        for piece in pieces:
            peer.finished.add(piece.number)
            if piece.cost_ns:
                peer.piece_costs_ns.append(piece.cost_ns)
            parent = self.resources.peers.get(piece.parent_id)
            if parent is not None:
                parent.updated_at = now
        peer.updated_at = peer.piece_updated_at = now
        if had_none:
            self._wake_waiters(peer.task)

    def piece_failed(self, peer_id: str, parent_id: str, temporary: bool) -> None:
        peer = self._peer(peer_id)
        peer.updated_at = self.clock.now()
        parent = self.resources.peers.get(parent_id)
        if parent is not None:
            parent.host.upload_failed_count += 1
        if temporary and parent_id:
            peer.block_parents.add(parent_id)

    def peer_finished(
        self, peer_id: str, content_length: int, piece_count: int, *, from_source: bool
    ) -> None:
        peer = self._peer(peer_id)
        now = self.clock.now()
        if peer.state is not PeerState.SUCCEEDED:
            peer.fire(PeerEvent.DOWNLOAD_SUCCEEDED, now)
        task = peer.task
        if task.content_length < 0 or from_source:
            task.content_length, task.piece_count = content_length, piece_count
        for number in range(max(piece_count, 0)):
            peer.finished.add(number)
        if task.state is not TaskState.SUCCEEDED:
            task.fire(TaskEvent.DOWNLOAD_SUCCEEDED, now)
        self._respond.pop(peer_id, None)
        self._wake_waiters(task)

    def peer_failed(self, peer_id: str, description: str, code: Code, *, from_source: bool) -> None:
        peer = self._peer(peer_id)
        now = self.clock.now()
        if peer.state not in (PeerState.FAILED, PeerState.LEAVE):
            peer.fire(PeerEvent.DOWNLOAD_FAILED, now)
        self._respond.pop(peer_id, None)
        self._stop_waiting(peer_id)
        task = peer.task
        if from_source and peer.host.is_seed:
            task.seed_failed_at = now
            if task.state is TaskState.RUNNING:
                task.fire(TaskEvent.DOWNLOAD_FAILED, now)
            # The origin refused the seed: tell every waiting peer once, with the reason.
            for waiting in self._waiting_peers(task):
                self._stop_waiting(waiting.id)
                waiting_respond = self._respond.pop(waiting.id, None)
                if waiting_respond is not None:
                    waiting_respond(FailedResponse(code, description))

    def stream_closed(self, peer_id: str) -> None:
        """The peer's stream ended; a peer that did not finish leaves."""
        self._respond.pop(peer_id, None)
        self._stop_waiting(peer_id)
        peer = self.resources.peers.get(peer_id)
        if peer is not None and peer.state is not PeerState.SUCCEEDED:
            self._forget(peer)

    def _forget(self, peer: Peer) -> None:
        self._respond.pop(peer.id, None)
        self._stop_waiting(peer.id)
        if peer.state is not PeerState.LEAVE:
            peer.fire(PeerEvent.LEAVE, self.clock.now())
        self.resources.remove_peer(peer)
        task = peer.task
        if not task.peers:
            self.resources.tasks.pop(task.id, None)

    def stat_task(self, task_id: str) -> Task:
        task = self.resources.tasks.get(task_id)
        if task is None:
            raise NotFound(f"task {task_id} is not known to this scheduler")
        return task
