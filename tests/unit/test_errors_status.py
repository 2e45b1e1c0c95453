"""The error hierarchy and its one table to gRPC and HTTP statuses."""

from __future__ import annotations

import grpc
import pytest

from damselfly.api.status import decode_rpc_error, encode_details, grpc_status, http_status
from damselfly.core.errors import (
    Code,
    DamselflyError,
    DeadlineExceeded,
    InternalError,
    OriginError,
    Unavailable,
    error_for,
)

ALL_CODES = list(Code)


def rpc_error(code: grpc.StatusCode, details: str | None) -> grpc.aio.AioRpcError:
    """A failed call as grpc.aio raises it; built directly, no channel involved."""
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details, debug_error_string=None
    )


@pytest.mark.parametrize("code", ALL_CODES)
def test_error_for_round_trips_every_code(code: Code) -> None:
    error = error_for(code, "what failed; what to do")
    assert isinstance(error, DamselflyError)
    assert error.code is code
    assert error.message == "what failed; what to do"
    assert str(error) == "what failed; what to do"


def test_every_code_has_its_own_error_class() -> None:
    classes = {type(error_for(code, "m")) for code in ALL_CODES}
    assert len(classes) == len(ALL_CODES)


def test_origin_error_keeps_status() -> None:
    assert OriginError("origin said 404", status=404).status == 404
    assert isinstance(error_for(Code.ORIGIN_ERROR, "m"), OriginError)


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_code_has_a_grpc_and_http_status(code: Code) -> None:
    error = error_for(code, "m")
    assert isinstance(grpc_status(error), grpc.StatusCode)
    assert grpc_status(error) is not grpc.StatusCode.OK
    assert 400 <= http_status(error) <= 599


# Codes named after a gRPC status map to that status.
SAME_NAME = [code for code in ALL_CODES if code.name in grpc.StatusCode.__members__]


@pytest.mark.parametrize("code", SAME_NAME)
def test_codes_named_like_grpc_statuses_map_to_them(code: Code) -> None:
    assert grpc_status(error_for(code, "m")) is grpc.StatusCode[code.name]


@pytest.mark.parametrize(
    ("code", "http"),
    [
        (Code.INVALID_ARGUMENT, 400),
        (Code.PERMISSION_DENIED, 403),
        (Code.NOT_FOUND, 404),
        (Code.ALREADY_EXISTS, 409),
        (Code.UNAVAILABLE, 503),
        (Code.INTERNAL, 500),
    ],
)
def test_http_statuses_of_plain_codes(code: Code, http: int) -> None:
    assert http_status(error_for(code, "m")) == http


@pytest.mark.parametrize("code", ALL_CODES)
@pytest.mark.parametrize("message", ["plain sentence", "with | a separator | or two", ""])
def test_encode_decode_round_trip(code: Code, message: str) -> None:
    sent = error_for(code, message)
    wire = rpc_error(grpc_status(sent), encode_details(sent))
    got = decode_rpc_error(wire, "scheduler 10.0.0.1:8002")
    assert type(got) is type(sent)
    assert got.code is code
    assert got.message == message


@pytest.mark.parametrize("details", [None, "", "connection refused", "bogus|not a code"])
def test_decode_foreign_unavailable(details: str | None) -> None:
    got = decode_rpc_error(rpc_error(grpc.StatusCode.UNAVAILABLE, details), "scheduler x:1")
    assert isinstance(got, Unavailable)
    assert "scheduler x:1" in got.message
    if details:
        assert details in got.message


def test_decode_foreign_deadline() -> None:
    got = decode_rpc_error(rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "slow"), "seed peer y")
    assert isinstance(got, DeadlineExceeded)
    assert "seed peer y" in got.message


@pytest.mark.parametrize(
    "status", [grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.INTERNAL]
)
def test_decode_other_foreign_errors_are_internal(status: grpc.StatusCode) -> None:
    got = decode_rpc_error(rpc_error(status, "boom"), "daemon z")
    assert isinstance(got, InternalError)
    assert "daemon z" in got.message
    assert status.name in got.message
    assert "boom" in got.message
