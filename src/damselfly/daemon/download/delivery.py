"""Handing a finished (or ranged) task out to the user's output path.

The output appears only complete: bytes go to a temporary name in the output folder,
which is renamed into place; on any failure the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from damselfly.core.errors import InvalidArgument


@contextlib.contextmanager
def _atomic(output: Path) -> Iterator[Path]:
    temp = output.parent / f".{output.name}.damselfly-{uuid.uuid4().hex[:8]}.tmp"
    try:
        yield temp
        os.replace(temp, output)
    except OSError as exc:
        raise InvalidArgument(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def deliver_range(content: Path, start: int, length: int, output: Path) -> None:
    """Copy bytes ``[start, start + length)`` of the content to ``output``."""
    with _atomic(output) as temp:
        with open(content, "rb") as src, open(temp, "wb") as dst:
            offset, left = start, length
            while left:
                sent = os.sendfile(dst.fileno(), src.fileno(), offset, min(left, 1 << 30))
                if sent == 0:
                    raise OSError("content ended early")
                offset += sent
                left -= sent
        os.chmod(temp, 0o644)


def deliver(content: Path, output: Path, force_hard_link: bool = False) -> None:
    """On the same filesystem the output is a hard link to the read-only content file (no
    bytes copied; an editor that saves by rename leaves the cache intact); elsewhere a
    copy-on-write clone where the filesystem can, or a copy."""
    with _atomic(output) as temp:
        try:
            os.link(content, temp)
        except OSError as exc:
            if force_hard_link:
                raise InvalidArgument(
                    f"cannot hard-link {output} to the daemon's cache ({exc.strerror}); "
                    "drop --force-hard-link or write on the daemon's filesystem"
                ) from None
            if not _clone(content, temp):
                shutil.copyfile(content, temp)
            os.chmod(temp, 0o644)


def _clone(source: Path, target: Path) -> bool:
    """FICLONE ioctl (btrfs, xfs): shares blocks copy-on-write. False where unsupported."""
    try:
        import fcntl

        with open(source, "rb") as src, open(target, "wb") as dst:
            fcntl.ioctl(dst.fileno(), 0x40049409, src.fileno())
        return True
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        return False
