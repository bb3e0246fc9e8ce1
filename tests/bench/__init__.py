"""`make bench`: throughput and latency of the service against baselines (writes BENCHMARKS.md).

Not tests: nothing here is named test_*, so pytest does not collect it.
"""
