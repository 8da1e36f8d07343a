"""`import kerakit` against `import keras`, each in a fresh process, interleaved, median of N, on each backend.

Three statements are timed: `import keras`; `import kerakit` (the package alone: the goal is <= 1.2x keras); and
`import kerakit; kerakit.list_blueprints()` (the package plus every blueprint module, which imports keras).

    python benchmarks/import_time.py [--repeats 7]
"""

import argparse
import os
import statistics
import subprocess
import sys

STATEMENTS = {
    "import keras": "import keras",
    "import kerakit": "import kerakit",
    "kerakit + blueprints": "import kerakit; kerakit.list_blueprints()",
}


def time_statement(statement, backend):
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--backends", default="tensorflow,jax")
    args = parser.parse_args(argv)
    rows = []
    for backend in args.backends.split(","):
        times = {name: [] for name in STATEMENTS}
        for _ in range(args.repeats):  # interleaved, so drift on a noisy machine hits all alike
            for name, statement in STATEMENTS.items():
                times[name].append(time_statement(statement, backend))
        keras_median = statistics.median(times["import keras"])
        for name in STATEMENTS:
            median = statistics.median(times[name])
            rows.append((backend, name, median, median / keras_median))
    print(f"{'backend':<11} {'statement':<22} {'median s':>9} {'x keras':>8}")
    for backend, name, median, ratio in rows:
        print(f"{backend:<11} {name:<22} {median:>9.3f} {ratio:>8.2f}")
    return rows


if __name__ == "__main__":
    main()
