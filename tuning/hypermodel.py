"""The hypermodel and the tuners by name. This module imports KerasTuner: import it only when a search runs.

`BlueprintHyperModel` translates `hp` into blueprint keyword arguments (built through `kerakit.registry.build`) and
compile/fit settings (`kerakit.optimizers`, `kerakit.schedules`); it holds no layer code.
"""

import json
import math
import os
import time

import keras_tuner
import numpy as np
from keras_tuner.src.engine import oracle as oracle_module
from keras_tuner.src.engine import tuner_utils
from keras_tuner.src.tuners import bayesian, gridsearch

from tuning import spaces

RUN_LOG = "trial_runs.jsonl"


class BlueprintHyperModel(keras_tuner.HyperModel):
    """Builds and trains one blueprint for a set of hyperparameter values.

    Args:
        space: `tuning.spaces.SearchSpace`. What is tuned and what is fixed.
        bundle: `kerakit.data.DataBundle`. The data (re-batched per trial when the batch size is tuned).
        max_epochs: int. Epochs of a trial (the schedule's horizon), unless Hyperband says otherwise (a Hyperband
            round's schedule spans its own epochs: spanning `max_epochs`, a one-epoch round would spend it all in
            warmup, and measured on the digits that made Hyperband's picks worse, 0.756 against 0.822).
        jit_compile: bool or "auto". As in `Model.compile`.
    """

    def __init__(self, space, bundle, max_epochs, jit_compile="auto"):
        super().__init__(name=space.blueprint, tunable=True)
        self.space = space
        self.bundle = bundle
        self.max_epochs = max_epochs
        self.jit_compile = jit_compile
        self._datasets = {}

    def declare(self, hp):
        """Declares every tunable entry on `hp`; returns `{name: value}` (KerasTuner's values)."""
        values = {}
        for name, spec in self.space.tunable.items():
            if spec["type"] == "choice":
                kt_values, _ = spaces.encode_choices(spec["values"])
                default = spaces.to_kerastuner(spec, spec["default"]) if "default" in spec else None
                values[name] = hp.Choice(name, kt_values, default=default)
            elif spec["type"] == "int":
                values[name] = hp.Int(name, spec["min"], spec["max"], step=spec.get("step"),
                                      sampling=spec["sampling"], default=spec.get("default"))
            else:
                values[name] = hp.Float(name, spec["min"], spec["max"], step=spec.get("step"),
                                        sampling=spec["sampling"], default=spec.get("default"))
        return values

    def configuration(self, hp):
        """`(blueprint_args, settings)` for `hp`: the data's shape and classes filled in, defaults applied."""
        blueprint_args, settings = spaces.resolve(self.space, self.declare(hp))
        settings = {"optimizer": "adam", "learning_rate": 3e-3, "weight_decay": None, "schedule": "cosine",
                    "batch_size": self.bundle.batch_size, **settings}
        return self.with_data_arguments(blueprint_args), settings

    def with_data_arguments(self, blueprint_args):
        from kerakit.training import blueprint_arguments_for_data

        return blueprint_arguments_for_data(self.space.blueprint, blueprint_args, self.bundle.info)

    def build(self, hp):
        blueprint_args, settings = self.configuration(hp)
        epochs = hp.values.get("tuner/epochs", self.max_epochs)
        steps = math.ceil(self.bundle.info.num_examples["train"] / settings["batch_size"])
        return self.build_model(blueprint_args, settings, epochs, steps)

    def build_model(self, blueprint_args, settings, epochs, steps_per_epoch):
        """Builds the blueprint and compiles it with the settings' optimizer, schedule and weight decay."""

        from kerakit import optimizers, schedules
        from kerakit.registry import build
        from kerakit.training import compile_for_task, default_warmup_epochs, task_of

        model = build(self.space.blueprint, **blueprint_args)
        warmup = default_warmup_epochs(epochs) if settings["schedule"] == "cosine" else 0.0
        rate = schedules.make_schedule(settings["schedule"], settings["learning_rate"], epochs=max(1, int(epochs)),
                                       steps_per_epoch=steps_per_epoch, warmup_epochs=warmup)
        return compile_for_task(model, optimizers.make_optimizer(settings["optimizer"], rate,
                                                                 weight_decay=settings["weight_decay"]),
                                self.bundle.info, task_of(self.space.blueprint), jit_compile=self.jit_compile)

    def datasets(self, batch_size, splits=("train", "validation")):
        """The splits batched by `batch_size` (the bundle's own pipelines re-batched; shuffling kept)."""
        import tensorflow as tf

        from kerakit.training import for_task, task_of

        out = []
        for split in splits:
            key = (split, batch_size)
            if key not in self._datasets:
                dataset = getattr(self.bundle, split)
                if batch_size != self.bundle.batch_size:
                    batches = math.ceil(self.bundle.info.num_examples[split] / batch_size)
                    dataset = dataset.unbatch().batch(batch_size).apply(
                        tf.data.experimental.assert_cardinality(batches)).prefetch(tf.data.AUTOTUNE)
                self._datasets[key] = for_task(dataset, task_of(self.space.blueprint))
            out.append(self._datasets[key])
        return out

    def fit(self, hp, model, *args, **kwargs):
        _, settings = self.configuration(hp)
        train, validation = self.datasets(settings["batch_size"])
        kwargs.pop("validation_data", None)
        kwargs["shuffle"] = False  # the train pipeline shuffles itself
        return model.fit(train, validation_data=validation, **kwargs)


