"""The daemon on its own (no scheduler): origin quirks, single flight, ranges, rate limits
and storage GC, against a real local origin."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from damselfly.api.download_json import download_to_json
from damselfly.cli import daemon_client
from damselfly.core.errors import OriginError
from damselfly.core.models import ByteRange, DownloadRequest
from damselfly.daemon.download.task_manager import Progress, validate
from damselfly.daemon.server import DaemonServer
from damselfly.daemon.storage.gc import GcLimits
from damselfly.daemon.storage.inflight import InFlightState
from damselfly.daemon.storage.tasks import TaskState
from damselfly.demo.origin import Origin
from tests.integration.harness import MIB, Swarm, download, make_file, sha256_of
from tests.integration.test_cut_through import _wait_until

SIZE = 24 * MIB + 777


async def standalone(root: Path, files: Path, **download: object) -> tuple[Origin, DaemonServer]:
    origin = Origin(files)
    await origin.start()
    swarm = Swarm(root, origin)
    config = swarm.daemon_config("alone")
    config.download.origin_retry_backoff_s = 0.05
    for key, value in download.items():
        setattr(config.download, key, value)
    daemon = DaemonServer(config)
    await daemon.start()
    return origin, daemon


def run(
    tmp_path: Path,
    scenario: Callable[[Origin, DaemonServer, Path], Awaitable[None]],
    **download: object,
) -> None:
    files = tmp_path / "files"
    files.mkdir()

    async def main() -> None:
        origin, daemon = await standalone(tmp_path, files, **download)
        try:
            await scenario(origin, daemon, files)
        finally:
            await daemon.stop()
            await origin.stop()

    asyncio.run(main())


@pytest.mark.parametrize("mode", ["files", "norange", "chunked", "redirect", "flaky", "unsized"])
def test_origin_quirks(tmp_path: Path, mode: str) -> None:
    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        expected = make_file(files / "q.bin", SIZE)
        url = f"http://127.0.0.1:{origin.port}/{mode}/q.bin"
        out = tmp_path / "out.bin"
        result = await download(daemon, DownloadRequest(url, str(out)))
        assert sha256_of(out) == expected
        assert result.traffic.back_to_source == SIZE
        if mode == "flaky":
            assert origin.requests >= 3  # two 503 answers, retried with backoff
        if mode in ("norange", "chunked"):
            assert origin.bytes_sent == SIZE  # one stream, no second attempt

    run(tmp_path, scenario)


def test_what_the_origin_is_sent(tmp_path: Path) -> None:
    """Credentials in the URL go as Basic auth (as curl sends them), a header the user
    gives replaces ours rather than doubling it, and the bytes are asked for as stored
    (identity encoding)."""

    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        make_file(files / "h.bin", MIB)
        url = f"http://alice:s%40cret@127.0.0.1:{origin.port}/files/h.bin"
        request = DownloadRequest(url, str(tmp_path / "out.bin"), headers={"User-Agent": "mine"})
        await download(daemon, request)
        sent: dict[str, list[str]] = {}
        for name, value in origin.last_headers:
            sent.setdefault(name.lower(), []).append(value)
        assert sent["authorization"] == ["Basic " + base64.b64encode(b"alice:s@cret").decode()]
        assert sent["user-agent"] == ["mine"]
        assert sent["accept-encoding"] == ["identity"]
        assert len(sent["host"]) == 1 and "alice" not in sent["host"][0]

    run(tmp_path, scenario)


@pytest.mark.parametrize("mode", ["files", "norange", "chunked", "unsized"])
def test_an_empty_content(tmp_path: Path, mode: str) -> None:
    """An empty file has no byte to range over: the origin answers the probe 416 (as S3
    and RFC 9110 do), and the download asks again plainly and yields an empty output."""

    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        (files / "empty.bin").write_bytes(b"")
        out = tmp_path / "out.bin"
        url = f"http://127.0.0.1:{origin.port}/{mode}/empty.bin"
        result = await download(daemon, DownloadRequest(url, str(out)))
        assert out.read_bytes() == b""
        assert result.content_length == 0

    run(tmp_path, scenario)


@pytest.mark.parametrize("size", [1000, 4 * MIB])
def test_an_unsized_range_ending_within_the_first_piece(tmp_path: Path, size: int) -> None:
    """``bytes a-b/*`` answers for a content that fits the first piece: the first ends
    short, or the next is refused (416) because nothing follows."""

    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        expected = make_file(files / "u.bin", size)
        out = tmp_path / "out.bin"
        url = f"http://127.0.0.1:{origin.port}/unsized/u.bin"
        result = await download(daemon, DownloadRequest(url, str(out)))
        assert sha256_of(out) == expected
        assert result.traffic.back_to_source == size

    run(tmp_path, scenario)


def test_an_origin_that_caps_ranges_still_yields_the_file(tmp_path: Path) -> None:
    """A 206 answer may cover less than was asked (some origins cap a range's size): the
    rest is asked for again, and the bytes past the answer's last whole piece are not
    recorded as a piece (a retry would skip it and the output would have a hole)."""

    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        expected = make_file(files / "c.bin", SIZE)
        url = f"http://127.0.0.1:{origin.port}/capped/c.bin"
        out = tmp_path / "out.bin"
        await download(daemon, DownloadRequest(url, str(out)))
        assert sha256_of(out) == expected
        # A piece an answer ended inside stayed announced until the next answer brought
        # the rest: children reading it were not cut off, and none was announced twice.
        task = daemon.store.get(validate(DownloadRequest(url)))
        assert task is not None
        assert sorted(r.info.number for r in task.starts) == list(range(task.piece_count))
        assert all(r.state is InFlightState.RECORDED for r in task.starts)

    run(tmp_path, scenario, origin_retries=0)


@pytest.mark.parametrize(
    ("content_range", "complaint"),
    [
        # Bytes from elsewhere than asked would land at the wrong offset, with a crc32c
        # taken from them, so nothing downstream would notice.
        ("bytes 100-199/1000", "when asked for bytes from 0"),
        ("bytes 0-99/50", "impossible Content-Range"),
        ("bytes 99-0/1000", "impossible Content-Range"),
    ],
)
def test_an_impossible_range_answer_is_refused(
    tmp_path: Path, content_range: str, complaint: str
) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 206 Partial Content\r\nContent-Range: {content_range}\r\n"
        writer.write(f"{head}Content-Length: 100\r\nConnection: close\r\n\r\n".encode())
        writer.write(bytes(100))
        await writer.drain()
        writer.close()

    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        out = tmp_path / "out.bin"
        try:
            with pytest.raises(OriginError, match=complaint):
                await download(daemon, DownloadRequest(f"http://127.0.0.1:{port}/x", str(out)))
        finally:
            server.close()
            await server.wait_closed()
        assert not out.exists()

    run(tmp_path, scenario)


def test_concurrent_downloads_share_one_buffer_budget(tmp_path: Path) -> None:
    """Three tasks fetched at once, each in four ranged streams, hold no more piece
    buffers together than the daemon's budget (four 4 MiB pieces here), and all finish."""

    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        names = ["b0.bin", "b1.bin", "b2.bin"]
        expected = [make_file(files / name, SIZE) for name in names]
        outputs = [tmp_path / f"out-{name}" for name in names]
        requests = [
            DownloadRequest(f"http://127.0.0.1:{origin.port}/files/{name}", str(out))
            for name, out in zip(names, outputs, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(download(daemon, r) for r in requests)), 60)
        assert [sha256_of(out) for out in outputs] == expected
        assert daemon.tasks is not None
        assert 0 < daemon.tasks.ctx.buffers.peak <= 16 * MIB

    run(tmp_path, scenario, buffer_budget_mb=16)


@pytest.mark.parametrize("mode", ["files", "norange", "unsized"])
def test_a_download_waiting_for_a_buffer_asks_the_origin_again(tmp_path: Path, mode: str) -> None:
    """With the daemon's budget spent by a slow download, a new one waits for a buffer
    with its first answer closed rather than unread (an origin may drop it), asks again
    once a buffer is free, and both finish."""

    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        hog_expected = make_file(files / "hog.bin", SIZE)
        expected = make_file(files / "w.bin", SIZE)
        # One slow stream whose 16 MiB pieces take the whole budget in one buffer.
        hog_url = f"http://127.0.0.1:{origin.port}/norange/hog.bin?rate={24 * MIB}"
        hog_out, out = tmp_path / "hog.out", tmp_path / "w.out"
        slow = DownloadRequest(hog_url, str(hog_out), piece_length=16 * MIB)
        hog = asyncio.create_task(download(daemon, slow))
        assert daemon.tasks is not None
        pool = daemon.tasks.ctx.buffers
        await _wait_until(lambda: not pool.ready(4 * MIB), "the slow download to hold the budget")
        requests = origin.requests
        url = f"http://127.0.0.1:{origin.port}/{mode}/w.bin"
        await asyncio.wait_for(download(daemon, DownloadRequest(url, str(out))), 60)
        await asyncio.wait_for(hog, 60)
        assert sha256_of(out) == expected and sha256_of(hog_out) == hog_expected
        assert pool.peak <= 16 * MIB
        if mode != "files":
            # The requests such a download makes anyway (one stream; the unsized one then
            # asks for the rest), plus its first answer asked again.
            usual = {"norange": 1, "unsized": 2}[mode]
            assert origin.requests - requests == usual + 1

    run(tmp_path, scenario, buffer_budget_mb=16)


async def via_socket(daemon: DaemonServer, request: DownloadRequest) -> int:
    """Download through the daemon's unix socket, as dfget does; returns the length."""
    # Blocking clients get threads of their own, not the daemon's executor threads.
    with ThreadPoolExecutor(max_workers=1) as client:
        events = await asyncio.get_running_loop().run_in_executor(
            client,
            list,
            daemon_client.download(download_to_json(request), daemon.config.server.socket),
        )
    length: int = events[-1]["finished"]["content_length"]
    return length


def test_concurrent_requests_share_one_download(tmp_path: Path) -> None:
    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        expected = make_file(files / "s.bin", SIZE)
        url = f"http://127.0.0.1:{origin.port}/files/s.bin?rate={40 * MIB}"
        outputs = [tmp_path / f"out{i}.bin" for i in range(20)]
        lengths = await asyncio.gather(
            *(via_socket(daemon, DownloadRequest(url, str(out))) for out in outputs)
        )
        assert lengths == [SIZE] * 20
        assert all(sha256_of(out) == expected for out in outputs)
        assert origin.bytes_sent == SIZE

    run(tmp_path, scenario)


RANGES = [(0, 1), (0, 4 * MIB), (4 * MIB - 10, 20), (5 * MIB + 3, 9 * MIB), (SIZE - 5, 5)]


def test_ranged_reads_are_byte_exact(tmp_path: Path) -> None:
    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        make_file(files / "r.bin", SIZE)
        data = (files / "r.bin").read_bytes()
        url = f"http://127.0.0.1:{origin.port}/files/r.bin"
        for start, length in RANGES:
            out = tmp_path / f"r{start}-{length}.bin"
            request = DownloadRequest(url, str(out), range=ByteRange(start, length))
            result = await download(daemon, request)
            assert out.read_bytes() == data[start : start + length]
            assert result.content_length == length
        past_end = tmp_path / "past.bin"
        clipped = DownloadRequest(url, str(past_end), range=ByteRange(SIZE - 3, 100))
        await download(daemon, clipped)
        assert past_end.read_bytes() == data[SIZE - 3 :]

    run(tmp_path, scenario)


def test_range_is_served_from_a_partial_task(tmp_path: Path) -> None:
    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        make_file(files / "p.bin", SIZE)
        data = (files / "p.bin").read_bytes()
        url = f"http://127.0.0.1:{origin.port}/files/p.bin?rate={6 * MIB}"
        whole = asyncio.create_task(download(daemon, DownloadRequest(url, str(tmp_path / "w"))))
        out = tmp_path / "head.bin"
        await download(daemon, DownloadRequest(url, str(out), range=ByteRange(100, 1000)))
        task = daemon.store.get(validate(DownloadRequest(url)))
        assert task is not None
        assert task.state is TaskState.RUNNING  # the range did not wait for the whole task
        assert out.read_bytes() == data[100:1100]
        await whole

    run(tmp_path, scenario, back_to_source_concurrency=1)


def test_rate_limit_is_held(tmp_path: Path) -> None:
    limit, size = 10 * MIB, 20 * MIB

    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        make_file(files / "l.bin", size)
        url = f"http://127.0.0.1:{origin.port}/files/l.bin"
        began = time.perf_counter()
        await download(daemon, DownloadRequest(url, str(tmp_path / "l.out"), rate_limit=limit))
        rate = size / (time.perf_counter() - began)
        assert 0.9 * limit <= rate <= 1.1 * limit, f"{rate / MIB:.1f} MiB/s"

    run(tmp_path, scenario)


def test_gc_evicts_least_recently_used_and_never_a_running_task(tmp_path: Path) -> None:
    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        ids = []
        for i in range(3):
            make_file(files / f"g{i}.bin", 5 * MIB, seed=i)
            request = DownloadRequest(f"http://127.0.0.1:{origin.port}/files/g{i}.bin")
            await download(daemon, request)
            ids.append(validate(request))
        make_file(files / "slow.bin", 8 * MIB, seed=9)
        slow = DownloadRequest(f"http://127.0.0.1:{origin.port}/files/slow.bin?rate={4 * MIB}")
        slow_id = validate(slow)
        assert daemon.tasks is not None
        checked = False
        async for event in daemon.tasks.download(slow):
            if checked or not isinstance(event, Progress) or event.completed_pieces == 0:
                continue
            checked = True
            # Uses, oldest first: the running task, then g1, g0, g2.
            now = time.time()
            for task_id, age in ((slow_id, 400), (ids[1], 300), (ids[0], 200), (ids[2], 100)):
                stored = daemon.store.get(task_id)
                assert stored is not None
                stored.touch(now - age)
            # 8 MiB (running: all of it counts) + 3 x 5 MiB held; 14 MiB allowed: two must go.
            evicted = daemon.store.collect(GcLimits(ttl_s=3600, quota_bytes=14 * MIB), now)
            assert evicted == [ids[1], ids[0]]
            assert daemon.store.get(ids[2]) is not None
            assert daemon.store.collect(GcLimits(ttl_s=50), now) == [ids[2]]
            assert daemon.store.get(slow_id) is not None
        assert checked

    run(tmp_path, scenario)
