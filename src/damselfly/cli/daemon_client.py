"""The CLIs' client of the daemon's local API (``api/local.py``): standard library only,
blocking, so a CLI starts without importing asyncio, grpc or protobuf."""

from __future__ import annotations

import json
import socket

from damselfly.api.local import CONTENT_SUFFIX, DOWNLOAD_PATH, TASKS_PATH, error_from_json
from damselfly.common.http_head import MalformedHead, parse_response_head
from damselfly.core.errors import Unavailable

# Types for mypy only: importing typing costs a CLI's start about 2 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, BinaryIO

_WHAT = "the dfdaemon"


def _connect(socket_path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(socket_path)
    except OSError as exc:
        sock.close()
        raise Unavailable(f"{_WHAT} at {socket_path} does not answer ({exc.strerror})") from None
    return sock


def _request(sock: socket.socket, method: str, path: str, body: bytes = b"") -> None:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: dfdaemon\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode("latin-1") + body)


def _status(lines: Iterator[bytes]) -> int:
    """The answer's status; reads its head (the body ends when the connection closes)."""
    return _answer_head(lines)[0]


def _answer_head(lines: Iterator[bytes]) -> tuple[int, dict[str, str]]:
    head = []
    for line in lines:
        if line in (b"\r\n", b"\n"):
            break
        head.append(line.rstrip(b"\r\n"))
    try:
        return parse_response_head(b"\r\n".join(head))
    except MalformedHead:
        raise Unavailable(f"{_WHAT} sent a malformed answer") from None


def _refusal(status: int, rest: bytes) -> Exception:
    try:
        body = json.loads(rest)
    except ValueError:
        body = None
    return error_from_json(body, f"{_WHAT} answered HTTP {status}")


def download(request: dict[str, Any], socket_path: str) -> Iterator[dict[str, Any]]:
    """The events of one download (``{"started": ..}``, ``{"progress": ..}``, the last
    ``{"finished": ..}``); a failure is raised as the daemon's error."""
    sock = _connect(socket_path)
    try:
        _request(sock, "POST", DOWNLOAD_PATH, json.dumps(request).encode())
        lines = iter(sock.makefile("rb"))
        status = _status(lines)
        if status != 200:
            raise _refusal(status, b"".join(lines))
        for line in lines:
            event = json.loads(line)
            if "error" in event:
                raise error_from_json(event, f"{_WHAT} reported a malformed error")
            yield event
            if "finished" in event:
                return
        raise Unavailable(f"{_WHAT} closed the connection before the download finished")
    finally:
        sock.close()


def stat_task(task_id: str, socket_path: str) -> dict[str, Any]:
    sock = _connect(socket_path)
    try:
        _request(sock, "GET", TASKS_PATH + task_id)
        lines = iter(sock.makefile("rb"))
        status = _status(lines)
        rest = b"".join(lines)
        if status != 200:
            raise _refusal(status, rest)
        answer: dict[str, Any] = json.loads(rest)
        return answer
    finally:
        sock.close()


def content(
    task_id: str, socket_path: str, byte_range: tuple[int, int] | None, out: BinaryIO
) -> int:
    """Write a task's bytes (``byte_range``: start and length) as the daemon sends them to
    ``out``; returns how many. A short answer is an error."""
    sock = _connect(socket_path)
    try:
        head = f"GET {TASKS_PATH}{task_id}{CONTENT_SUFFIX} HTTP/1.1\r\nHost: dfdaemon\r\n"
        if byte_range is not None:
            start, length = byte_range
            head += f"Range: bytes={start}-{start + length - 1}\r\n"
        sock.sendall((head + "Connection: close\r\n\r\n").encode("latin-1"))
        stream = sock.makefile("rb")
        status, fields = _answer_head(stream)
        if status not in (200, 206):
            raise _refusal(status, stream.read())
        length_text = fields.get("content-length", "")
        expected = int(length_text) if length_text.isdigit() else -1
        received = 0
        while chunk := stream.read1(1 << 20):
            out.write(chunk)
            received += len(chunk)
        if received != expected:
            raise Unavailable(f"{_WHAT} sent {received} of {expected} bytes; retry the download")
        return received
    finally:
        sock.close()
