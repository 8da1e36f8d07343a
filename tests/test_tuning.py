"""Tuning: spaces as data, the four tuners, results, retrain and export, resume after SIGKILL, chief/workers."""

import csv
import inspect
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import keras
import pytest

from kerakit.errors import KerakitError
from kerakit.registry import blueprint_arguments, build, get_blueprint, list_blueprints
from tuning import spaces

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A tiny convnet: two filter choices, one conv per block; small learning-rate range.
TINY_SPACE = {"filters": {"values": [[4, 8], [8, 8]]}}
TINY_FIXED = {"convs_per_block": 1, "schedule": "constant", "batch_size": 64}


def _digits():
    """128 train, 64 validation, 64 test examples: whole batches of 64, so JAX compiles each step once."""
    from kerakit.data import from_arrays
    from kerakit.data._bundled import digits

    x, y, _ = digits()
    return from_arrays(x[:128], y[:128], x_val=x[128:192], y_val=y[128:192], x_test=x[192:256], y_test=y[192:256],
                       num_classes=10, batch_size=64)


def _search(tmp_path, **kwargs):
    import tuning

    arguments = {"blueprint": "convnet", "data": _digits(), "tuner": "random", "max_trials": 2, "max_epochs": 1,
                 "space": TINY_SPACE, "fixed": TINY_FIXED, "directory": str(tmp_path), "retrain": False,
                 "export": False, "project_name": "p"}
    arguments.update(kwargs)
    return tuning.search(**arguments)


def _runs(project):
    with open(os.path.join(project, "trial_runs.jsonl")) as handle:
        return [json.loads(line)["trial"] for line in handle]


@pytest.mark.parametrize("name", list_blueprints())
def test_every_blueprint_space_resolves_to_valid_arguments(name):
    spec = get_blueprint(name)
    assert spec.family in spaces.FAMILY_SPACES, f"no search space for family {spec.family!r}"
    space = spaces.space_for(name)
    accepted = blueprint_arguments(name)
    architecture = [k for k in space.tunable if k not in spaces.TRAINING_SETTINGS]
    assert architecture, f"{name}: no architecture hyperparameter to tune"
    for corner in ("default", "min", "max"):
        blueprint_args, settings = spaces.resolve(space, spaces.sample_values(space, corner))
        assert set(blueprint_args) <= set(accepted) - {"input_shape", "num_classes"}
        assert set(settings) == set(spaces.TRAINING_SETTINGS)
        inspect.signature(spec.builder).bind_partial(**blueprint_args)  # every name is a real argument


@pytest.mark.parametrize("name,input_shape", [("convnet", (8, 8, 1)), ("mlp", (6,))])
def test_space_corners_build_for_each_family(name, input_shape):
    space = spaces.space_for(name)
    for corner in ("min", "max"):
        blueprint_args, _ = spaces.resolve(space, spaces.sample_values(space, corner))
        model = build(name, input_shape=input_shape, num_classes=3, **blueprint_args)
        assert model.output_shape == (None, 3)


def test_users_narrow_widen_and_fix_the_space(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"learning_rate": {"min": 1e-5, "max": 1e-1}, "optimizer": "adamw"}))
    changes, fixed = spaces.load_space_file(path)
    space = spaces.space_for("convnet", changes={**changes, "dropout": spaces.parse_spec_text("dropout", "0:0.2:0.1")},
                             fixed={**fixed, **dict([spaces.parse_fixed_text("filters=[16,32]")])})
    assert space.tunable["learning_rate"] == {"type": "float", "min": 1e-5, "max": 1e-1, "sampling": "log",
                                              "default": 3e-3}
    assert space.tunable["dropout"]["max"] == 0.2 and space.tunable["dropout"]["step"] == 0.1
    assert "optimizer" not in space.tunable and "filters" not in space.tunable
    blueprint_args, settings = spaces.resolve(space, {"dropout": 0.1})
    assert blueprint_args == {"filters": (16, 32), "dropout": 0.1} and settings == {"optimizer": "adamw"}
    assert spaces.parse_spec_text("lr", "1e-4:1e-2:log") == {"type": "float", "min": 1e-4, "max": 1e-2,
                                                              "sampling": "log"}
    assert spaces.parse_spec_text("o", "adam,sgd") == {"type": "choice", "values": ["adam", "sgd"]}
    grid = spaces.grid_ready(space)
    assert grid.tunable["learning_rate"] == {"type": "choice", "values": [1e-5, 0.001, 0.1]}


