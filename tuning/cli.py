"""The `kerakit tune` subcommand (`add_parser(subparsers)`, `run(args)`); also runnable as `python -m tuning`.

```
kerakit tune --blueprint convnet --data digits --tuner hyperband --max-epochs 20
kerakit tune --tuner random --max-trials 30 --hp learning_rate=1e-4:1e-1:log --hp filters='[[16,32],[32,64]]' \\
             --fix optimizer=adamw --objective val_loss
kerakit tune --workers 2 ...     # a chief and two workers on this host (KerasTuner's gRPC protocol)
```

With `KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` set, the same command joins a
search across hosts (the chief is the process whose tuner id starts with `chief`).
"""

import argparse
import os
import sys

from kerakit import errors


def add_parser(subparsers):
    """Adds the `tune` subcommand to an `argparse` subparsers object; returns its parser."""
    from tuning.runner import TUNERS

    parser = subparsers.add_parser(
        "tune", help="search a blueprint's hyperparameters with KerasTuner",
        description="Search a blueprint's hyperparameters (KerasTuner); print a leaderboard; write leaderboard.csv, "
        "leaderboard.json and objective.png; retrain the best configuration on train+validation and export it.")
    parser.add_argument("--blueprint", default="convnet", help="blueprint name. Default: %(default)s")
    parser.add_argument("--data", default="digits", help="'digits' or 'tfds:<name>'. Default: %(default)s")
    parser.add_argument("--tuner", default="random", choices=TUNERS, help="Default: %(default)s")
    parser.add_argument("--objective", default="val_accuracy",
                        help="a logged metric, optionally NAME:min|max. Default: %(default)s")
    parser.add_argument("--max-trials", type=int, default=10, help="Default: %(default)s")
    parser.add_argument("--max-epochs", type=int, default=10, help="Default: %(default)s")
    parser.add_argument("--hp", action="append", default=[], metavar="NAME=SPEC",
                        help="change a hyperparameter's range, repeatable: learning_rate=1e-4:1e-2:log, "
                        "dropout=0:0.3:0.05, optimizer=adam,sgd, filters='[[16,32],[32,64]]'")
    parser.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE",
                        help="fix a hyperparameter, repeatable: --fix optimizer=adam --fix filters=[16,32]")
    parser.add_argument("--space", dest="space_file", metavar="FILE.json",
                        help="a JSON file {name: spec or value} of changes and fixed values")
    parser.add_argument("--directory", default="runs/tuning", help="Default: %(default)s")
    parser.add_argument("--project-name", help="Default: <blueprint>-<data>-<tuner>")
    parser.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    parser.add_argument("--seed", type=int, default=0, help="Default: %(default)s")
    parser.add_argument("--factor", type=int, default=3, help="Hyperband's reduction factor. Default: %(default)s")
    parser.add_argument("--workers", type=int, help="start a chief and N workers on this host")
    parser.add_argument("--data-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="kerakit.data.load argument, repeatable")
    parser.add_argument("--no-retrain", dest="retrain", action="store_false",
                        help="skip retraining the best configuration")
    parser.add_argument("--no-export", dest="export", action="store_false", help="skip the SavedModel export")
    parser.add_argument("--trial-isolation", default="auto", choices=("auto", "process", "none"),
                        help="run each trial in a fresh process (resident memory stays flat; a few seconds of "
                        "start-up per trial) or in this one; auto: process. Default: %(default)s")
    parser.add_argument("--verbose", type=int, default=0, choices=(0, 1, 2), help="Keras output. Default: 0")
    parser.set_defaults(handler=run)
    return parser


def search_arguments(args):
    """The `tuning.search` keyword arguments of parsed CLI `args` (every value checked)."""
    from tuning import spaces

    changes = {}
    for text in args.hp:
        if "=" not in text:
            raise errors.invalid("tune", "--hp", "NAME=SPEC", text)
        name, spec = text.split("=", 1)
        changes[name.strip()] = spaces.parse_spec_text(name.strip(), spec)
    fixed = dict(spaces.parse_fixed_text(text) for text in args.fix)
    data_args = dict(spaces.parse_fixed_text(text) for text in args.data_arg)
    return {"blueprint": args.blueprint, "data": args.data, "tuner": args.tuner, "objective": args.objective,
            "max_trials": args.max_trials, "max_epochs": args.max_epochs, "space": changes, "fixed": fixed,
            "space_file": args.space_file, "directory": args.directory, "project_name": args.project_name,
            "overwrite": args.overwrite, "seed": args.seed, "factor": args.factor, "data_args": data_args,
            "retrain": args.retrain, "export": args.export, "verbose": args.verbose,
            "trial_isolation": args.trial_isolation}


def run(args):
    """Runs `kerakit tune`; returns the exit status (a `KerakitError` is left to the caller: status 2)."""
    arguments = search_arguments(args)
    if args.workers is not None:
        errors.check_int("tune", "--workers", args.workers, minimum=1)
        from tuning import distributed

        return distributed.launch(arguments, args.workers)
    from tuning.runner import search

    result = search(**arguments, print_leaderboard=True)
    if result.role == "worker":
        print(f"worker {os.environ.get('KERASTUNER_TUNER_ID')}: done")
        return 0
    print(f"results: {result.directory} (leaderboard.csv, leaderboard.json, objective.png)")
    if result.model is not None:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in result.test_metrics.items())
        print(f"best trial {result.best['trial']} retrained on train+validation for {result.retrain_epochs} "
              f"epochs: test {metrics}")
    if result.saved_model:
        print(f"SavedModel (verified): {result.saved_model}")
    return 0


def main(argv=None):
    """`python -m tuning ...`: the `tune` subcommand on its own (exit status 2 on a user error)."""
    parser = argparse.ArgumentParser(prog="python -m tuning")
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser(commands)
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] != "tune":
        argv = ["tune", *argv]
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kerakit.errors import KerakitError

    try:
        return args.handler(args)
    except KerakitError as error:
        print(f"kerakit tune: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
