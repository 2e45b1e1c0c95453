"""``dfdaemon [-c config.yaml] [--seed] ...``"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from damselfly import __version__
from damselfly.common.config import load_config
from damselfly.common.logs import setup_logging
from damselfly.common.runner import run_until_signal
from damselfly.core.errors import DamselflyError
from damselfly.daemon.config import DaemonConfig
from damselfly.daemon.server import DaemonServer


def parse_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.seed:
        overrides["seed_peer"] = {"enable": True}
    if args.scheduler:
        overrides["scheduler"] = {"addresses": args.scheduler}
    server = {
        key: value
        for key, value in (
            ("port", args.port),
            ("upload_port", args.upload_port),
            ("socket", args.socket),
        )
        if value is not None
    }
    if server:
        overrides["server"] = server
    if args.data_dir:
        overrides["storage"] = {"dir": args.data_dir}
    if args.ready_file:
        overrides["ready_file"] = args.ready_file
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dfdaemon", description="Damselfly peer daemon")
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-c", "--config", help="YAML config file")
    parser.add_argument("--seed", action="store_true", help="run as a seed peer")
    parser.add_argument("--scheduler", action="append", help="scheduler host:port (repeatable)")
    parser.add_argument("--port", type=int, help="gRPC port (0 picks one)")
    parser.add_argument("--upload-port", type=int, help="piece server port (0 picks one)")
    parser.add_argument("--socket", help="unix socket for the CLIs")
    parser.add_argument("--data-dir", help="storage folder")
    parser.add_argument("--ready-file", help="write bound addresses here as JSON when ready")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(DaemonConfig, "daemon", args.config, parse_overrides(args))
    except DamselflyError as exc:
        print(f"dfdaemon: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level, "dfdaemon")
    try:
        asyncio.run(run_until_signal([DaemonServer(config)]))
    except DamselflyError as exc:
        print(f"dfdaemon: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