@pytest.mark.parametrize("kwargs,message", [
    ({"space": {"colour": {"values": [1, 2]}}}, "blueprint 'convnet' takes no argument 'colour'"),
    ({"fixed": {"dropuot": 0.1}}, "Did you mean: dropout"),
    ({"space": {"dropout": {"min": 0.4, "max": 0.1}}}, r"inverted: min=0.4 > max=0.1"),
    ({"space": {"dropout": {"min": 0.2, "max": 0.2}}}, "non-empty range"),
    ({"space": {"optimizer": {"values": []}}}, "non-empty list of choices"),
    ({"space": {"learning_rate": {"min": 0.0, "max": 0.1}}}, "min > 0 for log sampling"),
    ({"space": {"optimizer": {"values": ["adam", "adamz"]}}}, "`optimizer` must be one of"),
    ({"objective": "val_f1"}, "the objective 'val_f1' is not a logged metric.*val_loss, val_accuracy"),
    ({"objective": "val_loss:up"}, "'min' or 'max'"),
    ({"tuner": "genetic"}, "`tuner` must be one of"),
    ({"max_trials": 0}, "`max_trials` must be an integer >= 1"),
])
def test_bad_input_is_refused_before_the_search(tmp_path, kwargs, message):
    with pytest.raises(KerakitError, match=message):
        _search(tmp_path, **kwargs)
    assert not (tmp_path / "p" / "oracle.json").exists(), "no search started"


def test_cli_refuses_zero_workers_and_bad_names(capsys):
    from tuning.cli import main

    assert main(["tune", "--workers", "0"]) == 2
    assert "`--workers` must be an integer >= 1" in capsys.readouterr().err
    assert main(["tune", "--hp", "colour=1:3"]) == 2
    assert "takes no argument 'colour'" in capsys.readouterr().err


