"""A swarm of real processes on loopback: origin, ``damselfly up`` and dfdaemons.

Used by ``make demo``, the end-to-end tests and the benchmarks. Every process binds
port 0 and reports its addresses through a ready file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ClusterError(Exception):
    pass


def wait_ready(path: Path, proc: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    """The addresses a process wrote to its ready file; raises ClusterError when it exits
    first or takes longer than ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            with contextlib.suppress(json.JSONDecodeError):  # caught mid-write
                loaded: dict[str, Any] = json.loads(path.read_text())
                return loaded
        if proc.poll() is not None:
            raise ClusterError(f"{proc.args!r} exited with {proc.returncode} before it was ready")
        time.sleep(0.05)
    raise ClusterError(f"{proc.args!r} was not ready within {timeout_s:.0f} s")


def daemon_args(socket: str, data_dir: Path, ready: Path) -> list[str]:
    """``python`` arguments for a dfdaemon on ports chosen by the system that writes its
    addresses to ``ready``."""
    return [
        "-m",
        "damselfly.daemon",
        "--port",
        "0",
        "--upload-port",
        "0",
        "--socket",
        socket,
        "--data-dir",
        str(data_dir),
        "--ready-file",
        str(ready),
    ]


@dataclass
class Daemon:
    name: str
    socket: str
    info: dict[str, Any]
    proc: subprocess.Popen[bytes]


@dataclass
class LocalCluster:
    root: Path
    python: str = sys.executable
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    origin_port: int = 0
    scheduler: str = ""
    seed: dict[str, Any] = field(default_factory=dict)
    daemons: list[Daemon] = field(default_factory=list)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([self.python, *args], stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        self.procs.append(proc)
        return proc

    def start_origin(self, files: Path) -> int:
        ready = self.root / "origin.json"
        proc = self._spawn(
            "origin",
            ["-m", "damselfly.demo.origin", "--dir", str(files), "--ready-file", str(ready)],
        )
        self.origin_port = int(wait_ready(ready, proc, 30)["port"])
        return self.origin_port

    def start_up(self) -> None:
        ready = self.root / "up.json"
        proc = self._spawn(
            "up",
            [
                "-m",
                "damselfly.cli.umbrella",
                "up",
                "--scheduler-port",
                "0",
                "--seed-port",
                "0",
                "--seed-upload-port",
                "0",
                "--data-dir",
                str(self.root / "up"),
                "--ready-file",
                str(ready),
            ],
        )
        info = wait_ready(ready, proc, 60)
        self.scheduler, self.seed = info["scheduler"], info["seed"]

    def start_daemon(self, name: str, extra: list[str] | None = None) -> Daemon:
        ready = self.root / f"{name}.json"
        ready.unlink(missing_ok=True)
        socket = str(self.root / f"{name}.sock")
        args = daemon_args(socket, self.root / name, ready)
        if self.scheduler:
            args += ["--scheduler", self.scheduler]
        proc = self._spawn(name, args + (extra or []))
        daemon = Daemon(name, socket, wait_ready(ready, proc, 60), proc)
        self.daemons.append(daemon)
        return daemon

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.origin_port}/files/{name}"

    def origin_stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.origin_port}/_stats") as reply:
            stats: dict[str, int] = json.loads(reply.read())
            return stats

    def dfget_command(
        self, daemon: Daemon | None, url: str, output: Path, *extra: str
    ) -> list[str]:
        # The installed command, as users run it (``python -m`` adds runpy to its start).
        script = Path(self.python).parent / "dfget"
        command = [str(script)] if script.exists() else [self.python, "-m", "damselfly.cli.dfget"]
        args = [*command, url, "-O", str(output), "--json"]
        if daemon is not None:
            args += ["--daemon-sock", daemon.socket]
        else:
            args += ["--daemon-sock", str(self.root / "absent.sock")]
            args += ["--embedded-dir", str(self.root / "embedded")]
        return args + list(extra)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        self.procs.clear()

    def __enter__(self) -> LocalCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
