"""Downloading tasks: from parents piece by piece, or from the origin."""
