"""One table from error codes to gRPC and HTTP statuses, and the crossings both ways."""

from __future__ import annotations

import grpc

from damselfly.core.errors import Code, DamselflyError, InternalError, error_for

_TABLE: dict[Code, tuple[grpc.StatusCode, int]] = {
    Code.INVALID_ARGUMENT: (grpc.StatusCode.INVALID_ARGUMENT, 400),
    Code.NOT_FOUND: (grpc.StatusCode.NOT_FOUND, 404),
    Code.ALREADY_EXISTS: (grpc.StatusCode.ALREADY_EXISTS, 409),
    Code.PERMISSION_DENIED: (grpc.StatusCode.PERMISSION_DENIED, 403),
    Code.FAILED_PRECONDITION: (grpc.StatusCode.FAILED_PRECONDITION, 412),
    Code.UNAVAILABLE: (grpc.StatusCode.UNAVAILABLE, 503),
    Code.DEADLINE_EXCEEDED: (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    Code.DIGEST_MISMATCH: (grpc.StatusCode.DATA_LOSS, 422),
    Code.ORIGIN_ERROR: (grpc.StatusCode.FAILED_PRECONDITION, 502),
    Code.ORIGIN_UNREACHABLE: (grpc.StatusCode.UNAVAILABLE, 502),
    Code.BACK_TO_SOURCE_DISABLED: (grpc.StatusCode.FAILED_PRECONDITION, 412),
    Code.CANCELLED: (grpc.StatusCode.CANCELLED, 499),
    Code.INTERNAL: (grpc.StatusCode.INTERNAL, 500),
}

# The error code travels in the gRPC status details as "<code>|<message>".
_SEPARATOR = "|"


def grpc_status(error: DamselflyError) -> grpc.StatusCode:
    return _TABLE[error.code][0]


def http_status(error: DamselflyError) -> int:
    return _TABLE[error.code][1]


def encode_details(error: DamselflyError) -> str:
    """Status details that keep the exact code across the wire."""
    return f"{error.code.value}{_SEPARATOR}{error.message}"


def carries_code(details: str | None) -> bool:
    """True when status details came from one of our servers (they carry an error code)."""
    code_text, sep, _ = (details or "").partition(_SEPARATOR)
    return bool(sep) and code_text in {code.value for code in Code}


def decode_rpc_error(error: grpc.aio.AioRpcError, what: str) -> DamselflyError:
    """Translate a failed call into our hierarchy; ``what`` names the other side."""
    details = error.details() or ""
    code_text, sep, message = details.partition(_SEPARATOR)
    if sep:
        try:
            return error_for(Code(code_text), message)
        except ValueError:
            pass
    if error.code() == grpc.StatusCode.UNAVAILABLE:
        return error_for(Code.UNAVAILABLE, f"{what} is unavailable ({details or 'no answer'})")
    if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return error_for(Code.DEADLINE_EXCEEDED, f"{what} did not answer in time")
    return InternalError(f"{what} failed: {error.code().name} {details}".strip())
