"""Autoencoders (blueprints/generative/autoencoder.py): plain, denoising and sparse; dense and convolutional."""

import os

import keras
import numpy as np
import pytest

import blueprints.generative.autoencoder  # noqa: F401  (registers the autoencoders)
import kerakit
import kerakit.data
from kerakit.errors import KerakitError


def _dense(n_in, n_out):
    return n_in * n_out + n_out


def _conv(n_in, n_out, k=3):
    return k * k * n_in * n_out + n_out


def _digits(n=32):
    images, _ = next(iter(kerakit.data.load("digits", batch_size=n).validation))
    return np.asarray(images)


def test_dense_autoencoder_shapes_and_parameter_count():
    model = kerakit.build("autoencoder", latent_dim=4, hidden_units=(32, 16))
    assert model.input_shape == model.output_shape == (None, 8, 8, 1)
    assert model.get_layer("autoencoder_code").output.shape == (None, 4)
    encoder = _dense(64, 32) + _dense(32, 16) + _dense(16, 4)
    decoder = _dense(4, 16) + _dense(16, 32) + _dense(32, 64)
    assert model.count_params() == encoder + decoder
    out = np.asarray(model.predict(_digits(4), verbose=0))
    assert out.shape == (4, 8, 8, 1) and 0.0 <= out.min() and out.max() <= 1.0  # a sigmoid image


@pytest.mark.parametrize("shape, filters, grid", [((8, 8, 1), (4, 8), (2, 2)), ((28, 28, 1), (4, 8), (7, 7)),
                                                  ((32, 32, 3), (4, 4, 8), (4, 4))])
def test_conv_autoencoder_shapes_and_parameter_count(shape, filters, grid):
    model = kerakit.build("autoencoder", input_shape=shape, kind="conv", latent_dim=3, filters=filters,
                          hidden_units=(16,))
    assert model.input_shape == model.output_shape == (None, *shape)
    assert model.get_layer("autoencoder_decoder_reshape").output.shape == (None, *grid, filters[-1])
    flat = grid[0] * grid[1] * filters[-1]
    channels = (shape[-1], *filters)
    encoder = sum(_conv(a, b) for a, b in zip(channels, filters)) + _dense(flat, 16) + _dense(16, 3)
    # Transposed convolutions mirror the encoder: filters reversed, each fed by the one before (the first by the
    # reshaped projection, filters[-1] channels); then a 3x3 convolution to the image's channels.
    backwards = filters[::-1]
    deconvs = sum(_conv(a, b) for a, b in zip((backwards[0], *backwards[:-1]), backwards))
    decoder = _dense(3, 16) + _dense(16, flat) + deconvs + _conv(filters[0], shape[-1])
    assert model.count_params() == encoder + decoder


def test_autoencoder_learns_to_reconstruct_digits():
    bundle = kerakit.data.load("digits", batch_size=32)
    x = _digits(32)
    model = kerakit.build("autoencoder", latent_dim=8, hidden_units=(32,))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    before = model.evaluate(x, x, verbose=0)
    history = model.fit(bundle.train.map(lambda images, labels: (images, images)).take(12), epochs=2, shuffle=False,
                        verbose=0).history  # (x, x), as the run trains autoencoders
    assert np.isfinite(history["loss"]).all()
    assert model.evaluate(x, x, verbose=0) < 0.6 * before


@pytest.mark.parametrize("noise, level", [("gaussian", 0.3), ("dropout", 0.4)])
def test_denoising_noise_acts_in_training_only(noise, level):
    model = kerakit.build("denoising_autoencoder", noise=noise, noise_level=level, latent_dim=4, hidden_units=(8,),
                          seed=5)
    layer = model.get_layer("denoising_autoencoder_noise")
    assert layer is model.layers[1]  # the first layer after the input
    x = np.full((200, 8, 8, 1), 0.5, "float32")
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    noisy = np.asarray(layer(x, training=True))
    if noise == "gaussian":
        assert (noisy - x).std() == pytest.approx(level, rel=0.05)
    else:
        assert (noisy == 0).mean() == pytest.approx(level, abs=0.02)
    inference = np.asarray(model(x[:2], training=False))
    np.testing.assert_array_equal(np.asarray(model(x[:2])), inference)
    assert not np.allclose(np.asarray(model(x[:2], training=True)), inference)
    plain = kerakit.build("autoencoder", latent_dim=4, hidden_units=(8,))
    assert model.count_params() == plain.count_params()  # the corruption has no weights


