"""Optimizers and learning-rate schedules by name (Keras's own classes underneath)."""

import keras
import numpy as np
import pytest

from kerakit.errors import KerakitError
from kerakit.optimizers import OPTIMIZERS, make_optimizer
from kerakit.schedules import make_schedule, plateau_callback, schedule_options


def test_cosine_with_warmup_rises_linearly_then_decays_to_the_floor():
    schedule = make_schedule("cosine", 1e-3, epochs=10, steps_per_epoch=10, warmup_epochs=2, min_lr_ratio=0.1)
    rates = [float(schedule(step)) for step in (0, 10, 20, 60, 100)]
    np.testing.assert_allclose(rates[:3], [0.0, 5e-4, 1e-3], rtol=1e-5)
    # Halfway through the 80 decay steps the cosine is at the midpoint between peak and floor.
    np.testing.assert_allclose(rates[3], 1e-4 + (1e-3 - 1e-4) * 0.5, rtol=1e-4)
    np.testing.assert_allclose(rates[4], 1e-4, rtol=1e-4)


def test_step_decay_multiplies_by_gamma_every_step_epochs():
    schedule = make_schedule("step", 0.1, epochs=9, steps_per_epoch=5, step_epochs=3, gamma=0.5)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, 14, 15, 30)], [0.1, 0.1, 0.05, 0.025], rtol=1e-6)
    assert make_schedule("constant", 0.2, epochs=3, steps_per_epoch=1) == 0.2


def test_optimizers_by_name_are_keras_optimizers_with_the_documented_options():
    assert set(OPTIMIZERS) >= {"sgd", "momentum", "nesterov", "adam", "adamw"}
    momentum = make_optimizer("nesterov", 0.1)
    assert isinstance(momentum, keras.optimizers.SGD) and momentum.momentum == 0.9 and momentum.nesterov
    adamw = make_optimizer("adamw", 1e-3)
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == pytest.approx(1e-4)
    clipped = make_optimizer("adam", 1e-3, global_clipnorm=1.0, weight_decay=0.01)
    assert clipped.global_clipnorm == 1.0 and clipped.weight_decay == pytest.approx(0.01)


def test_bad_names_and_values_are_refused():
    with pytest.raises(KerakitError, match=r"`optimizer` must be one of \['sgd', .*'adagrad'.*\] \(did you mean "
                                           r"'adam'\?\). Received: optimizer='adm'"):
        make_optimizer("adm", 1e-3)
    with pytest.raises(KerakitError, match=r"`warmup_epochs` must be a number in \[0, epochs=3\)"):
        make_schedule("cosine", 1e-3, epochs=3, steps_per_epoch=2, warmup_epochs=3)
    with pytest.raises(KerakitError, match=r"`learning_rate` must be a number > 0. Received: learning_rate=-1"):
        make_schedule("constant", -1, epochs=3, steps_per_epoch=2)


def test_optimizer_options_reach_the_keras_optimizer_and_unknown_ones_are_refused(tmp_path):
    adam = make_optimizer("adam", 2e-4, options={"beta_1": 0.5, "amsgrad": True})
    assert float(adam.beta_1) == 0.5 and adam.amsgrad is True
    assert make_optimizer("momentum", 0.1, options={"momentum": 0.5}).momentum == 0.5  # the caller's value wins
    with pytest.raises(KerakitError, match=r"optimizer: `optimizer_args` must be arguments of keras.optimizers.Adam "
                                           r"\(.*beta_1.*\). Received: optimizer_args=\{'beta1': 0.5\}"):
        make_optimizer("adam", 1e-3, options={"beta1": 0.5})
    import kerakit

    with pytest.raises(KerakitError, match=r"`optimizer_args` must be arguments of keras.optimizers.SGD"):
        kerakit.train("mlp", "digits", optimizer="sgd", optimizer_args={"beta_1": 0.5}, runs_root=str(tmp_path))
    assert not any(tmp_path.iterdir())


