"""A small filesystem for tests of a full disk: a tmpfs mounted for the test (root only;
the test is skipped elsewhere)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(tmp_path: Path, size_mib: int) -> Iterator[Path]:
    """A folder on a tmpfs of ``size_mib`` MiB, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    small = tmp_path / "small"
    small.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(small)]
    if subprocess.run(mount, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield small
    finally:
        # Lazily: a failed test may leave the store's files open, and the mount must go.
        subprocess.run(["umount", "--lazy", str(small)], check=True)
