"""HTTP/1.1 message heads, parsed and started once for every small client and server
here (pure)."""

from __future__ import annotations

from http import HTTPStatus


class MalformedHead(ValueError):
    """The status or request line is not HTTP/1.x; the message says which."""


def _fields(lines: list[str]) -> dict[str, str]:
    """Header fields, names lower-cased; lines without a colon are skipped."""
    fields: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return fields


def parse_response_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status and fields of a response head (without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise MalformedHead("malformed status line")
    return int(parts[1]), _fields(lines[1:])


def parse_request_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """Method, target and fields of a request head (without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise MalformedHead("malformed request line")
    return parts[0], parts[1], _fields(lines[1:])


def reason_phrase(status: int) -> str:
    """``Not Found`` for 404; empty for a status HTTP does not name."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def status_line(status: int) -> str:
    """``HTTP/1.1 404 Not Found`` and its line end."""
    return f"HTTP/1.1 {status} {reason_phrase(status)}\r\n"
