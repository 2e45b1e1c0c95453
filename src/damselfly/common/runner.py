"""Run servers until SIGINT/SIGTERM, then stop them in reverse order."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import Protocol


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
            await server.start()
            started.append(server)
        await stop.wait()
    finally:
        for server in reversed(started):
            await server.stop()
