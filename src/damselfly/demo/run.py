"""``make demo``: one origin, ``damselfly up`` (scheduler + seed peer) and three daemons on
loopback. A 256 MiB file is downloaded through each daemon with dfget (the first alone,
then the other two at once), checked with sha256, and the table says where the bytes
came from. The last line is one JSON object."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from damselfly.demo.cluster import LocalCluster

MIB = 1 << 20


def make_file(path: Path, size: int) -> str:
    """Write ``size`` pseudo-random bytes and return their sha256."""
    import random

    rng = random.Random(20261129)
    digest = hashlib.sha256()
    with open(path, "wb") as file:
        left = size
        while left:
            chunk = rng.randbytes(min(left, 8 * MIB))
            file.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(8 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def run_dfgets(commands: list[list[str]]) -> list[dict[str, Any]]:
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in commands]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"dfget failed: {err.decode().strip()}")
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--daemons", type=int, default=3)
    parser.add_argument("--workdir", default=".demo")
    args = parser.parse_args(argv)
    root = Path(args.workdir).absolute()
    shutil.rmtree(root, ignore_errors=True)
    files = root / "files"
    files.mkdir(parents=True)
    size = args.size_mib * MIB
    print(f"demo: generating a {args.size_mib} MiB file", flush=True)
    expected = make_file(files / "blob.bin", size)
    began = time.monotonic()
    with LocalCluster(root / "run") as cluster:
        cluster.start_origin(files)
        cluster.start_up()
        daemons = [cluster.start_daemon(f"daemon{i + 1}") for i in range(args.daemons)]
        print(
            f"demo: origin :{cluster.origin_port}, scheduler {cluster.scheduler}, "
            f"seed {cluster.seed['grpc']}, {len(daemons)} daemons",
            flush=True,
        )
        url = cluster.url("blob.bin")
        outputs = [root / f"out-{d.name}.bin" for d in daemons]
        commands = [cluster.dfget_command(d, url, o) for d, o in zip(daemons, outputs, strict=True)]
        results = run_dfgets(commands[:1]) + run_dfgets(commands[1:])
        origin = cluster.origin_stats()
    seconds = time.monotonic() - began
    ok = all(sha256_of(o) == expected for o in outputs)
    print()
    print(
        f"{'daemon':<10}{'seconds':>9}{'origin MiB':>12}{'seed MiB':>10}{'peers MiB':>11}  sha256"
    )
    for daemon, result, output in zip(daemons, results, outputs, strict=True):
        traffic = result["traffic"]
        match = "ok" if sha256_of(output) == expected else "MISMATCH"
        print(
            f"{daemon.name:<10}{result['seconds']:>9.2f}"
            f"{traffic['back_to_source'] / MIB:>12.1f}{traffic['seed_peer'] / MIB:>10.1f}"
            f"{traffic['remote_peer'] / MIB:>11.1f}  {match}"
        )
    print(
        f"origin server sent {origin['bytes_sent'] / MIB:.1f} MiB in {origin['requests']} requests"
    )
    peer_bytes = sum(r["traffic"]["remote_peer"] for r in results)
    summary = {
        "ok": ok,
        "file_bytes": size,
        "origin_bytes": origin["bytes_sent"],
        "peer_bytes": peer_bytes,
        "seconds": round(seconds, 2),
    }
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