class _KerakitTrials:
    """Times each trial, counts its epochs, logs every start of a trial (to check that each runs once), and runs
    the trial's build + fit in a fresh process when `trial_isolation` is `"process"` (see `tuning.isolation`).

    Set after construction: `trial_isolation` (`"process"` or `"none"`) and, for `"process"`, `data_file` (the
    data recipe written by `tuning.isolation.write_data`).
    """

    trial_isolation = "none"
    data_file = None

    def run_trial(self, trial, *args, **kwargs):
        _log_run(self.project_dir, trial.trial_id)
        self._child_results = []
        started = time.perf_counter()
        results = super().run_trial(trial, *args, **kwargs)
        seconds = time.perf_counter() - started
        histories = results if isinstance(results, list) else [results]
        metrics = dict(tuner_utils.convert_to_metrics_dict(results, self.oracle.objective))
        metrics["trial_seconds"] = seconds
        metrics["trial_epochs"] = max(len(h.history.get("loss", [])) for h in histories)
        for child in self._child_results:  # what the fresh process cost (the last execution's)
            metrics["trial_startup_seconds"] = child["startup_seconds"]
            metrics["trial_peak_rss_mib"] = child["peak_rss_mib"]
        return metrics

    def _populate_initial_space(self):
        # The space has no conditional scopes, so declaring it is enough; KerasTuner would build a model (in the
        # searching process, which trials in fresh processes keep free of models) to discover conditions.
        hp = self.oracle.get_space()
        self.hypermodel.declare(hp)
        self.oracle.update_space(hp)

    def _build_and_fit_model(self, trial, *args, **kwargs):
        if self.trial_isolation != "process":
            return super()._build_and_fit_model(trial, *args, **kwargs)
        import keras

        from tuning import isolation

        if args:
            raise TypeError("tune: a trial in a fresh process takes keyword fit arguments only")
        callbacks = [c for c in kwargs.pop("callbacks", [])
                     if not isinstance(c, (tuner_utils.TunerCallback, tuner_utils.SaveBestEpoch))]
        hp = trial.hyperparameters
        restore = None
        if "tuner/trial_id" in hp.values:  # a Hyperband trial continuing an earlier one
            past = hp.values["tuner/trial_id"]
            restore = (self._get_checkpoint_fname(past), self._get_build_config_fname(past))
        call = {"backend": keras.backend.backend(), "data": str(self.data_file), "space": self.hypermodel.space,
                "max_epochs": self.hypermodel.max_epochs, "jit_compile": self.hypermodel.jit_compile,
                "hyperparameters": hp.get_config(), "callbacks": callbacks, "fit": kwargs,
                "objective": (self.oracle.objective.name, self.oracle.objective.direction),
                "checkpoint": self._get_checkpoint_fname(trial.trial_id),
                "build_config": self._get_build_config_fname(trial.trial_id), "restore": restore}
        result = isolation.run_trial_in_child(call, self.get_trial_dir(trial.trial_id))
        self._child_results.append(result)
        history = keras.callbacks.History()
        history.history, history.epoch = result["history"], result["epoch"]
        tuner_utils.validate_trial_results(history, self.oracle.objective, "HyperModel.fit()")
        return history


