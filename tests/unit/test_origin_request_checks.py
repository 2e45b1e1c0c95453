"""What a download may send to an origin: a URL and headers that each make one
well-formed HTTP line (a line break would smuggle in another header or request)."""

from __future__ import annotations

import pytest

from damselfly.core.errors import InvalidArgument
from damselfly.daemon.source.http import check_headers, check_url


@pytest.mark.parametrize(
    "url",
    ["http://h/a b", "http://h/a\r\nX-Evil: 1", "http://h/a\tb", "http://h/\x00", "http://h/\x7f"],
)
def test_a_url_with_a_space_or_control_character_is_refused(url: str) -> None:
    with pytest.raises(InvalidArgument, match="percent-encode"):
        check_url(url)


def test_a_percent_encoded_url_passes() -> None:
    check_url("http://h/a%20b?q=%0D%0A")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-A": "a\r\nX-B: b"},
        {"X-A": "a\nb"},
        {"X-A": "a\x00"},
        {"X-A": "snow \u2603"},  # not latin-1: HTTP cannot carry it
    ],
)
def test_a_header_value_that_is_not_one_line_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidArgument, match="one line per header"):
        check_headers(headers)


@pytest.mark.parametrize("name", ["", "X A", "X:A", "X\r\nY", "Ä"])
def test_a_header_name_that_is_not_a_token_is_refused(name: str) -> None:
    with pytest.raises(InvalidArgument, match="header name"):
        check_headers({name: "v"})


def test_ordinary_headers_pass() -> None:
    check_headers({"Authorization": "Bearer a.b-c_d", "X-Tab": "a\tb", "X-Latin": "caf\u00e9"})
