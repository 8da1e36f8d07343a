"""Resident memory (RSS) over 20 small trials of one search: does it grow from trial to trial?

    KERAS_BACKEND=jax python benchmarks/tuning_memory.py [--trials 20] [--isolation process|none] [--out rss.json]

Prints one line per trial: the searching process's RSS after the trial and, with `--isolation process` (each trial in
a fresh process), the trial process's peak RSS and its start-up time (imports, data, until `fit` starts); then the
growth per trial, the slope of a least-squares line over all trials and over the second half (the first trials
include one-off imports and caches).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's `tuning` package


def rss_mib():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def slope(values):
    """Least-squares growth per step of `values` (MiB per trial)."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    return sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values)) / sum((i - mean_x) ** 2 for i in range(n))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--isolation", default="process", choices=("process", "none"))
    parser.add_argument("--out")
    args = parser.parse_args()
    import keras

    import tuning
    from kerakit.data._bundled import digits
    from tuning import hypermodel

    parent, rows = [], []
    original = hypermodel._KerakitTrials.run_trial

    def run_trial(self, trial, *a, **k):  # records the searching process's RSS after each trial
        metrics = original(self, trial, *a, **k)
        parent.append(rss_mib())
        row = {"trial": len(parent), "parent_rss_mib": round(parent[-1], 1),
               "seconds": round(metrics["trial_seconds"], 2)}
        if "trial_peak_rss_mib" in metrics:
            row.update(child_peak_rss_mib=round(metrics["trial_peak_rss_mib"], 1),
                       startup_seconds=round(metrics["trial_startup_seconds"], 2))
        rows.append(row)
        print(json.dumps(row), flush=True)
        return metrics

    hypermodel._KerakitTrials.run_trial = run_trial
    x, y, _ = digits()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        tuning.search("convnet", (x[:600], y[:600]), tuner="random", max_trials=args.trials, max_epochs=1,
                      space={"filters": {"values": [[4, 8], [8, 16], [16, 32]]}}, fixed={"convs_per_block": 1},
                      directory=directory, retrain=False, export=False, trial_isolation=args.isolation)
    seconds = time.perf_counter() - started
    report = {"backend": keras.backend.backend(), "isolation": args.isolation, "trials": len(rows),
              "seconds": round(seconds, 1), "seconds_per_trial": round(sum(r["seconds"] for r in rows) / len(rows), 2),
              "parent_first_mib": rows[0]["parent_rss_mib"], "parent_last_mib": rows[-1]["parent_rss_mib"],
              "parent_growth_mib_per_trial": round(slope(parent), 2),
              "parent_growth_mib_per_trial_second_half": round(slope(parent[len(parent) // 2:]), 2)}
    if "child_peak_rss_mib" in rows[0]:
        peaks = [r["child_peak_rss_mib"] for r in rows]
        startups = [r["startup_seconds"] for r in rows]
        report.update(child_peak_min_mib=min(peaks), child_peak_max_mib=max(peaks),
                      child_peak_growth_mib_per_trial=round(slope(peaks), 2),
                      startup_seconds_median=sorted(startups)[len(startups) // 2])
    print(json.dumps(report))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({**report, "rows": rows, "pid": os.getpid()}, handle, indent=2)


if __name__ == "__main__":
    main()