def test_exponential_decays_smoothly_and_plateau_is_a_constant_rate_with_a_callback():
    schedule = make_schedule("exponential", 0.1, epochs=9, steps_per_epoch=5, step_epochs=3, gamma=0.5)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, 15, 30)], [0.1, 0.05, 0.025], rtol=1e-6)
    np.testing.assert_allclose(float(schedule(5)), 0.1 * 0.5 ** (1 / 3), rtol=1e-6)  # between two staircase steps
    assert make_schedule("plateau", 0.01, epochs=5, steps_per_epoch=2) == 0.01
    callback = plateau_callback("plateau", 0.01, gamma=0.5, patience=2, min_lr_ratio=0.01)
    assert isinstance(callback, keras.callbacks.ReduceLROnPlateau) and callback.monitor == "val_loss"
    assert (callback.factor, callback.patience, callback.min_lr) == (0.5, 2, pytest.approx(1e-4))
    assert plateau_callback("cosine", 0.01) is None


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_rises_to_the_peak_then_anneals_to_the_floor(anneal):
    schedule = make_schedule("one_cycle", 0.1, epochs=10, steps_per_epoch=10, pct_start=0.3, div_factor=25,
                             final_div_factor=100, anneal=anneal)
    rates = np.array([float(schedule(step)) for step in range(0, 121)])
    np.testing.assert_allclose(rates[[0, 30, 100, 120]], [0.1 / 25, 0.1, 0.1 / 2500, 0.1 / 2500], rtol=1e-5)
    assert np.all(np.diff(rates[:31]) > 0) and np.all(np.diff(rates[30:101]) < 0)
    assert rates.argmax() == 30
    middle_up, middle_down = rates[15], rates[65]  # halfway up, halfway down
    np.testing.assert_allclose(middle_up, (0.1 / 25 + 0.1) / 2, rtol=1e-5)  # the midpoint for both shapes
    np.testing.assert_allclose(middle_down, (0.1 + 0.1 / 2500) / 2, rtol=1e-5)
    if anneal == "linear":
        np.testing.assert_allclose(rates[10], 0.1 / 25 + (0.1 - 0.1 / 25) / 3, rtol=1e-5)
    else:
        np.testing.assert_allclose(rates[10], 0.1 / 25 + (0.1 - 0.1 / 25) * (1 - np.cos(np.pi / 3)) / 2, rtol=1e-5)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()
    np.testing.assert_allclose(float(again(65)), middle_down, rtol=1e-6)


def test_every_optimizer_name_is_its_keras_class_with_the_options_passed_through():
    expected = {"sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop",
                "adam": "Adam", "adamw": "AdamW", "lion": "Lion"}
    assert set(OPTIMIZERS) == set(expected)
    for name, class_name in expected.items():
        assert type(make_optimizer(name, 1e-3)).__name__ == class_name
    assert make_optimizer("sgd", 0.1, clipnorm=2.0).clipnorm == 2.0
    assert make_optimizer("rmsprop", 0.1, clipvalue=0.5).clipvalue == 0.5
    ema = make_optimizer("lion", 1e-4, use_ema=True, ema_momentum=0.9, gradient_accumulation_steps=3)
    assert ema.use_ema and ema.ema_momentum == 0.9 and ema.gradient_accumulation_steps == 3


def test_gradient_accumulation_over_k_batches_is_one_step_on_their_union():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")

    def fitted(optimizer, batch_size):
        keras.utils.set_random_seed(1)
        inputs = keras.Input((5,))
        model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(4, activation="tanh")(inputs)))
        model.compile(optimizer=optimizer, loss="mse")
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return model.get_weights()

    accumulated = fitted(make_optimizer("sgd", 0.5, gradient_accumulation_steps=4), batch_size=8)
    one_step = fitted(make_optimizer("sgd", 0.5), batch_size=32)
    untrained = fitted(make_optimizer("sgd", 1e-30), batch_size=32)
    for a, b, c in zip(accumulated, one_step, untrained):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert max(np.abs(b - c).max() for b, c in zip(one_step, untrained)) > 1e-2  # the step did move the weights


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: make_optimizer("sgd", -0.1), r"optimizer: `learning_rate` must be a number > 0. Received: "
                                               r"learning_rate=-0.1"),
        (lambda: make_optimizer("sgd", 0.1, clipnorm=-1.0),
         r"`clipnorm` must be a number > 0. Received: clipnorm=-1.0"),
        (lambda: make_optimizer("sgd", 0.1, global_clipnorm=0), r"`global_clipnorm` must be a number > 0"),
        (lambda: make_optimizer("sgd", 0.1, clipnorm=1.0, global_clipnorm=1.0),
         r"`global_clipnorm` must be None when clipnorm is set \(one kind of clipping at a time\)"),
        (lambda: make_optimizer("sgd", 0.1, weight_decay=-1e-4), r"`weight_decay` must be a number >= 0"),
        (lambda: make_optimizer("sgd", 0.1, gradient_accumulation_steps=0),
         r"`gradient_accumulation_steps` must be an integer >= 1. Received: gradient_accumulation_steps=0"),
        (lambda: make_optimizer("sgd", 0.1, use_ema=True, ema_momentum=1.0),
         r"`ema_momentum` must be a number in \(0, 1\). Received: ema_momentum=1.0"),
        (lambda: make_optimizer("sgd", 0.1, ema_momentum=0.9), r"`ema_momentum` must be None unless use_ema=True"),
        (lambda: make_schedule("cosin", 0.1, epochs=3, steps_per_epoch=2),
         r"`schedule` must be one of \['constant', 'step', 'cosine', 'exponential', 'one_cycle', 'plateau'\] "
         r"\(did you mean 'cosine'\?\)"),
        (lambda: make_schedule("one_cycle", 0.1, epochs=3, steps_per_epoch=2, pct_start=1.0),
         r"`pct_start` must be a number in \(0, 1\). Received: pct_start=1.0"),
        (lambda: make_schedule("one_cycle", 0.1, epochs=3, steps_per_epoch=2, anneal="cosine"),
         r"`anneal` must be one of \['cos', 'linear'\]"),
        (lambda: make_schedule("step", 0.1, epochs=3, steps_per_epoch=2, gamma=2.0), r"`gamma` must be a number in "
                                                                                       r"\(0, 1\)"),
        (lambda: schedule_options({"gama": 0.5}), r"`schedule_args` must be arguments of the schedules \(anneal, "
                                                  r".*gamma.*\). Received: schedule_args=\{'gama': 0.5\}"),
    ],
)
def test_bad_optimizer_and_schedule_arguments_are_refused_with_a_clear_message(call, message):
    with pytest.raises(KerakitError, match=message):
        call()


