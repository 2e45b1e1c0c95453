"""``python -m damselfly.scheduler [-c config.yaml]``"""

from __future__ import annotations

import argparse
import sys

import uvloop

from damselfly import __version__
from damselfly.common.config import load_config
from damselfly.common.logs import setup_logging
from damselfly.common.runner import run_until_signal
from damselfly.core.errors import DamselflyError
from damselfly.scheduler.config import SchedulerConfig
from damselfly.scheduler.server import SchedulerServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scheduler", description="Damselfly scheduler")
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-c", "--config", help="YAML config file")
    parser.add_argument("--port", type=int, help="gRPC port (0 picks one)")
    args = parser.parse_args(argv)
    overrides = {"server": {"port": args.port}} if args.port is not None else {}
    try:
        config = load_config(SchedulerConfig, "scheduler", args.config, overrides)
    except DamselflyError as exc:
        print(f"scheduler: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level, "scheduler")
    # uvloop: the scheduler is all small messages on the event loop (grpclib parses
    # HTTP/2 there), where uvloop's cheaper callbacks and transports pay. Daemons keep
    # asyncio's loop: uvloop has no loop.sendfile, which their piece server needs.
    try:
        uvloop.run(run_until_signal([SchedulerServer(config)]))
    except DamselflyError as exc:
        print(f"scheduler: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
