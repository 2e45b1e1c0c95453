"""One error hierarchy for the whole system.

Every error carries a stable ``Code``; ``api/status.py`` maps codes to gRPC and HTTP
statuses in one table. The message is one sentence a user can act on.
"""

from __future__ import annotations

from enum import Enum


class Code(Enum):
    """Stable error codes, shared by every component and the wire."""

    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    PERMISSION_DENIED = "permission_denied"
    FAILED_PRECONDITION = "failed_precondition"
    UNAVAILABLE = "unavailable"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    DIGEST_MISMATCH = "digest_mismatch"
    ORIGIN_ERROR = "origin_error"
    ORIGIN_UNREACHABLE = "origin_unreachable"
    BACK_TO_SOURCE_DISABLED = "back_to_source_disabled"
    CANCELLED = "cancelled"
    INTERNAL = "internal"


class DamselflyError(Exception):
    """Base of every error raised on purpose; ``str()`` is the user-facing sentence."""

    code: Code = Code.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DamselflyError):
    code = Code.INVALID_ARGUMENT


class NotFound(DamselflyError):
    code = Code.NOT_FOUND


class AlreadyExists(DamselflyError):
    code = Code.ALREADY_EXISTS


class PermissionDenied(DamselflyError):
    code = Code.PERMISSION_DENIED


class FailedPrecondition(DamselflyError):
    code = Code.FAILED_PRECONDITION


class Unavailable(DamselflyError):
    code = Code.UNAVAILABLE


class DeadlineExceeded(DamselflyError):
    code = Code.DEADLINE_EXCEEDED


class DigestMismatch(DamselflyError):
    code = Code.DIGEST_MISMATCH


class OriginError(DamselflyError):
    """The origin answered, but not with the content (4xx/5xx)."""

    code = Code.ORIGIN_ERROR

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class OriginUnreachable(DamselflyError):
    code = Code.ORIGIN_UNREACHABLE


class BackToSourceDisabled(DamselflyError):
    code = Code.BACK_TO_SOURCE_DISABLED


class Cancelled(DamselflyError):
    code = Code.CANCELLED


class InternalError(DamselflyError):
    code = Code.INTERNAL


_BY_CODE: dict[Code, type[DamselflyError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        FailedPrecondition,
        Unavailable,
        DeadlineExceeded,
        DigestMismatch,
        OriginError,
        OriginUnreachable,
        BackToSourceDisabled,
        Cancelled,
        InternalError,
    )
}


def error_for(code: Code, message: str) -> DamselflyError:
    """Rebuild the error of ``code`` (used where errors cross the wire)."""
    return _BY_CODE.get(code, InternalError)(message)