def _tiny_run(tmp_path, **kwargs):
    import kerakit

    return kerakit.train("mlp", "digits", epochs=1, batch_size=64, blueprint_args={"hidden_units": (16,)},
                         verbose=0, run_dir=tmp_path / "run", export=False, early_stopping=None, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"optimizer": "adagard"}, r"`optimizer` must be one of .*\(did you mean 'adagrad'\?\)"),
        ({"loss": "tripplet"}, r"train: `loss` must be one of \['mse', .*'triplet'\] \(did you mean 'triplet'\?\) or a "
                               r"Keras loss name. Received: loss='tripplet'"),
        ({"learning_rate": -1e-3}, r"train: `learning_rate` must be a number > 0. Received: learning_rate=-0.001"),
        ({"clipvalue": -0.5}, r"train: `clipvalue` must be a number > 0. Received: clipvalue=-0.5"),
        ({"schedule": "cosine", "warmup_epochs": 1}, r"`warmup_epochs` must be a number in \[0, epochs=1\)"),
        ({"gradient_accumulation_steps": 0}, r"train: `gradient_accumulation_steps` must be an integer >= 1"),
        ({"use_ema": True, "ema_momentum": 0.0}, r"train: `ema_momentum` must be a number in \(0, 1\)"),
        ({"schedule": "one_cycle", "schedule_args": {"div_factor": -1}}, r"`div_factor` must be a number > 0"),
        ({"drop_path_rate": 0.1}, r"train: `drop_path_rate` must be None for the blueprint 'mlp', which takes no "
                                  r"`drop_path_rate` argument"),
        ({"dropout": 1.5}, r"train: `dropout` must be a float in \[0, 1\). Received: dropout=1.5"),
        ({"precision": "float16"}, r"train: `precision` must be one of \['float32', 'mixed_float16', "
                                   r"'mixed_bfloat16'\]"),
        ({"remat": "full"}, r"train: `remat` must be False, True or 'activations' .*keras-team/keras#21207"),
        ({"label_smoothing": 0.1, "loss": "mse"}, r"loss: `label_smoothing` must be 0 with loss='mse'"),
        ({"label_smoothing": 1.0}, r"`label_smoothing` must be a float in \[0, 1\)"),
        ({"class_weight": "balance"}, r"train: `class_weight` must be None, 'balanced' or a dict"),
        ({"class_weight": {12: 1.0}},
         r"train: `class_weight` must be a dict \{class index in \[0, 10\): weight >= 0\}"),
    ],
)
def test_bad_training_options_are_refused_before_the_run_starts(tmp_path, kwargs, message):
    with pytest.raises(KerakitError, match=message):
        _tiny_run(tmp_path, **kwargs)
    assert not (tmp_path / "run").exists(), "no run folder for a refused run"


