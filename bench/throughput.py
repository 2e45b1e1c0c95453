"""Data-path throughput of one file, side by side with curl, in one run.

(A) curl from the origin; (B) dfget cold: origin -> seed peer -> peer; (C) dfget warm:
another peer fetches the task from peers that hold it; (D) dfget local: the daemon
already holds the task. Ratios are time / curl time. Usage:
``python -m bench.throughput --size 1GiB --json``

This machine is a VM whose memory the host backs on first touch: the first write to
fresh memory costs several times a later one (1 GiB into tmpfs: 1.3-1.9 s cold, 0.4-0.5
s once touched), and it lands on whichever case meets it. So the run first writes and
deletes as much as the run will store on the work filesystem (the source, curl's copy,
and three daemons' copies a round), then repeats all four cases ``--rounds`` times (a
new tag per round makes a new task) and reports each case's best. The warm-up helps
only in part: this VM hands freed pages back to its host at once
(``/sys/module/page_reporting/parameters/min_free_ms`` is 0), so the best of the rounds
is what evens the cases out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from damselfly.core import units
from damselfly.core.errors import InvalidArgument
from damselfly.demo.cluster import LocalCluster
from damselfly.demo.run import make_file, sha256_of


def parse_size(text: str) -> int:
    try:
        return units.parse_size(text)
    except InvalidArgument as exc:
        raise SystemExit(str(exc)) from None


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(command: list[str]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {done.stderr.strip()}")
    return seconds, done.stdout


def touch_memory(folder: Path, size: int) -> None:
    """Write and delete ``size`` bytes in ``folder`` so later writers find touched pages."""
    scratch = folder / "warm-up.bin"
    chunk = bytes(4 << 20)
    with scratch.open("wb") as out:
        for _ in range(0, size, len(chunk)):
            out.write(chunk)
    scratch.unlink()


def drop_output(path: Path) -> None:
    if path.exists():
        path.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--json", action="store_true", help="print the JSON line last")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    args = parser.parse_args(argv)
    size = parse_size(args.size)
    # tmpfs by default: with several GiB written per run, disk writeback would otherwise
    # throttle every writer (curl included) to the disk's speed, measuring the disk.
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    root = Path(args.workdir or tempfile.mkdtemp(prefix="damselfly-bench-", dir=base))
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    expected = make_file(files / "blob.bin", size)
    out = root / "out.bin"
    free = shutil.disk_usage(root).free
    touch_memory(root, min(free // 2, (2 + 3 * args.rounds) * size))
    results: dict[str, float] = {}
    with LocalCluster(root / "run") as cluster:
        cluster.start_origin(files)
        cluster.start_up()
        first = cluster.start_daemon("daemon1")
        second = cluster.start_daemon("daemon2")
        url = cluster.url("blob.bin")
        curl = shutil.which("curl")
        if curl is None:
            raise SystemExit("curl is not installed; apt-get install curl")
        for run in range(1, args.rounds + 1):
            seconds, _ = timed([curl, "-sS", "-o", str(out), url])
            results["curl_s"] = min(seconds, results.get("curl_s", seconds))
            print(f"round {run} curl_s: {seconds:.3f}", file=sys.stderr)
            drop_output(out)
            for name, daemon in (("cold_s", first), ("warm_s", second), ("local_s", first)):
                command = cluster.dfget_command(
                    daemon, url, out, "--no-progress", "--tag", f"round-{run}"
                )
                seconds, stdout = timed(command)
                if sha256_of(out) != expected:
                    raise SystemExit(f"{name}: output does not match the source")
                results[name] = min(seconds, results.get(name, seconds))
                traffic = json.loads(stdout.strip().splitlines()[-1])["traffic"]
                print(f"round {run} {name}: {seconds:.3f} {traffic}", file=sys.stderr)
                drop_output(out)
        rss = max(peak_rss_mb(d.proc.pid) for d in cluster.daemons)
    shutil.rmtree(root, ignore_errors=True)
    curl_s = results["curl_s"]
    summary = {
        **{k: round(v, 3) for k, v in results.items()},
        "cold_ratio": round(results["cold_s"] / curl_s, 3),
        "warm_ratio": round(results["warm_s"] / curl_s, 3),
        "local_ratio": round(results["local_s"] / curl_s, 3),
        "daemon_peak_rss_mb": round(rss, 1),
    }
    mb = size / 1e6
    print(f"{'case':<8}{'seconds':>9}{'MB/s':>9}{'ratio':>8}  target")
    targets = {"curl": "", "cold": "<= 1.3", "warm": "<= 0.8", "local": "<= 0.3"}
    for case, target in targets.items():
        seconds = results[f"{case}_s"]
        print(f"{case:<8}{seconds:>9.3f}{mb / seconds:>9.0f}{seconds / curl_s:>8.2f}  {target}")
    print(f"daemon peak RSS {rss:.0f} MB (target <= 200)")
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
