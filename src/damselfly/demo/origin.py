"""A test origin: serves files from a folder with Range support and counts bytes sent.

``python -m damselfly.demo.origin --dir D [--host IP] --port 0 --ready-file F``; the
ready file names ``port`` and ``address``; ``GET /_stats``
returns ``{"bytes_sent": N, "requests": M}``. Used by the demo, tests and benchmarks.

Paths choose how the origin behaves, to exercise real origins' quirks:
``/files/<name>`` (Range, Content-Length), ``/norange/<name>`` (ignores Range),
``/private/<name>`` (403 unless the request carries ``X-Token: secret``),
``/chunked/<name>`` (chunked encoding, no length, no Range), ``/redirect/<name>``
(302 to ``/files/<name>``), ``/flaky/<name>`` (503 to the first two requests of each
name, then normal), ``/capped/<name>`` (answers a range not starting at byte 0 with
its first half only, as origins that cap the size of a range do), ``/unsized/<name>``
(ranges answered as ``bytes a-b/*``, the length left unsaid). ``?rate=<bytes per
second>`` throttles any of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path

from aiohttp import web


def loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def loop_time() -> float:
    return loop().time()


_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")


class Origin:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bytes_sent = 0
        self.requests = 0
        self.last_headers: list[tuple[str, str]] = []
        """The header lines of the last file request, in order, repeats included."""
        self.app = web.Application()
        self.app.router.add_get("/_stats", self.stats)
        modes = "files|norange|chunked|flaky|private|capped|unsized"
        self.app.router.add_get(f"/{{mode:{modes}}}/{{name}}", self.serve)
        self.app.router.add_get("/redirect/{name}", self.redirect)
        self._flaky: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"bytes_sent": self.bytes_sent, "requests": self.requests})

    async def redirect(self, request: web.Request) -> web.StreamResponse:
        target = f"/files/{request.match_info['name']}"
        if request.query_string:
            target += f"?{request.query_string}"
        raise web.HTTPFound(target)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        mode, name = request.match_info["mode"], request.match_info["name"]
        path = self.root / name
        if not _NAME_RE.match(name) or not path.is_file():
            raise web.HTTPNotFound()
        self.requests += 1
        self.last_headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers
        ]
        if mode == "private" and request.headers.get("X-Token") != "secret":
            raise web.HTTPForbidden()
        if mode == "flaky":
            self._flaky[name] = self._flaky.get(name, 0) + 1
            if self._flaky[name] <= 2:
                raise web.HTTPServiceUnavailable()
        rate = float(request.query.get("rate", "0"))
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        ranged = mode in ("files", "flaky", "private", "capped", "unsized")
        header = request.headers.get("Range") if ranged else None
        if header:
            match = _RANGE_RE.match(header)
            if match is None or int(match.group(1)) >= size:
                raise web.HTTPRequestRangeNotSatisfiable()
            start = int(match.group(1))
            end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            if mode == "capped" and start > 0:
                end = start + max(1, (end - start + 1) // 2) - 1
            status = 206
        response = web.StreamResponse(status=status)
        if mode == "chunked":
            response.enable_chunked_encoding()
        else:
            response.content_length = end - start + 1
        if ranged:
            response.headers["Accept-Ranges"] = "bytes"
        if status == 206:
            total = "*" if mode == "unsized" else str(size)
            response.headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        await response.prepare(request)
        if mode == "files" and rate <= 0 and request.transport is not None:
            # Zero copy, as a real web server sends files (a body cut short is not counted).
            with open(path, "rb") as file:
                await loop().sendfile(request.transport, file, start, end - start + 1)
            self.bytes_sent += end - start + 1
            await response.write_eof()
            return response
        step = 1 << 20 if rate <= 0 else max(1, min(1 << 20, int(rate / 20)))
        began = loop_time()
        with open(path, "rb") as file:
            file.seek(start)
            remaining = end - start + 1
            while remaining:
                chunk = file.read(min(remaining, step))
                if not chunk:
                    break
                await response.write(chunk)
                self.bytes_sent += len(chunk)
                remaining -= len(chunk)
                if rate > 0:
                    # Throttle: send no faster than ``rate`` since the first byte.
                    sent = end - start + 1 - remaining
                    ahead = sent / rate - (loop_time() - began)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
        await response.write_eof()
        return response

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def _serve(root: Path, host: str, port: int, ready_file: str) -> None:
    origin = Origin(root)
    await origin.start(host, port)
    if ready_file:
        address = f"{host}:{origin.port}"
        Path(ready_file).write_text(json.dumps({"port": origin.port, "address": address}))
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", default="")
    args = parser.parse_args()
    asyncio.run(_serve(Path(args.dir), args.host, args.port, args.ready_file))


if __name__ == "__main__":
    main()
