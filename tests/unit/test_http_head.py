"""HTTP/1.1 heads as the piece server, the local API and the raw clients read them."""

from __future__ import annotations

import pytest

from damselfly.common.http_head import (
    MalformedHead,
    parse_request_head,
    parse_response_head,
    reason_phrase,
    status_line,
)


def test_response_head() -> None:
    head = b"HTTP/1.1 206 Partial Content\r\nContent-Length: 7\r\nX-Odd:  a:b \r\nnoise"
    assert parse_response_head(head) == (206, {"content-length": "7", "x-odd": "a:b"})


def test_request_head() -> None:
    head = b"GET /pieces/x/1?y=2 HTTP/1.1\r\nConnection: close"
    assert parse_request_head(head) == ("GET", "/pieces/x/1?y=2", {"connection": "close"})


@pytest.mark.parametrize("head", [b"", b"HTTP/1.1", b"HTTP/1.1 OK fine"])
def test_malformed_status_line(head: bytes) -> None:
    with pytest.raises(MalformedHead, match="status line"):
        parse_response_head(head)


@pytest.mark.parametrize("head", [b"GET /", b"GET / SPDY/3", b"GET  / HTTP/1.1"])
def test_malformed_request_line(head: bytes) -> None:
    with pytest.raises(MalformedHead, match="request line"):
        parse_request_head(head)


def test_status_line_names_the_status_and_leaves_unknown_ones_unnamed() -> None:
    assert status_line(404) == "HTTP/1.1 404 Not Found\r\n"
    assert status_line(206) == "HTTP/1.1 206 Partial Content\r\n"
    assert reason_phrase(599) == ""
