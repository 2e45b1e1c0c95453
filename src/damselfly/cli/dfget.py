"""dfget: download a URL through the local dfdaemon (or an embedded peer when none runs).

Exit code 0 only for a complete, verified output file; otherwise one sentence on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

DEFAULT_SOCKET = "/var/run/damselfly/dfdaemon.sock"
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class UsageError(Exception):
    pass


def parse_duration(text: str) -> float:
    match = _DURATION_RE.match(text.strip())
    if match is None:
        raise UsageError(f"timeout {text!r} is not a duration; use e.g. 90s, 30m or 2h")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_size(text: str) -> int:
    from damselfly.core.errors import InvalidArgument
    from damselfly.core.units import parse_size as parse

    try:
        return parse(text)
    except InvalidArgument as exc:
        raise UsageError(str(exc)) from None


_RANGE_RE = re.compile(r"^(?:bytes=)?(\d+)-(\d+)$")


def parse_range(text: str) -> tuple[int, int]:
    """``a-b`` or ``bytes=a-b`` (inclusive) -> (start, length)."""
    match = _RANGE_RE.match(text.strip())
    if match is None or int(match.group(2)) < int(match.group(1)):
        raise UsageError(f"range {text!r} is not valid; use START-END in bytes, e.g. 0-1023")
    start = int(match.group(1))
    return start, int(match.group(2)) - start + 1


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise UsageError(f"header {text!r} is not valid; use -H 'Name: value'")
    return name.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfget", description="Download a URL through the Damselfly P2P network."
    )
    parser.add_argument("url", help="source URL (http or https)")
    parser.add_argument("-O", "--output", required=True, help="output file path")
    parser.add_argument(
        "--digest", default="", help="verify the file: sha256:<hex> (or sha512, sha1, md5)"
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        help="request header for the origin, 'Name: value' (repeatable)",
    )
    parser.add_argument("--tag", default="", help="tag that is part of the task id")
    parser.add_argument("--application", default="", help="application that is part of the task id")
    parser.add_argument(
        "--filtered-query-param",
        action="append",
        default=None,
        help="query parameter left out of the task id (repeatable; "
        "default: the common signing parameters)",
    )
    parser.add_argument(
        "--piece-length",
        help="piece length, a power of two from 4MiB to 64MiB (changes the task id)",
    )
    parser.add_argument(
        "-p",
        "--priority",
        type=int,
        default=6,
        choices=range(7),
        metavar="0-6",
        help="scheduling priority (default 6)",
    )
    parser.add_argument(
        "--disable-back-to-source",
        "--disable-back-source",
        dest="disable_back_to_source",
        action="store_true",
        help="fail instead of fetching from the origin",
    )
    parser.add_argument(
        "--range",
        help="download only bytes START-END (inclusive), e.g. 0-1023; "
        "a 'Range: bytes=START-END' header does the same",
    )
    parser.add_argument("--rate-limit", help="most bytes per second for this download, e.g. 50MiB")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the output file if it exists"
    )
    parser.add_argument(
        "--force-hard-link",
        action="store_true",
        help="fail unless the output can be a hard link to the daemon's cache",
    )
    parser.add_argument(
        "--content-for-calculating-task-id",
        default="",
        help="compute the task id from this string instead of the URL",
    )
    parser.add_argument(
        "--timeout", default="2h", help="whole-download timeout, e.g. 90s, 30m, 2h (default 2h)"
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what the embedded peer does on stderr"
    )
    parser.add_argument(
        "--daemon-sock",
        default=os.environ.get("DFGET_DAEMON_SOCK", DEFAULT_SOCKET),
        help=f"dfdaemon unix socket (default {DEFAULT_SOCKET}, env DFGET_DAEMON_SOCK)",
    )
    parser.add_argument(
        "--embedded-dir",
        default=os.environ.get("DFGET_EMBEDDED_DIR", ""),
        help="storage for the embedded peer used when no daemon runs "
        "(default: a cache folder in your home)",
    )
    return parser


def make_request(args: argparse.Namespace) -> Any:
    from damselfly.core.models import ByteRange, DownloadRequest, Priority

    headers = dict(parse_header(h) for h in args.header)
    range_text = args.range
    for name in [n for n in headers if n.lower() == "range"]:
        range_text = range_text or headers[name]
        del headers[name]
    byte_range = ByteRange(*parse_range(range_text)) if range_text else None
    return DownloadRequest(
        url=args.url,
        output_path=str(Path(args.output).expanduser().absolute()),
        digest=args.digest,
        tag=args.tag,
        application=args.application,
        filtered_query_params=args.filtered_query_param,
        headers=headers,
        piece_length=parse_size(args.piece_length) if args.piece_length else None,
        priority=Priority(args.priority),
        disable_back_to_source=args.disable_back_to_source,
        timeout_s=parse_duration(args.timeout),
        rate_limit=parse_size(args.rate_limit) if args.rate_limit else 0,
        range=byte_range,
        overwrite=args.overwrite,
        force_hard_link=args.force_hard_link,
        content_for_calculating_task_id=args.content_for_calculating_task_id,
    )


async def _from_daemon(request: Any, socket_path: str) -> AsyncIterator[dict[str, Any]]:
    import grpc

    from damselfly.api import convert
    from damselfly.api.gen.dfdaemon.v1 import dfdaemon_pb2, dfdaemon_pb2_grpc
    from damselfly.api.status import decode_rpc_error

    async with grpc.aio.insecure_channel(f"unix:{socket_path}") as chan:
        stub = dfdaemon_pb2_grpc.DfdaemonDownloadStub(chan)
        call = stub.DownloadTask(
            dfdaemon_pb2.DownloadTaskRequest(download=convert.download_to_pb(request))
        )
        try:
            async for message in call:
                kind = message.WhichOneof("response")
                if kind == "started":
                    yield {
                        "kind": "started",
                        "content_length": message.started.content_length,
                        "task_id": message.task_id,
                    }
                elif kind == "progress":
                    yield {
                        "kind": "progress",
                        "bytes": message.progress.completed_bytes,
                        "content_length": message.progress.content_length,
                    }
                elif kind == "finished":
                    done = message.finished
                    traffic = convert.traffic_from_pb(done.traffic)
                    yield {
                        "kind": "finished",
                        "content_length": done.content_length,
                        "traffic": traffic,
                        "task_id": message.task_id,
                    }
        except grpc.aio.AioRpcError as exc:
            raise decode_rpc_error(exc, "the dfdaemon") from None


async def _embedded(request: Any, data_dir: Path) -> AsyncIterator[dict[str, Any]]:
    from damselfly.daemon.download.task_manager import Finished, Progress, Started
    from damselfly.daemon.embedded import embedded_download

    task_id = ""
    async for event in embedded_download(request, data_dir):
        if isinstance(event, Started):
            task_id = event.task_id
            yield {"kind": "started", "content_length": event.content_length, "task_id": task_id}
        elif isinstance(event, Progress):
            yield {
                "kind": "progress",
                "bytes": event.completed_bytes,
                "content_length": event.content_length,
            }
        elif isinstance(event, Finished):
            yield {
                "kind": "finished",
                "content_length": event.content_length,
                "traffic": event.traffic,
                "task_id": task_id,
            }


def _daemon_available(socket_path: str) -> bool:
    import socket

    if not os.path.exists(socket_path):
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(socket_path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import time

    from damselfly.cli.progress import ProgressView

    request = make_request(args)
    began = time.monotonic()
    if _daemon_available(args.daemon_sock):
        events = _from_daemon(request, args.daemon_sock)
        mode = "daemon"
    else:
        data_dir = Path(args.embedded_dir or Path.home() / ".cache" / "damselfly" / "dfget")
        events = _embedded(request, data_dir)
        mode = "embedded"
    show = not args.no_progress and not args.json and sys.stderr.isatty()
    result: dict[str, Any] = {}
    with ProgressView(show, Path(request.output_path).name) as view:
        async for event in events:
            if event["kind"] == "started":
                view.start(event["content_length"])
            elif event["kind"] == "progress":
                view.update(event["bytes"], event["content_length"])
            else:
                view.update(event["content_length"], event["content_length"])
                traffic = event["traffic"]
                result = {
                    "ok": True,
                    "task_id": event["task_id"],
                    "output": request.output_path,
                    "content_length": event["content_length"],
                    "seconds": round(time.monotonic() - began, 3),
                    "mode": mode,
                    "traffic": {
                        "back_to_source": traffic.back_to_source,
                        "seed_peer": traffic.seed_peer,
                        "remote_peer": traffic.remote_peer,
                        "local": traffic.local,
                    },
                }
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import logging

    from damselfly.core.errors import DamselflyError

    if args.verbose:
        from damselfly.common.logs import setup_logging

        setup_logging("INFO", "dfget")
    else:
        logging.getLogger().addHandler(logging.NullHandler())
        logging.getLogger().setLevel(logging.CRITICAL)

    try:
        result = asyncio.run(run(args))
    except (DamselflyError, UsageError) as exc:
        message = str(exc)
        if args.json:
            print(json.dumps({"ok": False, "error": message}))
        print(f"dfget: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dfget: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
