"""The local API on the daemon's unix socket (``api/local.py`` has the contract).

A small HTTP/1.1 server on asyncio streams: one request per connection, headers capped
at 16 KiB and bodies at 1 MiB, every field of a download request checked before the
download starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import struct
from pathlib import Path
from typing import Any

from damselfly.api.download_json import download_from_json, traffic_to_json
from damselfly.api.local import (
    CONTENT_SUFFIX,
    DOWNLOAD_PATH,
    MAX_BODY,
    TASKS_PATH,
    error_to_json,
)
from damselfly.api.status import http_status
from damselfly.common.http_head import MalformedHead, parse_request_head, status_line
from damselfly.core.errors import (
    DamselflyError,
    FailedPrecondition,
    InternalError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from damselfly.core.ids import is_task_id
from damselfly.core.models import ByteRange
from damselfly.daemon.download.delivery import Owner, check_output
from damselfly.daemon.download.task_manager import (
    Event,
    Progress,
    Started,
    TaskManager,
    range_ready,
    validate,
)
from damselfly.daemon.storage.tasks import LocalTask, TaskStore

log = logging.getLogger(__name__)

_MAX_HEAD = 16 * 1024
_RANGE_RE = re.compile(r"bytes=(\d{1,19})-(\d{1,19})")


def event_to_json(event: Event, task_id: str) -> dict[str, Any]:
    if isinstance(event, Started):
        return {
            "started": {
                "task_id": event.task_id,
                "content_length": event.content_length,
                "piece_length": event.piece_length,
                "piece_count": event.piece_count,
            }
        }
    if isinstance(event, Progress):
        return {
            "progress": {
                "completed_bytes": event.completed_bytes,
                "completed_pieces": event.completed_pieces,
                "content_length": event.content_length,
            }
        }
    return {
        "finished": {
            "task_id": task_id,
            "content_length": event.content_length,
            "output_path": event.output_path,
            "seconds": round(event.seconds, 3),
            "traffic": traffic_to_json(event.traffic),
        }
    }


def caller(writer: asyncio.StreamWriter) -> Owner | None:
    """Who is at the other end of the socket (``SO_PEERCRED``), when another user than
    the daemon's: outputs are then written only where that user could write."""
    sock = writer.get_extra_info("socket")
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (AttributeError, OSError):
        raise PermissionDenied(
            "the daemon cannot tell who is asking; use its unix socket"
        ) from None
    pid, uid, gid = struct.unpack("3i", raw)
    if uid == os.geteuid():
        return None
    groups: frozenset[int] = frozenset()
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Groups:"):
                groups = frozenset(int(g) for g in line.split()[1:])
    return Owner(uid, gid, groups)


def _head(status: int, content_type: str = "application/json") -> bytes:
    return (
        f"{status_line(status)}Content-Type: {content_type}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")


