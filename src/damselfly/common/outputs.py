"""Where a download may put its output, checked by whoever writes it (the daemon, or
dfget itself with --transfer-from-dfdaemon). Standard library only: dfget imports it."""

from __future__ import annotations

from pathlib import Path

from damselfly.core.errors import InvalidArgument


def check_output_path(output: Path, *, overwrite: bool) -> None:
    """An absolute file path in a folder that exists, not a folder itself, and new unless
    ``overwrite``; raises InvalidArgument saying which it is not."""
    if not output.is_absolute():
        raise InvalidArgument(f"output path {output} must be absolute")
    if not output.parent.is_dir():
        raise InvalidArgument(
            f"output directory {output.parent} does not exist; create it or choose another path"
        )
    if output.is_dir():
        raise InvalidArgument(f"output path {output} is a directory; name a file")
    if output.exists() and not overwrite:
        raise InvalidArgument(f"output file {output} exists; pass --overwrite to replace it")
