"""Serving pieces to other peers."""
