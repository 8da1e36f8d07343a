"""The VAE (kerakit/models/vae.py) and its blueprints `vae` and `conv_vae` (blueprints/generative/vae.py)."""

import os

import keras
import numpy as np
import pytest

import blueprints.generative.vae  # noqa: F401  (registers vae and conv_vae)
import kerakit
import kerakit.data
from kerakit.errors import KerakitError
from kerakit.export import saved_model as export_saved_model
from kerakit.models.vae import VAE, kl_divergence, reconstruction_loss

_TINY = {"latent_dim": 2, "hidden_units": (8,), "seed": 0}


@pytest.fixture(scope="module")
def digits():
    """A fixed batch of 64 real digits, (64, 8, 8, 1) float32 in [0, 1], and the training pipeline."""
    bundle = kerakit.data.load("digits", batch_size=64)
    images, _ = next(iter(bundle.validation))
    return np.asarray(images), bundle


def _numpy_kl(mean, log_var):
    return -0.5 * np.sum(1 + log_var - mean ** 2 - np.exp(log_var), axis=-1)


# -- the loss terms ---------------------------------------------------------------------------------------------


def test_kl_matches_numpy_and_a_numerical_integral():
    rng = np.random.default_rng(0)
    mean, log_var = rng.normal(size=(5, 3)).astype("float32"), rng.normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(kl_divergence(mean, log_var)), _numpy_kl(mean, log_var), rtol=1e-5)
    # One dimension, against the definition: integral of q(z) log(q(z) / p(z)) dz on a fine grid.
    m, s = 0.7, 0.5
    z = np.linspace(-10, 10, 200_001)
    q, p = np.exp(-0.5 * ((z - m) / s) ** 2) / (s * np.sqrt(2 * np.pi)), np.exp(-0.5 * z ** 2) / np.sqrt(2 * np.pi)
    integral = np.sum(q * np.log(q / p)) * (z[1] - z[0])
    closed = float(kl_divergence(np.array([[m]], "float32"), np.array([[2 * np.log(s)]], "float32"))[0])
    assert closed == pytest.approx(integral, rel=1e-4)


def test_kl_stays_finite_for_huge_log_variance():
    kl = np.asarray(kl_divergence(np.zeros((2, 2), "float32"), np.array([[1e30, -1e30], [1e4, 0.0]], "float32")))
    assert np.isfinite(kl).all()
    np.testing.assert_allclose(kl, _numpy_kl(np.zeros((2, 2)), np.array([[20.0, -20.0], [20.0, 0.0]])), rtol=1e-5)


def test_reconstruction_terms_match_numpy():
    rng = np.random.default_rng(1)
    x, p = rng.uniform(size=(3, 4, 4, 1)).astype("float32"), rng.uniform(0.01, 0.99, size=(3, 4, 4, 1))
    p = p.astype("float32")
    bce = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(reconstruction_loss(x, p, "bernoulli")), bce, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(reconstruction_loss(x, p, "gaussian")), np.sum((x - p) ** 2, axis=(1, 2, 3)),
                               rtol=1e-5)
    saturated = np.asarray(reconstruction_loss(np.ones((1, 2)), np.zeros((1, 2), "float32")))
    assert np.isfinite(saturated).all()  # log(0) is clipped


@pytest.mark.parametrize("reconstruction, beta", [("bernoulli", 1.0), ("gaussian", 0.5)])
def test_model_loss_is_the_batch_mean_of_reconstruction_plus_beta_kl(digits, reconstruction, beta):
    x = digits[0][:8]
    model = kerakit.build("vae", reconstruction=reconstruction, beta=beta, **_TINY)
    mean, log_var = model.encode(x)
    images = model.decode(mean)  # inference: z = z_mean
    per_pixel = -(x * np.log(images) + (1 - x) * np.log(1 - images)) if reconstruction == "bernoulli" else (
        (x - images) ** 2)
    expected = per_pixel.reshape(8, -1).sum(-1) + beta * _numpy_kl(mean, log_var)
    loss = model.compute_loss(x, None, model(x, training=False), training=False)
    assert float(loss) == pytest.approx(expected.mean(), rel=1e-4)
    weights = np.array([1, 0, 2, 0, 1, 0, 1, 0], "float32")
    weighted = model.compute_loss(x, None, model(x, training=False), sample_weight=weights, training=False)
    assert float(weighted) == pytest.approx(np.mean(expected * weights), rel=1e-4)


# -- training ---------------------------------------------------------------------------------------------------


