"""Binding a gRPC server: a port that cannot be had is refused in our words, before
grpc's C core would log its own line."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import pytest

from damselfly.common.grpc_helpers import bind, check_bindable, new_server


def test_a_port_another_server_listens_on_is_refused() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(OSError, match="is another server using that port"):
            check_bindable(address)


def test_an_address_this_host_does_not_have_is_refused_with_the_reason() -> None:
    # 192.0.2.0/24 is reserved for documentation: no host has it.
    with pytest.raises(OSError, match=re.escape("cannot listen on 192.0.2.1:50051: Cannot assign")):
        check_bindable("192.0.2.1:50051")


def test_a_free_port_binds() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]

    async def bind_and_stop() -> int:
        server = new_server()
        try:
            return bind(server, f"127.0.0.1:{free}")
        finally:
            await server.stop(None)

    assert asyncio.run(bind_and_stop()) == free


def test_a_name_with_one_address_this_host_has_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    # grpc listens on each address a name resolves to that it can have ("localhost" on
    # a host without IPv6): so the check refuses only when none can be had.
    resolve = socket.getaddrinfo

    def two_addresses(host: str | None, port: int, *args: Any, **kwargs: Any) -> Any:
        return resolve("192.0.2.1", port, *args, **kwargs) + resolve(
            "127.0.0.1", port, *args, **kwargs
        )

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    check_bindable("a-name:50051")
    only_foreign = lambda h, p, *a, **k: resolve("192.0.2.1", p, *a, **k)  # noqa: E731
    monkeypatch.setattr(socket, "getaddrinfo", only_foreign)
    with pytest.raises(OSError, match="Cannot assign"):
        check_bindable("a-name:50051")
