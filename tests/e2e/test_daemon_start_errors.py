"""``dfdaemon`` that cannot start says why in one line and exits 1: no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def start(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["--data-dir", str(tmp_path / "data"), "--socket", str(tmp_path / "d.sock")]
    return subprocess.run(
        [sys.executable, "-m", "damselfly.daemon", *args, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_damaged_metadata_database_is_named_and_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "metadata.db").write_bytes(b"not a database " * 400)
    done = start(tmp_path, "--port", "0", "--upload-port", "0")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("dfdaemon: the daemon's metadata database")
    assert "metadata.db" in last and "move the storage folder away" in last


def test_a_port_in_use_is_refused_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for flags in (
            ["--port", port, "--upload-port", "0"],
            ["--port", "0", "--upload-port", port],
        ):
            done = start(tmp_path, *flags)
            assert done.returncode == 1
            # One line: ours, not grpc's C core's log line before it.
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, lines
            assert lines[0].startswith("dfdaemon: cannot start:")
            assert port in lines[0]


def test_a_storage_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = start(tmp_path, "--data-dir", str(blocker / "data"))  # the last --data-dir wins
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"dfdaemon: cannot create the storage folder {blocker / 'data'}")
