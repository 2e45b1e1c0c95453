"""A piece corrupted on a parent's disk is caught by the child's crc32c check, never
written, and fetched again from the origin (the only other source here)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

from damselfly.core.models import DownloadRequest
from damselfly.core.pieces import piece_length_for
from damselfly.daemon.download.task_manager import validate
from tests.integration.harness import MIB, download, make_file, sha256_of, start_swarm

SIZE = 32 * MIB
BAD_PIECE = 3


def test_corrupted_parent_piece_is_refetched_elsewhere(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    expected = make_file(files / "blob.bin", SIZE)
    piece_length = piece_length_for(SIZE)

    async def scenario() -> None:
        swarm = await start_swarm(tmp_path, files, peers=2)
        try:
            url = swarm.url("blob.bin")
            parent, child = swarm.peers
            await download(parent, DownloadRequest(url, str(tmp_path / "parent.bin")))
            # The seed leaves: the corrupted parent is the only peer left with the task.
            assert swarm.seed is not None
            await swarm.seed.stop()
            swarm.seed = None
            task_id = validate(DownloadRequest(url))
            content = parent.store.content_path(task_id)
            fd = os.open(content, os.O_WRONLY)
            try:
                os.pwrite(fd, b"\xff" * 4096, BAD_PIECE * piece_length + 1000)
            finally:
                os.close(fd)
            sent_before = swarm.origin.bytes_sent

            result = await download(child, DownloadRequest(url, str(tmp_path / "child.bin")))

            assert sha256_of(tmp_path / "child.bin") == expected
            assert result.traffic.back_to_source == piece_length
            assert result.traffic.remote_peer == SIZE - piece_length
            assert swarm.origin.bytes_sent - sent_before == piece_length
            assert swarm.scheduler is not None
            parent_host = swarm.scheduler.service.resources.hosts[parent.host_info().id]
            assert parent_host.upload_failed_count >= 1
        finally:
            await swarm.stop()

    asyncio.run(scenario())


def test_a_parent_announcing_a_piece_out_of_place_is_dropped(tmp_path: Path) -> None:
    """A parent whose record of piece 3 points at piece 0's bytes (offset and crc32c
    agree with each other, so the check on the bytes passes) would leave a hole at
    piece 3 in the child's output: the child drops it and fetches elsewhere."""
    files = tmp_path / "files"
    files.mkdir()
    expected = make_file(files / "blob.bin", SIZE)

    async def scenario() -> None:
        swarm = await start_swarm(tmp_path, files, peers=2)
        try:
            url = swarm.url("blob.bin")
            parent, child = swarm.peers
            await download(parent, DownloadRequest(url, str(tmp_path / "parent.bin")))
            assert swarm.seed is not None
            await swarm.seed.stop()
            swarm.seed = None
            task = parent.store.get(validate(DownloadRequest(url)))
            assert task is not None
            task.pieces[BAD_PIECE] = dataclasses.replace(task.pieces[0], number=BAD_PIECE)

            result = await download(child, DownloadRequest(url, str(tmp_path / "child.bin")))

            assert sha256_of(tmp_path / "child.bin") == expected
            assert result.traffic.remote_peer == 0  # nothing taken from that parent
        finally:
            await swarm.stop()

    asyncio.run(scenario())
