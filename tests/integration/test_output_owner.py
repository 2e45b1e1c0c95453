"""A daemon running as root, asked over its socket by another user (here ``nobody``,
through curl): it writes outputs only where that user could, and a copy belongs to that
user. Needs root (to run curl as another user); CI runs as root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from damselfly.api.download_json import download_to_json
from damselfly.core.models import ByteRange, DownloadRequest
from damselfly.daemon.download.task_manager import validate
from damselfly.daemon.server import DaemonServer
from damselfly.daemon.storage.tasks import TaskState
from damselfly.demo.origin import Origin
from tests.integration.harness import MIB, make_file, sha256_of
from tests.integration.test_daemon_features import run
from tests.integration.test_local_api import blocking

NOBODY = 65534
SIZE = 6 * MIB + 5

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("curl") is None, reason="needs root and curl"
)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder others can reach (pytest's own are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="damselfly-owner-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def as_nobody(socket_path: str, request: DownloadRequest) -> tuple[int, list[dict[str, object]]]:
    """POST the download as user ``nobody``; the HTTP status and the answer's JSON lines."""
    done = subprocess.run(
        [
            "curl", "-sS", "--unix-socket", socket_path, "-X", "POST",
            "--data-binary", json.dumps(download_to_json(request)),
            "-w", "\n%{http_code}", "http://daemon/v1/download",
        ],
        capture_output=True, text=True, user=NOBODY, group=NOBODY, timeout=60, check=True,
    )  # fmt: skip
    *lines, status = done.stdout.strip().splitlines()
    return int(status), [json.loads(line) for line in lines if line.strip()]


def test_outputs_go_only_where_the_asking_user_can_write(shared: Path) -> None:
    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        expected = make_file(files / "o.bin", SIZE)
        url = f"http://127.0.0.1:{origin.port}/files/o.bin"
        socket_path = daemon.config.server.socket
        os.chmod(socket_path, 0o666)  # as if nobody were in the socket's group
        denied = shared / "root-only"
        denied.mkdir(mode=0o755)
        mine = shared / "mine"
        mine.mkdir()
        os.chown(mine, NOBODY, NOBODY)

        status, answer = await blocking(
            as_nobody, socket_path, DownloadRequest(url, str(denied / "x.bin"))
        )
        assert status == 403
        assert "not writable by uid 65534" in str(answer[-1]["error"])
        assert list(denied.iterdir()) == [] and origin.requests == 0

        whole = mine / "whole.bin"
        status, answer = await blocking(as_nobody, socket_path, DownloadRequest(url, str(whole)))
        assert status == 200 and "finished" in answer[-1]
        assert sha256_of(whole) == expected
        # A hard link to the cache stays the cache's: read-only, not the asker's to change.
        task = daemon.store.get(validate(DownloadRequest(url)))
        assert task is not None and task.state is TaskState.SUCCEEDED
        cached = os.stat(task.path)
        assert os.stat(whole).st_ino == cached.st_ino
        assert (cached.st_uid, cached.st_mode & 0o777) == (0, 0o444)

        part = mine / "part.bin"
        ranged = DownloadRequest(url, str(part), range=ByteRange(MIB, 100))
        status, answer = await blocking(as_nobody, socket_path, ranged)
        assert status == 200 and "finished" in answer[-1]
        assert part.read_bytes() == (files / "o.bin").read_bytes()[MIB : MIB + 100]
        assert os.stat(part).st_uid == NOBODY  # a copy belongs to whoever asked

    run(shared, scenario)


def test_a_sticky_folder_keeps_other_users_files(shared: Path) -> None:
    async def scenario(origin: Origin, daemon: DaemonServer, files: Path) -> None:
        make_file(files / "s.bin", 1000)
        url = f"http://127.0.0.1:{origin.port}/files/s.bin"
        socket_path = daemon.config.server.socket
        os.chmod(socket_path, 0o666)
        sticky = shared / "sticky"
        sticky.mkdir()
        sticky.chmod(0o1777)
        theirs = sticky / "theirs.bin"
        theirs.write_bytes(b"root's")

        replace = DownloadRequest(url, str(theirs), overwrite=True)
        status, answer = await blocking(as_nobody, socket_path, replace)
        assert status == 403 and "belongs to another user" in str(answer[-1]["error"])
        assert theirs.read_bytes() == b"root's"
        status, _ = await blocking(
            as_nobody, socket_path, DownloadRequest(url, str(sticky / "new.bin"))
        )
        assert status == 200 and (sticky / "new.bin").stat().st_size == 1000

    run(shared, scenario)
