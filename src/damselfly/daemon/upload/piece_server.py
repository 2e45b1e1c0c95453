"""The piece server: ``GET /pieces/<task_id>/<number>`` over HTTP/1.1 with sendfile.

A small asyncio protocol instead of a framework: one request at a time per keep-alive
connection, bytes leave through ``loop.sendfile`` (zero copy). Recorded pieces are served
from the content file; a piece still arriving is streamed from the receive buffer as its
bytes land (cut-through, see ``storage/inflight.py``) and the rest follows from the file
once recorded. The path never reaches the filesystem: the task id is checked against
the store, which alone knows where content lives. ``Range`` within a piece is honoured
so curl can fetch any part for debugging.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import BinaryIO

from damselfly.common.http_head import MalformedHead, parse_request_head, status_line
from damselfly.common.ratelimit import TokenBucket
from damselfly.core.ids import is_task_id
from damselfly.core.models import PieceInfo
from damselfly.daemon.storage.inflight import InFlightPiece, InFlightState
from damselfly.daemon.storage.tasks import TaskStore

log = logging.getLogger(__name__)

_PATH_RE = re.compile(r"^/pieces/([0-9a-f]{64})/(\d{1,9})$")
_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")
_MAX_HEADER = 16 * 1024


class UploadStats:
    def __init__(self) -> None:
        self.bytes_sent = 0
        self.bytes_cut_through = 0
        """Of those, sent from a receive buffer while the piece was still arriving."""
        self.requests = 0


class _Connection(asyncio.Protocol):
    def __init__(self, server: PieceServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self._writable: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _MAX_HEADER and b"\r\n\r\n" not in self.buffer:
            self._reply_and_close(431, b"request header too large")
            return
        if not self.busy and b"\r\n\r\n" in self.buffer:
            self.busy = True
            asyncio.get_running_loop().create_task(self._serve_all())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.resume_writing()

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    async def _drain(self) -> None:
        if self._writable is not None:
            await self._writable
        if self.transport is None:
            raise ConnectionResetError("the child closed the connection")

    def _reply_and_close(self, status: int, body: bytes) -> None:
        if self.transport is not None:
            self.transport.write(_head(status, len(body), close=True) + body)
            self.transport.close()

    async def _serve_all(self) -> None:
        try:
            while self.transport is not None and b"\r\n\r\n" in self.buffer:
                head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
                self.buffer = bytearray(rest)
                keep = await self._serve(head)
                if not keep:
                    if self.transport is not None:
                        self.transport.close()
                    return
        except (ConnectionError, OSError):
            if self.transport is not None:
                self.transport.close()
        finally:
            self.busy = False

    async def _serve(self, head: bytes) -> bool:
        transport = self.transport
        if transport is None:
            return False
        try:
            method, target, headers = parse_request_head(head)
        except MalformedHead:
            self._reply_and_close(400, b"malformed request line")
            return False
        keep = headers.get("connection", "").lower() != "close"
        if method not in ("GET", "HEAD"):
            transport.write(_head(405, 0, close=not keep, extra="Allow: GET, HEAD\r\n"))
            return keep
        if target == "/healthy":
            transport.write(_head(200, 2, close=not keep) + b"OK")
            return keep
        match = _PATH_RE.match(target.split("?", 1)[0])
        if match is None or not is_task_id(match.group(1)):
            return self._error(404, b"no such piece path; use /pieces/<task id>/<number>", keep)
        task_id = match.group(1)
        found = self.server.locate(task_id, int(match.group(2)))
        if found is None:
            return self._error(404, b"piece not found on this peer", keep)
        receiving = found if isinstance(found, InFlightPiece) else None
        piece = found.info if isinstance(found, InFlightPiece) else found
        length = piece.length
        status, start, count = 200, 0, length
        if "range" in headers:
            parsed = _RANGE_RE.match(headers["range"])
            if parsed is None:
                return self._error(416, b"only one bytes=a-b range is supported", keep)
            start = int(parsed.group(1))
            last = int(parsed.group(2)) if parsed.group(2) else length - 1
            if start > last or start >= length:
                return self._error(416, b"range outside the piece", keep)
            status, count = 206, min(last, length - 1) - start + 1
        extra = (
            f"Content-Range: bytes {start}-{start + count - 1}/{length}\r\n"
            if status == 206
            else ""
        )
        if method == "GET":
            # The limiter waits before the header, so the parent's slowness shows as
            # time to first byte (what the child measures) rather than a stalled body.
            await self.server.rate.acquire(count)
        transport.write(_head(status, count, close=not keep, extra=extra))
        if method == "GET" and count:
            sent = 0
            if receiving is not None:
                sent = await self._stream(transport, receiving, start, count)
                self.server.stats.bytes_cut_through += sent
            if sent < count:
                await asyncio.get_running_loop().sendfile(
                    transport,
                    self.server.content_file(task_id),
                    piece.offset + start + sent,
                    count - sent,
                )
            self.server.stats.bytes_sent += count
        self.server.stats.requests += 1
        return keep

    async def _stream(
        self, transport: asyncio.Transport, receiving: InFlightPiece, start: int, count: int
    ) -> int:
        """Send bytes of a piece still arriving until it is recorded; returns how many
        were sent. A failed receive closes the connection: the child must not take it."""
        sent = 0
        while sent < count:
            if receiving.state is InFlightState.RECORDED:
                return sent
            if receiving.state is InFlightState.FAILED:
                raise ConnectionAbortedError("the piece failed on this peer while streaming")
            if receiving.filled > start + sent:
                chunk = receiving.copy(start + sent, start + count)
                transport.write(chunk)
                sent += len(chunk)
                await self._drain()
            else:
                await receiving.changed()
        return sent

    def _error(self, status: int, body: bytes, keep: bool) -> bool:
        if self.transport is not None:
            self.transport.write(_head(status, len(body), close=not keep) + body)
        return keep


def _head(status: int, length: int, *, close: bool, extra: str = "") -> bytes:
    connection = "close" if close else "keep-alive"
    return (
        f"{status_line(status)}Content-Length: {length}\r\n"
        f"Content-Type: application/octet-stream\r\nConnection: {connection}\r\n{extra}\r\n"
    ).encode("latin-1")


class PieceServer:
    def __init__(
        self, store: TaskStore, listen_ip: str, port: int, rate: TokenBucket | None = None
    ) -> None:
        self.store = store
        self.rate = rate or TokenBucket(0)
        self.listen_ip, self.requested_port = listen_ip, port
        self.port = 0
        self.stats = UploadStats()
        self._files: dict[str, BinaryIO] = {}
        self._server: asyncio.Server | None = None

    def locate(self, task_id: str, number: int) -> PieceInfo | InFlightPiece | None:
        """The recorded piece, or its receive when it is still arriving; None when this
        peer has neither."""
        task = self.store.get(task_id)
        if task is None:
            return None
        return task.pieces.get(number) or task.inflight.get(number)

    def content_file(self, task_id: str) -> BinaryIO:
        """The task's content file, opened once for every request."""
        task = self.store.get(task_id)
        if task is None:  # deleted while we streamed a piece of it
            raise ConnectionAbortedError("the task is gone from this peer")
        file = self._files.get(task_id)
        if file is None:
            file = self._files[task_id] = open(task.path, "rb")  # noqa: SIM115
        return file

    def forget(self, task_id: str) -> None:
        file = self._files.pop(task_id, None)
        if file is not None:
            file.close()

    async def start(self) -> None:
        factory: Callable[[], asyncio.Protocol] = lambda: _Connection(self)  # noqa: E731
        self._server = await asyncio.get_running_loop().create_server(
            factory, self.listen_ip, self.requested_port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for file in self._files.values():
            file.close()
        self._files.clear()