def test_a_run_with_mixed_float16_and_the_training_options_records_and_restores_them(tmp_path):
    import json

    from kerakit.losses import balanced_class_weights

    before = keras.config.dtype_policy().name
    result = _tiny_run(tmp_path, precision="mixed_float16", label_smoothing=0.1, class_weight="balanced",
                       gradient_accumulation_steps=2, schedule="one_cycle", schedule_args={"pct_start": 0.25},
                       global_clipnorm=1.0, dropout=0.1, remat=True)
    assert keras.config.dtype_policy().name == before, "the run's policy leaked into the caller"
    model = result.model
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)  # Keras wraps it for mixed_float16
    assert model.optimizer.inner_optimizer.gradient_accumulation_steps == 2
    assert model.layers[-1].dtype_policy.name == "mixed_float16" and model.layers[-1].compute_dtype == "float16"
    assert all(np.isfinite(v) for v in result.history["loss"]) and np.isfinite(result.test_metrics["loss"])
    assert type(model.loss).__name__ == "OneHotLabels" and model.loss.loss.label_smoothing == 0.1
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    reproduce = config["reproduce"]
    assert {k: reproduce[k] for k in ("precision", "label_smoothing", "class_weight", "gradient_accumulation_steps",
                                      "schedule", "schedule_args", "global_clipnorm", "dropout", "remat")} == {
        "precision": "mixed_float16", "label_smoothing": 0.1, "class_weight": "balanced",
        "gradient_accumulation_steps": 2, "schedule": "one_cycle", "schedule_args": {"pct_start": 0.25},
        "global_clipnorm": 1.0, "dropout": 0.1, "remat": "activations"}
    import kerakit.data

    labels = np.concatenate([y for _, y in kerakit.data.load("digits", batch_size=64).train.as_numpy_iterator()])
    expected = balanced_class_weights(labels, 10)
    assert config["class_weights"] == {str(k): pytest.approx(v) for k, v in expected.items()}


def test_ema_weights_are_the_trained_model_and_it_saves_after_fit(tmp_path):
    # The run evaluates after fit, then saves model.keras: on JAX that save failed while the weights shared the
    # average's buffers (the evaluation's compiled call donated them).
    result = _tiny_run(tmp_path, optimizer="adam", use_ema=True, ema_momentum=0.5, schedule="plateau",
                       loss="focal")
    averages = result.model.optimizer._model_variables_moving_average
    for weight, average in zip(result.model.trainable_variables, averages):
        np.testing.assert_array_equal(np.asarray(weight), np.asarray(average))  # the model holds the average
    reloaded = keras.saving.load_model(tmp_path / "run" / "model.keras")
    for saved, weight in zip(reloaded.get_weights(), result.model.get_weights()):
        np.testing.assert_array_equal(saved, weight)


def test_train_flags_reach_train_and_bad_ones_fail_with_one_line(monkeypatch, capsys):
    from kerakit import cli, training

    received = {}

    def fake_train(*args, **kwargs):
        received.update(kwargs)
        raise KerakitError("stop here")

    import functools

    monkeypatch.setattr(training, "train", functools.wraps(training.train)(fake_train))  # the CLI reads its defaults
    status = cli.main(["train", "--blueprint", "mlp", "--optimizer", "adagrad", "--schedule", "one_cycle",
                       "--schedule-arg", "pct_start=0.2", "--global-clipnorm", "1", "--grad-accum-steps", "4", "--ema",
                       "--ema-momentum", "0.999", "--loss", "focal", "--label-smoothing", "0.1", "--class-weight",
                       "{0: 2.0}", "--dropout", "0.2", "--precision", "mixed_bfloat16", "--remat"])
    assert status == 2 and "stop here" in capsys.readouterr().err
    assert {k: received[k] for k in ("optimizer", "schedule", "schedule_args", "global_clipnorm",
                                     "gradient_accumulation_steps", "use_ema", "ema_momentum", "loss",
                                     "label_smoothing", "class_weight", "dropout", "precision", "remat")} == {
        "optimizer": "adagrad", "schedule": "one_cycle", "schedule_args": {"pct_start": 0.2}, "global_clipnorm": 1.0,
        "gradient_accumulation_steps": 4, "use_ema": True, "ema_momentum": 0.999, "loss": "focal",
        "label_smoothing": 0.1, "class_weight": {0: 2.0}, "dropout": 0.2, "precision": "mixed_bfloat16",
        "remat": True}
    monkeypatch.undo()
    assert cli.main(["train", "--blueprint", "mlp", "--schedule", "onecycle"]) == 2
    assert "`schedule` must be one of" in capsys.readouterr().err
