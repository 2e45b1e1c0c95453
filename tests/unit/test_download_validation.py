"""A download request is checked whichever way it came (local API, gRPC) before anything
starts: what the daemon refuses, in one sentence."""

from __future__ import annotations

import math

import pytest

from damselfly.core.errors import InvalidArgument
from damselfly.core.models import DownloadRequest
from damselfly.daemon.download.task_manager import validate

URL = "http://origin.example/file.bin"


@pytest.mark.parametrize("seconds", [math.nan, math.inf, -1.0])
def test_a_timeout_that_is_not_a_finite_number_is_refused(seconds: float) -> None:
    with pytest.raises(InvalidArgument, match="timeout must be a finite number"):
        validate(DownloadRequest(URL, timeout_s=seconds))


@pytest.mark.parametrize("seconds", [0.0, 0.5, 7200.0])
def test_a_finite_timeout_passes(seconds: float) -> None:
    assert len(validate(DownloadRequest(URL, timeout_s=seconds))) == 64
