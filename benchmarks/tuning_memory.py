"""Resident memory (RSS) after each of 20 small trials of one search process: does it grow from trial to trial?

    KERAS_BACKEND=jax python benchmarks/tuning_memory.py [--trials 20] [--out rss.json]

Prints one line per trial (RSS in MiB after the trial) and the growth per trial from a least-squares line fitted
over the second half (the first trials include one-off compilation caches and imports).
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's `tuning` package


def rss_mib():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--out")
    args = parser.parse_args()
    import keras

    import tuning
    from kerakit.data._bundled import digits

    curve = []

    class Record(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            curve.append(rss_mib())
            print(f"trial {len(curve):>3}: RSS {curve[-1]:.1f} MiB", flush=True)

    x, y, _ = digits()
    with tempfile.TemporaryDirectory() as directory:
        tuning.search("convnet", (x[:600], y[:600]), tuner="random", max_trials=args.trials, max_epochs=1,
                      space={"filters": {"values": [[4, 8], [8, 16], [16, 32]]}}, fixed={"convs_per_block": 1},
                      directory=directory, retrain=False, export=False, callbacks=[Record()])
    half = curve[len(curve) // 2:]
    n = len(half)
    mean_x, mean_y = (n - 1) / 2, sum(half) / n
    slope = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(half)) / max(1e-9, sum((i - mean_x) ** 2
                                                                                         for i in range(n)))
    report = {"backend": keras.backend.backend(), "rss_mib": curve, "growth_mib_per_trial_second_half": slope,
              "first": curve[0], "last": curve[-1], "pid": os.getpid()}
    print(json.dumps({k: v for k, v in report.items() if k != "rss_mib"}))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
