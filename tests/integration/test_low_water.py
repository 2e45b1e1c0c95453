"""Reads paced by the receive low-water mark: fewer wake-ups on a fast stream, never a
read left waiting for bytes that are not coming."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from damselfly.common.low_water import MAX_MARK, WAKE_EVERY_S, LowWater, _mark_for


def test_mark_is_what_arrives_between_wake_ups_rounded_down() -> None:
    assert _mark_for(0.0) == 1
    slow = 100e6 / 8  # 100 Mbit/s: 25,000 bytes in 2 ms
    assert _mark_for(slow) == 16384
    assert _mark_for(slow) <= slow * WAKE_EVERY_S
    assert _mark_for(10e9) == MAX_MARK


@pytest.fixture
def connected() -> Iterator[tuple[socket.socket, socket.socket]]:
    listener = socket.create_server(("127.0.0.1", 0))
    sender = socket.create_connection(listener.getsockname())
    receiver, _ = listener.accept()
    listener.close()
    receiver.setblocking(False)
    yield sender, receiver
    sender.close()
    receiver.close()


async def _read(receiver: socket.socket, size: int, pace: LowWater) -> tuple[bytes, int]:
    loop = asyncio.get_running_loop()
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = reads = 0
    while got < size:
        pace.before(size - got)
        n = await loop.sock_recv_into(receiver, view[got:])
        assert n > 0, "the sender closed early"
        pace.after(n)
        got += n
        reads += 1
    return bytes(buffer), reads


def test_a_fast_stream_raises_the_mark_and_arrives_whole(
    connected: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = connected
    payload = bytes(range(256)) * (64 << 10)  # 16 MiB
    pace = LowWater(receiver)

    async def scenario() -> bytes:
        sending = asyncio.get_running_loop().run_in_executor(None, sender.sendall, payload)
        data, _ = await asyncio.wait_for(_read(receiver, len(payload), pace), 30)
        await sending
        return data

    assert asyncio.run(scenario()) == payload
    assert pace.mark > 1  # loopback moves far more than 2 bytes in 2 ms
    pace.reset()
    assert receiver.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT) == 1


def test_the_last_bytes_arrive_while_the_sender_keeps_the_connection_open(
    connected: tuple[socket.socket, socket.socket],
) -> None:
    """The mark never exceeds what is sure to come: a high mark would hold the last
    bytes of a piece back until the parent closed its kept-alive connection."""
    sender, receiver = connected
    first, rest = bytes(8 << 20), b"tail" * 1000
    pace = LowWater(receiver)

    async def scenario() -> tuple[bytes, bytes]:
        sending = asyncio.get_running_loop().run_in_executor(None, sender.sendall, first)
        data, _ = await asyncio.wait_for(_read(receiver, len(first), pace), 30)
        await sending
        assert pace.mark > len(rest)
        # The reader waits on an empty socket first (its task runs before the send),
        # then fewer bytes than the mark arrive and the connection stays open.
        reading = asyncio.create_task(_read(receiver, len(rest), pace))
        asyncio.get_running_loop().call_soon(sender.sendall, rest)
        tail, _ = await asyncio.wait_for(reading, 5)
        return data, tail

    assert asyncio.run(scenario()) == (first, rest)