def restore_checkpoint(model, checkpoint, build_config=None):
    """Loads a trial's checkpoint into `model`, its optimizer state included.

    KerasTuner's checkpoints (`model.save_weights`) hold the optimizer's variables too, but loading them into a
    freshly compiled model skips them ("Skipping variable loading for optimizer"): its optimizer has no variables
    yet. Building the optimizer first restores its moments and step count, so a continued Hyperband trial goes on
    where it stopped (its schedule at the step it reached) instead of restarting with a fresh optimizer.
    """
    from keras_tuner.src import utils

    if build_config is not None and os.path.exists(build_config) and not model.built:
        model.build_from_config(utils.load_json(build_config))
    if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(checkpoint)
    return model


def save_build_config(model, path):
    """Writes the model's build config where KerasTuner reloads it from (`Tuner._build_and_fit_model` does)."""
    from keras_tuner.src import utils

    utils.save_json(path, model.get_build_config())


def _log_run(project_dir, trial_id):
    line = json.dumps({"trial": trial_id, "tuner_id": os.environ.get("KERASTUNER_TUNER_ID", "tuner0"),
                       "pid": os.getpid(), "time": time.time()}) + "\n"
    fd = os.open(os.path.join(project_dir, RUN_LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class ResumableGridSearchOracle(gridsearch.GridSearchOracle):
    """`GridSearchOracle` whose progress survives a restart.

    KerasTuner 1.4.8 keeps the grid's order (`_ordered_ids`) and its queue of trials to extend
    (`_populate_next`) only in memory, so a reloaded grid search finds nothing to extend and stops early. These are
    saved with the oracle's state here.
    """

    def get_state(self):
        state = super().get_state()
        ordered, index = [], self._ordered_ids._next_index[None]
        while index is not None:
            ordered.append(self._ordered_ids._memory[index])
            index = self._ordered_ids._next_index[index]
        state["kerakit_ordered_ids"] = ordered
        state["kerakit_populate_next"] = list(self._populate_next)
        return state

    def set_state(self, state):
        super().set_state(state)
        self._ordered_ids = gridsearch.LinkedList()
        for trial_id in state.get("kerakit_ordered_ids", []):
            self._ordered_ids.insert(trial_id)
        self._populate_next = list(state.get("kerakit_populate_next", []))


class _NumpyGaussianProcess:
    """A Gaussian process regressor (Matern 5/2 kernel, normalised targets) with sklearn's `fit`/`predict`.

    The length scale is picked from a grid by the log marginal likelihood. It stands in for sklearn's
    `GaussianProcessRegressor` where scikit-learn is not installed (KerasTuner's Bayesian oracle needs one).
    """

    LENGTH_SCALES = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

    def __init__(self, alpha=1e-4):
        self.alpha = alpha

    @staticmethod
    def _kernel(a, b, length_scale):
        d = np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0)) / length_scale
        return (1.0 + np.sqrt(5.0) * d + 5.0 / 3.0 * d**2) * np.exp(-np.sqrt(5.0) * d)

    def fit(self, x, y):
        x, y = np.asarray(x, float), np.asarray(y, float).ravel()
        self._mean, self._std = y.mean(), (y.std() or 1.0)
        target = (y - self._mean) / self._std
        best = None
        for length_scale in self.LENGTH_SCALES:
            k = self._kernel(x, x, length_scale) + (self.alpha + 1e-8) * np.eye(len(x))
            try:
                chol = np.linalg.cholesky(k)
            except np.linalg.LinAlgError:
                continue
            weights = np.linalg.solve(chol.T, np.linalg.solve(chol, target))
            likelihood = -0.5 * target @ weights - np.log(np.diag(chol)).sum()
            if best is None or likelihood > best[0]:
                best = (likelihood, length_scale, chol, weights)
        _, self._length_scale, self._chol, self._weights = best
        self._x = x
        return self

    def predict(self, x, return_std=False):
        x = np.asarray(x, float)
        k = self._kernel(x, self._x, self._length_scale)
        mean = k @ self._weights * self._std + self._mean
        if not return_std:
            return mean
        v = np.linalg.solve(self._chol, k.T)
        variance = np.maximum(1.0 - (v**2).sum(0), 1e-12)
        return mean, np.sqrt(variance) * self._std


