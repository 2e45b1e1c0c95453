"""An in-memory swarm: the real scheduler service, simulated daemons that pick pieces with
the daemon's real planner, a flow-level network with per-host upload and download caps,
and a simulated clock. No sockets, no sleeping: a run of minutes takes seconds.

Imported by tests/swarm and by ``python -m bench.simulate``.
"""

from tests.swarm.sim.cluster import Cluster, Result
from tests.swarm.sim.scenario import Fault, Scenario, fluid_bound

__all__ = ["Cluster", "Fault", "Result", "Scenario", "fluid_bound"]
