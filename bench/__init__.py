"""Benchmarks: `make bench` prints a table. Speed and memory targets live here, never in tests."""
