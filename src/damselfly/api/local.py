"""The daemon's local API on its unix socket: HTTP/1.1 and JSON, for the CLIs (pure).

Why not gRPC here: a gRPC client costs a CLI about 0.13 s of CPU in imports alone (grpc,
protobuf, asyncio), the standard library's socket and json a tenth of that, and hosts
start many dfgets at once (a node pulling an image's layers, a job fanning out). Any
HTTP client can talk to it too: ``curl --unix-socket /var/run/damselfly/dfdaemon.sock``.

``POST /v1/download`` with a download request as the JSON body answers ``200`` with
``application/x-ndjson``, one event per line, the connection closing after the last:

- ``{"started": {"task_id", "content_length", "piece_length", "piece_count"}}``
- ``{"progress": {"completed_bytes", "completed_pieces", "content_length"}}``
- ``{"finished": {"task_id", "content_length", "output_path", "seconds", "traffic":
  {"back_to_source", "seed_peer", "remote_peer", "local"}}}``
- ``{"error": {"code", "message"}}``: the download failed; nothing follows.

``GET /v1/tasks/<task id>`` answers ``{"task_id", "state", "content_length",
"piece_count", "finished_pieces"}``. ``GET /v1/tasks/<task id>/content`` answers the
task's bytes once all are here (``Range: bytes=a-b``: those bytes, ``206``, once their
pieces are here; ``412`` before), for a client that cannot read the daemon's files. A
request refused before any event gets the error's HTTP status (``api/status.py``) and
``{"error": {"code", "message"}}`` as its body. The
download request's fields and their checks are in ``api/download_json.py``.
"""

from __future__ import annotations

from damselfly.core.errors import Code, DamselflyError, InternalError, error_for

# Types for mypy only: importing typing costs a CLI's start about 2 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DOWNLOAD_PATH = "/v1/download"
TASKS_PATH = "/v1/tasks/"
CONTENT_SUFFIX = "/content"
MAX_BODY = 1 << 20


def error_to_json(error: DamselflyError) -> dict[str, Any]:
    return {"error": {"code": error.code.value, "message": error.message}}


def error_from_json(body: object, fallback: str) -> DamselflyError:
    """The error a server sent (``{"error": {"code", "message"}}``); ``fallback`` names
    what failed when the body is not one."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code, message = body["error"].get("code"), body["error"].get("message")
        if isinstance(message, str) and code in {c.value for c in Code}:
            return error_for(Code(code), message)
    return InternalError(fallback)
