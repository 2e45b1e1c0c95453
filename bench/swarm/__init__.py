"""Swarm benchmark on emulated hosts: Damselfly against BitTorrent and plain HTTP.

``python -m bench.swarm --hosts 8 --size 64MiB --rate 100mbit --json`` (root): builds one
network namespace per host on a bridge, caps every host's upload and download with
``tc tbf``, runs the three systems one after another on the same hosts and file, and
prints a table, a PNG of completion-time CDFs and one JSON line. See ``run.py``.
"""
