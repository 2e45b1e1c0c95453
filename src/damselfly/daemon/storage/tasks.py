"""The daemon's tasks: content files, recorded pieces, and watchers of new pieces."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from pathlib import Path

from damselfly.core.digest import crc32c
from damselfly.core.errors import DamselflyError, FailedPrecondition, InvalidArgument
from damselfly.core.ids import is_task_id
from damselfly.core.models import PieceInfo, TrafficTotals
from damselfly.core.pieces import piece_count
from damselfly.daemon.storage.files import allocated, write_at
from damselfly.daemon.storage.gc import GcLimits, TaskUsage, select_evictions, select_for_room
from damselfly.daemon.storage.inflight import Changes, InFlightPiece
from damselfly.daemon.storage.metadata import Metadata, TaskRecord


class TaskState(Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class LocalTask:
    """One task on this daemon: what is known of it and which pieces are in."""

    def __init__(self, store: TaskStore, record: TaskRecord) -> None:
        self._store = store
        self.id = record.id
        self.url = record.url
        self.content_length = record.content_length
        self.piece_length = record.piece_length
        self.piece_count = record.piece_count
        self.digest = record.digest
        self.state = TaskState(record.state)
        self.accessed_at = record.accessed_at
        self.error: DamselflyError | None = None
        self.pieces: dict[int, PieceInfo] = {}
        self.arrival: list[int] = []
        self.restored: list[PieceInfo] = []
        """Pieces recorded before a restart and not read back yet (``check_restored``)."""
        # Pieces being received now (readable by children), and every start in order.
        self.inflight: dict[int, InFlightPiece] = {}
        self.starts: list[InFlightPiece] = []
        self.traffic = TrafficTotals()
        self._fd: int | None = None
        self._changes = Changes()

    @property
    def path(self) -> Path:
        return self._store.content_path(self.id)

    @property
    def completed_bytes(self) -> int:
        return sum(p.length for p in self.pieces.values())

    def is_complete(self) -> bool:
        return self.state is TaskState.SUCCEEDED

    def _record(self) -> TaskRecord:
        return TaskRecord(
            self.id,
            self.url,
            self.content_length,
            self.piece_length,
            self.piece_count,
            self.state.value,
            self.digest,
        )

    def _save(self) -> None:
        self.accessed_at = time.time()
        self._store.metadata.upsert_task(self._record(), self.accessed_at)

    def touch(self, now: float | None = None) -> None:
        self.accessed_at = time.time() if now is None else now
        self._store.metadata.touch(self.id, self.accessed_at)

    def fd(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def set_layout(self, content_length: int, piece_length: int) -> None:
        """Fix length and piece length once known; sizes the content file.

        The file is sparse, not preallocated: on tmpfs ``posix_fallocate`` zero-fills
        every page (0.3-0.6 s per GiB here, on the event loop) that the pieces overwrite
        anyway. Running out of space is caught up front instead, with the free space the
        filesystem reports."""
        self.content_length, self.piece_length = content_length, piece_length
        self.piece_count = piece_count(content_length, piece_length) if content_length >= 0 else -1
        if content_length > 0:
            fd = self.fd()
            size = os.fstat(fd).st_size
            if size < content_length:
                # A cache makes room: idle tasks go, least recently used first.
                free = self._store.reclaim(content_length - size, keep=self.id)
                if content_length - size > free:
                    raise FailedPrecondition(
                        f"the daemon's storage has {free >> 20} MiB free but the task needs "
                        f"{content_length >> 20} MiB, and no idle task is left to evict; "
                        "free space on its filesystem"
                    )
                os.ftruncate(fd, content_length)
        self._save()
        self.notify()

    async def store_piece(
        self, piece: PieceInfo, data: memoryview, *, verify: bool = True
    ) -> PieceInfo | None:
        """Write a piece's bytes at its offset, then record it; the digest and the write
        run on the writer thread (both release the GIL, so the event loop keeps
        receiving meanwhile). With ``verify``, a piece whose
        bytes do not match its crc32c is neither written nor recorded (None); without
        (bytes from the origin), the digest is taken from the bytes. Returns the piece as
        recorded. ``data`` must not change until this returns."""
        # Our own descriptor: closing the task meanwhile cannot make this write land in
        # a file that reuses the number.
        fd = os.dup(self.fd())
        content = data[: piece.length]

        def digest_and_write() -> int | None:
            try:
                digest = crc32c(content)
                if verify and digest != piece.crc32c:
                    return None
                write_at(fd, piece.offset, content)
                return digest
            finally:
                os.close(fd)

        try:
            digest = await asyncio.get_running_loop().run_in_executor(
                self._store.io, digest_and_write
            )
        except OSError as exc:  # the disk filled up since the layout was checked, say
            raise FailedPrecondition(
                f"cannot write to the daemon's storage: {exc.strerror or exc}; "
                "free space on its filesystem"
            ) from None
        if digest is None:
            return None
        stored = piece if verify else dataclasses.replace(piece, crc32c=digest)
        if self._store.get(self.id) is self:  # not deleted while we wrote
            self.record_piece(stored)
        return stored

    def record_piece(self, piece: PieceInfo) -> None:
        """Record a piece whose bytes are in the content file."""
        if piece.number not in self.pieces:
            self._store.metadata.add_piece(self.id, piece)
            self.add_piece(piece)

    def add_piece(self, piece: PieceInfo, *, counted: bool = True) -> None:
        """Make a recorded piece visible; ``counted``: its bytes came in this run."""
        if piece.number not in self.pieces:
            self.pieces[piece.number] = piece
            self.arrival.append(piece.number)
            if counted:
                self.traffic.add(piece.traffic, piece.length)
            self.notify()

    async def check_restored(self) -> None:
        """Read back the pieces recorded before a restart and keep those whose bytes
        still match their crc32c (the rest are fetched again). Pieces are recorded right
        after their write, without an fsync: a crash of the machine, not only of the
        daemon, can lose bytes their record outlived, which would be handed out as zeros.
        Called before a download resumes; until then they are not offered to anyone."""
        pieces, self.restored = self.restored, []
        if not pieces:
            return
        fd = os.dup(self.fd())

        def intact() -> list[bool]:
            try:
                view = memoryview(bytearray(max(p.length for p in pieces)))
                return [
                    os.preadv(fd, [view[: p.length]], p.offset) == p.length
                    and crc32c(view[: p.length]) == p.crc32c
                    for p in pieces
                ]
            finally:
                os.close(fd)

        checks = await asyncio.get_running_loop().run_in_executor(self._store.io, intact)
        lost = [p.number for p, ok in zip(pieces, checks, strict=True) if not ok]
        if lost:
            self._store.metadata.delete_pieces(self.id, lost)
        for piece, ok in zip(pieces, checks, strict=True):
            if ok:
                self.add_piece(piece, counted=False)

    def begin_piece(self, piece: PieceInfo, buffer: memoryview) -> InFlightPiece | None:
        """Announce a piece whose bytes start arriving in ``buffer``; None when the piece
        is in or already being received (an endgame duplicate stays private)."""
        if piece.number in self.pieces or piece.number in self.inflight:
            return None
        receiving = self.inflight[piece.number] = InFlightPiece(piece, buffer)
        self.starts.append(receiving)
        self.notify()
        return receiving

    def end_piece(self, receiving: InFlightPiece) -> None:
        """The receive is over (recorded or not); call before the buffer is reused."""
        if self.inflight.get(receiving.info.number) is receiving:
            del self.inflight[receiving.info.number]
        receiving.end(recorded=receiving.info.number in self.pieces)

    async def succeed(self, content_length: int) -> None:
        """Mark the task complete once its bytes are durable (fsync off the event loop);
        the content file becomes read-only: outputs may be hard links to it."""
        if self.content_length < 0:
            self.content_length = content_length
            self.piece_count = len(self.pieces)
        fd = self.fd()
        os.ftruncate(fd, self.content_length)
        await asyncio.to_thread(os.fsync, fd)
        os.fchmod(fd, 0o444)
        self.state = TaskState.SUCCEEDED
        self._save()
        self.notify()

    def fail(self, error: DamselflyError) -> None:
        self.state, self.error = TaskState.FAILED, error
        self.notify()

    def restart(self) -> None:
        self.state, self.error = TaskState.RUNNING, None
        self.traffic = TrafficTotals()
        self._save()

    def notify(self) -> None:
        self._changes.fire()

    def changed(self) -> asyncio.Future[None]:
        """A future for the next change (a piece, the layout, the end).

        Registered at once, not when first awaited: a change between this call and the
        await (``wait_for`` starts its task later) is never lost.
        """
        return self._changes.next()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class TaskStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            (root / "content").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FailedPrecondition(
                f"cannot create the storage folder {root}: {exc.strerror or exc}; "
                "choose another data folder"
            ) from None
        self.metadata = Metadata(root / "metadata.db")
        # Piece checks and writes, on a thread of their own: a long job on the event loop's
        # default executor (a whole-file digest, a copy out) must not hold them up. One
        # thread: writers to one file queue on its inode lock anyway, and four of them
        # spinning there on tmpfs took twice the time and four times the CPU.
        self.io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piece-io")
        self._tasks: dict[str, LocalTask] = {}
        self.evicted: list[Callable[[str], None]] = []
        """Told the id of each task evicted (by GC, or to make room for another)."""
        for record in self.metadata.tasks():
            task = self._load(record)
            if task is not None:
                self._tasks[task.id] = task

    def _load(self, record: TaskRecord) -> LocalTask | None:
        """A task as a restart finds it. The content file may have changed while the
        daemon was down: a completed task whose file is gone or of another length is
        forgotten (it would be handed out as is), and an unfinished one keeps only the
        pieces its file still holds (the rest are fetched again)."""
        task = LocalTask(self, record)
        try:
            size = os.stat(task.path).st_size
        except FileNotFoundError:
            size = -1
        if task.state is TaskState.SUCCEEDED and size != task.content_length:
            self.metadata.delete_task(task.id)
            task.path.unlink(missing_ok=True)
            return None
        pieces = self.metadata.pieces(task.id)
        held = [p for p in pieces if p.offset + p.length <= size]
        if len(held) < len(pieces):
            kept = {p.number for p in held}
            self.metadata.delete_pieces(task.id, [p.number for p in pieces if p.number not in kept])
        if task.state is TaskState.SUCCEEDED:
            for piece in held:  # made durable (fsync) before the task was marked so
                task.add_piece(piece, counted=False)
        else:
            task.restored = held
            task.state = TaskState.FAILED
        return task

    def content_path(self, task_id: str) -> Path:
        if not is_task_id(task_id):
            raise InvalidArgument(f"task id {task_id!r} is not valid")
        return self.root / "content" / task_id[:3] / task_id

    def get(self, task_id: str) -> LocalTask | None:
        return self._tasks.get(task_id)

    def open(self, task_id: str, url: str, digest: str) -> LocalTask:
        """The task, created (running) when new; a failed one restarts keeping its pieces."""
        task = self._tasks.get(task_id)
        if task is None:
            record = TaskRecord(task_id, url, -1, 0, -1, TaskState.RUNNING.value, digest)
            task = LocalTask(self, record)
            self.content_path(task_id)
            self._tasks[task_id] = task
            task.restart()
        elif task.state is TaskState.FAILED:
            task.restart()
        return task

    def delete(self, task_id: str) -> None:
        task = self._tasks.pop(task_id, None)
        if task is not None:
            task.close()
        self.metadata.delete_task(task_id)
        with contextlib.suppress(FileNotFoundError):
            self.content_path(task_id).unlink()

    def free_bytes(self) -> int:
        space = os.statvfs(self.root / "content")
        return space.f_bavail * space.f_frsize

    def reclaim(self, needed: int, keep: str) -> int:
        """Evict idle tasks (never a running one, nor ``keep``), least recently used
        first, until ``needed`` bytes are free or none is left; returns the free bytes."""
        others = [usage for usage in self.usage() if usage.id != keep]
        for task_id in select_for_room(others, needed, self.free_bytes()):
            self.evict(task_id)
        return self.free_bytes()

    def evict(self, task_id: str) -> None:
        """Delete a task to make room, telling ``self.evicted``'s listeners."""
        self.delete(task_id)
        for tell in self.evicted:
            tell(task_id)

    def usage(self) -> list[TaskUsage]:
        return [
            TaskUsage(t.id, _footprint(t), t.accessed_at, t.state is TaskState.RUNNING)
            for t in self._tasks.values()
        ]

    def collect(self, limits: GcLimits, now: float) -> list[str]:
        """Evict what the GC policy selects; returns the evicted task ids."""
        evicted = select_evictions(self.usage(), limits, now)
        for task_id in evicted:
            self.evict(task_id)
        return evicted

    def close(self) -> None:
        self.io.shutdown(wait=True)
        for task in self._tasks.values():
            task.close()
        self.metadata.close()


def _footprint(task: LocalTask) -> int:
    """Bytes a task takes on disk; a running one counts its whole length (it will)."""
    used = allocated(task.path)
    if task.state is TaskState.RUNNING:
        return max(used, task.content_length)
    return used
