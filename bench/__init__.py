"""Benchmarks: each prints a table and one JSON line of ratios."""
