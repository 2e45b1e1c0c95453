"""A scheduler that restarts mid-download loses no download: peers finish with the
parents they have, and after the restart the new scheduler learns who holds the task."""

from __future__ import annotations

import asyncio
from pathlib import Path

from damselfly.core.models import DownloadRequest
from damselfly.daemon.download.task_manager import Progress
from damselfly.scheduler.config import SchedulerConfig
from damselfly.scheduler.server import SchedulerServer
from tests.integration.harness import MIB, download, make_file, sha256_of, start_swarm

SIZE = 24 * MIB


def test_scheduler_restart_mid_download(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    expected = make_file(files / "blob.bin", SIZE)

    async def scenario() -> None:
        swarm = await start_swarm(tmp_path, files, peers=2)
        try:
            assert swarm.scheduler is not None
            port = swarm.scheduler.port
            url = swarm.url("blob.bin") + f"?rate={3 * MIB}"  # per request; 4 in parallel
            first, second = swarm.peers
            out = tmp_path / "first.bin"
            assert first.tasks is not None
            restarted = False
            async for event in first.tasks.download(DownloadRequest(url, str(out))):
                if not restarted and isinstance(event, Progress) and event.completed_pieces:
                    restarted = True
                    await swarm.scheduler.stop()
                    config = SchedulerConfig.model_validate(
                        {"server": {"port": port}, "scheduling": {"retry_interval_s": 0.1}}
                    )
                    swarm.scheduler = SchedulerServer(config)
                    await swarm.scheduler.start()
            assert restarted
            assert sha256_of(out) == expected
            # The seed peer fetched the file once; nobody else went to the origin.
            assert swarm.origin.bytes_sent == SIZE
            # The seed saw its stream end and announces itself again at once, not after
            # the 30 s interval; asked again, it announces the copy it holds.
            assert swarm.seed is not None
            seed_id = swarm.seed.host_info().id
            deadline = asyncio.get_running_loop().time() + 10
            while seed_id not in swarm.scheduler.service.resources.hosts:
                assert asyncio.get_running_loop().time() < deadline, "seed never re-announced"
                await asyncio.sleep(0.05)
            result = await download(second, DownloadRequest(url, str(tmp_path / "second.bin")))
            assert sha256_of(tmp_path / "second.bin") == expected
            assert result.traffic.back_to_source == 0
            assert swarm.origin.bytes_sent == SIZE
        finally:
            await swarm.stop()

    asyncio.run(scenario())


def test_an_idle_daemon_announces_itself_to_a_restarted_scheduler(tmp_path: Path) -> None:
    """No download under way, so no stream breaks: the dropped connection itself must
    make the seed announce again, long before its 30 s interval."""
    files = tmp_path / "files"
    files.mkdir()

    async def scenario() -> None:
        swarm = await start_swarm(tmp_path, files, peers=1)
        try:
            assert swarm.scheduler is not None and swarm.seed is not None
            port = swarm.scheduler.port
            await swarm.scheduler.stop()
            config = SchedulerConfig.model_validate({"server": {"port": port}})
            swarm.scheduler = SchedulerServer(config)
            await swarm.scheduler.start()
            hosts = swarm.scheduler.service.resources.hosts
            expected = {swarm.seed.host_info().id, swarm.peers[0].host_info().id}
            deadline = asyncio.get_running_loop().time() + 10
            while not expected <= set(hosts):
                assert asyncio.get_running_loop().time() < deadline, "hosts never re-announced"
                await asyncio.sleep(0.05)
        finally:
            await swarm.stop()

    asyncio.run(scenario())
