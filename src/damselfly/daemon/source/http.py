"""HTTP(S) origin client; errors in our hierarchy.

Plain ``http://`` goes through our thin client (``raw_http``: bytes land straight in the
piece buffer); ``https://`` and proxied requests through aiohttp. 5xx and 429 answers are
retried with exponential backoff; 4xx are reported with the origin's status. Messages
never show a URL's query or credentials.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp

from damselfly.common.http_head import reason_phrase
from damselfly.core.errors import InvalidArgument, OriginError, OriginUnreachable
from damselfly.daemon.source.raw_http import raw_get

SUPPORTED_SCHEMES = ("http", "https")
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_RETRYABLE = {429, 500, 502, 503, 504}
_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_REDIRECTS = 5


_UNSAFE_URL_RE = re.compile(r"[\x00-\x20\x7f]")
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UNSAFE_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def display_url(url: str) -> str:
    """The URL without query or credentials, safe for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_url(url: str) -> None:
    if _UNSAFE_URL_RE.search(url):
        raise InvalidArgument(
            f"URL {url!r} holds a space or a control character; percent-encode it (%20)"
        )
    parts = urlsplit(url)
    if parts.scheme not in SUPPORTED_SCHEMES:
        shown = parts.scheme or "(none)"
        raise InvalidArgument(f"URL scheme {shown!r} is not supported; use http:// or https://")
    if not parts.hostname:
        raise InvalidArgument(f"URL {url!r} has no host")


def check_headers(headers: Mapping[str, str]) -> None:
    """Each origin header must be one well-formed HTTP line: a token for its name, and no
    line break (which would start another header) or character HTTP cannot carry."""
    for name, value in headers.items():
        if not _TOKEN_RE.fullmatch(name):
            raise InvalidArgument(
                f"header name {name!r} is not valid; use letters, digits and '-' only"
            )
        if _UNSAFE_VALUE_RE.search(value) or not _latin1(value):
            raise InvalidArgument(
                f"header {name} has a line break or a character HTTP cannot carry in its "
                "value; give one line per header"
            )


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class Body(Protocol):
    async def readinto(self, view: memoryview) -> int: ...

    def close(self) -> None: ...


class _AiohttpBody:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def readinto(self, view: memoryview) -> int:
        data = await self.response.content.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.response.close()


@dataclass
class OriginResponse:
    status: int
    content_length: int
    """Bytes in this response; -1 when the origin did not say (chunked)."""
    range_start: int
    """Offset of the first byte of this response in the content."""
    total_length: int
    """Length of the whole content; -1 when unknown."""
    body: Body
    shown_url: str

    @property
    def ranged(self) -> bool:
        return self.status == 206

    async def readinto(self, view: memoryview) -> int:
        """Up to ``len(view)`` bytes of the body into ``view``; 0 at its end."""
        try:
            return await self.body.readinto(view)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise OriginUnreachable(
                f"origin connection broke while reading {self.shown_url}: "
                f"{exc.__class__.__name__}; retry the download"
            ) from None

    def close(self) -> None:
        self.body.close()


class HttpSource:
    def __init__(
        self,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self.connect_timeout_s = connect_timeout_s
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

    async def _request(
        self, url: str, headers: dict[str, str]
    ) -> tuple[int, Mapping[str, str], Body]:
        proxied = any(os.environ.get(v) for v in ("http_proxy", "HTTP_PROXY"))
        if urlsplit(url).scheme != "http" or proxied:
            response = await self._client().get(url, headers=headers)
            lowered = {k.lower(): v for k, v in response.headers.items()}
            if response.content_length is not None:
                lowered["content-length"] = str(response.content_length)
            return response.status, lowered, _AiohttpBody(response)
        for _ in range(_MAX_REDIRECTS + 1):
            answer = await raw_get(url, headers, self.connect_timeout_s)
            location = answer.headers.get("location")
            if answer.status not in _REDIRECTS or not location:
                return answer.status, answer.headers, answer
            answer.close()
            url = urljoin(url, location)
        raise OriginError(f"origin redirected more than {_MAX_REDIRECTS} times")

    async def open(
        self, url: str, headers: Mapping[str, str], start: int = 0, end: int | None = None
    ) -> OriginResponse:
        """GET ``url`` asking for bytes ``start..end`` (inclusive; ``end`` None: to the end).

        An origin without Range support answers 200 with the whole content.
        """
        check_url(url)
        request_headers = {k: v for k, v in headers.items() if k.lower() != "range"}
        request_headers["Range"] = f"bytes={start}-{'' if end is None else end}"
        if not any(k.lower() == "accept-encoding" for k in request_headers):
            # The bytes as the origin stores them: aiohttp would ask for gzip otherwise,
            # and a compressed answer would be stored as the content.
            request_headers["Accept-Encoding"] = "identity"
        shown = display_url(url)
        delay = self.backoff_s
        attempt = 0
        while True:
            try:
                status, fields, body = await self._request(url, request_headers)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise OriginUnreachable(
                    f"cannot reach the origin for {shown} ({exc.__class__.__name__}); "
                    "check the URL and the network"
                ) from None
            if status in _RETRYABLE and attempt < self.retries:
                body.close()
                attempt += 1
                await asyncio.sleep(delay)
                delay *= 2
                continue
            if status == 416 and start == 0 and "Range" in request_headers:
                # An empty content has no byte 0 to range over (S3 and RFC 9110 answer 416):
                # ask for it plainly.
                body.close()
                request_headers.pop("Range")
                continue
            if status >= 400:
                body.close()
                reason = reason_phrase(status)
                raise OriginError(
                    f"origin answered {status} {reason} for {shown}".replace("  ", " "), status
                )
            response = _describe(status, fields, body, shown)
            if response.ranged and response.range_start != start:
                response.close()
                raise OriginError(
                    f"origin answered bytes from {response.range_start} when asked for bytes "
                    f"from {start} of {shown}; it cannot be fetched in ranges"
                )
            return response

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _describe(status: int, fields: Mapping[str, str], body: Body, shown: str) -> OriginResponse:
    length_text = fields.get("content-length", "")
    chunked = "chunked" in fields.get("transfer-encoding", "").lower()
    content_length = int(length_text) if length_text.isdigit() and not chunked else -1
    if status != 206:
        return OriginResponse(status, content_length, 0, content_length, body, shown)
    match = _CONTENT_RANGE_RE.match(fields.get("content-range", ""))
    if match is None:
        body.close()
        raise OriginError(f"origin sent a partial answer without a valid Content-Range for {shown}")
    first, last = int(match.group(1)), int(match.group(2))
    total = -1 if match.group(3) == "*" else int(match.group(3))
    if last < first or 0 <= total <= last:
        body.close()
        raise OriginError(
            f"origin sent an impossible Content-Range ({fields['content-range']}) for {shown}"
        )
    return OriginResponse(206, last - first + 1, first, total, body, shown)
