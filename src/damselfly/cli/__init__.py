"""Command-line tools: dfget and the ``damselfly`` umbrella command."""
