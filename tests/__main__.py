"""Runs the whole test suite under both Keras backends, one pytest process per backend.

    python -m tests                 # TensorFlow, then JAX (two pytest-xdist workers; KERAKIT_TEST_WORKERS=N)
    python -m tests -k export       # extra arguments go to pytest
    KERAKIT_TEST_BACKENDS=jax python -m tests

Exits non-zero if either backend has a failure; prints a closing 'N passed, N failed' line over both.
"""

import os
import re
import subprocess
import sys
import time


def _parallel_arguments():
    """Two pytest workers where pytest-xdist is installed: most of the time goes to single-threaded XLA compilation."""
    try:
        import xdist  # noqa: F401
    except ImportError:
        return []
    return ["-n", os.environ.get("KERAKIT_TEST_WORKERS", "2")]


def main(argv):
    backends = os.environ.get("KERAKIT_TEST_BACKENDS", "tensorflow,jax").split(",")
    totals = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    status = 0
    for backend in backends:
        print(f"\n===== kerakit tests, KERAS_BACKEND={backend} =====", flush=True)
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        started = time.perf_counter()
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *_parallel_arguments(), *argv]
        process = subprocess.Popen(command, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        last_lines = []
        for line in process.stdout:
            print(line, end="", flush=True)
            last_lines = (last_lines + [line])[-5:]
        code = process.wait()
        print(f"===== {backend}: exit {code} in {time.perf_counter() - started:.0f} s =====", flush=True)
        summary = "".join(last_lines)
        for key, pattern in (("passed", r"(\d+) passed"), ("failed", r"(\d+) failed"), ("skipped", r"(\d+) skipped"),
                             ("errors", r"(\d+) error")):
            match = re.search(pattern, summary)
            totals[key] += int(match.group(1)) if match else 0
        if code != 0:
            status = code
    failed = totals["failed"] + totals["errors"]
    print(f"\ntotal: {totals['passed']} passed, {failed} failed, {totals['skipped']} skipped")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
