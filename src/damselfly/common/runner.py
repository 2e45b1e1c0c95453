"""Run servers until SIGINT/SIGTERM, then stop them in reverse order.

A server that cannot start (its port taken, its folder not writable) is a
``FailedPrecondition`` saying why, which the command prints as one line; the servers
already started are stopped first.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import Protocol

from damselfly.core.errors import FailedPrecondition


class Lifecycle(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def run_until_signal(servers: Sequence[Lifecycle]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started: list[Lifecycle] = []
    try:
        for server in servers:
            try:
                await server.start()
            except OSError as exc:
                raise FailedPrecondition(f"cannot start: {exc.strerror or exc}") from exc
            started.append(server)
        await stop.wait()
    finally:
        for server in reversed(started):
            await server.stop()
