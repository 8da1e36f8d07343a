"""The default main job (`kerakit train`: convnet on the bundled digits) on each backend, side by side.

Each backend runs in its own process with a fresh run folder; the script prints test accuracy, wall time, the
median seconds per epoch, and the JAX/TensorFlow ratio of the median epoch time.

    python benchmarks/default_run.py
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(backend, runs_root, extra):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kerakit.cli", "train", "--quiet", "--runs-root", str(runs_root), *extra],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    (run_dir,) = [p for p in Path(runs_root).iterdir() if p.is_dir()]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"backend": backend, "wall_s": wall, "accuracy": metrics["test"]["accuracy"],
            "epochs": metrics["epochs_trained"], "median_epoch_s": metrics["median_seconds_per_epoch"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="more `kerakit train` flags")
    args = parser.parse_args(argv)
    results = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as runs_root:
            results.append(run(backend, runs_root, args.extra))
    print(f"{'backend':<11} {'test acc':>8} {'epochs':>6} {'wall s':>7} {'median s/epoch':>15}")
    for r in results:
        print(f"{r['backend']:<11} {r['accuracy']:>8.4f} {r['epochs']:>6} {r['wall_s']:>7.1f} {r['median_epoch_s']:>15.3f}")
    if len(results) == 2:
        print(f"ratio {results[1]['backend']}/{results[0]['backend']} median s/epoch: "
              f"{results[1]['median_epoch_s'] / results[0]['median_epoch_s']:.2f}")
    return results


if __name__ == "__main__":
    main()
