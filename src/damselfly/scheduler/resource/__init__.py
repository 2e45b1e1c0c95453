"""The scheduler's in-memory resource model."""
