"""Damselfly: peer-to-peer file and container-image distribution."""

__version__ = "0.1.0"
