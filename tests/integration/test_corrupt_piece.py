"""A parent that serves bad pieces: corrupted bytes are caught by the child's crc32c
check, never written, and fetched again from the origin (the only other source here);
a piece announced out of place gets the parent dropped."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from damselfly.core.models import DownloadRequest
from damselfly.core.pieces import piece_length_for
from damselfly.daemon.download.task_manager import validate
from damselfly.daemon.server import DaemonServer
from tests.integration.harness import MIB, Swarm, download, make_file, sha256_of, start_swarm

SIZE = 32 * MIB
BAD_PIECE = 3

Scenario = Callable[[Swarm, DaemonServer, DaemonServer, str], Awaitable[None]]


def with_lone_parent(tmp_path: Path, scenario: Scenario) -> str:
    """Run ``scenario(swarm, parent, child, url)`` once the parent holds the whole file
    and the seed has left (the parent is the only peer with the task); returns the
    file's sha256."""
    files = tmp_path / "files"
    files.mkdir()
    expected = make_file(files / "blob.bin", SIZE)

    async def main() -> None:
        swarm = await start_swarm(tmp_path, files, peers=2)
        try:
            url = swarm.url("blob.bin")
            parent, child = swarm.peers
            await download(parent, DownloadRequest(url, str(tmp_path / "parent.bin")))
            assert swarm.seed is not None
            await swarm.seed.stop()
            swarm.seed = None
            await scenario(swarm, parent, child, url)
        finally:
            await swarm.stop()

    asyncio.run(main())
    return expected


def test_corrupted_parent_piece_is_refetched_elsewhere(tmp_path: Path) -> None:
    piece_length = piece_length_for(SIZE)
    child_out = tmp_path / "child.bin"

    async def scenario(swarm: Swarm, parent: DaemonServer, child: DaemonServer, url: str) -> None:
        content = parent.store.content_path(validate(DownloadRequest(url)))
        fd = os.open(content, os.O_WRONLY)
        try:
            os.pwrite(fd, b"\xff" * 4096, BAD_PIECE * piece_length + 1000)
        finally:
            os.close(fd)
        sent_before = swarm.origin.bytes_sent

        result = await download(child, DownloadRequest(url, str(child_out)))

        assert result.traffic.back_to_source == piece_length
        assert result.traffic.remote_peer == SIZE - piece_length
        assert swarm.origin.bytes_sent - sent_before == piece_length
        assert swarm.scheduler is not None
        parent_host = swarm.scheduler.service.resources.hosts[parent.host_info().id]
        assert parent_host.upload_failed_count >= 1

    expected = with_lone_parent(tmp_path, scenario)
    assert sha256_of(child_out) == expected


def test_a_parent_announcing_a_piece_out_of_place_is_dropped(tmp_path: Path) -> None:
    """A parent whose record of piece 3 points at piece 0's bytes (offset and crc32c
    agree with each other, so the check on the bytes passes) would leave a hole at
    piece 3 in the child's output: the child drops it and fetches elsewhere."""
    child_out = tmp_path / "child.bin"

    async def scenario(swarm: Swarm, parent: DaemonServer, child: DaemonServer, url: str) -> None:
        task = parent.store.get(validate(DownloadRequest(url)))
        assert task is not None
        task.pieces[BAD_PIECE] = dataclasses.replace(task.pieces[0], number=BAD_PIECE)

        result = await download(child, DownloadRequest(url, str(child_out)))

        assert result.traffic.remote_peer == 0  # nothing taken from that parent

    expected = with_lone_parent(tmp_path, scenario)
    assert sha256_of(child_out) == expected
