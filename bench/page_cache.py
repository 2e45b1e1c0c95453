"""What a page-cache write costs on each storage, and why: the share of a fresh file's
page cache held in large folios. Backs ``bench.throughput``'s choice of storage.

    python -m bench.page_cache --json [FOLDER ...]

For each folder (default: /dev/shm, and /var/tmp), writes a file of ``--size`` in 4 MiB
blocks, ``--rounds`` times, and counts the best round's CPU seconds per GiB; then maps
the file and reads, through ``/proc/self/pagemap`` and ``/proc/kpageflags`` (root only),
whether each of its pages belongs to a compound (large) folio. ``--huge`` adds a tmpfs
mounted with ``huge=within_size`` (root only; ``bench.throughput``'s default storage),
mounted and unmounted around its rounds.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from damselfly.core import units
from damselfly.core.errors import InvalidArgument

BLOCK = 4 << 20
PAGE = mmap.PAGESIZE
PFN_MASK = (1 << 55) - 1
PRESENT = 1 << 63
COMPOUND_HEAD, COMPOUND_TAIL = 1 << 15, 1 << 16  # kpageflags bits


def write_cpu_s_per_gib(path: Path, size: int, rounds: int) -> float:
    """The best round's CPU seconds to write ``size`` bytes, scaled to 1 GiB."""
    block = os.urandom(BLOCK)
    best = float("inf")
    for _ in range(rounds):
        path.unlink(missing_ok=True)
        began = time.process_time()
        with path.open("wb") as out:
            for _ in range(size // BLOCK):
                out.write(block)
        best = min(best, time.process_time() - began)
    return best * (1 << 30) / size


def large_folio_share(path: Path) -> float | None:
    """The share of ``path``'s resident pages that belong to large folios; None when the
    kernel will not say (not root)."""
    size = path.stat().st_size
    with path.open("rb") as file, mmap.mmap(file.fileno(), size, prot=mmap.PROT_READ) as view:
        for offset in range(0, size, PAGE):
            view[offset]  # fault every page in
        start = _mapped_at(path)
        try:
            with open("/proc/self/pagemap", "rb") as pagemap, open("/proc/kpageflags", "rb") as kf:
                large = total = 0
                for index in range(size // PAGE):
                    pagemap.seek((start // PAGE + index) * 8)
                    entry = struct.unpack("Q", pagemap.read(8))[0]
                    if not entry & PRESENT or not entry & PFN_MASK:
                        continue
                    kf.seek((entry & PFN_MASK) * 8)
                    flags = struct.unpack("Q", kf.read(8))[0]
                    total += 1
                    large += bool(flags & (COMPOUND_HEAD | COMPOUND_TAIL))
        except PermissionError:
            return None
    return large / total if total else None


def _mapped_at(path: Path) -> int:
    real = str(path.resolve())
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith(real):
            return int(line.split("-", 1)[0], 16)
    raise SystemExit(f"cannot find the mapping of {path}")


@contextmanager
def huge_tmpfs() -> Iterator[Path]:
    point = Path(tempfile.mkdtemp(prefix="damselfly-page-cache-"))
    mount = ["mount", "-t", "tmpfs", "-o", "huge=within_size", "damselfly-bench", str(point)]
    if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
        point.rmdir()
        raise SystemExit("cannot mount a tmpfs (run as root, or drop --huge)")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=False)
        point.rmdir()


def measure(folder: Path, size: int, rounds: int) -> dict[str, float | None]:
    work = Path(tempfile.mkdtemp(prefix="damselfly-page-cache-", dir=folder))
    try:
        path = work / "file.bin"
        seconds = write_cpu_s_per_gib(path, size, rounds)
        return {
            "write_cpu_s_per_gib": round(seconds, 3),
            "large_folio_share": large_folio_share(path),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folders", nargs="*", default=["/dev/shm", "/var/tmp"])
    parser.add_argument("--size", default="256MiB")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--huge", action="store_true", help="add a huge=within_size tmpfs")
    parser.add_argument("--json", action="store_true", help="print the JSON line last")
    args = parser.parse_args(argv)
    try:
        size = max(BLOCK, units.parse_size(args.size) // BLOCK * BLOCK)
    except InvalidArgument as exc:
        raise SystemExit(str(exc)) from None
    results: dict[str, dict[str, float | None]] = {}
    for folder in args.folders:
        if not Path(folder).is_dir():
            raise SystemExit(f"{folder} is not a folder")
        results[folder] = measure(Path(folder), size, args.rounds)
    if args.huge:
        with huge_tmpfs() as point:
            results["tmpfs huge=within_size"] = measure(point, size, args.rounds)
    print(f"{'storage':<28}{'write CPU s/GiB':>16}{'pages in large folios':>23}")
    for name, row in results.items():
        share = row["large_folio_share"]
        shown = "unknown (not root)" if share is None else f"{share:.0%}"
        print(f"{name:<28}{row['write_cpu_s_per_gib']:>16.3f}{shown:>23}")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
