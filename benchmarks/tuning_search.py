"""Tuning benchmarks on the bundled digits (never part of the test suite).

    python benchmarks/tuning_search.py budget [--max-epochs 9 --random-trials 12 --isolation none]
        epochs spent by hyperband and by random search until each gets within 0.5 points of the best validation
        accuracy either finds.
    python benchmarks/tuning_search.py workers [--trials 6 --max-epochs 9 --isolation process]
        trials per hour with a chief and 2 workers against 1 worker (same host, KerasTuner's gRPC protocol).

`--isolation` is `tuning.search`'s `trial_isolation` (process: each trial in a fresh process; none: in the searching
process). The epochs of `budget` do not depend on it; its wall time does.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

SPACE = {"filters": {"values": [[8, 16], [16, 32], [32, 64]]}}
FIXED = {"convs_per_block": 1}


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's `tuning` package


def epochs_to_target(rows, target):
    """Epochs spent, in trial order, until the best validation accuracy so far reaches `target` (None if never)."""
    spent = 0
    for row in sorted(rows, key=lambda r: r["trial"]):
        spent += row["epochs"] or 0
        if row["objective"] is not None and row["objective"] >= target:
            return spent
    return None


def budget(args):
    import tuning

    found = {}
    with tempfile.TemporaryDirectory() as directory:
        for tuner, kwargs in (("hyperband", {"factor": 3}), ("random", {"max_trials": args.random_trials})):
            started = time.perf_counter()
            result = tuning.search("convnet", "digits", tuner=tuner, max_epochs=args.max_epochs, space=SPACE,
                                   fixed=FIXED, directory=directory, retrain=False, export=False, seed=args.seed,
                                   trial_isolation=args.isolation, **kwargs)
            found[tuner] = {"rows": result.leaderboard, "seconds": time.perf_counter() - started}
    best = max(r["objective"] for f in found.values() for r in f["rows"] if r["objective"] is not None)
    target = best - 0.005
    report = {"best_val_accuracy": best, "target": target}
    for tuner, f in found.items():
        report[tuner] = {"trials": len(f["rows"]), "epochs_total": sum(r["epochs"] or 0 for r in f["rows"]),
                         "epochs_to_target": epochs_to_target(f["rows"], target),
                         "best": max(r["objective"] for r in f["rows"] if r["objective"] is not None),
                         "seconds": round(f["seconds"], 1)}
    print(json.dumps(report, indent=2))


def workers(args):
    from tuning import distributed

    report = {}
    for count in (1, 2):
        with tempfile.TemporaryDirectory() as directory:
            arguments = {"blueprint": "convnet", "data": "digits", "tuner": "random", "max_trials": args.trials,
                         "max_epochs": args.max_epochs, "space": SPACE, "fixed": FIXED, "directory": directory,
                         "project_name": "bench", "retrain": False, "export": False,
                         "trial_isolation": args.isolation}
            started = time.perf_counter()
            code = distributed.launch(arguments, count)
            seconds = time.perf_counter() - started
        report[f"{count}_workers"] = {"exit": code, "seconds": round(seconds, 1),
                                      "trials_per_hour": round(args.trials * 3600 / seconds, 1)}
    report["speedup"] = round(report["2_workers"]["trials_per_hour"] / report["1_workers"]["trials_per_hour"], 2)
    print(json.dumps(report, indent=2))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("budget", "workers"))
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument("--random-trials", type=int, default=12)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--isolation", choices=("process", "none"),
                        help="trial isolation. Default: none for budget, process for workers")
    args = parser.parse_args()
    args.isolation = args.isolation or ("none" if args.what == "budget" else "process")
    (budget if args.what == "budget" else workers)(args)


if __name__ == "__main__":
    main()
