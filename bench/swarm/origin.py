"""The origin HTTP server of the benchmark: serves ``/files/<name>`` (with ``Range``)
from a folder on a chosen address and counts the body bytes it sends.
``GET /_stats`` returns ``{"bytes_sent": N, "requests": M}``.

``python -m bench.swarm.origin --dir D --host IP --port 0 --ready-file F``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path

from aiohttp import web

_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
CHUNK = 1 << 20


class Origin:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bytes_sent = 0
        self.requests = 0

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"bytes_sent": self.bytes_sent, "requests": self.requests})

    async def serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = self.root / name
        if not _NAME_RE.match(name) or not path.is_file():
            raise web.HTTPNotFound()
        self.requests += 1
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        header = request.headers.get("Range")
        if header:
            match = _RANGE_RE.match(header)
            if match is None or int(match.group(1)) >= size:
                raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"*/{size}"})
            start = int(match.group(1))
            end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            status = 206
        response = web.StreamResponse(status=status)
        response.content_length = end - start + 1
        response.headers["Accept-Ranges"] = "bytes"
        if status == 206:
            response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        await response.prepare(request)
        with open(path, "rb") as file:  # noqa: ASYNC230 (page-cached reads, a bench fixture)
            file.seek(start)
            remaining = end - start + 1
            while remaining:
                chunk = file.read(min(remaining, CHUNK))
                if not chunk:
                    break
                await response.write(chunk)
                self.bytes_sent += len(chunk)
                remaining -= len(chunk)
        await response.write_eof()
        return response


async def serve(root: Path, host: str, port: int, ready_file: str) -> None:
    origin = Origin(root)
    app = web.Application()
    app.router.add_get("/_stats", origin.stats)
    app.router.add_get("/files/{name}", origin.serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    if ready_file:
        Path(ready_file).write_text(json.dumps({"address": f"{host}:{bound}"}))
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", default="")
    args = parser.parse_args(argv)
    asyncio.run(serve(Path(args.dir), args.host, args.port, args.ready_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
