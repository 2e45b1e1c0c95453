"""The scheduler: hosts, tasks and peers in memory; decides who downloads from whom."""
