"""The process around a node: GC policy, metrics, the embedded Redis."""
