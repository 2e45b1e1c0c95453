"""A tiny HTTP BitTorrent tracker (BEP 3, compact peer lists per BEP 23) with a short
announce interval, so that peers which start at the same moment learn about each other
within seconds. ``GET /_stats`` returns every peer's last announced counters as JSON;
the benchmark reads the seeder's ``uploaded`` from there.

``python -m bench.swarm.tracker --host IP --port 0 --interval 2 --ready-file F``
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote_to_bytes

from bench.swarm.bencode import Value, bencode

NUMWANT_DEFAULT = 50


@dataclass
class PeerRecord:
    info_hash: str
    peer_id: str
    ip: str
    port: int
    uploaded: int = 0
    downloaded: int = 0
    left: int = 0
    event: str = ""
    announces: int = 0
    last_seen: float = 0.0
    active: bool = True


class Swarms:
    """Peers per info-hash; one lock, the handlers are threads."""

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.lock = threading.Lock()
        self.peers: dict[tuple[bytes, bytes], PeerRecord] = {}

    def announce(self, query: dict[str, bytes], remote_ip: str) -> dict[str, Value]:
        info_hash, peer_id = query.get("info_hash", b""), query.get("peer_id", b"")
        if len(info_hash) != 20 or len(peer_id) != 20:
            return {"failure reason": "info_hash and peer_id must be 20 bytes"}
        try:
            port = int(query.get("port", b"0"))
            numwant = int(query.get("numwant", b"%d" % NUMWANT_DEFAULT))
        except ValueError:
            return {"failure reason": "bad port or numwant"}
        event = query.get("event", b"").decode(errors="replace")
        with self.lock:
            key = (info_hash, peer_id)
            record = self.peers.get(key)
            if record is None:
                record = PeerRecord(info_hash.hex(), peer_id.hex(), remote_ip, port)
                self.peers[key] = record
            record.ip, record.port = remote_ip, port
            for name in ("uploaded", "downloaded", "left"):
                raw = query.get(name)
                if raw is not None and raw.isdigit():
                    setattr(record, name, int(raw))
            record.event = event or record.event
            record.announces += 1
            record.last_seen = time.time()
            record.active = event != "stopped"
            others = [
                p
                for (h, pid), p in self.peers.items()
                if h == info_hash and pid != peer_id and p.active
            ]
            complete = sum(1 for p in others if p.left == 0) + (record.left == 0)
            incomplete = len(others) + 1 - complete
        others = others[: max(numwant, 0)]
        if query.get("compact", b"1") == b"1":
            peers: Value = b"".join(
                socket.inet_aton(p.ip) + p.port.to_bytes(2, "big") for p in others
            )
        else:
            peers = [{"ip": p.ip, "port": p.port} for p in others]
        return {
            "interval": self.interval,
            "min interval": max(1, self.interval // 2),
            "complete": complete,
            "incomplete": incomplete,
            "peers": peers,
        }

    def stats(self) -> list[dict[str, object]]:
        with self.lock:
            return [asdict(p) for p in self.peers.values()]


def parse_query(raw: str) -> dict[str, bytes]:
    """Query string to raw bytes (``info_hash`` and ``peer_id`` are binary)."""
    result: dict[str, bytes] = {}
    for part in raw.split("&"):
        if part:
            name, _, value = part.partition("=")
            result[unquote_to_bytes(name).decode(errors="replace")] = unquote_to_bytes(
                value.replace("+", " ")
            )
    return result


def make_handler(swarms: Swarms) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            path, _, raw = self.path.partition("?")
            if path == "/announce":
                body = bencode(swarms.announce(parse_query(raw), self.client_address[0]))
                kind = "text/plain"
            elif path == "/_stats":
                body = json.dumps({"peers": swarms.stats()}).encode()
                kind = "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--interval", type=int, default=2, help="announce interval, seconds")
    parser.add_argument("--ready-file", default="")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(Swarms(args.interval)))
    server.daemon_threads = True
    port = server.server_address[1]
    if args.ready_file:
        Path(args.ready_file).write_text(json.dumps({"address": f"{args.host}:{port}"}))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
