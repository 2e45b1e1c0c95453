"""Daemon storage: one content file per task, metadata in SQLite."""
