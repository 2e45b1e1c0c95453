"""dfget: download a URL through the local dfdaemon (or an embedded peer when none runs).

Exit code 0 only for a complete, verified output file; otherwise one sentence on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from damselfly import __version__
from damselfly.cli.dfget_env import defaults_from_env

# Types for mypy only: importing typing costs a CLI's start about 2 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
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
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("url", help="source URL (http or https)")
    parser.add_argument("-O", "--output", required=True, help="output file path")
    parser.add_argument(
        "--digest",
        default="",
        help="verify the file: sha256:<hex> (or sha512, sha1, md5; crc32:<decimal>)",
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
        "--transfer-from-dfdaemon",
        action="store_true",
        help="receive the bytes through the daemon's socket and write the output here "
        "(dfget in a container that cannot see the daemon's files)",
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
    parser.set_defaults(**defaults_from_env(parser))
    return parser


def make_request(args: argparse.Namespace) -> dict[str, Any]:
    """The download request in the local API's JSON form (``api/download_json.py``): the
    daemon checks it like any client's, and dfget starts without importing the models."""
    headers = dict(parse_header(h) for h in args.header)
    range_text = args.range
    for name in [n for n in headers if n.lower() == "range"]:
        range_text = range_text or headers[name]
        del headers[name]
    byte_range = None
    if range_text:
        start, length = parse_range(range_text)
        byte_range = {"start": start, "length": length}
    return {
        "url": args.url,
        "output_path": os.path.abspath(os.path.expanduser(args.output)),
        "digest": args.digest,
        "tag": args.tag,
        "application": args.application,
        "filtered_query_params": args.filtered_query_param,
        "headers": headers,
        "piece_length": parse_size(args.piece_length) if args.piece_length else None,
        "priority": args.priority,
        "disable_back_to_source": args.disable_back_to_source,
        "timeout_s": parse_duration(args.timeout),
        "rate_limit": parse_size(args.rate_limit) if args.rate_limit else 0,
        "range": byte_range,
        "overwrite": args.overwrite,
        "force_hard_link": args.force_hard_link,
        "content_for_calculating_task_id": args.content_for_calculating_task_id,
    }


def _from_daemon(request: dict[str, Any], socket_path: str) -> Iterator[dict[str, Any]]:
    from damselfly.cli import daemon_client

    return daemon_client.download(request, socket_path)


def _embedded(request: dict[str, Any], data_dir: str, verbose: bool) -> Iterator[dict[str, Any]]:
    """The embedded peer's events, in the local API's shape; its event loop runs while
    dfget waits for the next event. It logs on stderr only with ``verbose``."""
    import asyncio
    import logging

    from damselfly.common.logs import setup_logging

    if verbose:
        setup_logging("INFO", "dfget")
    else:
        logging.getLogger().addHandler(logging.NullHandler())
        logging.getLogger().setLevel(logging.CRITICAL)

    from pathlib import Path

    from damselfly.api.download_json import download_from_json
    from damselfly.daemon.download.task_manager import Started
    from damselfly.daemon.embedded import embedded_download
    from damselfly.daemon.local_api import event_to_json

    loop = asyncio.new_event_loop()
    events = embedded_download(download_from_json(request), Path(data_dir))
    task_id = ""
    try:
        while True:
            try:
                event = loop.run_until_complete(anext(events))
            except StopAsyncIteration:
                return
            if isinstance(event, Started):
                task_id = event.task_id
            yield event_to_json(event, task_id)
    finally:
        loop.run_until_complete(events.aclose())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


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


def run(args: argparse.Namespace) -> dict[str, Any]:
    import time

    from damselfly.cli.progress import ProgressView

    request = make_request(args)
    began = time.monotonic()
    output = request["output_path"]
    transfer = False
    if _daemon_available(args.daemon_sock):
        transfer = args.transfer_from_dfdaemon
        if transfer:
            check_transfer_output(output, args)
            request["output_path"] = ""  # the daemon writes nothing; dfget writes it
        events = _from_daemon(request, args.daemon_sock)
        mode = "daemon"
    else:
        data_dir = args.embedded_dir or os.path.expanduser("~/.cache/damselfly/dfget")
        events = _embedded(request, data_dir, args.verbose)
        mode = "embedded"
    show = not args.no_progress and not args.json and sys.stderr.isatty()
    result: dict[str, Any] = {}
    with ProgressView(show, os.path.basename(output)) as view:
        for event in events:
            if "started" in event:
                view.start(event["started"]["content_length"])
            elif "progress" in event:
                progress = event["progress"]
                view.update(progress["completed_bytes"], progress["content_length"])
            elif "finished" in event:
                done = event["finished"]
                view.update(done["content_length"], done["content_length"])
                if transfer:
                    write_transferred(args.daemon_sock, done["task_id"], request, output)
                result = {
                    "ok": True,
                    "task_id": done["task_id"],
                    "output": output,
                    "content_length": done["content_length"],
                    "seconds": round(time.monotonic() - began, 3),
                    "mode": mode,
                    "traffic": done["traffic"],
                }
    return result


def check_transfer_output(output: str, args: argparse.Namespace) -> None:
    """What the daemon checks of an output it writes, checked here when dfget writes it."""
    if args.force_hard_link:
        raise UsageError(
            "--transfer-from-dfdaemon writes a copy, never a hard link; drop --force-hard-link"
        )
    from pathlib import Path

    from damselfly.common.outputs import check_output_path

    check_output_path(Path(output), overwrite=args.overwrite)


def write_transferred(socket_path: str, task_id: str, request: dict[str, Any], output: str) -> None:
    """The task's bytes, from the daemon's socket, into ``output``: written under a
    temporary name in its folder and renamed once complete and synced."""
    import contextlib
    import tempfile

    from damselfly.cli import daemon_client

    wanted = request["range"]
    byte_range = None if wanted is None else (wanted["start"], wanted["length"])
    fd, temporary = tempfile.mkstemp(prefix=".dfget-", dir=os.path.dirname(output))
    try:
        with os.fdopen(fd, "wb") as out:
            daemon_client.content(task_id, socket_path, byte_range, out)
            out.flush()
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(out.fileno(), 0o666 & ~mask)
            os.fsync(out.fileno())
        os.replace(temporary, output)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
        raise


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from damselfly.core.errors import DamselflyError

    try:
        result = run(args)
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
