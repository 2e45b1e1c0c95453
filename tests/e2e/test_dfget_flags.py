"""Every dfget flag, as a user runs dfget (subprocesses against a real daemon, scheduler
and seed peer, or the embedded peer)."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from damselfly.cli import daemon_client
from damselfly.core.errors import InvalidArgument, NotFound
from damselfly.core.ids import task_id
from damselfly.demo.cluster import Daemon, LocalCluster

MIB = 1 << 20
DATA = bytes(range(256)) * (6 * MIB // 256)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("flags")
    files = root / "files"
    files.mkdir()
    for name in ("a.bin", "b.bin", "c.bin", "d.bin", "e.bin", "f.bin", "g.bin", "h.bin"):
        (files / name).write_bytes(DATA)
    (files / "empty.bin").write_bytes(b"")
    with LocalCluster(root / "run") as running:
        running.start_origin(files)
        running.start_up()
        running.start_daemon("daemon1")
        yield running


@pytest.fixture
def daemon(cluster: LocalCluster) -> Daemon:
    return cluster.daemons[0]


def dfget(
    cluster: LocalCluster, daemon: Daemon | None, url: str, out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    command = cluster.dfget_command(daemon, url, out, *extra)
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    loaded: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def failed(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    line = result.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in line, line


def test_digest_verifies(cluster: LocalCluster, daemon: Daemon, tmp_path: Path) -> None:
    digest = "sha256:" + hashlib.sha256(DATA).hexdigest()
    out = tmp_path / "o"
    result = ok(dfget(cluster, daemon, cluster.url("a.bin"), out, "--digest", digest))
    assert out.read_bytes() == DATA
    assert result["task_id"] == digest.split(":")[1]  # content-addressed task


def test_a_crc32_digest_as_dragonfly_writes_it(
    cluster: LocalCluster, daemon: Daemon, tmp_path: Path
) -> None:
    right, wrong = f"crc32:{zlib.crc32(DATA)}", f"crc32:{zlib.crc32(DATA) ^ 1}"
    ok(dfget(cluster, daemon, cluster.url("e.bin"), tmp_path / "right", "--digest", right))
    assert (tmp_path / "right").read_bytes() == DATA
    failed(
        dfget(cluster, daemon, cluster.url("f.bin"), tmp_path / "wrong", "--digest", wrong), wrong
    )
    assert not (tmp_path / "wrong").exists()


def test_header_reaches_the_origin(cluster: LocalCluster, daemon: Daemon, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{cluster.origin_port}/private/b.bin"
    failed(dfget(cluster, daemon, url, tmp_path / "no"), "403")
    ok(dfget(cluster, daemon, url, tmp_path / "yes", "-H", "X-Token: secret"))
    assert (tmp_path / "yes").read_bytes() == DATA


def test_tag_and_application_are_part_of_the_task_id(
    cluster: LocalCluster, daemon: Daemon, tmp_path: Path
) -> None:
    url = cluster.url("c.bin")
    tagged = ok(dfget(cluster, daemon, url, tmp_path / "t", "--tag", "v1", "--application", "ci"))
    assert tagged["task_id"] == task_id(url, tag="v1", application="ci")
    assert tagged["task_id"] != task_id(url)


def test_filtered_query_params_make_one_task(
    cluster: LocalCluster, daemon: Daemon, tmp_path: Path
) -> None:
    base = cluster.url("d.bin")
    flag = ("--filtered-query-param", "token")
    first = ok(dfget(cluster, daemon, base + "?token=1&x=2", tmp_path / "1", *flag))
    second = ok(dfget(cluster, daemon, base + "?x=2&token=9", tmp_path / "2", *flag))
    assert first["task_id"] == second["task_id"]
    traffic = second["traffic"]
    assert isinstance(traffic, dict)
    assert traffic["local"] == len(DATA)


def test_piece_length(cluster: LocalCluster, daemon: Daemon, tmp_path: Path) -> None:
    url = cluster.url("e.bin")
    result = ok(dfget(cluster, daemon, url, tmp_path / "p", "--piece-length", "8MiB"))
    assert result["task_id"] == task_id(url, piece_length=8 * MIB)
    failed(dfget(cluster, daemon, url, tmp_path / "q", "--piece-length", "3MiB"), "power of two")


def test_priority(cluster: LocalCluster, daemon: Daemon, tmp_path: Path) -> None:
    url = cluster.url("f.bin")
    failed(dfget(cluster, daemon, url, tmp_path / "p1", "-p", "1"), "forbidden")
    result = ok(dfget(cluster, daemon, url, tmp_path / "p3", "-p", "3"))
    traffic = result["traffic"]
    assert isinstance(traffic, dict)
    assert traffic["back_to_source"] == len(DATA)  # priority 3: the peer itself fetches


def test_disable_back_to_source(cluster: LocalCluster, tmp_path: Path) -> None:
    result = dfget(cluster, None, cluster.url("g.bin"), tmp_path / "x", "--disable-back-to-source")
    failed(result, "back-to-source is disabled")
    assert not (tmp_path / "x").exists()


def test_timeout(cluster: LocalCluster, daemon: Daemon, tmp_path: Path) -> None:
    url = cluster.url("g.bin") + f"?rate={MIB}"
    failed(dfget(cluster, daemon, url, tmp_path / "slow", "--timeout", "1s"), "within 1 s")
    failed(dfget(cluster, daemon, url, tmp_path / "bad", "--timeout", "soon"), "not a duration")


def test_rate_limit(cluster: LocalCluster, tmp_path: Path) -> None:
    began = time.perf_counter()
    ok(dfget(cluster, None, cluster.url("h.bin"), tmp_path / "r", "--rate-limit", "4MiB"))
    assert time.perf_counter() - began >= 0.9 * len(DATA) / (4 * MIB)


def test_overwrite(cluster: LocalCluster, daemon: Daemon, tmp_path: Path) -> None:
    out = tmp_path / "exists"
    out.write_bytes(b"old")
    failed(dfget(cluster, daemon, cluster.url("a.bin"), out), "--overwrite")
    assert out.read_bytes() == b"old"
    ok(dfget(cluster, daemon, cluster.url("a.bin"), out, "--overwrite"))
    assert out.read_bytes() == DATA


def test_force_hard_link(cluster: LocalCluster, daemon: Daemon, tmp_path: Path) -> None:
    out = tmp_path / "linked"
    ok(dfget(cluster, daemon, cluster.url("a.bin"), out, "--force-hard-link"))
    assert out.read_bytes() == DATA
    assert os.stat(out).st_nlink >= 2  # shares the daemon's read-only content file


@pytest.mark.parametrize("how", [("--range", "10-19"), ("-H", "Range: bytes=10-19")])
def test_range(cluster: LocalCluster, daemon: Daemon, tmp_path: Path, how: tuple[str, str]) -> None:
    out = tmp_path / "r"
    ok(dfget(cluster, daemon, cluster.url("a.bin"), out, *how))
    assert out.read_bytes() == DATA[10:20]


def test_content_for_calculating_task_id(
    cluster: LocalCluster, daemon: Daemon, tmp_path: Path
) -> None:
    flag = ("--content-for-calculating-task-id", "my-model-v3")
    result = ok(dfget(cluster, daemon, cluster.url("b.bin"), tmp_path / "c", *flag))
    assert result["task_id"] == hashlib.sha256(b"my-model-v3").hexdigest()


def _stderr_on_a_terminal(command: list[str]) -> str:
    parent, child = pty.openpty()
    try:
        proc = subprocess.run(
            command, stderr=child, stdout=subprocess.DEVNULL, timeout=60, check=False
        )
        assert proc.returncode == 0
        os.close(child)
        child = -1
        chunks = []
        while True:
            try:
                chunk = os.read(parent, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")
    finally:
        os.close(parent)
        if child >= 0:
            os.close(child)


def test_progress_bar_and_no_progress(
    cluster: LocalCluster, daemon: Daemon, tmp_path: Path
) -> None:
    command = cluster.dfget_command(daemon, cluster.url("c.bin"), tmp_path / "pb")
    command.remove("--json")
    shown = _stderr_on_a_terminal(command)
    assert "MiB" in shown and "pb" in shown
    quiet = cluster.dfget_command(daemon, cluster.url("c.bin"), tmp_path / "q", "--no-progress")
    quiet.remove("--json")
    assert _stderr_on_a_terminal(quiet).strip() == ""


def test_verbose_logs_the_embedded_peer(cluster: LocalCluster, tmp_path: Path) -> None:
    result = dfget(cluster, None, cluster.url("d.bin"), tmp_path / "v", "-v")
    assert result.returncode == 0
    assert "back to source" in result.stderr


def dfget_with_env(
    cluster: LocalCluster, daemon: Daemon, url: str, out: Path, env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    command = cluster.dfget_command(daemon, url, out, *extra)
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def test_flags_from_the_environment(cluster: LocalCluster, daemon: Daemon, tmp_path: Path) -> None:
    url = cluster.url("c.bin")
    names = {"DFGET_TAG": "v1", "DFGET_APPLICATION": "ci"}
    tagged = ok(dfget_with_env(cluster, daemon, url, tmp_path / "t", names))
    assert tagged["task_id"] == task_id(url, tag="v1", application="ci")
    flag_wins = ok(dfget_with_env(cluster, daemon, url, tmp_path / "f", names, "--tag", "v2"))
    assert flag_wins["task_id"] == task_id(url, tag="v2", application="ci")

    out = tmp_path / "exists"
    out.write_bytes(b"old")
    kept = dfget_with_env(cluster, daemon, url, out, {"DFGET_OVERWRITE": "false"})
    failed(kept, "--overwrite")
    assert out.read_bytes() == b"old"
    ok(dfget_with_env(cluster, daemon, url, out, {"DFGET_OVERWRITE": "true"}))
    assert out.read_bytes() == DATA


@pytest.mark.parametrize(
    ("variable", "words"),
    [
        ("DFGET_PRIORITY=9", ("DFGET_PRIORITY", "0 to 6")),
        ("DFGET_FORCE_HARD_LINK=maybe", ("DFGET_FORCE_HARD_LINK", "true or false")),
        ("DFGET_TIMEOUT=soon", ("not a duration",)),
    ],
)
def test_a_bad_flag_from_the_environment_is_refused(
    cluster: LocalCluster, daemon: Daemon, tmp_path: Path, variable: str, words: tuple[str]
) -> None:
    name, _, value = variable.partition("=")
    out = tmp_path / "never"
    failed(dfget_with_env(cluster, daemon, cluster.url("a.bin"), out, {name: value}), *words)
    assert not out.exists()


def test_transfer_from_dfdaemon(cluster: LocalCluster, daemon: Daemon, tmp_path: Path) -> None:
    out = tmp_path / "sent"
    ok(dfget(cluster, daemon, cluster.url("a.bin"), out, "--transfer-from-dfdaemon"))
    assert out.read_bytes() == DATA
    assert os.stat(out).st_nlink == 1  # written by dfget, not a link to the daemon's file
    part = tmp_path / "part"
    ranged = ("--transfer-from-dfdaemon", "--range", "10-19")
    ok(dfget(cluster, daemon, cluster.url("b.bin"), part, *ranged))
    assert part.read_bytes() == DATA[10:20]
    empty = tmp_path / "empty"
    ok(dfget(cluster, daemon, cluster.url("empty.bin"), empty, "--transfer-from-dfdaemon"))
    assert empty.read_bytes() == b""
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["empty", "part", "sent"]  # no temporary left behind
    again = dfget(cluster, daemon, cluster.url("a.bin"), out, "--transfer-from-dfdaemon")
    failed(again, "--overwrite")
    linked = dfget(
        cluster,
        daemon,
        cluster.url("a.bin"),
        tmp_path / "x",
        "--transfer-from-dfdaemon",
        "--force-hard-link",
    )
    failed(linked, "--force-hard-link")


def test_the_daemon_sends_only_content_it_holds(daemon: Daemon, tmp_path: Path) -> None:
    with (tmp_path / "out").open("wb") as out:
        with pytest.raises(NotFound, match="not on this daemon"):
            daemon_client.content("0" * 64, str(daemon.socket), None, out)
        with pytest.raises(InvalidArgument, match="64 lowercase hex"):
            daemon_client.content("../../etc", str(daemon.socket), None, out)
    assert (tmp_path / "out").stat().st_size == 0
