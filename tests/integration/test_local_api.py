"""The daemon's local API on its unix socket: what a CLI or curl sends and gets back."""

from __future__ import annotations

import asyncio
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from damselfly.api.download_json import download_to_json
from damselfly.cli import daemon_client
from damselfly.core.errors import InvalidArgument, NotFound, OriginError
from damselfly.core.models import DownloadRequest
from damselfly.daemon.server import DaemonServer
from damselfly.demo.origin import Origin
from tests.integration.harness import MIB, make_file
from tests.integration.test_daemon_features import run


def raw(socket_path: str, payload: bytes) -> tuple[int, dict[str, Any]]:
    """Send raw bytes as a request; the status and the JSON body of the answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(socket_path)
        sock.sendall(payload)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def post(socket_path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    head = f"POST /v1/download HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    return raw(socket_path, head.encode() + body)


async def blocking(call: Any, *args: Any) -> Any:
    with ThreadPoolExecutor(max_workers=1) as client:
        return await asyncio.get_running_loop().run_in_executor(client, call, *args)


BAD_REQUESTS = [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"output_path": "/tmp/x"}', "needs a 'url'"),
    (b'{"url": "http://o/x", "colour": "red"}', "unknown field 'colour'"),
    (b'{"url": 7}', "'url' of the download request must be a string"),
    (b'{"url": "http://o/x", "priority": 9}', "'priority' of the download request must be 0 to 6"),
    (b'{"url": "http://o/x", "rate_limit": -1}', "'rate_limit' of the download request must be"),
    (b'{"url": "http://o/x", "headers": {"a": 1}}', "must map strings to strings"),
    (b'{"url": "http://o/x", "range": {"start": 0}}', "'range' must be null or"),
    (b'{"url": "ftp://o/x"}', "ftp"),
    (b'{"url": "http://o/x", "output_path": "relative/x"}', "must be absolute"),
    # Python's json reads NaN and Infinity: a NaN timeout would pass "< 0" and poison the
    # event loop's timer heap.
    (b'{"url": "http://o/x", "timeout_s": NaN}', "'timeout_s' of the download request must be"),
    (b'{"url": "http://o/x", "timeout_s": Infinity}', "must be a finite number"),
    (b'{"url": "http://o/x", "headers": {"X": "a\\r\\nY: b"}}', "one line per header"),
]


@pytest.mark.parametrize(("body", "message"), BAD_REQUESTS)
def test_a_bad_download_request_is_refused_with_one_sentence(
    tmp_path: Path, body: bytes, message: str
) -> None:
    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        status, answer = await blocking(post, daemon.config.server.socket, body)
        assert status == 400
        assert answer["error"]["code"] == "invalid_argument"
        assert message in answer["error"]["message"]
        assert origin.requests == 0

    run(tmp_path, scenario)


def test_oversized_or_unknown_requests_are_refused(tmp_path: Path) -> None:
    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        path = daemon.config.server.socket
        too_long = b"POST /v1/download HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n"
        status, answer = await blocking(raw, path, too_long)
        assert (status, answer["error"]["code"]) == (400, "invalid_argument")
        status, answer = await blocking(raw, path, b"GET /etc/passwd HTTP/1.1\r\n\r\n")
        assert (status, answer["error"]["code"]) == (404, "not_found")
        status, answer = await blocking(raw, path, b"GET /v1/tasks/..%2f HTTP/1.1\r\n\r\n")
        assert status == 400
        huge_header = b"GET /healthy HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"
        status, answer = await blocking(raw, path, huge_header)
        assert "too large" in answer["error"]["message"]

    run(tmp_path, scenario)


def test_download_events_and_stat_through_the_client(tmp_path: Path) -> None:
    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        make_file(files / "a.bin", 5 * MIB + 1)
        path = daemon.config.server.socket
        out = tmp_path / "a.out"
        request = download_to_json(
            DownloadRequest(f"http://127.0.0.1:{origin.port}/files/a.bin", str(out))
        )
        events = await blocking(lambda: list(daemon_client.download(request, path)))
        started = [e["started"] for e in events if "started" in e]
        assert [s["content_length"] for s in started] == [5 * MIB + 1]
        finished = events[-1]["finished"]
        assert finished["traffic"]["back_to_source"] == 5 * MIB + 1
        assert out.stat().st_size == 5 * MIB + 1
        stat = await blocking(daemon_client.stat_task, finished["task_id"], path)
        assert (stat["state"], stat["finished_pieces"]) == ("succeeded", 2)
        with pytest.raises(NotFound):
            await blocking(daemon_client.stat_task, "f" * 64, path)
        with pytest.raises(InvalidArgument, match="exists"):  # refused before any event
            await blocking(lambda: list(daemon_client.download(request, path)))
        missing = download_to_json(
            DownloadRequest(
                f"http://127.0.0.1:{origin.port}/files/missing.bin", str(tmp_path / "m.out")
            )
        )
        with pytest.raises(OriginError, match="404"):  # failed after the stream began
            await blocking(lambda: list(daemon_client.download(missing, path)))
        assert not (tmp_path / "m.out").exists()

    run(tmp_path, scenario)
