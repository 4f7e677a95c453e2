"""Local fan-out on one node: channels, connections, batching, gap fill, join and recovery."""
