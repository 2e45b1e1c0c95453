"""dfget's flags from ``DFGET_*`` environment variables, as Dragonfly's Rust dfget reads
them; a flag given on the command line wins."""

from __future__ import annotations

import argparse
import os

# Types for mypy only: importing typing costs a CLI's start about 2 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ENV_FLAGS = {
    "DFGET_TAG": "tag",
    "DFGET_APPLICATION": "application",
    "DFGET_PIECE_LENGTH": "piece_length",
    "DFGET_TIMEOUT": "timeout",
    "DFGET_PRIORITY": "priority",
}
ENV_SWITCHES = {
    "DFGET_OVERWRITE": "overwrite",
    "DFGET_FORCE_HARD_LINK": "force_hard_link",
    "DFGET_DISABLE_BACK_TO_SOURCE": "disable_back_to_source",
    "DFGET_TRANSFER_FROM_DFDAEMON": "transfer_from_dfdaemon",
}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}


def defaults_from_env(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The defaults the ``DFGET_*`` variables set; a value that cannot be one is refused."""
    found: dict[str, Any] = {}
    for name, dest in ENV_FLAGS.items():
        if name in os.environ:
            found[dest] = os.environ[name]
    if "priority" in found:
        text = found["priority"].strip()
        if not (text.isdigit() and int(text) <= 6):
            parser.error(f"DFGET_PRIORITY={text!r} is not a priority; use 0 to 6")
        found["priority"] = int(text)
    for name, dest in ENV_SWITCHES.items():
        text = os.environ.get(name)
        if text is None:
            continue
        if text.strip().lower() not in _TRUE | _FALSE:
            parser.error(f"{name}={text!r} is not a switch; use true or false")
        found[dest] = text.strip().lower() in _TRUE
    return found
