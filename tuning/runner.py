"""The search runner: checks everything, runs a KerasTuner search over a blueprint, writes the results, retrains
the best configuration on train+validation and exports it as a verified SavedModel.

```python
import tuning
result = tuning.search(blueprint="convnet", data="digits", tuner="random", objective="val_accuracy",
                       max_trials=10, max_epochs=5, directory="/tmp/kerakit-tuning")
result.best["hyperparameters"], result.saved_model
```

The project folder (`<directory>/<project_name>`) holds KerasTuner's own state (trials, oracle), `search.json`
(the settings), `trial_runs.jsonl` (one line per trial start), `leaderboard.csv`, `leaderboard.json`,
`objective.png` and `best/` (`model.keras`, `saved_model/`, `best.json`). Running the same call again resumes an
interrupted search: completed trials are kept and the interrupted one runs again. Under KerasTuner's chief/worker
environment variables (`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`) the chief serves
the oracle and writes the results; workers run trials. Each trial trains in a fresh process where the data allows
(`trial_isolation`, see `tuning.isolation`), so the searching process's memory stays flat.
"""

import dataclasses
import numbers
import os
import shutil
import time
from pathlib import Path

from kerakit import errors
from kerakit.errors import KerakitError
from tuning import spaces

TUNERS = ("random", "grid", "bayesian", "hyperband")
SETTINGS_FILE = "search.json"
_MAXIMIZED = ("acc", "auc", "precision", "recall", "f1", "iou")


@dataclasses.dataclass
class SearchResult:
    """What `search` returns.

    Attributes:
        directory: str. The project folder.
        role: str. `"single"`, `"chief"` or `"worker"` (a worker has no leaderboard; the chief writes it).
        leaderboard: list of dict. Rows, best first (see `tuning.results`).
        best: dict or None. The best row.
        best_blueprint_args: dict or None. The blueprint arguments of the best trial (data arguments included).
        best_settings: dict or None. Its optimizer, learning rate, weight decay, schedule and batch size.
        model: keras.Model or None. The best configuration retrained on train+validation.
        test_metrics: dict or None. The retrained model on the test split.
        saved_model: str or None. The verified SavedModel of the retrained model.
        retrain_epochs: int or None. Epochs of the retraining (the best trial's).
        seconds: float. Wall time of this call.
    """

    directory: str
    role: str
    leaderboard: list
    best: dict
    best_blueprint_args: dict
    best_settings: dict
    model: object
    test_metrics: dict
    saved_model: str
    retrain_epochs: int
    seconds: float


def parse_objective(objective):
    """`"val_accuracy"` or `"val_loss:min"` -> `(name, direction)`; the direction is inferred from the name."""
    if isinstance(objective, (tuple, list)) and len(objective) == 2:
        name, direction = objective
    elif isinstance(objective, str):
        name, _, direction = objective.partition(":")
        direction = direction or None
    else:
        raise errors.invalid("tune", "objective", "a metric name such as 'val_accuracy' (or 'name:max')", objective)
    if direction is None:
        base = name.removeprefix("val_")
        direction = "max" if any(word in base for word in _MAXIMIZED) else "min"
    if direction not in ("min", "max"):
        raise errors.invalid("tune", "objective", "a direction of 'min' or 'max' ('val_loss:min')", objective)
    return name, direction


def logged_metrics(info):
    """The metrics a trial logs on this data (what an objective may name)."""
    base = ["loss", "accuracy"] if info.num_classes else ["loss", "mae"]
    return base + [f"val_{m}" for m in base]


def check_objective(objective, info):
    name, direction = parse_objective(objective)
    logged = logged_metrics(info)
    if name not in logged:
        near = errors.closest(name, logged)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise KerakitError(f"tune: the objective {name!r} is not a logged metric.{hint} A trial on {info.name!r} "
                           f"logs: {', '.join(logged)}.")
    return name, direction


