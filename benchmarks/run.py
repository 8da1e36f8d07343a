"""Runs every benchmark in this folder (or those named) and prints their tables.

    python benchmarks/run.py                 # all
    python benchmarks/run.py import_time     # one
"""

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main(names):
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run.py")
    chosen = [p for p in scripts if not names or p.stem in names]
    unknown = set(names) - {p.stem for p in scripts}
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; available: {', '.join(p.stem for p in scripts)}")
    for path in chosen:
        print(f"== {path.stem}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.main([])
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
