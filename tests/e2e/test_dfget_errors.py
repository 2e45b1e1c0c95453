"""dfget as a user runs it: bad input gives one sentence on stderr, a non-zero exit code
and no output file, both with a daemon (scheduler + seed peer) and without one."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from damselfly.demo.cluster import Daemon, LocalCluster

CONTENT = b"damselfly " * 100_000


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("cluster")
    files = root / "files"
    files.mkdir()
    (files / "file.bin").write_bytes(CONTENT)
    with LocalCluster(root / "run") as running:
        running.start_origin(files)
        running.start_up()
        running.start_daemon("daemon1")
        yield running


@pytest.fixture(params=["daemon", "embedded"])
def daemon(request: pytest.FixtureRequest, cluster: LocalCluster) -> Daemon | None:
    return cluster.daemons[0] if request.param == "daemon" else None


def dfget(
    cluster: LocalCluster, daemon: Daemon | None, url: str, output: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    command = cluster.dfget_command(daemon, url, output, *extra)
    command.remove("--json")
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def assert_failed_cleanly(
    result: subprocess.CompletedProcess[str], output: Path, *words: str
) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dfget: ")
    for word in words:
        assert word in lines[0], lines[0]
    assert not output.exists()
    if output.parent.exists():
        assert not [p for p in output.parent.iterdir() if p.name.startswith(f".{output.name}")]


@pytest.mark.parametrize("daemon", ["daemon", "embedded"], indirect=True)
def test_download_succeeds(cluster: LocalCluster, daemon: Daemon | None, tmp_path: Path) -> None:
    output = tmp_path / "ok.bin"
    result = dfget(cluster, daemon, cluster.url("file.bin"), output)
    assert result.returncode == 0, result.stderr
    assert output.read_bytes() == CONTENT


def test_unreachable_origin(cluster: LocalCluster, daemon: Daemon | None, tmp_path: Path) -> None:
    output = tmp_path / "out.bin"
    url = f"http://127.0.0.1:{closed_port()}/file.bin"
    assert_failed_cleanly(dfget(cluster, daemon, url, output), output, "cannot reach the origin")


def test_not_found(cluster: LocalCluster, daemon: Daemon | None, tmp_path: Path) -> None:
    output = tmp_path / "out.bin"
    result = dfget(cluster, daemon, cluster.url("missing.bin"), output)
    assert_failed_cleanly(result, output, "404", "missing.bin")


def test_unsupported_scheme(cluster: LocalCluster, daemon: Daemon | None, tmp_path: Path) -> None:
    output = tmp_path / "out.bin"
    result = dfget(cluster, daemon, "ftp://127.0.0.1/file.bin", output)
    assert_failed_cleanly(result, output, "'ftp'", "not supported")


def test_missing_output_directory(
    cluster: LocalCluster, daemon: Daemon | None, tmp_path: Path
) -> None:
    output = tmp_path / "no" / "such" / "out.bin"
    result = dfget(cluster, daemon, cluster.url("file.bin"), output)
    assert_failed_cleanly(result, output, "does not exist")


def test_digest_mismatch(cluster: LocalCluster, daemon: Daemon | None, tmp_path: Path) -> None:
    output = tmp_path / "out.bin"
    wrong = "sha256:" + "0" * 64
    result = dfget(cluster, daemon, cluster.url("file.bin"), output, "--digest", wrong)
    assert_failed_cleanly(result, output, "expected")


def test_a_range_past_the_end(cluster: LocalCluster, daemon: Daemon | None, tmp_path: Path) -> None:
    # The content comes whole before the range is looked at: still the range's fault.
    ok = dfget(cluster, daemon, cluster.url("file.bin"), tmp_path / "first.bin")
    assert ok.returncode == 0, ok.stderr
    output = tmp_path / "past.bin"
    start = len(CONTENT) + 10
    result = dfget(
        cluster, daemon, cluster.url("file.bin"), output, "--range", f"{start}-{start + 9}"
    )
    assert_failed_cleanly(result, output, f"range starts at byte {start}", f"{len(CONTENT)} bytes")


@pytest.mark.parametrize("transfer", [[], ["--transfer-from-dfdaemon"]])
def test_an_output_that_is_a_folder(
    cluster: LocalCluster, daemon: Daemon | None, tmp_path: Path, transfer: list[str]
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    result = dfget(cluster, daemon, cluster.url("file.bin"), folder, "--overwrite", *transfer)
    assert result.returncode != 0
    assert result.stderr.strip() == f"dfget: output path {folder} is a directory; name a file"
    assert folder.is_dir()


def test_a_header_with_a_line_break(
    cluster: LocalCluster, daemon: Daemon | None, tmp_path: Path
) -> None:
    output = tmp_path / "out.bin"
    smuggled = "X-A: a\r\nX-B: b"
    result = dfget(cluster, daemon, cluster.url("file.bin"), output, "-H", smuggled)
    assert_failed_cleanly(result, output, "header X-A", "one line per header")
