"""HTTP(S) origin client: one aiohttp session per daemon, errors in our hierarchy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from damselfly.core.errors import InvalidArgument, OriginError, OriginUnreachable

SUPPORTED_SCHEMES = ("http", "https")
_CHUNK = 1 << 20


def display_url(url: str) -> str:
    """The URL without query or credentials, safe for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in SUPPORTED_SCHEMES:
        shown = parts.scheme or "(none)"
        raise InvalidArgument(f"URL scheme {shown!r} is not supported; use http:// or https://")
    if not parts.hostname:
        raise InvalidArgument(f"URL {url!r} has no host")


@dataclass
class OriginResponse:
    status: int
    content_length: int
    """-1 when the origin did not say (chunked)."""
    range_start: int
    response: aiohttp.ClientResponse

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.content.iter_chunked(_CHUNK):
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise OriginUnreachable(
                f"origin connection broke while reading {display_url(str(self.response.url))}: "
                f"{exc.__class__.__name__}"
            ) from None

    def close(self) -> None:
        self.response.release()


class HttpSource:
    def __init__(self, connect_timeout_s: float = 10.0, read_timeout_s: float = 60.0) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, auto_decompress=False, trust_env=True
            )
        return self._session

    async def open(
        self, url: str, headers: Mapping[str, str], start: int = 0, end: int | None = None
    ) -> OriginResponse:
        """GET ``url``; with ``start``/``end`` (inclusive) asks for a byte range."""
        check_url(url)
        request_headers = dict(headers)
        if start or end is not None:
            request_headers["Range"] = f"bytes={start}-{'' if end is None else end}"
        shown = display_url(url)
        try:
            response = await self._client().get(url, headers=request_headers)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise OriginUnreachable(
                f"cannot reach the origin for {shown} ({exc.__class__.__name__}); "
                "check the URL and the network"
            ) from None
        if response.status >= 400:
            reason = response.reason or ""
            response.release()
            raise OriginError(
                f"origin answered {response.status} {reason} for {shown}".replace("  ", " "),
                response.status,
            )
        length = response.content_length
        range_start = 0
        if response.status == 206:
            range_start = start
        return OriginResponse(
            response.status, -1 if length is None else length, range_start, response
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
