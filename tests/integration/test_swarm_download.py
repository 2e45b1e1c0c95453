"""One seed and three peers fetch a 64 MiB file from a local HTTP origin."""

from __future__ import annotations

import asyncio
from pathlib import Path

from damselfly.core.models import DownloadRequest
from tests.integration.harness import MIB, download, make_file, sha256_of, start_swarm

SIZE = 64 * MIB


def test_origin_serves_once_and_peers_feed_each_other(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    expected = make_file(files / "blob.bin", SIZE)

    async def scenario() -> None:
        swarm = await start_swarm(tmp_path, files, peers=3)
        try:
            url = swarm.url("blob.bin")
            outputs = [tmp_path / f"out{i}.bin" for i in range(3)]
            first = await download(swarm.peers[0], DownloadRequest(url, str(outputs[0])))
            rest = await asyncio.gather(
                *(
                    download(peer, DownloadRequest(url, str(out)))
                    for peer, out in zip(swarm.peers[1:], outputs[1:], strict=True)
                )
            )
            for output in outputs:
                assert sha256_of(output) == expected
            # Every byte once: the seed's parallel ranged requests do not overlap.
            assert swarm.origin.bytes_sent == SIZE
            results = [first, *rest]
            assert all(r.traffic.back_to_source == 0 for r in results)
            assert sum(r.traffic.remote_peer for r in results) > 0
            for result in results:
                traffic = result.traffic
                assert traffic.seed_peer + traffic.remote_peer == SIZE
        finally:
            await swarm.stop()

    asyncio.run(scenario())


def test_completed_task_is_served_from_local_storage(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    expected = make_file(files / "small.bin", 5 * MIB + 123)

    async def scenario() -> None:
        swarm = await start_swarm(tmp_path, files, peers=1)
        try:
            url = swarm.url("small.bin")
            await download(swarm.peers[0], DownloadRequest(url, str(tmp_path / "a.bin")))
            again = await download(swarm.peers[0], DownloadRequest(url, str(tmp_path / "b.bin")))
            assert again.traffic.local == 5 * MIB + 123
            assert sha256_of(tmp_path / "b.bin") == expected
            assert swarm.origin.bytes_sent == 5 * MIB + 123
        finally:
            await swarm.stop()

    asyncio.run(scenario())


def test_a_peer_reads_pieces_the_seed_is_still_fetching(tmp_path: Path) -> None:
    """The seed announces each piece from the origin as it starts to arrive, its digest
    not known yet; the peer reads it as it lands and takes the digest from the seed's
    announcement of the finished piece."""
    files = tmp_path / "files"
    files.mkdir()
    size = 24 * MIB + 777
    expected = make_file(files / "slow.bin", size)

    async def scenario() -> None:
        swarm = await start_swarm(tmp_path, files, peers=1)
        try:
            assert swarm.seed is not None
            url = swarm.url("slow.bin") + f"?rate={4 * MIB}"  # per range; four at once
            out = tmp_path / "out.bin"
            result = await download(swarm.peers[0], DownloadRequest(url, str(out)))
            assert sha256_of(out) == expected
            assert result.traffic.seed_peer == size
            assert swarm.seed.piece_server.stats.bytes_cut_through > 0
            assert swarm.origin.bytes_sent == size
        finally:
            await swarm.stop()

    asyncio.run(scenario())
