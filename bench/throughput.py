"""Data-path throughput of one file, side by side with curl, in one run.

(A) curl from the origin; (B) dfget cold: origin -> seed peer -> peer; (C) dfget warm:
another peer fetches the task from peers that hold it; (D) dfget local: the daemon
already holds the task. Ratios are time / curl time. Usage:
``python -m bench.throughput --size 1GiB --json``

Each of ``--rounds`` rounds starts a fresh cluster (so cold is cold and the round's
copies are freed after it), runs the four cases, and each case's best round counts.
This machine is a VM whose host backs guest memory on first touch and takes freed pages
back within seconds (``/sys/module/page_reporting/parameters/min_free_ms`` is 0): a
writer that meets unbacked pages runs 3-4 times slower (curl alike), and it used to
land on whichever case came after the backed pages ran out (warm took 3.0-3.2 s in four
rounds of five where it takes 0.7). So right before each case the bench writes and
deletes twice the file's size (cold stores two copies), and every case starts with the
same just-backed memory. The table also shows each case's median round, and the median
of its per-round ratios (each case against curl in the same round: drift over the run
hits both sides of such a pair alike).

Where the files live (``--storage``) changes what a page-cache write costs, 4-fold here
(``python -m bench.page_cache --huge``): writing 1 GiB costs 0.38-0.42 s of CPU on
/dev/shm (tmpfs in 4 KiB folios), 0.22 s on ext4 (a fresh file's page cache in 2 MiB
folios on this kernel) and 0.09 s on a tmpfs mounted with ``huge=within_size`` (2 MiB
folios). Real daemons store on a disk filesystem, whose page cache uses large folios,
and a disk's writeback would measure the disk; so by default (``huge``,
as root) the bench mounts such a tmpfs in a private mount namespace, which vanishes with
the bench, and falls back to /dev/shm (with a notice) when it cannot. ``--storage shm``
measures on /dev/shm, and ``--workdir DIR`` in a new folder inside DIR. Every case,
curl included, writes to the same storage. Cold pays the most for costly writes: on one
machine it writes every byte twice (the seed's copy and the peer's), which real hosts
do in parallel.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
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
    """Write and delete ``size`` bytes in ``folder``: the next writer gets pages this VM's
    host has just backed (see the module's docstring)."""
    scratch = folder / "warm-up.bin"
    chunk = bytes(4 << 20)
    with scratch.open("wb") as out:
        for _ in range(0, size, len(chunk)):
            out.write(chunk)
    scratch.unlink()


def drop_output(path: Path) -> None:
    if path.exists():
        path.unlink()


STORAGES = ("huge", "shm")
IN_PRIVATE_MOUNTS = "DAMSELFLY_BENCH_PRIVATE_MOUNTS"


@contextmanager
def bench_folder(storage: str, argv: list[str]) -> Iterator[tuple[Path, str]]:
    """A new folder for the run's files, and a description of the storage it is on; the
    folder goes when the run ends."""
    if storage == "huge":
        if os.environ.get(IN_PRIVATE_MOUNTS) != "1":
            enter_private_mounts(argv)  # returns only when it cannot
        else:
            point = Path(tempfile.mkdtemp(prefix="damselfly-bench-"))
            options = "huge=within_size,mode=0700"
            mount = ["mount", "-t", "tmpfs", "-o", options, "damselfly-bench", str(point)]
            if subprocess.run(mount, capture_output=True, check=False).returncode == 0:
                try:
                    yield point, f"tmpfs {options} (a private mount)"
                finally:
                    subprocess.run(["umount", str(point)], check=False)
                    point.rmdir()
                return
            point.rmdir()
        print("notice: cannot mount a tmpfs here; measuring on /dev/shm", file=sys.stderr)
    # tmpfs either way: with several GiB written per run, disk writeback would otherwise
    # throttle every writer (curl included) to the disk's speed, measuring the disk.
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    folder = Path(tempfile.mkdtemp(prefix="damselfly-bench-", dir=base))
    try:
        yield folder, f"{base or tempfile.gettempdir()} (4 KiB pages)"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def folder_in(workdir: Path) -> Iterator[tuple[Path, str]]:
    """A new folder inside ``workdir`` for the run's files; only it goes at the end."""
    if not workdir.is_dir():
        raise SystemExit(f"--workdir {workdir} is not a folder; create it first")
    folder = Path(tempfile.mkdtemp(prefix="damselfly-bench-", dir=workdir))
    try:
        yield folder, str(workdir)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def enter_private_mounts(argv: list[str]) -> None:
    """Run this benchmark again in a mount namespace of its own (root only), so that the
    tmpfs it mounts leaves no trace, even when the bench is killed."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        return
    command = [unshare, "--mount", "--propagation", "private"]
    if subprocess.run([*command, "true"], capture_output=True, check=False).returncode != 0:
        return  # no namespaces here (a container without the capability)
    os.environ[IN_PRIVATE_MOUNTS] = "1"
    os.execv(unshare, [*command, sys.executable, "-m", "bench.throughput", *argv])


CASES = ("curl", "cold", "warm", "local")
TARGETS = {"curl": "", "cold": "<= 1.3", "warm": "<= 0.8", "local": "<= 0.3"}


@dataclass
class Round:
    """What every round needs: the source, where outputs go, and what they must hash to."""

    files: Path
    out: Path
    expected: str
    size: int

    def case(self, name: str, command: list[str]) -> tuple[float, str]:
        # Each case writes at most two copies (cold: the seed's and the peer's).
        touch_memory(self.out.parent, 2 * self.size)
        seconds, stdout = timed(command)
        if name != "curl" and sha256_of(self.out) != self.expected:
            raise SystemExit(f"{name}: output does not match the source")
        drop_output(self.out)
        return seconds, stdout

    def run(self, cluster: LocalCluster) -> tuple[dict[str, float], float]:
        """The four cases on a fresh cluster: their seconds, and the daemons' peak RSS."""
        cluster.start_origin(self.files)
        cluster.start_up()
        first = cluster.start_daemon("daemon1")
        second = cluster.start_daemon("daemon2")
        url = cluster.url("blob.bin")
        curl = shutil.which("curl")
        if curl is None:
            raise SystemExit("curl is not installed; apt-get install curl")
        seconds = {"curl": self.case("curl", [curl, "-sS", "-o", str(self.out), url])[0]}
        for name, daemon in (("cold", first), ("warm", second), ("local", first)):
            command = cluster.dfget_command(daemon, url, self.out, "--no-progress")
            seconds[name], stdout = self.case(name, command)
            traffic = json.loads(stdout.strip().splitlines()[-1])["traffic"]
            print(f"  {name}: {seconds[name]:.3f} s {traffic}", file=sys.stderr)
        return seconds, max(peak_rss_mb(d.proc.pid) for d in cluster.daemons)


def measure(root: Path, size: int, rounds: int) -> tuple[dict[str, list[float]], float]:
    """Every case's seconds in each round, and the daemons' peak RSS over the rounds."""
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    expected = make_file(files / "blob.bin", size)
    runner = Round(files, root / "out.bin", expected, size)
    times: dict[str, list[float]] = {case: [] for case in CASES}
    rss = 0.0
    for run in range(1, rounds + 1):
        # A fresh cluster a round: cold is truly cold, and the round's copies are freed.
        with LocalCluster(root / f"round-{run}") as cluster:
            round_times, round_rss = runner.run(cluster)
        shutil.rmtree(root / f"round-{run}", ignore_errors=True)
        rss = max(rss, round_rss)
        for case in CASES:
            times[case].append(round_times[case])
        summary_line = ", ".join(f"{c} {round_times[c]:.3f}" for c in CASES)
        print(f"round {run}: {summary_line}", file=sys.stderr)
    return times, rss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--json", action="store_true", help="print the JSON line last")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--rounds", type=int, default=5, help="best of this many rounds")
    parser.add_argument(
        "--storage",
        choices=STORAGES,
        default="huge",
        help="where files live unless --workdir says (see the module's docstring)",
    )
    args = parser.parse_args(argv)
    size = parse_size(args.size)
    where: AbstractContextManager[tuple[Path, str]]
    if args.workdir:
        where = folder_in(Path(args.workdir))
    else:
        where = bench_folder(args.storage, sys.argv[1:] if argv is None else argv)
    with where as (root, storage):
        print(f"storage: {storage}", file=sys.stderr)
        times, rss = measure(root, size, args.rounds)
    best = {case: min(times[case]) for case in CASES}
    summary = {f"{case}_s": round(best[case], 3) for case in CASES}
    for case in CASES[1:]:
        summary[f"{case}_ratio"] = round(best[case] / best["curl"], 3)
    summary["daemon_peak_rss_mb"] = round(rss, 1)
    mb = size / 1e6
    print(
        f"{'case':<8}{'best s':>9}{'MB/s':>9}{'ratio':>8}{'median s':>10}"
        f"{'paired ratio':>14}  target"
    )
    for case in CASES:
        seconds = best[case]
        paired = [t / c for t, c in zip(times[case], times["curl"], strict=True)]
        print(
            f"{case:<8}{seconds:>9.3f}{mb / seconds:>9.0f}{seconds / best['curl']:>8.2f}"
            f"{statistics.median(times[case]):>10.3f}{statistics.median(paired):>14.2f}"
            f"  {TARGETS[case]}"
        )
    print(f"daemon peak RSS {rss:.0f} MB (target <= 200); files on {storage}")
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