class LocalApi:
    def __init__(self, store: TaskStore, tasks: TaskManager) -> None:
        self.store = store
        self.tasks = tasks
        self._server: asyncio.Server | None = None

    async def start(self, path: Path) -> None:
        self._server = await asyncio.start_unix_server(
            self._handle, path=str(path), limit=_MAX_HEAD
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except DamselflyError as exc:
            writer.write(_head(http_status(exc)) + json.dumps(error_to_json(exc)).encode())
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # The daemon is stopping: the client sees the connection close (dfget says
            # so). Not re-raised: asyncio 3.11's stream server would log the cancelled
            # connection task as an error with a traceback.
            writer.close()
            return
        except Exception:
            log.exception("local API request failed")
            error = InternalError("the daemon failed to answer; see its log")
            writer.write(_head(500) + json.dumps(error_to_json(error)).encode())
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise InvalidArgument("request header too large") from None
        if len(head) > _MAX_HEAD:
            raise InvalidArgument("request header too large")
        try:
            method, target, headers = parse_request_head(head[:-4])
        except MalformedHead as exc:
            raise InvalidArgument(str(exc)) from None
        target = target.split("?", 1)[0]
        if target == DOWNLOAD_PATH and method == "POST":
            body = await self._body(reader, headers)
            await self._download(body, writer)
        elif target.startswith(TASKS_PATH) and target.endswith(CONTENT_SUFFIX) and method == "GET":
            task_id = target[len(TASKS_PATH) : -len(CONTENT_SUFFIX)]
            await self._content(task_id, headers.get("range", ""), writer)
        elif target.startswith(TASKS_PATH) and method == "GET":
            writer.write(_head(200) + json.dumps(self._stat(target[len(TASKS_PATH) :])).encode())
        elif target == "/healthy" and method == "GET":
            writer.write(_head(200) + b'{"ok": true}')
        else:
            raise NotFound(f"no {method} {target} here; use POST {DOWNLOAD_PATH}")

    @staticmethod
    async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> object:
        length_text = headers.get("content-length", "")
        if not length_text.isdigit() or int(length_text) > MAX_BODY:
            raise InvalidArgument(f"the request needs a Content-Length of at most {MAX_BODY}")
        raw = await reader.readexactly(int(length_text))
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise InvalidArgument("the request body is not valid JSON") from None

    async def _download(self, body: object, writer: asyncio.StreamWriter) -> None:
        download = download_from_json(body)
        download.need_back_to_source = False
        task_id = validate(download)  # refused with an HTTP status before any event
        owner = caller(writer)
        if owner is not None and download.output_path:
            check_output(Path(download.output_path), owner)
        writer.write(_head(200, "application/x-ndjson"))
        try:
            async for event in self.tasks.download(download, owner):
                if isinstance(event, Started):
                    task_id = event.task_id
                writer.write(json.dumps(event_to_json(event, task_id)).encode() + b"\n")
                await writer.drain()
        except DamselflyError as exc:
            writer.write(json.dumps(error_to_json(exc)).encode() + b"\n")

    async def _content(self, task_id: str, range_text: str, writer: asyncio.StreamWriter) -> None:
        """A task's bytes (``Range: bytes=a-b`` for part of them), once they are all
        here: dfget's --transfer-from-dfdaemon, where it cannot see the daemon's files."""
        task = self._task(task_id)
        wanted = ByteRange(0, max(task.content_length, 0))
        if range_text:
            match = _RANGE_RE.fullmatch(range_text.strip())
            if match is None or int(match.group(2)) < int(match.group(1)):
                raise InvalidArgument(f"range {range_text!r} is not valid; use bytes=START-END")
            first, last = int(match.group(1)), int(match.group(2))
            wanted = ByteRange(first, last - first + 1)
        ready = task.is_complete() if not range_text else range_ready(task, wanted)
        if not ready:
            raise FailedPrecondition(
                f"task {task_id[:12]} does not hold those bytes yet; download them first"
            )
        task.touch()
        count = min(wanted.length, task.content_length - wanted.start)
        try:
            content = await asyncio.to_thread(task.path.open, "rb")
        except FileNotFoundError:  # removed (garbage collected) since it was looked up
            raise NotFound(f"task {task_id} is not on this daemon") from None
        with content:
            writer.write(
                f"{status_line(206 if range_text else 200)}"
                f"Content-Type: application/octet-stream\r\nContent-Length: {count}\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
            )
            if count > 0:  # asyncio's sendfile takes no count of 0
                await asyncio.get_running_loop().sendfile(
                    writer.transport, content, wanted.start, count
                )

    def _task(self, task_id: str) -> LocalTask:
        if not is_task_id(task_id):
            raise InvalidArgument("a task id is 64 lowercase hex digits")
        task = self.store.get(task_id)
        if task is None:
            raise NotFound(f"task {task_id} is not on this daemon")
        return task

    def _stat(self, task_id: str) -> dict[str, Any]:
        task = self._task(task_id)
        return {
            "task_id": task.id,
            "state": task.state.value,
            "content_length": task.content_length,
            "piece_count": task.piece_count,
            "finished_pieces": len(task.pieces),
        }
