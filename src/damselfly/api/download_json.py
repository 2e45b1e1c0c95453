"""The download request and the traffic totals in the local API's JSON form (pure).

Apart from ``api/local.py`` so that a CLI talking to the daemon sends the JSON form
without importing the models (dataclasses cost dfget about 8 ms of its start).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from damselfly.core.errors import InvalidArgument
from damselfly.core.models import ByteRange, DownloadRequest, Priority, TrafficTotals


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"field {name!r} of the download request must be a string")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"field {name!r} of the download request must be true or false")
    return value


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"field {name!r} of the download request must be an integer >= 0")
    return value


def _seconds(name: str, value: object) -> float:
    # NaN compares false with everything: it would pass "< 0" and poison the timers.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise InvalidArgument(
            f"field {name!r} of the download request must be a finite number >= 0"
        )
    return float(value)


def _texts(name: str, value: object) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"field {name!r} of the download request must be a list of strings")
    return list(value)


def _headers(name: str, value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidArgument(f"field {name!r} of the download request must map strings to strings")
    return dict(value)


def _piece_length(name: str, value: object) -> int | None:
    return None if value is None else _count(name, value)


def _priority(name: str, value: object) -> Priority:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
        raise InvalidArgument(f"field {name!r} of the download request must be 0 to 6")
    return Priority(value)


def _range(name: str, value: object) -> ByteRange | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"start", "length"}:
        raise InvalidArgument(f"field {name!r} must be null or {{'start': .., 'length': ..}}")
    return ByteRange(_count("range.start", value["start"]), _count("range.length", value["length"]))


_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "url": _text,
    "output_path": _text,
    "digest": _text,
    "tag": _text,
    "application": _text,
    "filtered_query_params": _texts,
    "headers": _headers,
    "piece_length": _piece_length,
    "priority": _priority,
    "disable_back_to_source": _flag,
    "timeout_s": _seconds,
    "rate_limit": _count,
    "range": _range,
    "overwrite": _flag,
    "force_hard_link": _flag,
    "content_for_calculating_task_id": _text,
}


def download_to_json(request: DownloadRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {name: getattr(request, name) for name in _FIELDS}
    fields["priority"] = int(request.priority)
    if request.range is not None:
        fields["range"] = {"start": request.range.start, "length": request.range.length}
    return fields


def download_from_json(body: object) -> DownloadRequest:
    """A download request from a decoded JSON body; raises InvalidArgument naming the
    first field that is wrong."""
    if not isinstance(body, dict):
        raise InvalidArgument("the download request must be a JSON object")
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise InvalidArgument(f"unknown field {unknown[0]!r} in the download request")
    if "url" not in body:
        raise InvalidArgument("the download request needs a 'url'")
    values = {name: _FIELDS[name](name, value) for name, value in body.items()}
    return DownloadRequest(**values)


def traffic_to_json(traffic: TrafficTotals) -> dict[str, int]:
    return {
        "back_to_source": traffic.back_to_source,
        "seed_peer": traffic.seed_peer,
        "remote_peer": traffic.remote_peer,
        "local": traffic.local,
    }
