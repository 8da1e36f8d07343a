"""Optimizers and learning-rate schedules by name (Keras's own classes underneath)."""

import keras
import numpy as np
import pytest

from kerakit.errors import KerakitError
from kerakit.optimizers import OPTIMIZERS, make_optimizer
from kerakit.schedules import make_schedule


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
    with pytest.raises(KerakitError, match=r"`optimizer` must be one of .*Received: optimizer='adm'"):
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