def test_denoising_autoencoder_round_trips_through_keras(tmp_path):
    model = kerakit.build("denoising_autoencoder", kind="conv", latent_dim=2, filters=(4,), hidden_units=(),
                          noise="dropout", noise_level=0.3)
    x = _digits(4)
    path = os.path.join(tmp_path, "dae.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert restored.get_layer("denoising_autoencoder_noise").rate == 0.3


def test_sparse_penalty_is_added_to_the_loss():
    weight = 0.01
    model = kerakit.build("sparse_autoencoder", sparsity_weight=weight, latent_dim=4, hidden_units=(8,))
    x = _digits(8)
    code = keras.Model(model.input, model.get_layer("sparse_autoencoder_code").output)
    penalty = weight * np.abs(np.asarray(code(x))).sum() / len(x)
    assert penalty > 0
    model(x)
    assert len(model.losses) == 1
    assert float(model.losses[0]) == pytest.approx(penalty, rel=1e-5)
    model.compile(optimizer="sgd", loss="mse")
    mse = np.mean((np.asarray(model(x)) - x) ** 2)
    assert model.evaluate(x, x, batch_size=8, verbose=0) == pytest.approx(mse + penalty, rel=1e-4)
    plain = kerakit.build("autoencoder", latent_dim=4, hidden_units=(8,))
    plain(x)
    assert plain.losses == []


@pytest.mark.parametrize("name, kwargs, message", [
    ("autoencoder", {"latent_dim": 0}, r"autoencoder: `latent_dim` must be an integer >= 1. Received: latent_dim=0"),
    ("autoencoder", {"kind": "rnn"}, r"autoencoder: `kind` must be one of \['dense', 'conv'\]. Received: kind='rnn'"),
    ("autoencoder", {"kind": "conv", "input_shape": (12, 12, 1), "filters": (4, 4, 4)},
     (r"`input_shape` must be an image whose height and width are divisible by 8 \(one halving per stride-2 "
     r"convolution, filters=\(4, 4, 4\)\). Received: input_shape=\(12, 12, 1\)")),
    ("autoencoder", {"kind": "conv", "input_shape": (8, 8)}, r"`input_shape` must be a tuple of 3 positive integers"),
    ("autoencoder", {"input_shape": (8, None, 1)}, r"`input_shape` must be a tuple of known positive sizes"),
    ("autoencoder", {"activation": "relux"}, r"`activation` must be a Keras activation name"),
    ("denoising_autoencoder", {"noise": "salt"},
     r"denoising_autoencoder: `noise` must be one of \['gaussian', 'dropout'\]"),
    ("denoising_autoencoder", {"noise": "dropout", "noise_level": 0.0},
     r"denoising_autoencoder: `noise_level` must be a dropout rate in \(0, 1\). Received: noise_level=0.0"),
    ("denoising_autoencoder", {"noise": "dropout", "noise_level": 1.0}, r"`noise_level` must be a float in \[0, 1\)"),
    ("denoising_autoencoder", {"noise_level": -0.1}, r"`noise_level` must be a number > 0. Received: noise_level=-0.1"),
    ("denoising_autoencoder", {"seed": "x"}, r"`seed` must be an integer >= 0"),
    ("sparse_autoencoder", {"sparsity_weight": 0},
     r"sparse_autoencoder: `sparsity_weight` must be a number > 0. Received: sparsity_weight=0"),
    ("sparse_autoencoder", {"sparsity_weight": None}, r"`sparsity_weight` must be a number > 0"),
])
def test_autoencoders_refuse_bad_arguments_with_a_clear_message(name, kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build(name, **kwargs)


@pytest.mark.parametrize("name", ["autoencoder", "denoising_autoencoder", "sparse_autoencoder"])
def test_registered_as_reconstruction(name):  # (docstring examples: tests/test_docstrings.py)
    spec = kerakit.get_blueprint(name)
    assert (spec.family, spec.task) == ("generative", "reconstruction")
