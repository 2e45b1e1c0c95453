"""Origins the daemon fetches from when it goes back to source."""
