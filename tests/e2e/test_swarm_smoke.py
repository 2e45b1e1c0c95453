"""Smoke version of the swarm benchmark (``bench/swarm``): 2 emulated hosts in network
namespaces with ``tc tbf`` caps, an 8 MiB file, Damselfly only. It needs root and
network namespaces, and is skipped with the reason otherwise. Its namespaces are named
``dfsmoke-<pid>-...`` so that a full benchmark (``dfbench-...``) running at the same
time cannot clash with it; none may be left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "bench" / "swarm" / "install_tools.sh"
PREFIX = "dfsmoke-"
SIZE = 8 << 20
BUDGET_S = 55


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


def _namespaces(prefix: str) -> list[str]:
    listing = _run("ip", "netns", "list").stdout
    return [line.split()[0] for line in listing.splitlines() if line.startswith(prefix)]


def _skip_reason() -> str | None:
    """Why this machine cannot run the smoke benchmark, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "needs root to create network namespaces and tc qdiscs"
    installed = _run("bash", str(INSTALLER), "--python", sys.executable, "iproute2", "curl")
    if installed.returncode != 0:
        return f"could not install iproute2 and curl: {installed.stderr.strip()[-200:]}"
    probe = f"{PREFIX}probe-{os.getpid()}"
    try:
        steps = [
            ("ip", "netns", "add", probe),
            ("ip", "-n", probe, "link", "add", "br0", "type", "bridge"),
            ("ip", "-n", probe, "link", "add", "v0", "type", "veth", "peer", "name", "v1"),
            ("tc", "-n", probe, "qdisc", "add", "dev", "v0", "root", "tbf", "rate", "10mbit",
             "burst", "64kb", "latency", "50ms"),
        ]  # fmt: skip
        for step in steps:
            done = _run(*step)
            if done.returncode != 0:
                return f"network namespaces, veth or tc tbf unavailable: {done.stderr.strip()}"
    finally:
        _run("ip", "netns", "del", probe)
    return None


def test_swarm_smoke(tmp_path: Path) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    command = [
        sys.executable, "-m", "bench.swarm", "--hosts", "2", "--size", "8MiB",
        "--rate", "100mbit", "--systems", "damselfly", "--json", "--no-plot", "--no-install",
        "--prefix", PREFIX, "--timeout", "40", "--results", str(tmp_path / "results"),
        "--workdir", str(tmp_path / "work"),
    ]  # fmt: skip
    began = time.monotonic()
    proc = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=BUDGET_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the benchmark removes its namespaces on SIGTERM
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"the smoke benchmark took more than {BUDGET_S} s:\n{out}\n{err}")
    finally:
        left = _namespaces(f"{PREFIX}{proc.pid}-")
    elapsed = time.monotonic() - began
    assert not left, f"namespaces left behind: {left}"
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    summary = json.loads(out.strip().splitlines()[-1])
    damselfly = summary["systems"]["damselfly"]
    assert damselfly["hosts_ok"] == 2, out
    assert damselfly["max_s"] is not None and damselfly["max_s"] > 0
    assert summary["bound_s"] > 0
    assert damselfly["origin_bytes"] == SIZE, f"the origin should send the file once:\n{out}"
    assert elapsed < 60, f"the smoke benchmark took {elapsed:.1f} s"
