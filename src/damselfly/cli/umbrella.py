"""``damselfly``: ``up`` (scheduler + seed peer in one process), ``scheduler``, ``daemon``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from damselfly import __version__


def _up(args: argparse.Namespace) -> int:
    from damselfly.common.config import load_config
    from damselfly.common.logs import setup_logging
    from damselfly.common.runner import run_until_signal
    from damselfly.core.errors import DamselflyError
    from damselfly.daemon.config import DaemonConfig
    from damselfly.daemon.server import DaemonServer
    from damselfly.scheduler.config import SchedulerConfig
    from damselfly.scheduler.server import SchedulerServer

    data_dir = Path(args.data_dir or Path(tempfile.gettempdir()) / "damselfly-up")
    try:
        scheduler_config = load_config(
            SchedulerConfig, "scheduler", None, {"server": {"port": args.scheduler_port}}
        )
    except DamselflyError as exc:
        print(f"damselfly up: {exc}", file=sys.stderr)
        return 2
    setup_logging(args.log_level, "damselfly-up")
    scheduler = SchedulerServer(scheduler_config)

    class Seed:
        """Starts the seed peer once the scheduler's port is known."""

        server: DaemonServer | None = None

        async def start(self) -> None:
            config = load_config(
                DaemonConfig,
                "daemon",
                None,
                {
                    "seed_peer": {"enable": True},
                    "scheduler": {"addresses": [scheduler.address]},
                    "server": {
                        "port": args.seed_port,
                        "upload_port": args.seed_upload_port,
                        "socket": str(data_dir / "seed.sock"),
                    },
                    "storage": {"dir": str(data_dir / "seed")},
                },
            )
            self.server = DaemonServer(config)
            await self.server.start()
            if args.ready_file:
                ready = {"scheduler": scheduler.address, "seed": self.server.addresses()}
                Path(args.ready_file).write_text(json.dumps(ready))

        async def stop(self) -> None:
            if self.server is not None:
                await self.server.stop()

    try:
        asyncio.run(run_until_signal([scheduler, Seed()]))
    except DamselflyError as exc:
        print(f"damselfly up: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="damselfly", description="Damselfly P2P distribution")
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run scheduler and seed peer in one process (loopback)")
    up.add_argument("--scheduler-port", type=int, default=8002)
    up.add_argument("--seed-port", type=int, default=4000)
    up.add_argument("--seed-upload-port", type=int, default=4005)
    up.add_argument("--data-dir", help="storage folder for the seed peer")
    up.add_argument("--ready-file", help="write bound addresses here as JSON when ready")
    up.add_argument("--log-level", default="INFO")
    sched = sub.add_parser("scheduler", help="run a scheduler", add_help=False)
    sched.add_argument("rest", nargs=argparse.REMAINDER)
    daemon = sub.add_parser("daemon", help="run a dfdaemon", add_help=False)
    daemon.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "up":
        return _up(args)
    if args.command == "scheduler":
        from damselfly.scheduler.__main__ import main as scheduler_main

        return scheduler_main(args.rest)
    from damselfly.daemon.__main__ import main as daemon_main

    return daemon_main(args.rest)


if __name__ == "__main__":
    sys.exit(main())
