"""Processes of a run, each started inside a host's namespace with its output in a log
file, stopped in reverse order at the end (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from damselfly.demo.cluster import ClusterError, wait_ready

PR_SET_PDEATHSIG = 1


class ProcError(Exception):
    pass


try:  # resolved here, in the parent, so that the forked child only makes the call
    _PRCTL: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent() -> None:
    """Children get SIGKILL if the benchmark itself is killed (-9) before cleaning up."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


def clean_env(extra: dict[str, str] | None = None, pythonpath: str = "") -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAMSELFLY_", "DFGET_")) and k not in ("http_proxy", "https_proxy")
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_PROXY"] = env["no_proxy"] = "*"
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


def ns_output(ns: str, argv: list[str], timeout: float = 15) -> str:
    """Run a short command inside a namespace and return its stdout."""
    done = subprocess.run(
        ["ip", "netns", "exec", ns, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=clean_env(),
    )
    if done.returncode != 0:
        raise ProcError(f"{' '.join(argv)} in {ns}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def ns_get_json(ns: str, url: str) -> Any:
    return json.loads(ns_output(ns, ["curl", "-sS", "--fail", "--max-time", "10", url]))


@dataclass
class Procs:
    logs: Path
    pythonpath: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)  # still to stop
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)  # every one
    lock: threading.Lock = field(default_factory=threading.Lock)

    def spawn(
        self,
        name: str,
        ns: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        stdout: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in ``ns``; stderr (and stdout unless given) to ``<logs>/<name>.log``."""
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115
        out: IO[bytes] = open(stdout, "wb") if stdout else log  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=log,
                env=clean_env(env, self.pythonpath),
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (spawned from the main thread)
            )
        finally:
            log.close()
            if out is not log:
                out.close()
        with self.lock:
            self.procs.append(proc)
            self.started.append(proc)
        return proc

    def count(self) -> int:
        """How many processes were started so far (see ``since``)."""
        with self.lock:
            return len(self.started)

    def since(self, count: int) -> list[subprocess.Popen[bytes]]:
        """The processes started after ``count`` had been."""
        with self.lock:
            return self.started[count:]

    def wait_ready(
        self, path: Path, proc: subprocess.Popen[bytes], timeout_s: float = 60
    ) -> dict[str, Any]:
        try:
            return wait_ready(path, proc, timeout_s)
        except ClusterError as exc:
            raise ProcError(str(exc)) from None

    def stop(self, procs: list[subprocess.Popen[bytes]] | None = None, grace: float = 10) -> None:
        """SIGTERM (newest first), wait up to ``grace`` seconds, then SIGKILL."""
        with self.lock:
            targets = list(self.procs if procs is None else procs)
        for proc in reversed(targets):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in targets:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        with self.lock:
            self.procs = [p for p in self.procs if p not in targets]
