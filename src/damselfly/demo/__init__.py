"""The demo: a local origin and a small swarm on loopback (``make demo``)."""