def test_random_search_writes_results_and_exports_the_retrained_best(tmp_path):
    result = _search(tmp_path, max_trials=2, objective="val_loss", retrain=True, export=True,
                     space={**TINY_SPACE, "batch_size": {"values": [32, 64]}}, fixed={"convs_per_block": 1})
    project = tmp_path / "p"
    assert result.directory == str(project)
    assert [r["status"] for r in result.leaderboard] == ["COMPLETED"] * 2
    objectives = [r["objective"] for r in result.leaderboard]
    assert objectives == sorted(objectives), "val_loss is minimised: best (lowest) first"
    assert sorted(_runs(project)) == ["0", "1"]
    with open(project / "leaderboard.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["trial"] for r in rows] == [r["trial"] for r in result.leaderboard]
    assert {"rank", "trial", "val_loss", "epochs", "seconds", "filters", "learning_rate"} <= set(rows[0])
    assert all(r["epochs"] == "1" and float(r["seconds"]) > 0 for r in rows)
    board = json.loads((project / "leaderboard.json").read_text())
    assert board["objective"] == {"name": "val_loss", "direction": "min"} and len(board["trials"]) == 2
    assert (project / "objective.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The retrained model is the best trial's configuration.
    best = result.best["hyperparameters"]
    assert result.best_blueprint_args["filters"] == tuple(best["filters"])
    assert result.best_settings["batch_size"] == best["batch_size"]
    assert result.best_settings["learning_rate"] == pytest.approx(best["learning_rate"])
    reference = build("convnet", **result.best_blueprint_args)
    assert result.model.count_params() == reference.count_params()
    convs = [layer for layer in result.model.layers if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == list(best["filters"])
    recorded = json.loads((project / "best" / "best.json").read_text())
    assert recorded["trial"] == result.best["trial"] and recorded["retrained_on"] == ["train", "validation"]
    assert os.path.isdir(result.saved_model) and (project / "best" / "model.keras").exists()
    assert set(result.test_metrics) >= {"loss", "accuracy"}


@pytest.mark.parametrize("tuner", ["grid", "bayesian", "hyperband"])
def test_each_tuner_runs(tmp_path, tuner):
    kwargs = {"max_trials": 3 if tuner == "bayesian" else 2}
    if tuner == "grid":  # a grid of exactly two points
        kwargs["fixed"] = {**TINY_FIXED, "optimizer": "adam", "learning_rate": 3e-3, "weight_decay": None,
                           "dropout": 0.0}
        kwargs["space"] = {"filters": {"values": [[4, 8], [8, 8]]}}
        kwargs["max_trials"] = 10
    if tuner == "hyperband":
        kwargs.update(max_epochs=2, factor=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _search(tmp_path, tuner=tuner, **kwargs)
    skipped = [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
    assert not skipped, "a continued Hyperband trial restores its optimizer state"
    rows = result.leaderboard
    assert rows and all(r["status"] == "COMPLETED" for r in rows)
    if tuner == "grid":
        assert sorted(tuple(r["hyperparameters"]["filters"]) for r in rows) == [(4, 8), (8, 8)]
    elif tuner == "bayesian":
        assert len(rows) == 3  # two random initial points, then one from the Gaussian process
    else:
        assert {r["budget_epochs"] for r in rows} <= {1, 2} and len(rows) >= 2
    assert sorted(_runs(tmp_path / "p")) == sorted(r["trial"] for r in rows), "each trial ran exactly once"


def test_a_continued_trial_gets_its_optimizer_state_back(tmp_path):
    # KerasTuner's checkpoints hold the optimizer's variables; a fresh model skips them unless its optimizer is built.
    import numpy as np

    from tuning.hypermodel import restore_checkpoint

    def model():
        net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        net.compile(keras.optimizers.Adam(0.01), "mse")
        return net

    trained = model()
    trained.fit(np.ones((8, 3)), np.zeros((8, 2)), batch_size=4, epochs=2, verbose=0)
    trained.save_weights(tmp_path / "checkpoint.weights.h5")
    plain = model()  # what KerasTuner's Hyperband does: the optimizer's state is skipped (with a warning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain.load_weights(tmp_path / "checkpoint.weights.h5")
    assert any("Skipping variable loading for optimizer" in str(w.message) for w in caught)
    assert int(keras.ops.convert_to_numpy(plain.optimizer.iterations)) == 0
    continued = restore_checkpoint(model(), tmp_path / "checkpoint.weights.h5")
    assert int(keras.ops.convert_to_numpy(continued.optimizer.iterations)) == 4
    for mine, theirs in zip(continued.optimizer.variables, trained.optimizer.variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(theirs))


_KILL_SCRIPT = """
import os, pathlib, signal, sys, keras
sys.path.insert(0, {root!r})
from tests.test_tuning import _search
class Kill(keras.callbacks.Callback):
    starts = 0
    def on_train_begin(self, logs=None):
        type(self).starts += 1
    def on_epoch_begin(self, epoch, logs=None):
        if type(self).starts == 2 and epoch == {epoch}:
            os.kill(os.getpid(), signal.SIGKILL)
_search(pathlib.Path({directory!r}), tuner={tuner!r}, callbacks=[Kill()], **{extra!r})
"""


@pytest.mark.parametrize("tuner", ["random", "bayesian", "hyperband", pytest.param("grid", marks=pytest.mark.slow)])
def test_a_search_killed_mid_trial_resumes_with_the_same_command(tmp_path, tuner):
    # SIGKILL at the start of an epoch of the second trial (the second epoch where trials have two): nothing is
    # cleaned up; the same call then resumes.
    extra, kill_epoch = {"max_trials": 3, "max_epochs": 2}, 1
    if tuner == "grid":
        extra["space"] = {"filters": {"values": [[4, 8], [8, 8], [4, 4]]}}
        extra["fixed"] = {**TINY_FIXED, "optimizer": "adam", "learning_rate": 3e-3, "weight_decay": None,
                          "dropout": 0.0}
    if tuner == "hyperband":  # max 2 epochs, factor 2: 2 one-epoch trials, the better continued, 2 two-epoch trials
        extra, kill_epoch = {"max_epochs": 2, "factor": 2}, 0
    script = _KILL_SCRIPT.format(root=ROOT, epoch=kill_epoch, directory=str(tmp_path), tuner=tuner, extra=extra)
    child = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, cwd=ROOT)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    project = tmp_path / "p"
    first, interrupted = _runs(project)
    result = _search(tmp_path, tuner=tuner, **extra)
    runs = _runs(project)
    total = 5 if tuner == "hyperband" else 3  # Hyperband's own plan; max_trials for the others
    assert len(result.leaderboard) == total and all(r["status"] == "COMPLETED" for r in result.leaderboard)
    assert runs[:3] == [first, interrupted, interrupted], "the completed trial was kept, the interrupted one rerun"
    assert sorted(runs) == sorted([*(r["trial"] for r in result.leaderboard), interrupted]), (
        "every trial ran once, the interrupted one twice")
    if tuner == "grid":
        assert sorted(tuple(r["hyperparameters"]["filters"]) for r in result.leaderboard) == [
            (4, 4), (4, 8), (8, 8)]


class KillSearchInTrial(keras.callbacks.Callback):
    """For a trial in a fresh process (importable there, hence here): when the first run of a trial in the search
    starts its second epoch, writes this process's pid to `pid_file` and SIGKILLs the search (the parent)."""

    def __init__(self, project, pid_file):
        super().__init__()
        self.project, self.pid_file = str(project), str(pid_file)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1 and len(_runs(self.project)) == 1:
            with open(self.pid_file, "w") as handle:
                handle.write(str(os.getpid()))
            os.kill(os.getppid(), signal.SIGKILL)
            time.sleep(60)  # the kernel kills this process with its parent (PR_SET_PDEATHSIG)


def test_trials_in_fresh_processes_survive_a_sigkill_of_the_search(tmp_path, monkeypatch):
    # Each trial trains in its own process; SIGKILL the search mid-trial: the trial's process dies with it; the
    # same call resumes. The searching process builds no model.
    from kerakit.data._bundled import digits

    from tuning import isolation

    x, y, _ = digits()
    arrays = (x[:192], y[:192])
    # A DataBundle object cannot cross to a fresh process: refused with "process", run in-process with "auto".
    with pytest.raises(KerakitError, match="`trial_isolation` must be 'none' or 'auto' for a DataBundle"):
        _search(tmp_path, trial_isolation="process")
    assert isolation.resolve_isolation("auto", _digits()) == "none"
    assert isolation.resolve_isolation("auto", "digits") == "process"
    with pytest.raises(KerakitError, match="picklable callbacks"):
        isolation.check_callbacks([lambda: None])
    kwargs = {"data": arrays, "trial_isolation": "process", "max_trials": 1, "max_epochs": 2}
    pid_file = tmp_path / "trial.pid"
    script = (f"import pathlib, sys; sys.path.insert(0, {ROOT!r}); from tests.test_tuning import _search, "
              f"KillSearchInTrial; import numpy as np; d = np.load({str(tmp_path / 'd.npz')!r}); "
              f"_search(pathlib.Path({str(tmp_path)!r}), data=(d['x'], d['y']), trial_isolation='process', "
              f"max_trials=1, max_epochs=2, callbacks=[KillSearchInTrial({str(tmp_path / 'p')!r}, "
              f"{str(pid_file)!r})])")
    import numpy as np

    np.savez(tmp_path / "d.npz", x=arrays[0], y=arrays[1])
    child = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, cwd=ROOT)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    trial_pid = int(pid_file.read_text())
    deadline = time.perf_counter() + 10
    while os.path.exists(f"/proc/{trial_pid}") and time.perf_counter() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{trial_pid}"), "the trial's process died with the search"
    project = tmp_path / "p"
    assert len(_runs(project)) == 1
    from tuning import hypermodel

    def no_build_here(*args, **kwargs):
        raise AssertionError("the searching process built a model")

    monkeypatch.setattr(hypermodel.BlueprintHyperModel, "build", no_build_here)
    result = _search(tmp_path, **kwargs)
    runs = _runs(project)
    assert runs == [runs[0], runs[0]], "the interrupted trial ran again once"
    assert [r["status"] for r in result.leaderboard] == ["COMPLETED"]
    for row in result.leaderboard:  # trained in another process: its start-up and peak memory are recorded
        trial = json.loads((project / f"trial_{row['trial']}" / "trial.json").read_text())
        metrics = trial["metrics"]["metrics"]
        assert metrics["trial_peak_rss_mib"]["observations"][0]["value"][0] > 100
        assert metrics["trial_startup_seconds"]["observations"][0]["value"][0] > 0
        assert (project / f"trial_{row['trial']}" / "checkpoint.weights.h5").exists()
        assert row["epochs"] == 2 and 0 <= row["objective"] <= 1
    assert json.loads((project / "search.json").read_text())["backend"] == keras.backend.backend()


@pytest.mark.slow
def test_two_workers_on_loopback_run_every_trial_once(tmp_path):
    # The CLI's --workers: a chief and two workers, KerasTuner's gRPC protocol on 127.0.0.1.
    command = [sys.executable, "-m", "tuning", "--blueprint", "convnet", "--data", "digits", "--tuner", "random",
               "--max-trials", "4", "--max-epochs", "1", "--workers", "2", "--directory", str(tmp_path),
               "--project-name", "dist", "--fix", "convs_per_block=1", "--hp", "filters=[[4,8],[8,8]]",
               "--no-retrain", "--trial-isolation", "none"]
    child = subprocess.run(command, check=False, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    project = tmp_path / "dist"
    lines = [json.loads(line) for line in (project / "trial_runs.jsonl").read_text().splitlines()]
    assert sorted(line["trial"] for line in lines) == ["0", "1", "2", "3"], "every trial ran exactly once"
    assert {line["tuner_id"] for line in lines} <= {"tuner0", "tuner1"}
    assert len({line["pid"] for line in lines}) >= 1
    board = json.loads((project / "leaderboard.json").read_text())
    assert sorted(r["trial"] for r in board["trials"]) == ["0", "1", "2", "3"]
    assert all(r["status"] == "COMPLETED" and r["objective"] is not None for r in board["trials"])
