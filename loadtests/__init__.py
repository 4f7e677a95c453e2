"""Load tests and benchmarks for livehub (see docs/performance.md)."""
