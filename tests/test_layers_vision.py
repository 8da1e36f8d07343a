"""kerakit.layers.vision: StochasticDepth (drop path) and LayerScale, through the shared layer test and by behaviour."""

import keras
import numpy as np
import pytest

from kerakit.errors import KerakitError
from kerakit.layers.vision import LayerScale, StochasticDepth
from tests.helpers import run_docstring_examples, run_layer_test


def test_stochastic_depth_passes_the_shared_layer_test(tmp_path):
    run_layer_test(StochasticDepth, {"rate": 0.2, "seed": 3}, (4, 5, 5, 3), (4, 5, 5, 3), tmp_path)


def test_layer_scale_passes_the_shared_layer_test(tmp_path):
    model = run_layer_test(LayerScale, {"init_value": 0.1}, (2, 4, 6), (2, 4, 6), tmp_path)
    assert [tuple(w.shape) for w in model.layers[-1].weights] == [(6,)]


@pytest.mark.parametrize("layer", [StochasticDepth, LayerScale])
def test_docstring_examples_run(layer):
    assert run_docstring_examples(layer) >= 1


def test_stochastic_depth_is_the_identity_at_inference():
    x = np.random.default_rng(0).normal(size=(64, 3, 3, 2)).astype("float32")
    layer = StochasticDepth(0.9, seed=0)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def test_stochastic_depth_drops_whole_examples_and_scales_the_others_in_training():
    x = np.random.default_rng(0).uniform(1.0, 2.0, size=(2000, 3, 2)).astype("float32")
    y = np.asarray(StochasticDepth(0.5, seed=7)(x, training=True))
    dropped = np.all(y == 0.0, axis=(1, 2))
    kept = np.all(y == 2.0 * x, axis=(1, 2))
    assert np.all(dropped | kept), "every example must be either zeroed or scaled by exactly 1 / (1 - rate) = 2"
    assert 0.45 < dropped.mean() < 0.55, f"{dropped.mean():.3f} of the examples dropped at rate 0.5"


def test_stochastic_depth_scales_by_one_over_keep_probability_and_draws_anew_each_call():
    x = np.ones((500, 4), "float32")
    layer = StochasticDepth(0.2, seed=1)
    first, second = np.asarray(layer(x, training=True)), np.asarray(layer(x, training=True))
    assert set(np.unique(first).tolist()) == {0.0, np.float32(1.0) / np.float32(0.8)}
    assert not np.array_equal(first, second), "the seed generator must advance between calls"
    assert 0.75 < np.mean(first[:, 0] > 0) < 0.85


def test_stochastic_depth_rate_zero_is_the_identity_in_training_too():
    x = np.random.default_rng(0).normal(size=(32, 5)).astype("float32")
    np.testing.assert_array_equal(np.asarray(StochasticDepth(0.0)(x, training=True)), x)


def test_stochastic_depth_same_seed_same_mask():
    x = np.ones((200, 2), "float32")
    a = np.asarray(StochasticDepth(0.5, seed=42)(x, training=True))
    b = np.asarray(StochasticDepth(0.5, seed=42)(x, training=True))
    np.testing.assert_array_equal(a, b)


def test_stochastic_depth_trains_inside_a_compiled_model():
    inputs = keras.Input((4,))
    outputs = keras.layers.Add()([inputs, StochasticDepth(0.5, seed=0)(keras.layers.Dense(4)(inputs))])
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    history = model.fit(x, x, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_layer_scale_multiplies_each_channel_by_its_own_learnable_factor():
    layer = LayerScale(1e-6)
    x = np.ones((2, 3, 3), "float32")
    np.testing.assert_allclose(np.asarray(layer(x)), np.full((2, 3, 3), 1e-6, "float32"))
    assert len(layer.trainable_weights) == 1
    layer.gamma.assign(np.array([1.0, 2.0, -3.0], "float32"))
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(layer(x)), x * np.array([1.0, 2.0, -3.0], "float32"), rtol=1e-6)


def test_models_with_the_layers_load_through_kerakit_export(tmp_path):
    import kerakit.export

    inputs = keras.Input((5, 5, 4))
    branch = StochasticDepth(0.3, seed=2)(LayerScale(0.5)(keras.layers.Conv2D(4, 3, padding="same")(inputs)))
    model = keras.Model(inputs, keras.layers.Add()([inputs, branch]))
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = kerakit.export.load_keras_model(path)
    x = np.random.default_rng(0).normal(size=(3, 5, 5, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(restored(x)), np.asarray(model(x)), atol=1e-6)
    assert {type(layer).__name__ for layer in restored.layers} >= {"StochasticDepth", "LayerScale"}


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.5", True, None])
def test_stochastic_depth_refuses_bad_rates(rate):
    with pytest.raises(KerakitError, match=r"StochasticDepth: `rate` must be a float in \[0, 1\). Received: rate="):
        StochasticDepth(rate)


def test_stochastic_depth_refuses_a_bad_seed_and_layer_scale_a_bad_init_value():
    with pytest.raises(KerakitError, match=r"StochasticDepth: `seed` must be an integer >= 0. Received: seed=-1"):
        StochasticDepth(0.1, seed=-1)
    for value in (0.0, -1e-6, "small"):
        with pytest.raises(KerakitError, match=r"LayerScale: `init_value` must be a number > 0. Received: init_value"):
            LayerScale(value)
