"""Benchmarks: `make bench` (or `python -m tests.bench [--quick] [names...]`) prints `name: value` lines.

Each `bench_*.py` module here exposes `run(quick: bool) -> dict[str, float]`; both sides of every
ratio are measured in the same run, on this machine, against loopback emulators and real stores.
"""
