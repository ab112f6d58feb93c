"""Benchmarks. Each writes its figures to bench/results/<area>.md; run_all merges them into RESULTS.md."""
