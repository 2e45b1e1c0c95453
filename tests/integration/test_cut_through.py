"""Cut-through: a child reads a piece from a parent's piece server while the parent is
still receiving it, over real sockets on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from damselfly.core.digest import crc32c
from damselfly.core.models import PieceInfo
from damselfly.daemon.download.piece_fetcher import PieceFetcher, PieceFetchError
from damselfly.daemon.storage.inflight import InFlightPiece
from damselfly.daemon.storage.tasks import LocalTask, TaskStore
from damselfly.daemon.upload.piece_server import PieceServer

TASK = "5e" * 32
PIECE = 4 << 20
STEP = 256 << 10


def _content() -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(1 << 16)) * (PIECE // (1 << 16))


async def _setup(tmp_path: Path) -> tuple[TaskStore, LocalTask, PieceServer]:
    store = TaskStore(tmp_path)
    task = store.open(TASK, "http://origin/file", "")
    task.set_layout(2 * PIECE, PIECE)
    server = PieceServer(store, "127.0.0.1", 0)
    await server.start()
    return store, task, server


async def _wait_until(condition: object, what: str) -> None:
    """Poll a zero-argument callable until it is true (deadline 5 s)."""
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + 5
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def _child_fetch(server: PieceServer, number: int, into: bytearray) -> None:
    fetcher = PieceFetcher()
    try:
        await fetcher.fetch(("127.0.0.1", server.port), TASK, number, PIECE, memoryview(into))
    finally:
        fetcher.close()


def _receive_and_serve(
    task: LocalTask, server: PieceServer, info: PieceInfo
) -> tuple[bytearray, InFlightPiece, bytearray, asyncio.Future[None]]:
    """The parent starts receiving ``info`` into a buffer; a child asks for it at once."""
    buffer = bytearray(PIECE)
    receiving = task.begin_piece(info, memoryview(buffer))
    assert receiving is not None
    got = bytearray(PIECE)
    child = asyncio.ensure_future(_child_fetch(server, info.number, got))
    return buffer, receiving, got, child


def test_child_gets_the_bytes_while_the_parent_receives_them(tmp_path: Path) -> None:
    data = _content()
    info = PieceInfo(1, PIECE, PIECE, crc32c(data))

    async def scenario() -> None:
        store, task, server = await _setup(tmp_path)
        buffer, receiving, got, child = _receive_and_serve(task, server, info)
        # The parent receives the first half; the child must see exactly that much.
        for end in range(STEP, PIECE // 2 + 1, STEP):
            buffer[end - STEP : end] = data[end - STEP : end]
            receiving.advance(end)
        await _wait_until(lambda: got[: PIECE // 2] == data[: PIECE // 2], "the first half")
        assert not child.done()
        # The rest lands and the piece is recorded: the child finishes from the file.
        buffer[PIECE // 2 :] = data[PIECE // 2 :]
        await task.store_piece(info, memoryview(buffer))
        task.end_piece(receiving)
        buffer[:] = bytes(PIECE)  # the worker reuses its buffer at once
        await asyncio.wait_for(child, 5)
        assert bytes(got) == data
        await server.stop()
        store.close()

    asyncio.run(scenario())


def test_a_receive_that_fails_breaks_the_childs_fetch(tmp_path: Path) -> None:
    data = _content()
    info = PieceInfo(0, 0, PIECE, crc32c(data))

    async def scenario() -> None:
        store, task, server = await _setup(tmp_path)
        buffer, receiving, got, child = _receive_and_serve(task, server, info)
        buffer[:STEP] = data[:STEP]
        receiving.advance(STEP)
        await _wait_until(lambda: got[:STEP] == data[:STEP], "the first bytes")
        task.end_piece(receiving)  # not recorded: the parent's fetch failed
        with pytest.raises(PieceFetchError):
            await asyncio.wait_for(child, 5)
        assert 0 not in task.inflight
        await server.stop()
        store.close()

    asyncio.run(scenario())


def test_a_piece_neither_recorded_nor_arriving_is_not_found(tmp_path: Path) -> None:
    async def scenario() -> None:
        store, task, server = await _setup(tmp_path)
        with pytest.raises(PieceFetchError, match="404"):
            await asyncio.wait_for(_child_fetch(server, 1, bytearray(PIECE)), 5)
        # An endgame duplicate of a piece already arriving stays private.
        info = PieceInfo(1, PIECE, PIECE, 0)
        first = task.begin_piece(info, memoryview(bytearray(PIECE)))
        assert first is not None
        assert task.begin_piece(info, memoryview(bytearray(PIECE))) is None
        await server.stop()
        store.close()

    asyncio.run(scenario())
