"""The swarm simulator at scale: the real scheduler service and N simulated daemons.

    python -m bench.simulate --hosts 10000 --json

Same code as tests/swarm (tests/swarm/sim). The default scenario uses Dragonfly's default
rate limits (reference/dragonfly.md §5.1): a task downloads at most 512 MiB/s per peer
(``download.perPeerRateLimit``) and a host uploads at most 1024 MiB/s
(``upload.rateLimit``), the seed peer included; a 1 GiB file in 4 MiB pieces, every peer
registering at once, piece times spread log-normally (sigma 0.2), 1 ms links.

The baseline, computed for the same run, is the fluid bound
``max(F/u_seed, F/d_min, N*F/(u_seed + sum u_i))``: no schedule can finish sooner. The
scheduler keeps the peer graph acyclic, so a burst of N peers forms a mesh about
log_{u/d}(N) levels deep (14 at 10,000 peers here). Daemons serve pieces they are still
receiving (cut-through, as the daemon does), so a level adds a few milliseconds, not a
piece time per piece in flight: without it, 10,000 peers took 1.6x the bound. ``--compare``
also runs Dragonfly's two evaluators on the same scenario, at most 500 hosts (with them
the seed feeds everybody, everybody fetches the same pieces from it, and a larger run
takes very long to simulate).

Prints a table, then one JSON line: ``{"hosts", "time_over_bound", "origin_copies"}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from tests.swarm.sim import Cluster, Result, Scenario
from tests.swarm.sim.scenario import MIB

COMPARE_LIMIT = 500


def scenario_for(args: argparse.Namespace) -> Scenario:
    up = args.upload_mib * MIB
    return Scenario(
        peers=args.hosts,
        file_size=args.file_mib * MIB,
        piece_length=args.piece_mib * MIB,
        seed_up=(args.seed_upload_mib or args.upload_mib) * MIB,
        seed_down=up,
        peer_up=(up,),
        peer_down=(args.download_mib * MIB,),
        origin_up=up,
        jitter=args.jitter,
        rng_seed=args.seed,
        time_limit_s=args.time_limit,
    )


def row(name: str, result: Result) -> str:
    s = result.summary()
    return (
        f"{name:<16} {s['peers']:>6} {s['completion_s']:>9.2f} {s['bound_s']:>8.2f} "
        f"{s['time_over_bound']:>6.3f} {s['origin_copies']:>7.3f} {s['finished']:>6} "
        f"{s['failed']:>5} {s['pushes']:>6} {s['messages_in'] + s['messages_out']:>9} "
        f"{s['wall_s']:>7.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.simulate", description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=1000, help="peer hosts (besides the seed)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--compare", action="store_true", help="also run Dragonfly's evaluators")
    parser.add_argument("--file-mib", type=int, default=1024)
    parser.add_argument("--piece-mib", type=int, default=4)
    parser.add_argument("--upload-mib", type=int, default=1024, help="host upload limit")
    parser.add_argument("--download-mib", type=int, default=512, help="per-task download limit")
    parser.add_argument("--seed-upload-mib", type=int, default=0, help="default: --upload-mib")
    parser.add_argument("--jitter", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=3600.0, help="simulated seconds")
    args = parser.parse_args(argv)

    scenario = scenario_for(args)
    print(
        f"{args.hosts} hosts, {args.file_mib} MiB in {args.piece_mib} MiB pieces, "
        f"upload {args.upload_mib} MiB/s, download {args.download_mib} MiB/s, "
        f"seed upload {args.seed_upload_mib or args.upload_mib} MiB/s"
    )
    header = (
        f"{'evaluator':<16} {'hosts':>6} {'time_s':>9} {'bound_s':>8} {'ratio':>6} "
        f"{'origin':>7} {'done':>6} {'fail':>5} {'pushes':>6} {'messages':>9} {'wall_s':>7}"
    )
    print(header)
    ours = Cluster(scenario).run()
    print(row("default", ours), flush=True)
    if args.compare:
        small = replace(scenario, peers=min(args.hosts, COMPARE_LIMIT))
        if small.peers != scenario.peers:
            print(row("default", Cluster(small).run()), flush=True)
        for algorithm in ("dragonfly-base", "dragonfly-load"):
            theirs = Cluster(replace(small, scheduling={"algorithm": algorithm})).run()
            print(row(algorithm, theirs), flush=True)
    if ours.failures or ours.scheduler_errors:
        print(f"failures: {ours.failures[:3]} errors: {ours.scheduler_errors[:3]}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {
                    "hosts": args.hosts,
                    "time_over_bound": round(ours.time_over_bound, 3),
                    "origin_copies": round(ours.origin_copies, 3),
                }
            )
        )
    return 0 if ours.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
