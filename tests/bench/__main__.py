"""Run the benchmarks and print `name: value` lines."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import tests.bench as package


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a fast check")
    parser.add_argument("only", nargs="*", help="run only these bench modules (e.g. reconcile)")
    args = parser.parse_args()
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("bench_"))
    if args.only:
        names = [n for n in names if n.removeprefix("bench_") in args.only]
    for name in names:
        module = importlib.import_module(f"tests.bench.{name}")
        for key, value in module.run(args.quick).items():
            print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