def search(blueprint="convnet", data="digits", *, tuner="random", objective="val_accuracy", max_trials=10,
           max_epochs=10, space=None, fixed=None, space_file=None, directory="runs/tuning", project_name=None,
           overwrite=False, seed=0, data_args=None, factor=3, hyperband_iterations=1, retrain=True, export=True,
           callbacks=None, verbose=0, jit_compile="auto", print_leaderboard=False, trial_isolation="auto"):
    """Searches the hyperparameters of a blueprint with KerasTuner; see the module docstring.

    Args:
        blueprint: str. A registered blueprint. Defaults to `"convnet"`.
        data: str, `(x, y)` arrays or `kerakit.data.DataBundle`. As in `kerakit.data.load`. Defaults to `"digits"`.
        tuner: str. `"random"`, `"grid"`, `"bayesian"` or `"hyperband"`. Defaults to `"random"`.
        objective: str or (name, direction). A logged metric (`val_accuracy`, `val_loss`, `accuracy`, `loss`...),
            optionally with its direction: `"val_loss:min"`. Defaults to `"val_accuracy"` (max).
        max_trials: int. Trials of random, grid and bayesian search (Hyperband plans its own). Defaults to `10`.
        max_epochs: int. Epochs of a trial (Hyperband: of its longest trial). Defaults to `10`.
        space: dict or None. Changes to the blueprint's default space, `{name: spec}` (see `tuning.spaces`).
        fixed: dict or None. Constants, `{name: value}`.
        space_file: str or None. A JSON file of changes (dict values) and constants (plain values).
        directory: str. Where the project folder goes. Defaults to `"runs/tuning"`.
        project_name: str or None. Defaults to `<blueprint>-<data>-<tuner>`.
        overwrite: bool. Start afresh instead of resuming. Defaults to `False`.
        seed: int. Seeds the tuner, the data and the weights. Defaults to `0`.
        data_args: dict or None. More `kerakit.data.load` arguments.
        factor: int. Hyperband's reduction factor. Defaults to `3`.
        hyperband_iterations: int. Hyperband's iterations. Defaults to `1`.
        retrain: bool. Retrain the best configuration on train+validation. Defaults to `True`.
        export: bool. Export the retrained model as a verified SavedModel. Defaults to `True`.
        callbacks: list or None. More Keras callbacks for every trial.
        verbose: 0, 1 or 2. Keras and KerasTuner output. Defaults to `0`.
        jit_compile: bool or "auto". As in `Model.compile`. Defaults to `"auto"`.
        print_leaderboard: bool. Print the leaderboard. Defaults to `False`.
        trial_isolation: `"auto"`, `"process"` or `"none"`. `"process"` runs each trial in a fresh process (see
            `tuning.isolation`: resident memory stays flat, at a few seconds of start-up per trial); `"none"` runs
            them in this process. `"auto"` (the default) is `"process"` when `data` is a name or arrays and
            `"none"` for a `DataBundle` object, which cannot cross to another process.

    Returns:
        A `SearchResult`.
    """
    started = time.perf_counter()
    # Everything is checked before the search starts.
    errors.check_choice("tune", "tuner", tuner, TUNERS)
    errors.check_choice("tune", "trial_isolation", trial_isolation, ("auto", "process", "none"))
    max_trials = errors.check_int("tune", "max_trials", max_trials)
    max_epochs = errors.check_int("tune", "max_epochs", max_epochs)
    factor = errors.check_int("tune", "factor", factor, minimum=2)
    hyperband_iterations = errors.check_int("tune", "hyperband_iterations", hyperband_iterations)
    seed = errors.check_int("tune", "seed", seed, minimum=0)
    if verbose not in (0, 1, 2):
        raise errors.invalid("tune", "verbose", "0, 1 or 2", verbose)
    from kerakit.registry import get_blueprint

    get_blueprint(blueprint)
    changes, constants = dict(space or {}), {}
    if space_file:
        file_changes, constants = spaces.load_space_file(space_file)
        changes = {**file_changes, **changes}
    constants.update(fixed or {})
    resolved = spaces.space_for(blueprint, changes=changes, fixed=constants)
    spaces.check_training_choices(resolved)
    if tuner == "grid":
        resolved = spaces.grid_ready(resolved)
    if tuner == "hyperband" and max_epochs < 2:
        raise errors.invalid("tune", "max_epochs", "at least 2 with hyperband (it trains in rounds)", max_epochs)
    objective_name, direction = parse_objective(objective)

    import keras

    from kerakit import data as kdata

    keras.utils.set_random_seed(seed)
    batch_size = resolved.fixed.get("batch_size", 32)
    bundle = kdata.load(data, batch_size=batch_size, seed=seed, **dict(data_args or {}))
    objective_name, direction = check_objective((objective_name, direction), bundle.info)
    from tuning import isolation

    trial_isolation = isolation.resolve_isolation(trial_isolation, data)
    if trial_isolation == "process":
        isolation.check_callbacks(list(callbacks or []))

    from keras_tuner.src.distribute import utils as dist_utils

    role = "single"
    if dist_utils.has_chief_oracle():
        role = "chief" if dist_utils.is_chief_oracle() else "worker"
    project_name = project_name or f"{blueprint}-{_slug(bundle.info.name)}-{tuner}"
    project = Path(directory).absolute() / project_name
    settings = {"blueprint": blueprint, "data": bundle.info.name, "tuner": tuner,
                "objective": [objective_name, direction], "max_trials": max_trials, "max_epochs": max_epochs,
                "factor": factor, "hyperband_iterations": hyperband_iterations, "seed": seed,
                "space": resolved.to_json(), "backend": keras.backend.backend()}
    if role != "worker":
        _check_or_write_settings(project, settings, overwrite)
    from tuning import hypermodel as khypermodel

    model_builder = khypermodel.BlueprintHyperModel(resolved, bundle, max_epochs, jit_compile=jit_compile)
    kt_tuner = khypermodel.make_tuner(tuner, model_builder, (objective_name, direction), max_trials=max_trials,
                                      max_epochs=max_epochs, directory=str(project.parent), project_name=project_name,
                                      overwrite=False, seed=seed, factor=factor,
                                      hyperband_iterations=hyperband_iterations)
    kt_tuner.trial_isolation = trial_isolation
    if trial_isolation == "process":
        kt_tuner.data_file = isolation.write_data(project, {
            "source": isolation.recipe_source(data), "batch_size": batch_size, "seed": seed,
            "data_args": dict(data_args or {})})
    kt_tuner.search(epochs=max_epochs, callbacks=list(callbacks or []), verbose=verbose)
    if role == "worker":
        return SearchResult(str(project), role, [], None, None, None, None, None, None, None,
                            time.perf_counter() - started)
    return _report(kt_tuner, model_builder, resolved, project, objective_name, direction, role, tuner, seed,
                   retrain, export, verbose, print_leaderboard, started)


