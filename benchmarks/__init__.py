"""Side-by-side benchmarks (run with ``scripts/bench.sh``; never part of the test suite)."""
