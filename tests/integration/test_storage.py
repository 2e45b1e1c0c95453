"""Daemon storage on a real folder: wake-ups are never lost, and a restart keeps exactly
the verified pieces."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from damselfly.core.digest import crc32c
from damselfly.core.errors import FailedPrecondition
from damselfly.core.models import PieceInfo
from damselfly.daemon.storage.metadata import Metadata
from damselfly.daemon.storage.tasks import TaskState, TaskStore
from tests.mounts import small_tmpfs

TASK = "ab" * 32
PIECE = 4 << 20
MIB = 1 << 20


def test_change_between_asking_and_waiting_still_wakes(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = TaskStore(tmp_path)
        task = store.open(TASK, "http://origin/x", "")
        waiter = task.changed()  # asked for ...
        task.set_layout(3, PIECE)  # ... a change lands before anyone awaits ...
        await asyncio.wait_for(waiter, 1)  # ... and the waiter has it
        store.close()

    asyncio.run(scenario())


def test_restart_keeps_recorded_pieces_and_completed_tasks(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = TaskStore(tmp_path)
        partial = store.open(TASK, "http://origin/x", "")
        partial.set_layout(3 * PIECE, PIECE)
        data = memoryview(bytes(range(256)) * (PIECE // 256))
        await partial.store_piece(PieceInfo(1, PIECE, PIECE, crc32c(data)), data)
        done = store.open("cd" * 32, "http://origin/y", "")
        done.set_layout(5, PIECE)
        await done.store_piece(PieceInfo(0, 0, 5, crc32c(b"hello")), memoryview(b"hello"))
        await done.succeed(5)
        gone = store.open("ef" * 32, "http://origin/z", "")
        gone.set_layout(5, PIECE)
        await gone.store_piece(PieceInfo(0, 0, 5, crc32c(b"bye!!")), memoryview(b"bye!!"))
        await gone.succeed(5)
        store.close()
        store.content_path("ef" * 32).unlink()  # a completed task's file vanished

        reopened = TaskStore(tmp_path)
        again = reopened.get(TASK)
        assert again is not None
        assert again.state is TaskState.FAILED  # resumable, not presented as complete
        assert again.pieces == {}  # offered to no one until read back
        await again.check_restored()
        assert set(again.pieces) == {1}
        assert (again.content_length, again.piece_length, again.piece_count) == (
            3 * PIECE,
            PIECE,
            3,
        )
        finished = reopened.get("cd" * 32)
        assert finished is not None and finished.is_complete()
        assert finished.path.read_bytes() == b"hello"
        assert reopened.get("ef" * 32) is None
        reopened.close()

    asyncio.run(scenario())


def test_restart_drops_what_a_changed_content_file_no_longer_holds(tmp_path: Path) -> None:
    """Content files edited while the daemon was down: an unfinished task keeps only the
    pieces its file still holds, and a completed one whose file changed length is
    forgotten rather than handed out."""

    async def scenario() -> None:
        store = TaskStore(tmp_path)
        data = memoryview(bytes(range(256)) * (PIECE // 256))
        partial = store.open(TASK, "http://origin/x", "")
        partial.set_layout(3 * PIECE, PIECE)
        for number in (0, 2):
            await partial.store_piece(PieceInfo(number, number * PIECE, PIECE, crc32c(data)), data)
        done = store.open("cd" * 32, "http://origin/y", "")
        done.set_layout(5, PIECE)
        await done.store_piece(PieceInfo(0, 0, 5, crc32c(b"hello")), memoryview(b"hello"))
        await done.succeed(5)
        store.close()
        os.truncate(store.content_path(TASK), 2 * PIECE)  # piece 2's bytes are gone
        done_path = store.content_path("cd" * 32)
        done_path.chmod(0o644)
        done_path.write_bytes(b"hel")

        reopened = TaskStore(tmp_path)
        again = reopened.get(TASK)
        assert again is not None and [p.number for p in again.restored] == [0]
        assert reopened.get("cd" * 32) is None and not done_path.exists()
        reopened.close()
        # What was dropped stays dropped, even once the file has its length back (as a
        # resumed download gives it, the hole reading as zeros): the records went too.
        os.truncate(reopened.content_path(TASK), 3 * PIECE)
        once_more = TaskStore(tmp_path)
        kept = once_more.get(TASK)
        assert kept is not None and [p.number for p in kept.restored] == [0]
        once_more.close()

    asyncio.run(scenario())


def test_a_restored_piece_whose_bytes_were_lost_is_fetched_again(tmp_path: Path) -> None:
    """A machine crash can lose a piece's bytes (written without an fsync) while its
    record survives: read back on resume, it is dropped, record and all."""

    async def scenario() -> None:
        store = TaskStore(tmp_path)
        task = store.open(TASK, "http://origin/x", "")
        task.set_layout(3 * PIECE, PIECE)
        data = memoryview(bytes(range(256)) * (PIECE // 256))
        for number in range(3):
            await task.store_piece(PieceInfo(number, number * PIECE, PIECE, crc32c(data)), data)
        store.close()
        fd = os.open(store.content_path(TASK), os.O_WRONLY)
        try:
            os.pwrite(fd, bytes(PIECE), PIECE)  # piece 1 reads as zeros
        finally:
            os.close(fd)

        reopened = TaskStore(tmp_path)
        again = reopened.get(TASK)
        assert again is not None
        await again.check_restored()
        assert set(again.pieces) == {0, 2}
        assert again.traffic.back_to_source == 0  # nothing came in this run
        reopened.close()
        assert [p.number for p in Metadata(tmp_path / "metadata.db").pieces(TASK)] == [0, 2]

    asyncio.run(scenario())


def test_a_task_larger_than_the_free_space_fails_up_front(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path, 16) as small:
        store = TaskStore(small)
        task = store.open(TASK, "http://origin/big", "")
        with pytest.raises(FailedPrecondition, match="MiB free but the task needs 64 MiB"):
            task.set_layout(64 * MIB, PIECE)
        task.set_layout(8 * MIB, PIECE)  # what fits is fine
        assert task.path.stat().st_size == 8 * MIB
        store.close()


def test_idle_tasks_make_room_least_recently_used_first(tmp_path: Path) -> None:
    """A task that does not fit evicts idle ones, oldest use first, and no more than it
    needs; a running task is never evicted, and when evicting all idle ones is not enough
    the task fails up front."""

    async def scenario(small: Path) -> None:
        store = TaskStore(small)
        told: list[str] = []
        store.evicted.append(told.append)

        async def complete(task_id: str, used_at: float) -> None:
            task = store.open(task_id, f"http://origin/{task_id[:4]}", "")
            task.set_layout(4 * MIB, PIECE)
            data = memoryview(bytes(4 * MIB))
            await task.store_piece(PieceInfo(0, 0, 4 * MIB, crc32c(data)), data)
            await task.succeed(4 * MIB)
            task.touch(used_at)

        older, newer, running, wanted = "01" * 32, "02" * 32, "03" * 32, "04" * 32
        await complete(newer, used_at=200.0)
        await complete(older, used_at=100.0)
        busy = store.open(running, "http://origin/busy", "")
        busy.set_layout(PIECE, PIECE)
        data = memoryview(bytes(PIECE))
        await busy.store_piece(PieceInfo(0, 0, PIECE, crc32c(data)), data)  # still running

        # 20 MiB in all, 12 held (and the metadata): 8 MiB more needs one idle task gone.
        store.open(wanted, "http://origin/new", "").set_layout(8 * MIB, PIECE)
        assert told == [older]
        assert store.get(older) is None and not store.content_path(older).exists()
        assert store.get(newer) is not None and store.get(running) is not None

        # More than evicting every idle task frees: they go, and the task still fails.
        huge = store.open("05" * 32, "http://origin/huge", "")
        with pytest.raises(FailedPrecondition, match="no idle task is left to evict"):
            huge.set_layout(32 * MIB, PIECE)
        assert told == [older, newer]
        assert store.get(running) is not None
        store.close()

    with small_tmpfs(tmp_path, 20) as small:
        asyncio.run(scenario(small))


def test_a_disk_that_fills_up_under_a_download_is_named(tmp_path: Path) -> None:
    """Space checked at the layout can be gone by the write (another program filled the
    disk): the write fails with one sentence, and the piece is not recorded."""

    async def scenario(small: Path) -> None:
        store = TaskStore(small)
        task = store.open(TASK, "http://origin/x", "")
        task.set_layout(2 * PIECE, PIECE)  # sparse: nothing taken yet
        (small / "filler").write_bytes(bytes(14 * MIB))  # someone else fills the disk
        data = memoryview(bytes(PIECE))
        with pytest.raises(FailedPrecondition, match="cannot write to the daemon's storage"):
            await task.store_piece(PieceInfo(0, 0, PIECE, crc32c(data)), data)
        assert task.pieces == {}
        store.close()

    with small_tmpfs(tmp_path, 16) as small:
        asyncio.run(scenario(small))