def test_fit_on_digits_lowers_the_loss_and_logs_its_parts(digits):
    x, bundle = digits
    model = kerakit.build("vae", latent_dim=2, hidden_units=(32,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = model.evaluate(x, verbose=0, return_dict=True)
    history = model.fit(bundle.train.take(12), validation_data=bundle.validation.take(2), epochs=2, shuffle=False,
                        verbose=0).history  # (images, labels) batches: the labels are ignored
    after = model.evaluate(x, verbose=0, return_dict=True)
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss", "val_loss", "val_reconstruction_loss",
                            "val_kl_loss"}
    assert set(before) == {"loss", "reconstruction_loss", "kl_loss"}
    assert all(np.isfinite(v).all() for v in history.values())
    assert after["loss"] < before["loss"] - 1.0
    for logs in ({k: v[-1] for k, v in history.items()}, after):  # loss = reconstruction + beta * KL, beta = 1
        assert logs["loss"] == pytest.approx(logs["reconstruction_loss"] + logs["kl_loss"], rel=1e-5)


def test_beta_weights_the_kl_term(digits):
    x = digits[0]
    for beta in (0.0, 3.0):
        model = kerakit.build("vae", beta=beta, **_TINY)
        model.compile(optimizer="adam")
        logs = model.fit(x, batch_size=32, epochs=1, verbose=0).history
        assert logs["kl_loss"][0] > 0
        assert logs["loss"][0] == pytest.approx(logs["reconstruction_loss"][0] + beta * logs["kl_loss"][0], rel=1e-5)


def test_regularisation_losses_of_the_sub_networks_are_added(digits):
    x = digits[0][:4]
    images = keras.Input((8, 8, 1))
    h = keras.layers.Flatten()(images)
    penalty = keras.regularizers.L2(0.5)
    encoder = keras.Model(images, [keras.layers.Dense(2, kernel_regularizer=penalty, name="mean")(h),
                                   keras.layers.Dense(2)(h)])
    codes = keras.Input((2,))
    decoder = keras.Model(codes, keras.layers.Reshape((8, 8, 1))(keras.layers.Dense(64, "sigmoid")(codes)))
    model = VAE(encoder, decoder, seed=0)
    y_pred = model(x, training=False)
    expected = 0.5 * np.sum(np.asarray(encoder.get_layer("mean").kernel) ** 2)
    assert expected > 0.1
    recon = np.asarray(reconstruction_loss(x, y_pred["reconstruction"])).mean()
    kl = np.asarray(kl_divergence(y_pred["z_mean"], y_pred["z_log_var"])).mean()
    assert float(model.compute_loss(x, None, y_pred, training=False)) == pytest.approx(recon + kl + expected, rel=1e-5)


def test_nan_images_give_a_nan_loss(digits):
    # The run's TerminateOnNaN watches `loss`: a diverged model must not hide a NaN behind clipping.
    model = kerakit.build("vae", **_TINY)
    model.compile(optimizer="adam")
    x = digits[0][:4].copy()
    x[0, 0, 0, 0] = np.nan
    assert np.isnan(model.evaluate(x, verbose=0, return_dict=True)["loss"])


# -- generation, attributes, saving, export ---------------------------------------------------------------------


def test_generate_is_repeatable_in_range_and_the_attributes_are_there(digits):
    model = kerakit.build("vae", **_TINY)
    first = model.generate(5, seed=3)
    assert first.shape == (5, 8, 8, 1) and first.dtype == np.float32
    assert 0.0 <= first.min() and first.max() <= 1.0
    np.testing.assert_array_equal(model.generate(5, seed=3), first)
    assert not np.array_equal(model.generate(5, seed=4), first)
    assert model.image_shape == (8, 8, 1) and model.latent_dim == 2 and model.num_classes is None
    assert model.generating_network is model.decoder
    mean, log_var = model.encode(digits[0][:3])
    assert mean.shape == log_var.shape == (3, 2)
    outputs = model.predict(digits[0][:3], verbose=0)
    np.testing.assert_allclose(outputs["reconstruction"], model.decode(mean), atol=1e-6)  # inference: z = z_mean


def test_keras_round_trip_gives_identical_weights_and_samples(tmp_path, digits):
    model = kerakit.build("vae", beta=0.5, reconstruction="gaussian", **_TINY)
    model.compile(optimizer="adam")
    model.fit(digits[0], batch_size=32, epochs=1, verbose=0)
    path = os.path.join(tmp_path, "vae.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, VAE)
    assert (restored.beta, restored.reconstruction, restored.seed) == (0.5, "gaussian", 0)
    for a, b in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(restored.generate(6, seed=1), model.generate(6, seed=1))
    restored.fit(digits[0], batch_size=32, epochs=1, verbose=0)  # the restored model trains on


def test_decoder_exports_to_saved_model(tmp_path):
    import tensorflow as tf

    model = kerakit.build("conv_vae", latent_dim=2, filters=(4,), hidden_units=(), seed=0)
    report = export_saved_model(model.generating_network, os.path.join(tmp_path, "decoder"))
    assert report.max_abs_diff <= report.atol
    exported = tf.saved_model.load(report.path)
    codes = np.random.default_rng(0).standard_normal((4, 2)).astype("float32")
    np.testing.assert_allclose(np.asarray(exported.serve(codes)), model.decode(codes), atol=1e-5)


# -- blueprints -------------------------------------------------------------------------------------------------


def test_dense_vae_parameter_count_and_names():
    model = kerakit.build("vae", latent_dim=4, hidden_units=(32, 16))
    encoder = (64 * 32 + 32) + (32 * 16 + 16) + 2 * (16 * 4 + 4)
    decoder = (4 * 16 + 16) + (16 * 32 + 32) + (32 * 64 + 64)
    assert model.encoder.count_params() == encoder and model.decoder.count_params() == decoder
    assert model.count_params() == encoder + decoder
    names = [layer.name for layer in model.encoder.layers + model.decoder.layers]
    assert {"vae_encoder_dense2", "vae_encoder_z_mean", "vae_encoder_z_log_var", "vae_decoder_output"} <= set(names)


@pytest.mark.parametrize("shape, filters, grid", [((8, 8, 1), (4, 8), (2, 2)), ((28, 28, 1), (4, 8), (7, 7)),
                                                  ((32, 32, 3), (4, 4, 8), (4, 4))])
def test_conv_vae_handles_digit_mnist_and_cifar_sizes(shape, filters, grid):
    model = kerakit.build("conv_vae", input_shape=shape, latent_dim=3, filters=filters, hidden_units=(16,))
    assert model.image_shape == shape and model.decoder.output_shape == (None, *shape)
    assert model.encoder.get_layer(f"conv_vae_encoder_conv{len(filters)}").output.shape == (None, *grid, filters[-1])
    conv = sum(9 * c_in * c_out + c_out for c_in, c_out in zip((shape[-1], *filters), filters))
    flat = grid[0] * grid[1] * filters[-1]
    assert model.encoder.count_params() == conv + (flat * 16 + 16) + 2 * (16 * 3 + 3)


@pytest.mark.parametrize("name, kwargs, message", [
    ("vae", {"latent_dim": 0}, r"vae: `latent_dim` must be an integer >= 1. Received: latent_dim=0"),
    ("conv_vae", {"latent_dim": -3}, r"conv_vae: `latent_dim` must be an integer >= 1. Received: latent_dim=-3"),
    ("conv_vae", {"input_shape": (6, 6, 1), "filters": (4, 8)},
     (r"conv_vae: `input_shape` must be an image whose height and width are divisible by 4 \(one halving per stride-2 "
     r"convolution, filters=\(4, 8\)\). Received: input_shape=\(6, 6, 1\)")),
    ("conv_vae", {"input_shape": (8, 8)}, r"conv_vae: `input_shape` must be a tuple of 3 positive integers"),
    ("vae", {"input_shape": (None, 8, 1)}, r"vae: `input_shape` must be a tuple of known positive sizes"),
    ("vae", {"beta": -1.0}, r"vae: `beta` must be a finite number >= 0. Received: beta=-1.0"),
    ("vae", {"reconstruction": "poisson"}, r"`reconstruction` must be one of \['bernoulli', 'gaussian'\]"),
    ("vae", {"hidden_units": (8, 0)}, r"vae: `hidden_units` must be a sequence of integers >= 1"),
    ("conv_vae", {"filters": ()}, r"conv_vae: `filters` must be a non-empty sequence"),
])
def test_blueprints_refuse_bad_arguments_with_a_clear_message(name, kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build(name, **kwargs)


def test_vae_refuses_networks_that_do_not_fit_together():
    images, codes = keras.Input((4, 4, 1)), keras.Input((2,))
    h = keras.layers.Flatten()(images)
    encoder = keras.Model(images, [keras.layers.Dense(2)(h), keras.layers.Dense(2)(h)])
    decoder = keras.Model(codes, keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16)(codes)))
    with pytest.raises(KerakitError, match=r"VAE: `encoder` must be a model with two outputs \[z_mean, z_log_var\]"):
        VAE(keras.Model(images, h), decoder)
    with pytest.raises(KerakitError, match=r"VAE: `decoder` must be a model taking codes of shape \(batch, 3\)"):
        VAE(keras.Model(images, [keras.layers.Dense(3)(h), keras.layers.Dense(3)(h)]), decoder)
    with pytest.raises(KerakitError, match=r"VAE: `decoder` must be a model returning images of the encoder's input"):
        VAE(encoder, keras.Model(codes, keras.layers.Reshape((2, 2, 4))(keras.layers.Dense(16)(codes))))
    with pytest.raises(KerakitError, match=r"VAE: `encoder` must be a keras.Model"):
        VAE("encoder", decoder)
    model = VAE(encoder, decoder)
    with pytest.raises(KerakitError, match=r"VAE.generate: `n` must be an integer >= 1. Received: n=0"):
        model.generate(0)
    with pytest.raises(KerakitError, match=r"VAE.generate: `labels` must be None \(this VAE is not class-conditional"):
        model.generate(2, labels=[1, 2])
