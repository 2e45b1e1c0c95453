"""A daemon killed with SIGKILL mid-download resumes after restart without fetching any
verified piece again."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from damselfly.demo.cluster import LocalCluster
from damselfly.demo.run import make_file

MIB = 1 << 20
SIZE = 32 * MIB


def recorded_pieces(db: Path) -> dict[int, int]:
    """Piece number -> length, as the daemon recorded them (read-only)."""
    if not db.exists():
        return {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        try:
            rows = conn.execute("SELECT number, length FROM pieces").fetchall()
        except sqlite3.OperationalError:
            return {}
    return dict(rows)


def wait_for(condition: object, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def settled_bytes(cluster: LocalCluster) -> int:
    """The origin's byte count once it stops moving (killed connections drain)."""
    last = -1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = cluster.origin_stats()["bytes_sent"]
        if now == last:
            return now
        last = now
        time.sleep(0.3)
    return last


def test_resume_after_sigkill_fetches_no_verified_piece_again(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    expected = make_file(files / "big.bin", SIZE)
    with LocalCluster(tmp_path / "run") as cluster:
        cluster.start_origin(files)
        url = cluster.url("big.bin") + f"?rate={8 * MIB}"
        daemon = cluster.start_daemon("daemon")
        db = tmp_path / "run" / "daemon" / "metadata.db"
        first = subprocess.Popen(
            cluster.dfget_command(daemon, url, tmp_path / "first.bin"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: len(recorded_pieces(db)) >= 3, "three recorded pieces")
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait(timeout=10)
        first.wait(timeout=30)
        assert first.returncode != 0
        assert not (tmp_path / "first.bin").exists()
        kept = recorded_pieces(db)
        assert 3 <= len(kept) < SIZE // (4 * MIB)
        before = settled_bytes(cluster)

        restarted = cluster.start_daemon("daemon")
        out = tmp_path / "second.bin"
        done = subprocess.run(
            cluster.dfget_command(restarted, url, out),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert hashlib.sha256(out.read_bytes()).hexdigest() == expected
        fetched_again = cluster.origin_stats()["bytes_sent"] - before
        assert fetched_again == SIZE - sum(kept.values())
        traffic = json.loads(done.stdout)["traffic"]
        assert traffic["back_to_source"] == SIZE - sum(kept.values())
