"""GAN (kerakit.models.gan), its backend plumbing (kerakit.models._backend) and the dcgan / wgan_gp /
conditional_gan blueprints, on the backend the suite runs under."""

import math
import os
import warnings

import keras
import numpy as np
import pytest

import blueprints.generative.gan as gan_blueprints
import kerakit
from kerakit.errors import KerakitError
from kerakit.models import _backend
from kerakit.models import gan as kgan

TINY = dict(gan_blueprints._TINY)  # 8x8x1 images, latent 4, one 4-channel stage in each network


@pytest.fixture(scope="module")
def digits():
    return kerakit.data.load("digits", batch_size=16)


def _weights(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def _changed(before, after):
    return [not np.array_equal(b, a) for b, a in zip(before, after)]


def _linear_critic(norm, bias=0.25):
    """A critic `w . flatten(x) + b` on 2x2x1 images with `||w|| = norm`: its input gradient is `w` everywhere."""
    image = keras.Input((2, 2, 1))
    dense = keras.layers.Dense(1, name="critic_dense")
    critic = keras.Model(image, dense(keras.layers.Flatten()(image)))
    dense.kernel.assign(np.full((4, 1), norm / 2.0, "float32"))
    dense.bias.assign([bias])
    return critic


def _constant_generator(latent_dim=3):
    """A generator whose images are all 0 (the middle of [-1, 1]): Dense with zero weights, then tanh."""
    z = keras.Input((latent_dim,))
    x = keras.layers.Dense(4, activation="tanh", kernel_initializer="zeros", bias_initializer="zeros")(z)
    return keras.Model(z, keras.layers.Reshape((2, 2, 1))(x))


# --- losses and the backend plumbing --------------------------------------------------------------------------------


def test_losses_match_numpy_formulas():
    real = np.array([[2.0], [-0.5], [0.3]], "float32")
    fake = np.array([[-1.5], [0.2], [1.7]], "float32")
    softplus = lambda t: np.log1p(np.exp(t))
    expected = {
        "non_saturating": (softplus(-real).mean() + softplus(fake).mean(), softplus(-fake).mean()),
        "hinge": (np.maximum(0, 1 - real).mean() + np.maximum(0, 1 + fake).mean(), -fake.mean()),
        "wasserstein_gp": (fake.mean() - real.mean(), -fake.mean()),
    }
    for loss, (d_loss, g_loss) in expected.items():
        np.testing.assert_allclose(float(kgan.discriminator_loss(loss, real, fake)), d_loss, rtol=1e-6, err_msg=loss)
        np.testing.assert_allclose(float(kgan.generator_loss(loss, fake)), g_loss, rtol=1e-6, err_msg=loss)
    # Non-saturating: BCE with the real label 1 and the fake label 0.
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    np.testing.assert_allclose(float(kgan.discriminator_loss("non_saturating", real, fake)),
                               float(bce(np.ones_like(real), real)) + float(bce(np.zeros_like(fake), fake)), rtol=1e-5)


def test_value_and_gradients_and_input_gradients_are_analytic():
    v = keras.Variable([1.0, -2.0, 0.5])
    u = keras.Variable(3.0)
    unused = keras.Variable([7.0])
    counter = keras.Variable(0.0, trainable=False)

    def loss_fn():
        counter.assign(counter + 1.0)  # an assignment inside the loss (like batch-norm statistics) is kept
        return keras.ops.sum(v * v) * u

    loss, (grad_v, grad_u, grad_unused) = _backend.value_and_gradients(loss_fn, [v, u, unused])
    np.testing.assert_allclose(float(loss), 5.25 * 3.0, rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(grad_v), [6.0, -12.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(float(grad_u), 5.25, rtol=1e-6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(grad_unused), [0.0])
    assert float(counter.numpy()) == 1.0

    x = keras.ops.convert_to_tensor([[1.0, 2.0], [-1.0, 0.5]])
    grad_x = _backend.input_gradients(lambda t: t ** 3 + 2.0 * t, x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(grad_x), 3 * np.array([[1.0, 4.0], [1.0, 0.25]]) + 2.0,
                               rtol=1e-6)


def test_gradient_penalty_is_zero_for_a_one_lipschitz_critic():
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (6, 2, 2, 1)).astype("float32")
    fake = rng.uniform(-1, 1, (6, 2, 2, 1)).astype("float32")
    epsilon = rng.uniform(size=(6, 1, 1, 1)).astype("float32")
    assert abs(float(kgan.gradient_penalty(_linear_critic(1.0), real, fake, epsilon))) < 1e-6
    np.testing.assert_allclose(float(kgan.gradient_penalty(_linear_critic(2.0), real, fake, epsilon)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(float(kgan.gradient_penalty(_linear_critic(0.5), real, fake, epsilon)), 0.25, rtol=1e-5)


def test_gradient_penalty_trains_through_double_backprop():
    """d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||: the penalty's gradient reaches the critic's kernel."""
    critic = _linear_critic(2.0)
    x = np.ones((3, 2, 2, 1), "float32")
    epsilon = np.full((3, 1, 1, 1), 0.5, "float32")
    kernel, bias = critic.trainable_variables
    penalty, (grad_kernel, grad_bias) = _backend.value_and_gradients(
        lambda: kgan.gradient_penalty(critic, x, -x, epsilon), [kernel, bias])
    np.testing.assert_allclose(float(penalty), 1.0, rtol=1e-5)
    w = np.full((4, 1), 1.0, "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(grad_kernel), 2 * (2.0 - 1.0) * w / 2.0, rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(grad_bias), [0.0], atol=1e-7)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="StatelessScope nesting is JAX's path")
def test_jax_gradients_read_the_enclosing_scope_and_write_back_into_it():
    v = keras.Variable([1.0, 2.0])
    counter = keras.Variable(0.0, trainable=False)

    def loss_fn():
        counter.assign(counter + 1.0)
        return keras.ops.sum(v * v)

    with keras.StatelessScope(state_mapping=[(v, np.array([3.0, -1.0], "float32")),
                                             (counter, np.float32(10.0))]) as scope:
        loss, (grad,) = _backend.value_and_gradients(loss_fn, [v])
    np.testing.assert_allclose(float(loss), 10.0)
    np.testing.assert_allclose(np.asarray(grad), [6.0, -2.0])  # at the scope's values, not the variable's
    assert float(scope.get_current_value(counter)) == 11.0
    assert float(counter.numpy()) == 0.0  # the variable itself is untouched


# --- training -------------------------------------------------------------------------------------------------------


def test_fit_on_digits_logs_finite_losses_and_updates_batch_norm(digits):
    model = gan_blueprints.dcgan(**{**TINY, "discriminator_widths": (4, 4)})
    model.compile(optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
    # The discriminator's batch norm runs only inside the differentiated losses (on JAX: assignments made in the
    # nested scope, written back); the generator's also outside them (the fakes of the discriminator step).
    norms = [model.generator.get_layer("dcgan_generator_up1_bn"),
             model.discriminator.get_layer("dcgan_discriminator_down2_bn")]
    statistics = [v for layer in norms for v in (layer.moving_mean, layer.moving_variance)]
    moving_before = _weights(statistics)
    seed_before = _weights([model.seed_generator.state])
    history = model.fit(digits.train.take(3), validation_data=digits.validation.take(1), epochs=2, verbose=0,
                        shuffle=False)
    assert set(history.history) == {"loss", "d_loss", "g_loss", "val_loss", "val_d_loss", "val_g_loss"}
    for key, values in history.history.items():
        assert len(values) == 2 and all(math.isfinite(v) for v in values), (key, values)
    np.testing.assert_allclose(history.history["loss"], np.add(history.history["d_loss"], history.history["g_loss"]),
                               rtol=1e-5)
    assert _changed(moving_before, _weights(statistics)) == [True] * 4
    assert _changed(seed_before, _weights([model.seed_generator.state])) == [True]  # fresh noise every step
    assert int(model.d_optimizer.iterations) == int(model.g_optimizer.iterations) == 6
    evaluated = model.evaluate(digits.validation.take(1), verbose=0, return_dict=True)
    assert set(evaluated) == {"loss", "d_loss", "g_loss"} and all(math.isfinite(v) for v in evaluated.values())


@pytest.mark.parametrize("frozen", ["generator", "discriminator"])
def test_each_optimizer_moves_only_its_own_network(digits, frozen):
    """The frozen network's optimizer has learning rate 0: its weights stay exactly as they were while the other
    network's move, so neither optimizer (nor the other network's step) touches the other network's weights."""
    model = gan_blueprints.dcgan(**TINY)
    rates = {"generator": 0.0, "discriminator": 0.0, **{name: 0.05 for name in ("generator", "discriminator")
                                                         if name != frozen}}
    model.compile(g_optimizer=keras.optimizers.SGD(rates["generator"]),
                  d_optimizer=keras.optimizers.SGD(rates["discriminator"]))
    networks = {"generator": model.generator, "discriminator": model.discriminator}
    before = {name: _weights(net.trainable_variables) for name, net in networks.items()}
    history = model.fit(digits.train.take(4), epochs=2, verbose=0, shuffle=False)
    for name, net in networks.items():
        moved = _changed(before[name], _weights(net.trainable_variables))
        assert (not any(moved)) if name == frozen else all(moved), (name, moved)
    assert [len(o._trainable_variables) for o in model.optimizer.optimizers] == [
        len(model.discriminator.trainable_variables), len(model.generator.trainable_variables)]
    if frozen == "generator":  # against a fixed generator the discriminator learns: its loss goes down
        assert history.history["d_loss"][-1] < history.history["d_loss"][0]


def test_wgan_gp_fits_with_critic_steps_and_xla(digits):
    model = gan_blueprints.wgan_gp(**TINY, critic_steps=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.9), jit_compile=True)
    history = model.fit(digits.train.take(2), epochs=1, verbose=0, shuffle=False)
    assert all(math.isfinite(history.history[key][0]) for key in ("loss", "d_loss", "g_loss"))
    assert int(model.d_optimizer.iterations) == 4  # 2 critic updates per generator update
    assert int(model.g_optimizer.iterations) == int(model.optimizer.iterations) == 2


def test_wgan_gp_model_loss_is_the_wasserstein_estimate_plus_the_penalty():
    """Constant generator (all-zero images) and linear critic: d_loss = -mean(w . (2x - 1)) + 10 (||w|| - 1)^2."""
    x = np.random.default_rng(3).uniform(size=(8, 2, 2, 1)).astype("float32")
    for norm in (1.0, 2.0):
        critic = _linear_critic(norm, bias=0.25)
        model = kgan.GAN(_constant_generator(), critic, loss="wasserstein_gp", gradient_penalty_weight=10.0)
        model.compile(optimizer="sgd")
        logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
        wasserstein = -np.mean((2 * x - 1).reshape(8, 4) @ np.full((4,), norm / 2.0))
        np.testing.assert_allclose(logs["d_loss"], wasserstein + 10.0 * (norm - 1.0) ** 2, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(logs["g_loss"], -0.25, rtol=1e-5)


def test_conditional_gan_trains_on_labels_and_generates_per_class(digits):
    # The SN-GAN recipe: projection discriminator with spectral normalisation, hinge loss.
    model = gan_blueprints.conditional_gan(**TINY, discriminator_norm="spectral", loss="hinge")
    assert model.num_classes == 10 and len(model.generator.inputs) == 2 and len(model.discriminator.inputs) == 2
    vector_u = model.discriminator.get_layer("conditional_gan_discriminator_logit_sn").vector_u
    u_before = _weights([vector_u])
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(digits.train.take(2), epochs=1, verbose=0, shuffle=False)
    assert all(math.isfinite(history.history[key][0]) for key in ("loss", "d_loss", "g_loss"))
    assert _changed(u_before, _weights([vector_u])) == [True]  # the power iteration ran in the training step
    cycled = model.generate(12, seed=1)
    np.testing.assert_array_equal(model.generate(2, seed=1, labels=[0, 1]), cycled[:2])  # None cycles 0, 1, ...
    assert not np.allclose(model.generate(2, seed=1, labels=[5, 5]), cycled[:2])
    with pytest.raises(KerakitError, match="trains on \\(images, labels\\)"):
        model.fit(np.zeros((4, 8, 8, 1), "float32"), batch_size=4, verbose=0)


def test_conditional_networks_may_take_labels_of_shape_batch_by_one():
    def network(first, output):
        x, label = keras.Input(first), keras.Input((1,))  # a float label of shape (batch, 1)
        joined = keras.layers.Concatenate()([keras.layers.Flatten()(x), label])
        return keras.Model([x, label], keras.layers.Reshape(output)(keras.layers.Dense(int(np.prod(output)))(joined)))

    model = kgan.GAN(network((4,), (2, 2, 1)), network((2, 2, 1), (1,)), num_classes=3)
    model.compile(optimizer="adam")
    history = model.fit(np.zeros((8, 2, 2, 1), "float32"), np.arange(8) % 3, batch_size=4, verbose=0)
    assert math.isfinite(history.history["loss"][0])
    assert model.generate(4, seed=0, labels=[0, 1, 2, 2]).shape == (4, 2, 2, 1)


def test_callbacks_nan_stops_the_run_and_ema_is_finalised():
    x = np.random.default_rng(0).uniform(size=(32, 8, 8, 1)).astype("float32")
    model = gan_blueprints.dcgan(**TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, use_ema=True, ema_momentum=0.5))
    model.fit(x, batch_size=16, epochs=1, verbose=0)
    averages = model.g_optimizer._model_variables_moving_average
    assert all(np.array_equal(a, w) for a, w in zip(_weights(averages), _weights(model.generator.trainable_variables)))

    poisoned = x.copy()
    poisoned[0, 0, 0, 0] = np.nan
    history = model.fit(poisoned, batch_size=16, epochs=3, verbose=0,
                        callbacks=[keras.callbacks.TerminateOnNaN(), keras.callbacks.ReduceLROnPlateau("loss", patience=5)])
    assert len(history.history["loss"]) == 1 and math.isnan(history.history["loss"][0])


# --- sampling, saving, export ---------------------------------------------------------------------------------------


def test_generate_is_repeatable_and_in_unit_interval():
    model = gan_blueprints.dcgan(**TINY)
    assert model.image_shape == (8, 8, 1) and model.latent_dim == 4 and model.num_classes is None
    assert model.generating_network is model.generator
    images = model.generate(5, seed=3)
    assert images.shape == (5, 8, 8, 1) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(model.generate(5, seed=3), images)
    assert not np.allclose(model.generate(5, seed=4), images)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(np.random.default_rng(3).standard_normal(
        (5, 4)).astype("float32"))), images, atol=1e-6)  # call: the same mapping to [0, 1]


@pytest.mark.parametrize("name", ["dcgan", "conditional_gan"])
def test_keras_round_trip_restores_weights_optimizers_and_samples(tmp_path, name):
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=100)
    model = getattr(gan_blueprints, name)(**TINY)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    x = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
    model.fit(x, np.arange(8) % 10, batch_size=8, epochs=1, verbose=0)
    path = os.path.join(tmp_path, f"{name}.keras")
    model.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        restored = keras.saving.load_model(path, safe_mode=True)
    assert not [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert isinstance(restored, kgan.GAN) and restored.num_classes == model.num_classes
    np.testing.assert_array_equal(restored.generate(6, seed=0), model.generate(6, seed=0))
    for mine, theirs in ((model.generator, restored.generator), (model.discriminator, restored.discriminator)):
        assert all(np.array_equal(a, b) for a, b in zip(_weights(mine.weights), _weights(theirs.weights)))
    # Loaded compiled: both optimizers, their schedule and their state (Adam moments, step counts).
    assert isinstance(restored.g_optimizer.learning_rate, type(model.g_optimizer.learning_rate))
    assert isinstance(restored.g_optimizer._learning_rate, keras.optimizers.schedules.CosineDecay)
    assert int(restored.g_optimizer.iterations) == 1 and int(restored.d_optimizer.iterations) == 1
    assert all(np.array_equal(a, b) for a, b in zip(_weights(model.optimizer.variables),
                                                    _weights(restored.optimizer.variables)))


@pytest.mark.parametrize("name", ["dcgan", "conditional_gan"])
def test_generator_exports_to_saved_model(tmp_path, name):
    import tensorflow as tf

    from kerakit.export import saved_model

    model = getattr(gan_blueprints, name)(**TINY)
    report = saved_model(model.generating_network, os.path.join(tmp_path, "generator"))
    assert report.max_abs_diff <= 1e-4
    exported = tf.saved_model.load(report.path)
    z = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    inputs = z if model.num_classes is None else [z, np.array([1, 2, 9], "int32")]
    np.testing.assert_allclose(np.asarray(exported.serve(inputs)),
                               model.generator.predict(inputs, verbose=0), atol=1e-5)


# --- blueprints and bad input ---------------------------------------------------------------------------------------


def test_blueprints_are_registered_with_their_defaults():
    assert {"dcgan", "wgan_gp", "conditional_gan"} <= set(kerakit.list_blueprints(family="generative"))
    wgan = gan_blueprints.wgan_gp(**TINY)
    assert (wgan.adversarial_loss, wgan.critic_steps, wgan.gradient_penalty_weight) == ("wasserstein_gp", 5, 10.0)
    critic = gan_blueprints.wgan_gp(**{**TINY, "discriminator_widths": (4, 8)}).discriminator
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in critic.layers)
    assert [layer.name for layer in critic.layers if isinstance(layer, keras.layers.LayerNormalization)] == [
        "wgan_gp_discriminator_down2_ln"]  # none on the first stage, as in DCGAN
    assert "num_classes" not in kerakit.registry.blueprint_arguments("dcgan")
    assert kerakit.registry.blueprint_arguments("conditional_gan")["num_classes"] == 10
    for shape in ((28, 28, 1), (32, 32, 3)):
        model = gan_blueprints.dcgan(input_shape=shape, latent_dim=4, generator_widths=(4, 4),
                                     discriminator_widths=(4,))
        assert model.generator.output_shape == (None, *shape) and model.image_shape == shape
    spectral = gan_blueprints.dcgan(**TINY, discriminator_norm="spectral", loss="hinge")
    assert any(isinstance(layer, keras.layers.SpectralNormalization) for layer in spectral.discriminator.layers)


def _networks(latent_dim=4, image=(8, 8, 1), output=(1,)):
    generator = keras.Sequential([keras.Input((latent_dim,)), keras.layers.Dense(int(np.prod(image))),
                                  keras.layers.Reshape(image)])
    discriminator = keras.Sequential([keras.Input(image), keras.layers.Flatten(), keras.layers.Dense(output[0])])
    return generator, discriminator


@pytest.mark.parametrize("build, message", [
    (lambda: gan_blueprints.dcgan(**{**TINY, "latent_dim": 0}), "`latent_dim` must be an integer >= 1"),
    (lambda: gan_blueprints.dcgan(input_shape=(10, 10, 1), generator_widths=(8, 8)),
     "divisible by 4 \\(the generator doubles its start map 2 times"),
    (lambda: gan_blueprints.dcgan(input_shape=(8, 8)), "`input_shape` must be a tuple of 3 positive integers"),
    (lambda: gan_blueprints.dcgan(**TINY, discriminator_norm="group"), "`discriminator_norm` must be one of"),
    (lambda: gan_blueprints.wgan_gp(**TINY, loss="least_squares"), "`loss` must be one of"),
    (lambda: gan_blueprints.wgan_gp(**TINY, critic_steps=0), "`critic_steps` must be an integer >= 1"),
    (lambda: gan_blueprints.conditional_gan(**TINY, num_classes=1), "`num_classes` must be an integer >= 2"),
    (lambda: kgan.GAN(*_networks(), latent_dim=-1), "`latent_dim` must be an integer >= 1"),
    (lambda: kgan.GAN(*_networks(), latent_dim=5), "`latent_dim` must be 4, the generator's latent size"),
    (lambda: kgan.GAN(_networks()[0], _networks(image=(4, 4, 1))[1]), "the image of shape \\(8, 8, 1\\)"),
    (lambda: kgan.GAN(*_networks(output=(3,))), "one output of shape \\(batch, 1\\)"),
    (lambda: kgan.GAN(*_networks(), num_classes=10), "a model with \\[latent, label\\] inputs"),
    (lambda: kgan.GAN(keras.layers.Dense(3), _networks()[1]), "`generator` must be a built functional"),
    (lambda: kgan.GAN(*_networks(), gradient_penalty_weight=0), "`gradient_penalty_weight` must be a number > 0"),
])
def test_bad_arguments_are_refused_clearly(build, message):
    with pytest.raises(KerakitError, match=message):
        build()


def test_bad_compile_and_generate_arguments_are_refused_clearly():
    model = kgan.GAN(*_networks())
    with pytest.raises(KerakitError, match="`loss` must be None \\(the GAN computes its 'non_saturating' loss"):
        model.compile(optimizer="adam", loss="mse")
    with pytest.raises(KerakitError, match="`metrics` must be None"):
        model.compile(optimizer="adam", metrics=["mae"])
    with pytest.raises(KerakitError, match="`optimizer` must be an optimizer \\(or both g_optimizer and d_optimizer"):
        model.compile(g_optimizer="adam")
    shared = keras.optimizers.Adam()
    with pytest.raises(KerakitError, match="`d_optimizer` must be a different optimizer object"):
        model.compile(g_optimizer=shared, d_optimizer=shared)
    with pytest.raises(KerakitError, match="`g_optimizer` must be a Keras optimizer or its name"):
        model.compile(optimizer="adam", g_optimizer="no_such_optimizer")
    with pytest.raises(KerakitError, match="`n` must be an integer >= 1"):
        model.generate(0)
    with pytest.raises(KerakitError, match="`labels` must be None \\(the GAN is not class-conditional\\)"):
        model.generate(2, labels=[0, 1])
    conditional = gan_blueprints.conditional_gan(**TINY, num_classes=3)
    with pytest.raises(KerakitError, match="`labels` must be 2 integer class ids in \\[0, 3\\)"):
        conditional.generate(2, labels=[0, 3])
    with pytest.raises(KerakitError, match="`labels` must be 2 integer class ids"):
        conditional.generate(2, labels=[0.5, 1.0])


def test_compile_gives_each_network_its_own_copy_of_the_optimizer():
    model = kgan.GAN(*_networks())
    schedule = keras.optimizers.schedules.CosineDecay(2e-4, decay_steps=50, warmup_target=1e-3, warmup_steps=5)
    optimizer = keras.optimizers.Adam(schedule, beta_1=0.5)
    model.compile(optimizer=optimizer)
    g, d = model.g_optimizer, model.d_optimizer
    assert g is not optimizer and d is not optimizer and g is not d
    assert model.optimizer.optimizers == [d, g]
    for copy in (g, d):
        assert isinstance(copy, keras.optimizers.Adam) and copy.beta_1 == 0.5
        assert isinstance(copy._learning_rate, keras.optimizers.schedules.CosineDecay)
        assert copy._learning_rate.get_config() == schedule.get_config()
    assert (g.name, d.name) == ("generator_optimizer", "discriminator_optimizer")
    given = keras.optimizers.SGD(0.1)
    model.compile(g_optimizer=given, d_optimizer="rmsprop")
    assert model.g_optimizer is given and isinstance(model.d_optimizer, keras.optimizers.RMSprop)
