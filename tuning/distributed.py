"""A chief and N workers on this host, over KerasTuner's gRPC chief/worker protocol.

`launch(arguments, workers)` picks a free port on 127.0.0.1, starts the chief (`KERASTUNER_TUNER_ID=chief`) and
the workers (`tuner0`, `tuner1`, ...) as fresh processes running the same search, waits for them, and returns the
chief's exit status. The chief serves the oracle, then writes the leaderboard and retrains the best configuration.
Across hosts, set the three variables yourself and run the same `kerakit tune` command on each host.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from kerakit.errors import KerakitError

_CHILD = "from tuning.distributed import _child_main; _child_main()"


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def launch(arguments, workers, host="127.0.0.1", port=None, timeout=None):
    """Runs `tuning.search(**arguments)` as a chief and `workers` workers; returns the chief's exit status."""
    if any(os.environ.get(k) for k in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP")):
        raise KerakitError("tune: --workers starts its own chief and workers; it cannot run inside a KerasTuner "
                           "worker environment (unset KERASTUNER_TUNER_ID / KERASTUNER_ORACLE_IP).")
    arguments = dict(arguments)
    # Check everything once, here, before any process starts (the same checks the search runs).
    from kerakit import errors
    from tuning import runner as ksearch
    from tuning import spaces

    errors.check_choice("tune", "tuner", arguments.get("tuner", "random"), ksearch.TUNERS)
    errors.check_choice("tune", "trial_isolation", arguments.get("trial_isolation", "auto"),
                        ("auto", "process", "none"))
    ksearch.parse_objective(arguments.get("objective", "val_accuracy"))
    spaces.space_for(arguments.get("blueprint", "convnet"), arguments.get("space"), arguments.get("fixed"))
    project = _project_dir(arguments)
    if arguments.pop("overwrite", False) and project is not None and project.exists():
        shutil.rmtree(project)
    port = port or free_port(host)
    env = {**os.environ, "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port)}
    payload = json.dumps(arguments)
    processes = [subprocess.Popen([sys.executable, "-c", _CHILD, payload],
                                  env={**env, "KERASTUNER_TUNER_ID": "chief"})]
    for index in range(workers):
        processes.append(subprocess.Popen([sys.executable, "-c", _CHILD, payload],
                                          env={**env, "KERASTUNER_TUNER_ID": f"tuner{index}"}))
    codes = []
    try:
        for process in processes:
            codes.append(process.wait(timeout=timeout))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return codes[0] or max(codes)


def _project_dir(arguments):
    name = arguments.get("project_name")
    if not name and isinstance(arguments.get("data", "digits"), str):
        from tuning.runner import _slug

        name = arguments["project_name"] = (f"{arguments.get('blueprint', 'convnet')}-"
                                            f"{_slug(arguments.get('data', 'digits'))}-{arguments.get('tuner', 'random')}")
    if not name:
        return None
    return Path(arguments.get("directory", "runs/tuning")).absolute() / name


def _child_main():
    """One process of a local distributed search (`launch`)."""
    arguments = json.loads(sys.argv[1])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kerakit.errors import KerakitError
    from tuning import results
    from tuning.runner import search

    try:
        result = search(**arguments)
    except KerakitError as error:
        print(f"kerakit tune ({os.environ.get('KERASTUNER_TUNER_ID')}): error: {error}", file=sys.stderr)
        sys.exit(2)
    if result.role == "chief":
        print(results.format_leaderboard(result.leaderboard, "objective", limit=20))
        print(f"results: {result.directory}")
        if result.saved_model:
            print(f"SavedModel (verified): {result.saved_model}")
    sys.exit(0)
