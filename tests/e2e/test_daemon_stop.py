"""Stopping dfdaemon (SIGTERM) while a dfget waits on it: dfget says so in one sentence
and leaves no output, and the daemon stops cleanly, without a traceback in its log."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from damselfly.demo.cluster import LocalCluster

MIB = 1 << 20


def test_a_stop_during_a_download(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "slow.bin").write_bytes(os.urandom(16 * MIB))
    with LocalCluster(tmp_path / "run") as cluster:
        cluster.start_origin(files)
        cluster.start_up()
        daemon = cluster.start_daemon("daemon1")
        output = tmp_path / "out.bin"
        url = cluster.url("slow.bin") + f"?rate={MIB}"  # about 4 s from the origin
        command = cluster.dfget_command(daemon, url, output, "--no-progress")
        dfget = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        log = tmp_path / "run" / "daemon1.log"
        while "candidate parents" not in log.read_text():  # the download is under way
            assert time.monotonic() < deadline, log.read_text()
            assert dfget.poll() is None, dfget.communicate()
            time.sleep(0.05)
        daemon.proc.send_signal(signal.SIGTERM)
        _, stderr = dfget.communicate(timeout=60)
        assert daemon.proc.wait(timeout=60) == 0
        assert dfget.returncode == 1
        assert (
            stderr.strip()
            == "dfget: the dfdaemon closed the connection before the download finished"
        )
        assert not output.exists()
        assert "Traceback" not in log.read_text()
