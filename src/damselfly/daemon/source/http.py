"""HTTP(S) origin client: one aiohttp session per daemon, errors in our hierarchy.

5xx and 429 answers are retried with exponential backoff; 4xx are reported with the
origin's status. Messages never show a URL's query or credentials.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from damselfly.core.errors import InvalidArgument, OriginError, OriginUnreachable

SUPPORTED_SCHEMES = ("http", "https")
_CHUNK = 1 << 20
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_RETRYABLE = {429, 500, 502, 503, 504}


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
    """Bytes in this response; -1 when the origin did not say (chunked)."""
    range_start: int
    """Offset of the first byte of this response in the content."""
    total_length: int
    """Length of the whole content; -1 when unknown."""
    response: aiohttp.ClientResponse

    @property
    def ranged(self) -> bool:
        return self.status == 206

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.content.iter_chunked(_CHUNK):
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OriginUnreachable(
                f"origin connection broke while reading {display_url(str(self.response.url))}: "
                f"{exc.__class__.__name__}"
            ) from None

    def close(self) -> None:
        self.response.close()


class HttpSource:
    def __init__(
        self,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s
        )
        self.retries, self.backoff_s = retries, backoff_s
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
        """GET ``url`` asking for bytes ``start..end`` (inclusive; ``end`` None: to the end).

        ``start=0, end=None`` still sends ``Range: bytes=0-`` so one request tells both
        the length and whether the origin serves ranges; an origin without Range support
        answers 200 with the whole content.
        """
        check_url(url)
        request_headers = {k: v for k, v in headers.items() if k.lower() != "range"}
        request_headers["Range"] = f"bytes={start}-{'' if end is None else end}"
        shown = display_url(url)
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                response = await self._client().get(url, headers=request_headers)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise OriginUnreachable(
                    f"cannot reach the origin for {shown} ({exc.__class__.__name__}); "
                    "check the URL and the network"
                ) from None
            if response.status in _RETRYABLE and attempt < self.retries:
                response.release()
                await asyncio.sleep(delay)
                delay *= 2
                continue
            if response.status == 416 and start == 0 and end is None:
                # An empty content has no byte 0 to range over: ask for it plainly.
                response.release()
                request_headers.pop("Range")
                continue
            if response.status == 416:
                response.release()
                raise OriginError(f"origin has no bytes from {start} on for {shown}", 416)
            if response.status >= 400:
                reason = response.reason or ""
                response.release()
                raise OriginError(
                    f"origin answered {response.status} {reason} for {shown}".replace("  ", " "),
                    response.status,
                )
            return _describe(response, shown)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _describe(response: aiohttp.ClientResponse, shown: str) -> OriginResponse:
    length = response.content_length
    content_length = -1 if length is None else length
    if response.status != 206:
        return OriginResponse(response.status, content_length, 0, content_length, response)
    match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
    if match is None:
        response.close()
        raise OriginError(f"origin sent a partial answer without a valid Content-Range for {shown}")
    first, last = int(match.group(1)), int(match.group(2))
    total = -1 if match.group(3) == "*" else int(match.group(3))
    return OriginResponse(206, last - first + 1, first, total, response)
