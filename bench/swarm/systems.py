"""The three systems, each run on the same hosts and file: every host starts its client
at the same moment (t0) and the time from t0 to the host's completion is recorded.

- http: ``curl`` on every host fetches the file from the origin server; done at exit.
- bittorrent: ``aria2c`` on every host, an ``aria2c`` seeder on the origin host, our own
  tracker on the scheduler host; done when aria2c's completion hook fires (leechers keep
  seeding until every host is done, as Damselfly's daemons keep serving).
- damselfly: origin server and seed peer on the origin host, scheduler on the scheduler
  host, a dfdaemon on every host; every host runs ``dfget`` at once; done at exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.swarm.harness import (
    MIB,
    Bench,
    Launch,
    SystemResult,
    check_output,
    process_cpu_s,
    run_clients,
)
from bench.swarm.netns import Node
from bench.swarm.procs import ns_get_json
from bench.swarm.torrent import make_torrent
from damselfly.demo.cluster import daemon_args

# ----------------------------------------------------------------------------- http


def run_http(bench: Bench) -> SystemResult:
    before = bench.origin_stats()["bytes_sent"]
    outputs = {n.role: bench.host_dir("http", n) / bench.file.name for n in bench.topo.peers}
    launches = [
        Launch(
            n,
            [
                "curl",
                "-sS",
                "--fail",
                "--max-time",
                str(int(bench.timeout_s)),
                "-o",
                str(outputs[n.role]),
                bench.url,
            ],
        )
        for n in bench.topo.peers
    ]
    run = run_clients(bench, "http", launches)
    bench.procs.stop(list(run.procs.values()))
    sent = bench.origin_stats()["bytes_sent"] - before
    for host in run.hosts:
        check_output(bench, host, outputs[host.host])
    shutil.rmtree(bench.work / "http", ignore_errors=True)
    how = "origin HTTP server body bytes (/_stats)"
    return SystemResult("http", run.hosts, sent, how, run.samples, cpu_busy=run.cpu_busy)


# ----------------------------------------------------------------------- bittorrent

HOOK = """#!/bin/sh
# aria2c --on-bt-download-complete: stamp the wall-clock time of completion.
date +%s.%N > "$DFBENCH_DONE.tmp" && mv "$DFBENCH_DONE.tmp" "$DFBENCH_DONE"
"""


def aria2c_argv(bench: Bench, directory: Path, log: Path, interval: int) -> list[str]:
    return [
        "aria2c",
        f"--dir={directory}",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=true",
        "--seed-ratio=0.0",  # seed until stopped
        f"--bt-tracker-interval={interval}",
        "--file-allocation=none",
        "--disable-ipv6=true",
        "--summary-interval=0",
        "--console-log-level=warn",
        f"--log={log}",
        "--log-level=notice",
        "--allow-overwrite=true",
        "--auto-file-renaming=false",
    ]


def aria2c_version() -> str:
    out = subprocess.run(["aria2c", "--version"], capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0] if out.stdout else "aria2c"
    return first.replace("aria2 version", "aria2c").strip()


def tracker_peers(bench: Bench, address: str) -> list[dict[str, Any]]:
    stats = ns_get_json(bench.topo.sched.ns, f"http://{address}/_stats")
    peers: list[dict[str, Any]] = stats["peers"]
    return peers


def seeder_uploaded(bench: Bench, address: str) -> int:
    return max(
        (
            int(p["uploaded"])
            for p in tracker_peers(bench, address)
            if p["ip"] == bench.topo.origin.ip
        ),
        default=-1,
    )


def run_bittorrent(bench: Bench) -> SystemResult:
    topo, root = bench.topo, bench.work / "bittorrent"
    root.mkdir(parents=True, exist_ok=True)
    interval = bench.tracker_interval
    ready = bench.logs / "tracker.ready.json"
    ready.unlink(missing_ok=True)
    tracker = bench.procs.spawn(
        "bittorrent-tracker",
        topo.sched.ns,
        [
            bench.python,
            "-m",
            "bench.swarm.tracker",
            "--host",
            topo.sched.ip,
            "--port",
            "6969",
            "--interval",
            str(interval),
            "--ready-file",
            str(ready),
        ],
    )
    address = bench.procs.wait_ready(ready, tracker)["address"]
    meta, info_hash = make_torrent(bench.file, f"http://{address}/announce", bench.bt_piece_length)
    torrent = root / f"{bench.file.name}.torrent"
    torrent.write_bytes(meta)
    hook = root / "done-hook.sh"
    hook.write_text(HOOK)
    hook.chmod(0o755)

    seed_dir = root / "seed"
    seed_dir.mkdir()
    try:
        os.link(bench.file, seed_dir / bench.file.name)
    except OSError:
        shutil.copyfile(bench.file, seed_dir / bench.file.name)
    seeder = bench.procs.spawn(
        "bittorrent-seeder",
        topo.origin.ns,
        [
            *aria2c_argv(bench, seed_dir, bench.logs / "bittorrent-seeder.aria2.log", interval),
            "--check-integrity=true",
            str(torrent),
        ],
    )
    deadline = time.monotonic() + 120
    while not any(
        p["ip"] == topo.origin.ip and p["left"] == 0 for p in tracker_peers(bench, address)
    ):
        if seeder.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the aria2c seeder did not announce a complete copy")
        time.sleep(0.1)

    launches, outputs = [], {}
    for node in topo.peers:
        directory = bench.host_dir("bittorrent", node)
        outputs[node.role] = directory / bench.file.name
        argv = aria2c_argv(
            bench, directory, bench.logs / f"bittorrent-{node.role}.aria2.log", interval
        )
        argv += [f"--on-bt-download-complete={hook}", str(torrent)]
        done = directory / "done.stamp"
        launches.append(Launch(node, argv, {"DFBENCH_DONE": str(done)}, done_file=done))
    run = run_clients(bench, "bittorrent", launches, connections=True)
    hosts, procs = run.hosts, run.procs
    # The seeder's next periodic announce carries its final upload count; the "stopped"
    # announce at shutdown carries it again.
    time.sleep(interval + 1)
    uploaded = seeder_uploaded(bench, address)
    bench.procs.stop([*procs.values(), seeder], grace=15)
    uploaded = max(uploaded, seeder_uploaded(bench, address))
    bench.procs.stop([tracker])
    for host in hosts:
        check_output(bench, host, outputs[host.host])
    shutil.rmtree(root, ignore_errors=True)
    how = "seeding aria2c's 'uploaded' as announced to the tracker (payload bytes)"
    if uploaded < 0:
        how, uploaded = "unknown: the seeder's announces were not seen", 0
    link_sent = 0
    if run.samples:
        first, last = run.samples[0][1], run.samples[-1][1]
        link_sent = last["origin"][0] - first["origin"][0]
    notes = [
        f"{aria2c_version()} on every host and as the seeder on the origin host",
        f"cross-check: the origin host's link sent {link_sent / MIB:.1f} MiB while the hosts "
        "downloaded (payload plus TCP/IP and BitTorrent overhead)",
        f"tracker: our own HTTP tracker (bench/swarm/tracker.py), announce interval {interval} s",
        f"torrent: {bench.bt_piece_length // 1024} KiB pieces, info-hash {info_hash[:12]}..., "
        "made with our own bencoding (bench/swarm/torrent.py); DHT and LPD off, PEX on",
    ]
    return SystemResult(
        "bittorrent", hosts, uploaded, how, run.samples, notes, run.cpu_busy, run.matrix
    )


# ------------------------------------------------------------------------ damselfly


def daemon_env(bench: Bench, node: Node) -> dict[str, str]:
    env = {
        "DAMSELFLY_DAEMON__HOST__IP": node.ip,
        "DAMSELFLY_DAEMON__HOST__HOSTNAME": node.role,
        "DAMSELFLY_DAEMON__SERVER__LISTEN_IP": node.ip,
        # Every host is capped at the same rate: tell the scheduler, as an operator would.
        "DAMSELFLY_DAEMON__HOST__MAX_TX_BANDWIDTH": str(bench.topo.rate_bps),
        "DAMSELFLY_DAEMON__HOST__MAX_RX_BANDWIDTH": str(bench.topo.rate_bps),
    }
    if bench.debug_logs:
        env["DAMSELFLY_DAEMON__LOG_LEVEL"] = "DEBUG"
    return env


def start_daemon(
    bench: Bench, node: Node, scheduler: str, *, seed: bool
) -> tuple[subprocess.Popen[bytes], Path, str]:
    directory = bench.host_dir("damselfly", node)
    name = "damselfly-seed" if seed else f"damselfly-daemon-{node.role}"
    ready = bench.logs / f"{name}.ready.json"
    ready.unlink(missing_ok=True)  # a results folder reused: never trust an old one
    socket = directory / "dfdaemon.sock"
    argv = [
        bench.python,
        *daemon_args(str(socket), directory / "data", ready),
        "--scheduler",
        scheduler,
    ]
    if seed:
        argv.append("--seed")
    return bench.procs.spawn(name, node.ns, argv, daemon_env(bench, node)), ready, str(socket)


LOG_PATTERNS = {
    "back_to_source": "back to source",
    "rescheduling": "parents cannot finish",
    "piece_failures": "piece ",
    "parent_stream_ended": "stream ended",
    "warnings": " WARNING ",
    "errors": " ERROR ",
    "tracebacks": "Traceback",
}


SCHEDULER_PATTERNS = {
    "seed_triggers": "triggering seed peer",
    "peers_evicted_by_gc": "gc: peer",
    "seed_trigger_failed": "seed trigger failed",
    "warnings": " WARNING ",
    "errors": " ERROR ",
    "tracebacks": "Traceback",
}


def scan_log(path: Path, patterns: dict[str, str] | None = None) -> dict[str, int]:
    """How often each pattern occurs in a log (``piece_failures`` only on WARNING lines)."""
    patterns = patterns or LOG_PATTERNS
    counts = dict.fromkeys(patterns, 0)
    with contextlib.suppress(OSError):
        for line in path.read_text(errors="replace").splitlines():
            for key, needle in patterns.items():
                if needle in line and (key != "piece_failures" or "WARNING" in line):
                    counts[key] += 1
    return counts


def _nonzero(counts: dict[str, int]) -> dict[str, int] | str:
    return {k: v for k, v in counts.items() if v} or "nothing unusual"


def run_damselfly(bench: Bench) -> SystemResult:
    topo = bench.topo
    ready = bench.logs / "damselfly-scheduler.ready.json"
    ready.unlink(missing_ok=True)
    env = {
        "DAMSELFLY_SCHEDULER__SERVER__LISTEN_IP": topo.sched.ip,
        "DAMSELFLY_SCHEDULER__READY_FILE": str(ready),
    }
    if bench.debug_logs:
        env["DAMSELFLY_SCHEDULER__LOG_LEVEL"] = "DEBUG"
    scheduler = bench.procs.spawn(
        "damselfly-scheduler",
        topo.sched.ns,
        [bench.python, "-m", "damselfly.scheduler", "--port", "8002"],
        env,
    )
    address = bench.procs.wait_ready(ready, scheduler)["address"]
    seed, seed_ready, _ = start_daemon(bench, topo.origin, address, seed=True)
    bench.procs.wait_ready(seed_ready, seed)
    daemons = {n.role: start_daemon(bench, n, address, seed=False) for n in topo.peers}
    for proc, path, _ in daemons.values():
        bench.procs.wait_ready(path, proc, timeout_s=120)

    before = bench.origin_stats()
    outputs, launches = {}, []
    for node in topo.peers:
        directory = bench.host_dir("damselfly", node)
        outputs[node.role] = directory / bench.file.name
        argv = [
            bench.python,
            "-m",
            "damselfly.cli.dfget",
            bench.url,
            "-O",
            str(outputs[node.role]),
            "--json",
            "--no-progress",
            "--daemon-sock",
            daemons[node.role][2],
            "--timeout",
            f"{int(bench.timeout_s)}s",
        ]
        launches.append(Launch(node, argv, stdout=directory / "dfget.json"))
    cpu_before = {role: process_cpu_s(d[0].pid) or 0.0 for role, d in daemons.items()}
    cpu_before["seed"] = process_cpu_s(seed.pid) or 0.0
    cpu_before["scheduler"] = process_cpu_s(scheduler.pid) or 0.0
    run = run_clients(bench, "damselfly", launches, connections=True)
    hosts, procs = run.hosts, run.procs
    cpu = {role: (process_cpu_s(d[0].pid) or 0.0) - cpu_before[role] for role, d in daemons.items()}
    cpu["seed"] = (process_cpu_s(seed.pid) or 0.0) - cpu_before["seed"]
    cpu["scheduler"] = (process_cpu_s(scheduler.pid) or 0.0) - cpu_before["scheduler"]
    after = bench.origin_stats()
    for host in hosts:
        out = bench.work / "damselfly" / host.host / "dfget.json"
        with contextlib.suppress(OSError, ValueError, IndexError):
            reply = json.loads(out.read_text().strip().splitlines()[-1])
            if reply.get("ok"):
                host.detail["dfget"] = reply
            elif host.seconds is None:
                host.error = f"{host.error}: {reply.get('error', '')}"
        check_output(bench, host, outputs[host.host])
    bench.procs.stop([*procs.values(), *(d[0] for d in daemons.values()), seed, scheduler])
    for host in hosts:
        host.detail["log"] = scan_log(bench.logs / f"damselfly-daemon-{host.host}.log")
        host.detail["daemon_cpu_s"] = round(cpu[host.host], 2)
    peers_cpu = [cpu[h.host] for h in hosts]
    scheduler_log = bench.logs / "damselfly-scheduler.log"
    notes = [
        f"CPU seconds during the run: seed daemon {cpu['seed']:.1f}, scheduler "
        f"{cpu['scheduler']:.1f}, host daemons {min(peers_cpu):.1f}-{max(peers_cpu):.1f} "
        f"(total {sum(peers_cpu):.1f})",
        f"origin server answered {after['requests'] - before['requests']} requests",
        f"seed peer log: {_nonzero(scan_log(bench.logs / 'damselfly-seed.log'))}",
        f"scheduler log: {_nonzero(scan_log(scheduler_log, SCHEDULER_PATTERNS))}",
    ]
    shutil.rmtree(bench.work / "damselfly", ignore_errors=True)
    return SystemResult(
        "damselfly",
        hosts,
        after["bytes_sent"] - before["bytes_sent"],
        "origin HTTP server body bytes (/_stats)",
        run.samples,
        notes,
        run.cpu_busy,
        run.matrix,
    )


SYSTEMS: dict[str, Callable[[Bench], SystemResult]] = {
    "http": run_http,
    "bittorrent": run_bittorrent,
    "damselfly": run_damselfly,
}
