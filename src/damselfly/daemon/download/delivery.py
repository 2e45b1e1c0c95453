"""Handing a finished (or ranged) task out to the user's output path.

The output appears only complete: bytes go to a temporary name in the output folder,
which is renamed into place; on any failure the temporary file is removed.

A daemon running as another user than the one asking (root serving its socket's group)
writes only where the asker could: the folder is opened once and checked against the
asker's uid and groups, and every step happens inside that open folder, so swapping a
path component for a symlink meanwhile leads nowhere else. A copy then belongs to the
asker; a hard link stays the cache's read-only file (changing its owner would hand the
asker the cache's own copy).
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from damselfly.core.errors import InvalidArgument, PermissionDenied


@dataclass(frozen=True)
class Owner:
    """The user who asked, when the daemon runs as someone else."""

    uid: int
    gid: int
    groups: frozenset[int] = frozenset()


def _may_write(folder: os.stat_result, owner: Owner) -> bool:
    """Whether ``owner`` may create entries in ``folder`` (the owner's bits when it owns
    the folder, else the group's when it is in the group, else the others')."""
    mode = folder.st_mode
    if folder.st_uid == owner.uid:
        wanted = stat.S_IWUSR | stat.S_IXUSR
    elif folder.st_gid == owner.gid or folder.st_gid in owner.groups:
        wanted = stat.S_IWGRP | stat.S_IXGRP
    else:
        wanted = stat.S_IWOTH | stat.S_IXOTH
    return mode & wanted == wanted


def check_writable(folder_fd: int, name: str, owner: Owner, output: Path) -> None:
    """Refuse what ``owner`` could not do itself: create ``name`` in the open folder, or
    replace it there when the folder is sticky (``/tmp``) and someone else owns it."""
    folder = os.fstat(folder_fd)
    if not _may_write(folder, owner):
        raise PermissionDenied(
            f"{output.parent} is not writable by uid {owner.uid}; choose a folder you can write"
        )
    if folder.st_mode & stat.S_ISVTX and folder.st_uid != owner.uid:
        try:
            existing = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if existing.st_uid != owner.uid:
            raise PermissionDenied(f"{output} belongs to another user; choose another name")


def _open_folder(output: Path) -> int:
    try:
        return os.open(output.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise InvalidArgument(f"cannot write {output}: {exc.strerror or exc}") from None


def check_output(output: Path, owner: Owner) -> None:
    """Refuse up front an output ``owner`` could not write (delivery checks again)."""
    folder = _open_folder(output)
    try:
        check_writable(folder, output.name, owner, output)
    finally:
        os.close(folder)


@contextlib.contextmanager
def _atomic(output: Path, owner: Owner | None) -> Iterator[tuple[int, str]]:
    """The output folder (open) and a temporary name in it, renamed to the output's."""
    temp = f".{output.name}.damselfly-{uuid.uuid4().hex[:8]}.tmp"
    folder = _open_folder(output)
    try:
        if owner is not None:
            check_writable(folder, output.name, owner, output)
        yield folder, temp
        os.replace(temp, output.name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError as exc:
        raise InvalidArgument(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=folder)
        os.close(folder)


def _create(folder: int, temp: str) -> int:
    return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=folder)


def _hand_over(fd: int, owner: Owner | None) -> None:
    """A copy is readable by all and, made for another user, belongs to that user."""
    os.fchmod(fd, 0o644)
    if owner is not None:
        os.fchown(fd, owner.uid, owner.gid)


def _copy(src: int, dst: int, offset: int, length: int) -> None:
    left = length
    while left:
        sent = os.sendfile(dst, src, offset, min(left, 1 << 30))
        if sent == 0:
            raise OSError("content ended early")
        offset += sent
        left -= sent


def deliver_range(
    content: Path, start: int, length: int, output: Path, owner: Owner | None = None
) -> None:
    """Copy bytes ``[start, start + length)`` of the content to ``output``."""
    with _atomic(output, owner) as (folder, temp), open(content, "rb") as src:
        dst = _create(folder, temp)
        try:
            _copy(src.fileno(), dst, start, length)
            _hand_over(dst, owner)
        finally:
            os.close(dst)


def deliver(
    content: Path, output: Path, force_hard_link: bool = False, owner: Owner | None = None
) -> None:
    """On the same filesystem the output is a hard link to the read-only content file (no
    bytes copied; an editor that saves by rename leaves the cache intact); elsewhere a
    copy-on-write clone where the filesystem can, or a copy."""
    with _atomic(output, owner) as (folder, temp):
        try:
            os.link(content, temp, dst_dir_fd=folder)
            return
        except OSError as exc:
            if force_hard_link:
                raise InvalidArgument(
                    f"cannot hard-link {output} to the daemon's cache ({exc.strerror}); "
                    "drop --force-hard-link or write on the daemon's filesystem"
                ) from None
        with open(content, "rb") as src:
            dst = _create(folder, temp)
            try:
                if not _clone(src.fileno(), dst):
                    _copy(src.fileno(), dst, 0, os.fstat(src.fileno()).st_size)
                _hand_over(dst, owner)
            finally:
                os.close(dst)


def _clone(src: int, dst: int) -> bool:
    """FICLONE ioctl (btrfs, xfs): shares blocks copy-on-write. False where unsupported."""
    try:
        import fcntl

        fcntl.ioctl(dst, 0x40049409, src)
        return True
    except OSError:
        return False
