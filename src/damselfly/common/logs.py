"""Logging setup: one line per event, key=value context, never secrets."""

from __future__ import annotations

import logging
import re
import sys

_SECRET_RE = re.compile(
    r"(?i)((?:authorization|x-amz-signature|signature|token|password|secret)[\"']?\s*[:=]\s*)"
    r"[^\s,&\"']+"
)


class RedactingFormatter(logging.Formatter):
    """Masks values of credential-looking keys in every record."""

    def format(self, record: logging.LogRecord) -> str:
        return _SECRET_RE.sub(r"\1***", super().format(record))


def setup_logging(level: str = "INFO", component: str = "damselfly") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter(f"%(asctime)s %(levelname)s {component} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
