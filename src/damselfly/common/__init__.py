"""Shared infrastructure: config, logging, clock, hash ring, gRPC helpers."""
