"""A daemon whose storage is full: dfget says so in the daemon's own words, and the
daemon keeps serving what fits (root only: it mounts a small tmpfs)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from damselfly.demo.cluster import LocalCluster
from tests.mounts import small_tmpfs

MIB = 1 << 20


@pytest.fixture
def small_storage(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path, 12) as small:
        yield small


def test_a_task_that_cannot_fit_is_refused_in_one_sentence(
    tmp_path: Path, small_storage: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "big.bin").write_bytes(os.urandom(24 * MIB))
    (files / "small.bin").write_bytes(os.urandom(MIB))
    with LocalCluster(tmp_path / "run") as cluster:
        cluster.start_origin(files)
        cluster.start_up()
        daemon = cluster.start_daemon("daemon1", ["--data-dir", str(small_storage / "d")])

        def dfget(name: str) -> subprocess.CompletedProcess[str]:
            command = cluster.dfget_command(daemon, cluster.url(name), tmp_path / name)
            return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

        big = dfget("big.bin")
        assert big.returncode != 0
        lines = big.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("dfget: the daemon's storage has"), lines[0]
        assert "needs 24 MiB" in lines[0]
        assert not (tmp_path / "big.bin").exists()
        assert dfget("small.bin").returncode == 0
        assert (tmp_path / "small.bin").read_bytes() == (files / "small.bin").read_bytes()
