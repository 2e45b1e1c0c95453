"""The simulated network's cut-through: a transfer fed by another never gets ahead of it."""

from __future__ import annotations

from tests.swarm.sim.engine import Engine
from tests.swarm.sim.network import Network, SimHost

MB = 1e6


def hosts(network: Network, *rates: float) -> list[SimHost]:
    return [network.add_host(SimHost(f"h{i}", r, r)) for i, r in enumerate(rates)]


def run(engine: Engine) -> None:
    engine.run(100.0, lambda: False)


def test_fed_transfer_ends_after_its_feeder_and_then_at_its_own_pace() -> None:
    engine = Engine()
    network = Network(engine, step_s=0.001)
    a, b, c = hosts(network, 10 * MB, 100 * MB, 100 * MB)
    ended: dict[str, float] = {}

    def done(name: str) -> None:
        ended[name] = engine.now

    feeder = network.start(a, b, 10 * MB, lambda: done("feeder"), lambda: done("x"))
    network.start(b, c, 10 * MB, lambda: done("fed"), lambda: done("x"), feeder=feeder)
    run(engine)
    assert set(ended) == {"feeder", "fed"}
    # b receives at 10 MB/s; b -> c could run at 100 MB/s (0.1 s) but gets no byte
    # before b has it: both end after about a second, the fed one last.
    assert 0.99 <= ended["feeder"] <= ended["fed"] <= 1.01


def test_fed_transfer_fails_with_its_feeder() -> None:
    engine = Engine()
    network = Network(engine, step_s=0.001)
    a, b, c = hosts(network, 10 * MB, 10 * MB, 10 * MB)
    outcome: list[str] = []
    feeder = network.start(a, b, 10 * MB, lambda: outcome.append("feeder"), lambda: None)
    network.start(
        b,
        c,
        10 * MB,
        lambda: outcome.append("fed done"),
        lambda: outcome.append("fed failed"),
        feeder=feeder,
    )
    engine.after(0.5, lambda: network.cancel(feeder))
    run(engine)
    assert outcome == ["fed failed"]
    assert network.bytes_sent(b) <= network.bytes_sent(a) + 1e-6
