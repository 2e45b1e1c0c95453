"""The daemon's pool of channels to parents: one per address, reused, bounded."""

from __future__ import annotations

import asyncio

import grpc

from damselfly.common.grpc_helpers import ChannelPool


def test_a_parent_s_channel_is_reused_and_the_least_recently_used_is_closed() -> None:
    async def scenario() -> None:
        pool = ChannelPool(limit=2)
        first = pool.get("127.0.0.1:1")
        assert pool.get("127.0.0.1:1") is first
        second = pool.get("127.0.0.1:2")
        pool.get("127.0.0.1:1")  # first is now the most recently used
        pool.get("127.0.0.1:3")  # over the limit: second goes
        assert pool.get("127.0.0.1:1") is first
        replaced = pool.get("127.0.0.1:2")
        assert replaced is not second
        deadline = asyncio.get_running_loop().time() + 5
        while second.get_state() is not grpc.ChannelConnectivity.SHUTDOWN:
            assert asyncio.get_running_loop().time() < deadline, "the evicted channel stays open"
            await asyncio.sleep(0.01)
        assert first.get_state() is not grpc.ChannelConnectivity.SHUTDOWN
        await pool.close()
        assert first.get_state() is grpc.ChannelConnectivity.SHUTDOWN

    asyncio.run(scenario())
