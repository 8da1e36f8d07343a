"""Trials in fresh processes: each trial (build, fit, checkpoint) runs in a child process; the oracle stays put.

A long search in one process grows its resident memory from trial to trial (TensorFlow's and XLA's caches, graphs
and compiled functions that `clear_session` does not give back; KerasTuner issues #873 and #1031). With
`trial_isolation="process"` the searching process only asks the oracle for trials and records their results; the
child process of each trial re-loads the data, builds and trains the model, saves KerasTuner's checkpoint and exits,
so whatever a trial allocates is returned to the system when it ends. The price is one Python start (imports, data
and compilation) per trial: a few seconds, measured by `benchmarks/tuning_memory.py`.

The child is started with `python -m tuning.isolation CALL.pkl`; it dies with its parent (Linux `PR_SET_PDEATHSIG`),
so a search killed mid-trial leaves no orphan training on. Only data the child can load again crosses the process
boundary: a dataset name, or arrays (written once to the project folder); a `DataBundle` object cannot (it holds
`tf.data` pipelines), so with one the trials run in the searching process.
"""

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

from kerakit import errors

ISOLATION = ("auto", "process", "none")
DATA_FILE = "trial_data.pkl"
CALL_FILE = "isolated_call.pkl"
RESULT_FILE = "isolated_result.pkl"
LOG_FILE = "isolated_stderr.txt"


def resolve_isolation(value, data):
    """`"auto"` -> `"process"` for data a child can load again (a name or arrays), else `"none"`; checks `value`."""
    errors.check_choice("tune", "trial_isolation", value, ISOLATION)
    reloadable = recipe_source(data) is not None
    if value == "process" and not reloadable:
        raise errors.invalid("tune", "trial_isolation",
                             "'none' or 'auto' for a DataBundle object (a fresh process cannot receive its tf.data "
                             "pipelines; pass a dataset name or (x, y) arrays to run trials in fresh processes)",
                             value)
    if value == "auto":
        return "process" if reloadable else "none"
    return value


def recipe_source(data):
    """The picklable form of `data` a child loads again, or None (a `DataBundle` object)."""
    if isinstance(data, (str, os.PathLike)):
        return str(data)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        import numpy as np

        return tuple(np.asarray(part) for part in data)
    return None


def check_callbacks(callbacks):
    """Callbacks cross to the child by pickling: refuse the ones that cannot, before the search starts."""
    for callback in callbacks:
        try:
            pickle.dumps(callback)
        except Exception as error:  # noqa: BLE001 - any pickling failure means the same thing here
            raise errors.invalid("tune", "callbacks", "picklable callbacks (classes importable by a fresh process) "
                                 "with trial_isolation='process', or trial_isolation='none'",
                                 f"{type(callback).__name__} ({type(error).__name__}: {error})") from None


def write_data(project, recipe):
    """Writes the data recipe (source, batch size, seed, load arguments) once per search; returns its path."""
    from kerakit.run_folder import write_atomic

    path = Path(project) / DATA_FILE
    write_atomic(path, pickle.dumps(recipe, protocol=pickle.HIGHEST_PROTOCOL))
    return path


def run_trial_in_child(call, trial_dir, timeout=None):
    """Runs one trial's build + fit in a fresh process; returns the child's result dict (history, memory, times).

    Raises `RuntimeError` with the end of the child's stderr when it fails or is killed.
    """
    from kerakit.run_folder import write_atomic

    trial_dir = Path(trial_dir)
    trial_dir.mkdir(parents=True, exist_ok=True)
    call_path, result_path, log_path = trial_dir / CALL_FILE, trial_dir / RESULT_FILE, trial_dir / LOG_FILE
    result_path.unlink(missing_ok=True)
    call = {**call, "result": str(result_path), "parent": os.getpid(), "launched": time.time()}
    write_atomic(call_path, pickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
           "KERAS_BACKEND": call["backend"]}
    # The child finds this checkout's packages first, as the parent does.
    env["PYTHONPATH"] = os.pathsep.join(p for p in [*sys.path, env.get("PYTHONPATH", "")] if p)
    with open(log_path, "wb") as log:
        code = subprocess.call([sys.executable, "-m", "tuning.isolation", str(call_path)], env=env,
                               stderr=log, timeout=timeout)
    if code != 0 or not result_path.exists():
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the trial's process exited with status {code}; the end of its stderr "
                           f"({log_path}):\n{tail}")
    with open(result_path, "rb") as handle:
        return pickle.load(handle)


def _die_with_parent(parent):
    """Asks Linux to SIGKILL this process when its parent dies; exits at once if the parent is gone already."""
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the child outlives a killed parent, nothing worse
        return
    if os.getppid() != parent:
        os._exit(1)


def peak_rss_mib():
    """This process's peak resident memory so far, MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(call_path):
    with open(call_path, "rb") as handle:
        call = pickle.load(handle)
    _die_with_parent(call["parent"])
    import keras
    import keras_tuner
    from keras_tuner.src.engine import tuner_utils

    from kerakit import data as kdata
    from tuning import hypermodel as khypermodel

    with open(call["data"], "rb") as handle:
        recipe = pickle.load(handle)
    keras.utils.set_random_seed(recipe["seed"])
    bundle = kdata.load(recipe["source"], batch_size=recipe["batch_size"], seed=recipe["seed"],
                        **recipe["data_args"])
    model_builder = khypermodel.BlueprintHyperModel(call["space"], bundle, call["max_epochs"],
                                                    jit_compile=call["jit_compile"])
    hp = keras_tuner.HyperParameters.from_config(call["hyperparameters"])
    model = model_builder.build(hp)
    if call.get("restore"):
        khypermodel.restore_checkpoint(model, *call["restore"])
    callbacks = list(call["callbacks"])
    callbacks.append(tuner_utils.SaveBestEpoch(objective=keras_tuner.Objective(*call["objective"]),
                                               filepath=call["checkpoint"]))
    started = time.time()
    history = model_builder.fit(hp, model, callbacks=callbacks, **call["fit"])
    fit_seconds = time.time() - started
    khypermodel.save_build_config(model, call["build_config"])
    result = {"history": {k: [float(v) for v in values] for k, values in history.history.items()},
              "epoch": list(history.epoch), "pid": os.getpid(), "peak_rss_mib": peak_rss_mib(),
              "startup_seconds": started - call["launched"], "fit_seconds": fit_seconds}
    from kerakit.run_folder import write_atomic

    write_atomic(call["result"], pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    _child(sys.argv[1])
