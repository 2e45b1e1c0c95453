"""``python -m bench.swarm --hosts 8 --size 64MiB --rate 100mbit --json`` (as root).

Builds N host namespaces plus an origin host and a scheduler host on one bridge, every
one capped at ``--rate`` up and down with ``tc tbf``, then runs http, bittorrent and
damselfly one after another on the same hosts and file. Prints the bound, a table, the
per-host times, findings for Damselfly and, with ``--json``, one JSON line last. Logs
of every process, ``results.json`` and the CDF plot go to ``--results``. Every
namespace is removed at the end, also on Ctrl-C, SIGTERM or failure; namespaces left by
a run that was killed (-9) are removed by the next run with the same ``--prefix``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench.swarm import report
from bench.swarm.harness import Bench, HostResult, SystemResult
from bench.swarm.netns import NetnsError, Topology, cleanup_stale
from bench.swarm.procs import ProcError, Procs
from bench.swarm.systems import SYSTEMS
from bench.swarm.units import format_size, parse_rate, parse_size
from damselfly.demo.run import make_file

REPO = Path(__file__).resolve().parents[2]
INSTALLER = Path(__file__).with_name("install_tools.sh")
FILE_NAME = "blob.bin"
SHM = Path("/dev/shm")


class Interrupted(BaseException):
    """SIGTERM or SIGHUP: unwind through every ``finally`` like Ctrl-C does."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signal.Signals(signum).name)


def say(message: str) -> None:
    print(f"[swarm] {message}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.swarm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--hosts", type=int, default=8, help="downloading hosts (default 8)")
    parser.add_argument("--size", default="64MiB", help="file size (default 64MiB)")
    parser.add_argument(
        "--rate", default="100mbit", help="upload and download cap of every host (default 100mbit)"
    )
    parser.add_argument(
        "--systems",
        default="http,bittorrent,damselfly",
        help="comma-separated, run in this order (default http,bittorrent,damselfly)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line last")
    parser.add_argument(
        "--results",
        help="folder for logs, results.json and the plot "
        "(default bench/results/swarm-<time>-<hosts>x<size>)",
    )
    parser.add_argument("--plot", help="where to write the CDF plot (default <results>/cdf.png)")
    parser.add_argument("--no-plot", action="store_true", help="skip the plot (no matplotlib)")
    parser.add_argument(
        "--workdir",
        help="folder for the file and every host's copies (default: a temporary folder in "
        "/dev/shm when it has room, so the VM's one shared disk is not the bottleneck)",
    )
    parser.add_argument(
        "--prefix", default="dfbench-", help="namespace name prefix (default dfbench-)"
    )
    parser.add_argument(
        "--timeout", type=float, help="seconds per system (default 60 + 3 x the plain-HTTP time)"
    )
    parser.add_argument(
        "--bt-piece-length", default="256KiB", help="BitTorrent piece length (default 256KiB)"
    )
    parser.add_argument(
        "--tracker-interval", type=int, default=2, help="tracker announce interval, s (default 2)"
    )
    parser.add_argument(
        "--debug-logs", action="store_true", help="run scheduler and daemons at DEBUG level"
    )
    parser.add_argument(
        "--no-install", action="store_true", help=f"do not run {INSTALLER.name} first"
    )
    return parser


def install(systems: list[str], plot: bool) -> None:
    tools = ["iproute2", "curl"]
    if "bittorrent" in systems:
        tools.append("aria2")
    if plot:
        tools.append("matplotlib")
    done = subprocess.run(["bash", str(INSTALLER), "--python", sys.executable, *tools], check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench.swarm: {INSTALLER.name} failed ({done.returncode})")


def pick_workdir(args: argparse.Namespace, need: int) -> Path:
    if args.workdir:
        base = Path(args.workdir)
        base.mkdir(parents=True, exist_ok=True)
    else:
        room = shutil.disk_usage(SHM).free if SHM.is_dir() else 0
        base = SHM if room > need * 1.25 else Path(tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix=f"{args.prefix}{os.getpid()}-", dir=base))