def _report(kt_tuner, model_builder, resolved, project, objective_name, direction, role, tuner, seed, retrain,
            export, verbose, print_leaderboard, started):
    from kerakit.run_folder import write_json
    from tuning import results

    trials = list(kt_tuner.oracle.trials.values())
    rows = results.leaderboard_rows(trials, resolved, direction)
    results.write_leaderboard(rows, project, objective_name, direction)
    results.plot_leaderboard(rows, project / results.PLOT_PNG, objective_name, direction,
                             title=f"{resolved.blueprint}: {tuner} search")
    if print_leaderboard:
        print(results.format_leaderboard(rows, objective_name, limit=20))
    completed = [r for r in rows if r["status"] == "COMPLETED" and r["objective"] is not None]
    if not completed:
        raise KerakitError(f"tune: no trial completed in {project}; see the trials' messages in trial_*/trial.json.")
    best = completed[0]
    best_trial = kt_tuner.oracle.trials[best["trial"]]
    blueprint_args, settings = model_builder.configuration(best_trial.hyperparameters.copy())
    model = test_metrics = saved_model = None
    epochs = best.get("budget_epochs") or best["epochs"] or 1
    if retrain:
        model, test_metrics, saved_model = _retrain(model_builder, blueprint_args, settings, epochs, project / "best",
                                                    seed, export, verbose)
        write_json(project / "best" / "best.json", {
            "trial": best["trial"], "objective": {"name": objective_name, "direction": direction,
                                                  "value": best["objective"]},
            "hyperparameters": best["hyperparameters"], "blueprint": resolved.blueprint,
            "blueprint_args": blueprint_args, "settings": settings, "retrain_epochs": epochs,
            "retrained_on": ["train", "validation"], "test_metrics": test_metrics, "saved_model": saved_model,
        })
    return SearchResult(str(project), role, rows, best, blueprint_args, settings, model, test_metrics, saved_model,
                        epochs if retrain else None, time.perf_counter() - started)


def _retrain(model_builder, blueprint_args, settings, epochs, folder, seed, export, verbose):
    import math

    import keras

    folder.mkdir(parents=True, exist_ok=True)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    train, validation, test = model_builder.datasets(settings["batch_size"], ("train", "validation", "test"))
    examples = model_builder.bundle.info.num_examples
    steps = math.ceil((examples["train"] + examples["validation"]) / settings["batch_size"])
    model = model_builder.build_model(blueprint_args, settings, epochs, steps)
    model.fit(train.concatenate(validation), epochs=epochs, verbose=verbose, shuffle=False)
    test_metrics = {k: float(v) for k, v in model.evaluate(test, verbose=0, return_dict=True).items()}
    tmp = folder / ".model.tmp.keras"
    model.save(tmp)
    os.replace(tmp, folder / "model.keras")
    saved_model = None
    if export:
        from kerakit.export import saved_model as export_saved_model

        saved_model = export_saved_model(model, folder / "saved_model", overwrite=True).path
    return model, test_metrics, saved_model


def _check_or_write_settings(project, settings, overwrite):
    """A new project records its settings; an existing one is resumed only with the same settings."""
    from kerakit.run_folder import read_json, write_json

    path = project / SETTINGS_FILE
    if overwrite and project.exists():
        shutil.rmtree(project)
    previous = read_json(path)
    if previous is not None and _canonical(previous) != _canonical(settings):
        changed = sorted(k for k in set(previous) | set(settings) if _canonical(previous.get(k))
                         != _canonical(settings.get(k)))
        raise KerakitError(f"tune: {project} holds a search with other settings (changed: {', '.join(changed)}); "
                           "pass overwrite=True (--overwrite) to start afresh, or another project name.")
    if previous is None and project.exists() and any(project.iterdir()):
        raise KerakitError(f"tune: {project} exists and is not a kerakit search; pass overwrite=True or choose "
                           "another project name.")
    project.mkdir(parents=True, exist_ok=True)
    if previous is None:
        write_json(path, settings)


def _canonical(value):
    import json

    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _slug(text):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