class BayesianOracle(bayesian.BayesianOptimizationOracle):
    """KerasTuner's Bayesian optimisation oracle; with a NumPy Gaussian process when scikit-learn is absent."""

    def __init__(self, objective, max_trials, num_initial_points=None, alpha=1e-4, beta=2.6, seed=None, **kwargs):
        if bayesian.sklearn is not None:
            super().__init__(objective=objective, max_trials=max_trials, num_initial_points=num_initial_points,
                             alpha=alpha, beta=beta, seed=seed, **kwargs)
            return
        oracle_module.Oracle.__init__(self, objective=objective, max_trials=max_trials, seed=seed, **kwargs)
        self.num_initial_points = num_initial_points
        self.alpha = alpha
        self.beta = beta
        self._random_state = np.random.RandomState(self.seed)
        self.gpr = self._make_gpr()

    def _make_gpr(self):
        if bayesian.sklearn is not None:
            return super()._make_gpr()
        return _NumpyGaussianProcess(alpha=self.alpha)


class KerakitTuner(_KerakitTrials, keras_tuner.Tuner):
    """`keras_tuner.Tuner` with kerakit's trial bookkeeping."""


class KerakitHyperband(_KerakitTrials, keras_tuner.Hyperband):
    """`keras_tuner.Hyperband` with kerakit's trial bookkeeping; a continued trial gets its optimizer state back."""

    def _build_hypermodel(self, hp):
        model = keras_tuner.Tuner._build_hypermodel(self, hp)  # Hyperband's own reload skips the optimizer
        if "tuner/trial_id" in hp.values:
            past = hp.values["tuner/trial_id"]
            restore_checkpoint(model, self._get_checkpoint_fname(past), self._get_build_config_fname(past))
        return model


def make_tuner(kind, hypermodel, objective, *, max_trials, max_epochs, directory, project_name, overwrite, seed,
               factor=3, hyperband_iterations=1, max_retries_per_trial=0):
    """Returns the tuner `kind` ("random", "grid", "bayesian", "hyperband") for `hypermodel`."""
    objective = keras_tuner.Objective(*objective)
    common = {"hypermodel": hypermodel, "directory": directory, "project_name": project_name,
              "overwrite": overwrite}
    oracle_args = {"objective": objective, "seed": seed, "max_retries_per_trial": max_retries_per_trial}
    if kind == "hyperband":
        return KerakitHyperband(max_epochs=max_epochs, factor=factor, hyperband_iterations=hyperband_iterations,
                                **oracle_args, **common)
    if kind == "random":
        oracle = keras_tuner.oracles.RandomSearchOracle(max_trials=max_trials, **oracle_args)
    elif kind == "grid":
        oracle = ResumableGridSearchOracle(max_trials=max_trials, **oracle_args)
    else:
        oracle = BayesianOracle(max_trials=max_trials, num_initial_points=min(2, max_trials), **oracle_args)
    return KerakitTuner(oracle=oracle, **common)