def tree_revision() -> str:
    """The commit benchmarked, and whether src/ had uncommitted changes (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(REPO), "diff", "--quiet", "HEAD", "--", "src"],
            capture_output=True,
            check=False,
            timeout=10,
        ).returncode
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" + uncommitted changes in src/" if dirty else "")


def start_origin(procs: Procs, topo: Topology, files: Path, logs: Path, python: str) -> str:
    ready = logs / "origin.ready.json"
    proc = procs.spawn(
        "origin-server",
        topo.origin.ns,
        [
            python,
            "-m",
            "damselfly.demo.origin",
            "--dir",
            str(files),
            "--host",
            topo.origin.ip,
            "--port",
            "8080",
            "--ready-file",
            str(ready),
        ],
    )
    return f"http://{procs.wait_ready(ready, proc)['address']}"


def run(args: argparse.Namespace, systems: list[str]) -> dict[str, Any]:
    size, rate = parse_size(args.size), parse_rate(args.rate)
    hosts = args.hosts
    lower = report.bound(size, rate, hosts)
    http_s = hosts * size / (rate / 8)
    timeout = args.timeout or 60 + 3 * http_s
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results_dir = Path(
        args.results or REPO / "bench" / "results" / f"swarm-{stamp}-{hosts}x{format_size(size)}"
    )
    logs = results_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    bases = [Path(args.workdir)] if args.workdir else [SHM, Path(tempfile.gettempdir())]
    stale = cleanup_stale(args.prefix, bases)
    if stale:
        say(f"removed what an earlier run left: {', '.join(stale[:4])}{' ...' * (len(stale) > 4)}")
    topo = Topology(args.prefix, hosts, rate)
    workdir = pick_workdir(args, size * (2 * hosts + 2))
    procs = Procs(logs, str(REPO))
    results: list[SystemResult] = []
    try:
        say(f"work folder {workdir}, logs {logs}")
        files = workdir / "origin"
        files.mkdir()
        sha = make_file(files / FILE_NAME, size)
        say(f"building {hosts} hosts + origin + scheduler host, {args.rate} up and down each")
        topo.create()
        origin = start_origin(procs, topo, files, logs, sys.executable)
        bench = Bench(
            topo=topo,
            procs=procs,
            python=sys.executable,
            work=workdir,
            logs=logs,
            file=files / FILE_NAME,
            size=size,
            sha256=sha,
            timeout_s=timeout,
            origin_base=origin,
            bt_piece_length=parse_size(args.bt_piece_length),
            tracker_interval=args.tracker_interval,
            debug_logs=args.debug_logs,
        )
        for name in systems:
            say(f"{name}: {hosts} hosts start at once (timeout {timeout:.0f} s)")
            began = time.monotonic()
            started = procs.count()
            try:
                result = SYSTEMS[name](bench)
            except (ProcError, RuntimeError, OSError, ValueError, KeyError) as exc:
                # One system failing (say, a tool that does not start) still leaves the
                # others to run; its hosts count as failed.
                say(f"{name}: failed: {exc}")
                procs.stop(procs.since(started))
                shutil.rmtree(workdir / name, ignore_errors=True)
                failed_hosts = [
                    HostResult(n.role, None, f"{name} failed: {exc}") for n in topo.peers
                ]
                result = SystemResult(name, failed_hosts, 0, f"unknown: {name} failed ({exc})")
            results.append(result)
            failed = [h.host for h in result.hosts if h.seconds is None]
            say(
                f"{name}: done in {time.monotonic() - began:.1f} s"
                + (f", failed hosts: {failed}" if failed else "")
            )
            time.sleep(1)
    finally:
        # No second Ctrl-C may cut the cleanup short.
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            procs.stop(grace=5)
            left = topo.destroy()
            if left:
                say(f"namespaces still present: {left}")
            shutil.rmtree(workdir, ignore_errors=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    lines = [
        f"swarm: {hosts} hosts + origin host + scheduler host, {format_size(size)} file, "
        f"every host capped at {args.rate} up and {args.rate} down (tc tbf)",
        f"storage: {workdir.parent}; damselfly tree: {tree_revision()}",
    ]
    for result in results:
        lines += [f"{result.name}: {note}" for note in result.notes]
        lines.append(f"{result.name}: origin bytes = {result.origin_bytes_how}")
    lines.append("")
    lines += report.print_tables(results, lower, size, rate, hosts)
    summary: dict[str, Any] = {
        "bound_s": round(lower.seconds, 2),
        "systems": {r.name: report.summarize(r, lower, size) for r in results},
        "params": {"hosts": hosts, "size": size, "rate_bps": rate, "tree": tree_revision()},
    }
    for result in results:
        if result.name == "bittorrent" and result.matrix:
            lines.append("")
            lines += report.matrix_lines(result)
        if result.name == "damselfly":
            lines.append("")
            lines += report.damselfly_lines(result, rate)
            lines.append("")
            lines += report.matrix_lines(result)
            lines.append("")
            lines.append("damselfly findings:")
            lines += [f"- {f}" for f in report.findings(result, lower, size, rate)]
    verdict = verdicts(summary, size)
    if verdict:
        lines.append("")
        lines += verdict
    if not args.no_plot and results:
        plot_path = Path(args.plot) if args.plot else results_dir / "cdf.png"
        title = (
            f"{hosts} hosts, {format_size(size)}, {args.rate} up/down per host: completion-time CDF"
        )
        capacity = (hosts + 1) * rate / 1e6
        report.plot(results, lower, plot_path, title, capacity)
        lines.append(f"plot: {plot_path}")
    print("\n".join(lines), flush=True)
    detail = summary | {
        "hosts": {r.name: {h.host: h.seconds for h in r.hosts} for r in results},
        "errors": {r.name: {h.host: h.error for h in r.hosts if h.error} for r in results},
    }
    (results_dir / "results.json").write_text(json.dumps(detail, indent=2) + "\n")
    for result in results:
        samples = [{"t": round(t, 3), "up_down": c} for t, c in result.samples]
        (results_dir / f"links-{result.name}.json").write_text(json.dumps(samples) + "\n")
        if result.matrix:
            matrix = json.dumps(result.matrix, indent=1)
            (results_dir / f"senders-{result.name}.json").write_text(matrix + "\n")
    (results_dir / "report.txt").write_text("\n".join(lines) + "\n")
    return summary


def verdicts(summary: dict[str, Any], size: int) -> list[str]:
    systems = summary["systems"]
    dfly, bt = systems.get("damselfly"), systems.get("bittorrent")
    if not dfly:
        return []
    out = ["checks (issue 5, done-when 2):"]
    ratio = dfly["max_over_bound"]
    out.append(
        f"- damselfly max/bound {ratio if ratio is not None else '-'} <= 1.3: "
        f"{'yes' if ratio is not None and ratio <= 1.3 else 'no'}"
    )
    if bt and bt["max_s"] is None:
        out.append("- damselfly max below bittorrent max: n/a (bittorrent did not complete)")
    elif bt:
        below = dfly["max_s"] is not None and dfly["max_s"] < bt["max_s"]
        out.append(
            f"- damselfly max {dfly['max_s']} s below bittorrent max {bt['max_s']} s: "
            f"{'yes' if below else 'no'}"
        )
    once = dfly["origin_bytes"] == size
    out.append(
        f"- origin sent the file once ({dfly['origin_bytes']} bytes, file {size}): "
        f"{'yes' if once else 'no'}"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        print(
            f"bench.swarm: unknown systems {unknown}; choose from {list(SYSTEMS)}", file=sys.stderr
        )
        return 2
    try:
        parse_size(args.size), parse_rate(args.rate), parse_size(args.bt_piece_length)
    except ValueError as exc:
        print(f"bench.swarm: {exc}", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench.swarm: needs root (network namespaces and tc)", file=sys.stderr)
        return 2
    if not args.no_install:
        install(systems, plot=not args.no_plot)
    # Installed explicitly: a shell without job control starts background jobs with
    # SIGINT ignored, and Ctrl-C must still clean up.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        summary = run(args, systems)
    except (KeyboardInterrupt, Interrupted) as exc:
        print(
            f"bench.swarm: interrupted ({str(exc) or 'SIGINT'}); namespaces removed",
            file=sys.stderr,
        )
        return 130
    except (NetnsError, ProcError, RuntimeError, OSError) as exc:
        print(f"bench.swarm: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary), flush=True)
    return 0
