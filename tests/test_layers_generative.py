"""kerakit.layers.generative: the reparameterisation `Sampling` layer."""

import keras
import numpy as np
import pytest

from kerakit.errors import KerakitError
from kerakit.layers.generative import LOG_VAR_MAX, Sampling
from tests.helpers import run_layer_test


def _sample(layer, mean, log_var, training=True):
    return np.asarray(layer([np.asarray(mean, "float32"), np.asarray(log_var, "float32")], training=training))


def test_sampling_passes_the_shared_layer_test_on_concatenated_parameters(tmp_path):
    # One tensor (mean and log_var concatenated); inference returns the mean, so the `.keras` round trip is exact.
    model = run_layer_test(Sampling, {"seed": 3, "sample_in_inference": False}, (2, 8), (2, 4), tmp_path)
    x = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(x)), x[:, :4])


def test_samples_have_the_given_mean_and_variance():
    mean, log_var = np.array([-1.0, 0.0, 2.0]), np.log(np.array([1.0, 4.0, 0.25]))
    n = 20_000
    z = _sample(Sampling(seed=0), np.tile(mean, (n, 1)), np.tile(log_var, (n, 1)))
    std = np.exp(log_var / 2)
    np.testing.assert_array_less(np.abs(z.mean(axis=0) - mean), 5 * std / np.sqrt(n))  # 5 standard errors
    np.testing.assert_allclose(z.var(axis=0), std ** 2, rtol=0.05)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.05  # independent dimensions


def test_sample_is_mean_plus_scaled_standard_noise():
    # Two layers with one seed draw the same eps: (z - mean) / exp(log_var / 2) must agree.
    mean = np.array([[0.5, -2.0, 3.0]])
    z1 = _sample(Sampling(seed=7), mean, [[0.0, 0.0, 0.0]])
    z2 = _sample(Sampling(seed=7), mean, [[2.0, -4.0, 1.0]])
    np.testing.assert_allclose((z2 - mean) / np.exp(np.array([2.0, -4.0, 1.0]) / 2), z1 - mean, rtol=1e-5)


def test_fresh_noise_every_call_and_seeded_sequences_repeat():
    mean, log_var = np.zeros((4, 2)), np.zeros((4, 2))
    layer = Sampling(seed=11)
    first, second = _sample(layer, mean, log_var), _sample(layer, mean, log_var)
    assert not np.allclose(first, second)
    again = Sampling(seed=11)
    np.testing.assert_array_equal(_sample(again, mean, log_var), first)
    np.testing.assert_array_equal(_sample(again, mean, log_var), second)


def test_inference_returns_the_mean_unless_asked_to_sample():
    mean, log_var = [[1.0, 2.0]], [[0.0, 0.0]]
    np.testing.assert_array_equal(_sample(Sampling(seed=0), mean, log_var, training=False), mean)
    np.testing.assert_array_equal(_sample(Sampling(seed=0), mean, log_var, training=None), mean)
    sampled = _sample(Sampling(seed=0, sample_in_inference=True), mean, log_var, training=False)
    assert not np.allclose(sampled, mean)


def test_concatenated_parameters_give_the_same_sample_as_a_pair():
    mean, log_var = np.array([[1.0, -1.0]], "float32"), np.array([[0.5, -0.5]], "float32")
    pair = _sample(Sampling(seed=2), mean, log_var)
    joined = np.asarray(Sampling(seed=2)(np.concatenate([mean, log_var], axis=-1), training=True))
    np.testing.assert_array_equal(joined, pair)


def test_huge_log_variance_stays_finite():
    mean = np.zeros((1000, 2))
    z = _sample(Sampling(seed=0), mean, np.full((1000, 2), 1e30))
    assert np.isfinite(z).all()
    assert z.std() == pytest.approx(np.exp(LOG_VAR_MAX / 2), rel=0.1)  # clipped at log_var = 20
    tiny = _sample(Sampling(seed=0), np.ones((3, 2)), np.full((3, 2), -1e30))
    np.testing.assert_allclose(tiny, 1.0, atol=1e-3)


def test_one_training_step_moves_the_weights_behind_mean_and_log_variance():
    inputs = keras.Input((2,))
    mean = keras.layers.Dense(3, name="mean")(inputs)
    log_var = keras.layers.Dense(3, name="log_var")(inputs)
    model = keras.Model(inputs, Sampling(seed=0)([mean, log_var]))
    assert model.output_shape == (None, 3)
    before = [np.array(model.get_layer(n).kernel) for n in ("mean", "log_var")]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(np.ones((4, 2), "float32"), np.zeros((4, 3), "float32"), epochs=1, verbose=0)
    after = [np.array(model.get_layer(n).kernel) for n in ("mean", "log_var")]
    assert all(not np.allclose(b, a) for b, a in zip(before, after))  # gradients flow through the sample to both


@pytest.mark.parametrize("call, message", [
    (lambda: Sampling()([keras.Input((3,)), keras.Input((4,))]),
     (r"Sampling: `inputs` must be \[mean, log_var\] of the same shape. Received: inputs='shapes \(None, 3\) and "
     r"\(None, 4\)'")),
    (lambda: Sampling()(keras.Input((5,))), (r"one tensor whose last axis .* has an even, known size. Received: "
                                            r"inputs='shape \(None, 5\)'")),
    (lambda: Sampling(seed=-1), r"Sampling: `seed` must be an integer >= 0. Received: seed=-1"),
    (lambda: Sampling(sample_in_inference="yes"), r"`sample_in_inference` must be True or False"),
])
def test_sampling_refuses_bad_inputs_with_a_clear_message(call, message):
    with pytest.raises(KerakitError, match=message):
        call()
