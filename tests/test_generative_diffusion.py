"""Diffusion: schedule math, DDPM/DDIM samplers, DiffusionModel (fit, EMA, guidance, save, export), the blueprints."""

import os

import keras
import numpy as np
import pytest
from keras import ops

import blueprints.generative.diffusion  # noqa: F401  (registers diffusion_unet and ddpm)
import kerakit
import kerakit.data
import kerakit.export
from blueprints.generative.diffusion import _check_unet
from kerakit.errors import KerakitError
from kerakit.models import diffusion
from kerakit.models.diffusion import (
    DDIMSampler,
    DDPMSampler,
    DiffusionModel,
    NoiseSchedule,
    cosine_schedule,
    linear_schedule,
)
from tests.helpers import run_docstring_examples

# A very small denoiser: one level, no attention (the U-Net's shapes are tested on their own below).
SMALL_UNET = {"base_width": 8, "width_multipliers": (1,), "blocks_per_level": 1, "attention_levels": (),
              "middle_attention": False, "groups": 4}


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def _small_model(num_classes=None, **kwargs):
    denoiser = kerakit.build("diffusion_unet", **SMALL_UNET, num_classes=num_classes)
    return DiffusionModel(denoiser, **{"timesteps": 10, "schedule": "cosine", "seed": 0, "num_classes": num_classes,
                                       **kwargs})


# -- schedules -----------------------------------------------------------------------------------------------------


def test_linear_schedule_matches_numpy_and_reaches_noise():
    schedule = linear_schedule(1000)
    betas = np.linspace(1e-4, 0.02, 1000)
    alpha_bar = np.cumprod(1.0 - betas)
    t = [0, 1, 250, 500, 999]
    np.testing.assert_allclose(_numpy(schedule.betas)[t], betas[t], rtol=1e-5)
    np.testing.assert_allclose(_numpy(schedule.alphas)[t], 1.0 - betas[t], rtol=1e-6)
    np.testing.assert_allclose(_numpy(schedule.alpha_bar)[t], alpha_bar[t], rtol=1e-3)
    assert abs(float(_numpy(schedule.alpha_bar)[0]) - 0.9999) < 1e-6
    assert float(_numpy(schedule.alpha_bar)[-1]) < 1e-4


def test_cosine_schedule_matches_nichol_and_dhariwal():
    steps = 1000
    schedule = cosine_schedule(steps)

    def f(t):
        return np.cos((t / steps + 0.008) / 1.008 * np.pi / 2) ** 2

    t = np.array([0, 10, 300, 500, 900, 990])
    np.testing.assert_allclose(_numpy(schedule.alpha_bar)[t], f(t + 1) / f(0), rtol=2e-3, atol=1e-6)
    betas = np.clip(1 - f(np.arange(1, steps + 1)) / f(np.arange(steps)), 0, 0.999)
    np.testing.assert_allclose(_numpy(schedule.betas), betas, rtol=2e-4, atol=1e-6)
    assert float(_numpy(schedule.betas)[-1]) == pytest.approx(0.999)  # the last step is clipped


@pytest.mark.parametrize("schedule", [linear_schedule(1000), cosine_schedule(1000), cosine_schedule(10),
                                      linear_schedule(50, 1e-3, 0.2)])
def test_alpha_bar_is_strictly_decreasing_from_near_one_to_near_zero(schedule):
    alpha_bar = _numpy(schedule.alpha_bar)
    assert alpha_bar.shape == (schedule.timesteps,)
    assert np.all(np.diff(alpha_bar) < 0)
    assert 0.95 < alpha_bar[0] < 1.0
    assert 0.0 <= alpha_bar[-1] < 1e-2
    assert float(_numpy(schedule.alpha_bar_at(-1))) == 1.0  # "before the first step": the clean image
    np.testing.assert_allclose(_numpy(schedule.alpha_bar_at(np.array([0, -1, 1]))),
                               [alpha_bar[0], 1.0, alpha_bar[1]], rtol=1e-6)


def test_two_steps_are_enough_for_a_schedule():
    alpha_bar = _numpy(cosine_schedule(2).alpha_bar)
    assert alpha_bar.shape == (2,) and alpha_bar[0] > alpha_bar[1] >= 0.0


def test_noise_schedule_by_name_and_the_forward_process():
    schedule = diffusion.noise_schedule("linear", 20)
    assert schedule.timesteps == 20
    x0, noise = np.ones((2, 2, 2, 1), "float32"), np.full((2, 2, 2, 1), 2.0, "float32")
    alpha_bar = _numpy(schedule.alpha_bar)
    x_t = _numpy(schedule.add_noise(x0, noise, np.array([0, 19])))
    for i, t in enumerate([0, 19]):
        np.testing.assert_allclose(x_t[i], np.sqrt(alpha_bar[t]) + 2 * np.sqrt(1 - alpha_bar[t]), rtol=1e-5)


@pytest.mark.parametrize("make, message", [
    (lambda: linear_schedule(1), r"linear_schedule: `timesteps` must be an integer >= 2. Received: timesteps=1"),
    (lambda: cosine_schedule(0), r"cosine_schedule: `timesteps` must be an integer >= 2. Received: timesteps=0"),
    (lambda: diffusion.noise_schedule("cosine", 1), r"`timesteps` must be an integer >= 2. Received: timesteps=1"),
    (lambda: diffusion.noise_schedule("quadratic", 10), r"`schedule` must be one of \['linear', 'cosine'\]"),
    (lambda: linear_schedule(10, beta_start=0.0), r"`beta_start` must be a float in \(0, 1\)"),
    (lambda: linear_schedule(10, beta_start=0.1, beta_end=0.01), r"`beta_end` must be at least beta_start=0.1"),
    (lambda: cosine_schedule(10, max_beta=1.0), r"`max_beta` must be a float in \(0, 1\)"),
    (lambda: NoiseSchedule([0.5]), r"NoiseSchedule: `betas` must be a 1-D sequence of at least 2 floats in \(0, 1\)"),
    (lambda: NoiseSchedule([0.1, 1.5]), r"`betas` must be a 1-D sequence of at least 2 floats in \(0, 1\)"),
    (lambda: DDIMSampler(cosine_schedule(10), steps=11),
     r"DDIMSampler: `steps` must be at most the schedule's timesteps=10. Received: steps=11"),
    (lambda: DDIMSampler(cosine_schedule(10), steps=0), r"`steps` must be an integer >= 1. Received: steps=0"),
    (lambda: DDIMSampler(cosine_schedule(10), steps=5, eta=-0.5), r"`eta` must be a float >= 0. Received: eta=-0.5"),
    (lambda: DDPMSampler("linear"), r"DDPMSampler: `schedule` must be a NoiseSchedule"),
])
def test_schedules_and_samplers_refuse_bad_arguments(make, message):
    with pytest.raises(KerakitError, match=message):
        make()


# -- samplers ------------------------------------------------------------------------------------------------------


def test_sampler_timesteps():
    schedule = linear_schedule(1000)
    assert DDIMSampler(schedule, steps=5).timesteps.tolist() == [999, 749, 500, 250, 0]
    assert DDIMSampler(schedule, steps=1).timesteps.tolist() == [999]
    assert DDIMSampler(schedule, steps=50).previous_timesteps[-2:].tolist() == [0, -1]
    ddpm = DDPMSampler(schedule)
    assert ddpm.timesteps.tolist() == list(range(999, -1, -1))
    assert DDIMSampler(schedule, steps=1000).timesteps.tolist() == ddpm.timesteps.tolist()


@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("schedule", [linear_schedule(1000), cosine_schedule(10)])
def test_ddim_with_eta_one_and_all_steps_is_the_ddpm_update(schedule, clip):
    rng = np.random.default_rng(0)
    ddpm, ddim = DDPMSampler(schedule, clip_denoised=clip), DDIMSampler(schedule, steps=schedule.timesteps, eta=1.0,
                                                                          clip_denoised=clip)
    assert ddim.timesteps.tolist() == ddpm.timesteps.tolist()
    x, eps, noise = (rng.normal(size=(schedule.timesteps, 3, 3, 2)).astype("float32") for _ in range(3))
    t, t_prev = ddpm.timesteps, ddpm.previous_timesteps  # every step at once: one example per step
    np.testing.assert_allclose(_numpy(ddim.step(eps, t, t_prev, x, noise)), _numpy(ddpm.step(eps, t, t_prev, x, noise)),
                               atol=2e-5, rtol=1e-4)
    # DDPM's variance is the posterior's beta_tilde: the noise enters scaled by its square root.
    step = schedule.timesteps // 2
    alpha_bar = _numpy(schedule.alpha_bar)
    beta_tilde = (1 - alpha_bar[step - 1]) / (1 - alpha_bar[step]) * (1 - alpha_bar[step] / alpha_bar[step - 1])
    spread = _numpy(ddpm.step(eps, step, step - 1, x, noise)) - _numpy(ddpm.step(eps, step, step - 1, x, None))
    np.testing.assert_allclose(spread, np.sqrt(beta_tilde) * noise, atol=1e-5)
    # A scalar step gives the same as that step in the batch.
    np.testing.assert_allclose(_numpy(ddim.step(eps[:1], t[0], t_prev[0], x[:1], noise[:1]))[0],
                               _numpy(ddpm.step(eps, t, t_prev, x, noise))[0], atol=2e-5)


@pytest.mark.parametrize("sampler", [DDIMSampler(linear_schedule(100), steps=10), DDPMSampler(linear_schedule(100))])
def test_a_perfect_noise_prediction_recovers_the_clean_image(sampler):
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-1, 1, size=(2, 4, 4, 1)).astype("float32")
    eps = rng.normal(size=x0.shape).astype("float32")
    x_t = sampler.schedule.add_noise(x0, eps, np.array([60, 60]))
    np.testing.assert_allclose(_numpy(sampler.step(eps, 60, -1, x_t, eps)), x0, atol=1e-4)


def test_ddim_with_eta_zero_is_deterministic_and_ddpm_is_not():
    schedule = cosine_schedule(10)
    rng = np.random.default_rng(2)
    x, eps, a, b = (rng.normal(size=(2, 3, 3, 1)).astype("float32") for _ in range(4))
    ddim = DDIMSampler(schedule, steps=5)
    np.testing.assert_array_equal(_numpy(ddim.step(eps, 7, 5, x, a)), _numpy(ddim.step(eps, 7, 5, x, b)))
    ddpm = DDPMSampler(schedule)
    assert np.abs(_numpy(ddpm.step(eps, 7, 6, x, a)) - _numpy(ddpm.step(eps, 7, 6, x, b))).max() > 1e-3
    stochastic = DDIMSampler(schedule, steps=5, eta=0.5)
    assert np.abs(_numpy(stochastic.step(eps, 7, 5, x, a)) - _numpy(stochastic.step(eps, 7, 5, x, b))).max() > 1e-3


# -- the model, trained on the digits once for the tests that need training -----------------------------------------


@pytest.fixture(scope="module")
def trained():
    """A class-conditional model fitted for 3 epochs of 5 digit batches (Adam, EMA momentum 0.5)."""
    keras.utils.set_random_seed(0)
    model = _small_model(num_classes=10, ema=0.5, label_dropout=0.2)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    bundle = kerakit.data.load("digits", batch_size=64)
    history = model.fit(bundle.train.take(5), epochs=3, verbose=0)
    return model, history.history, bundle


def test_a_few_fit_steps_on_the_digits_lower_the_loss(trained):
    model, history, bundle = trained
    assert sorted(history) == ["loss"]
    losses = history["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0] * 0.9, losses
    evaluated = model.evaluate(bundle.validation.take(2), verbose=0, return_dict=True)
    assert sorted(evaluated) == ["loss"] and np.isfinite(evaluated["loss"])


def test_compile_turns_on_the_optimizers_ema_and_fit_leaves_the_averaged_weights(trained):
    model, _, _ = trained
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == 0.5
    averages = model.optimizer._model_variables_moving_average
    assert len(averages) == len(model.trainable_weights)
    for weight, average in zip(model.trainable_weights, averages):
        np.testing.assert_array_equal(_numpy(weight.value), _numpy(average.value))


def test_compile_keeps_an_optimizer_that_has_ema_and_refuses_a_loss():
    model = _small_model(ema=0.9)
    model.compile(optimizer=keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.7))
    assert model.optimizer.ema_momentum == 0.7 and float(_numpy(model.optimizer.learning_rate)) == pytest.approx(0.1)
    model.compile(optimizer="adam")
    assert isinstance(model.optimizer, keras.optimizers.Adam) and model.optimizer.ema_momentum == 0.9
    plain = _small_model(ema=None)
    plain.compile(optimizer="sgd")
    assert not plain.optimizer.use_ema
    with pytest.raises(KerakitError, match=r"`loss` must be None \(a DiffusionModel computes its own loss\)"):
        plain.compile(optimizer="sgd", loss="mse")
    with pytest.raises(KerakitError, match=r"`metrics` must be None"):
        plain.compile(optimizer="sgd", metrics=["mae"])


def test_generate_is_repeatable_in_range_and_guided(trained):
    model, _, _ = trained
    samples = model.generate(6, seed=3, steps=4)
    assert samples.shape == (6, 8, 8, 1) and samples.dtype == np.float32
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    np.testing.assert_array_equal(model.generate(6, seed=3, steps=4), samples)
    assert np.abs(model.generate(6, seed=4, steps=4) - samples).max() > 1e-3
    labels = np.array([0, 1, 2, 3, 4, 5])  # what labels=None cycles through
    np.testing.assert_array_equal(model.generate(6, seed=3, steps=4, labels=labels), samples)
    other_labels = model.generate(6, seed=3, steps=4, labels=np.array([9, 9, 9, 9, 9, 9]))
    assert np.abs(other_labels - samples).max() > 1e-4
    conditional = model.generate(6, seed=3, steps=4, guidance=1.0)  # one denoiser pass, no guidance
    strongly_guided = model.generate(6, seed=3, steps=4, guidance=4.0)
    assert np.abs(conditional - samples).max() > 1e-4 and np.abs(strongly_guided - samples).max() > 1e-4


def test_generate_with_ddpm_and_stochastic_ddim_shows_progress(trained, capsys):
    model, _, _ = trained
    samples = model.generate(3, seed=0, sampler="ddpm", progress=True, guidance=1.0)
    assert samples.shape == (3, 8, 8, 1) and 0.0 <= samples.min() and samples.max() <= 1.0
    assert "10/10" in capsys.readouterr().out  # a Progbar over the T=10 steps
    np.testing.assert_array_equal(model.generate(3, seed=0, sampler="ddpm", guidance=1.0), samples)
    noisy = model.generate(3, seed=0, steps=10, eta=1.0, guidance=1.0)  # DDIM(eta=1, all steps) is DDPM
    np.testing.assert_allclose(noisy, samples, atol=1e-4)


def test_keras_round_trip_gives_identical_weights_and_samples(trained, tmp_path):
    model, _, _ = trained
    path = os.path.join(tmp_path, "ddpm.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, DiffusionModel)
    assert (restored.num_classes, restored.timesteps, restored.schedule, restored.image_shape) == (10, 10, "cosine",
                                                                                                  (8, 8, 1))
    for a, b in zip(restored.weights, model.weights):
        np.testing.assert_array_equal(_numpy(a.value), _numpy(b.value))
    assert restored.optimizer.use_ema and restored.optimizer.ema_momentum == 0.5
    # Equal up to float rounding: TensorFlow may have retraced the original's sampler for another batch size.
    np.testing.assert_allclose(restored.generate(6, seed=1, steps=3), model.generate(6, seed=1, steps=3), atol=1e-5)


def test_the_denoiser_exports_as_a_saved_model(trained, tmp_path):
    import tensorflow as tf

    model, _, _ = trained
    network = model.generating_network
    assert network is model.denoiser and [tuple(i.shape) for i in network.inputs] == [(None, 8, 8, 1), (None,),
                                                                                       (None,)]
    report = kerakit.export.saved_model(network, os.path.join(tmp_path, "denoiser"))
    rng = np.random.default_rng(5)
    x = [rng.normal(size=(5, 8, 8, 1)).astype("float32"), np.arange(5, dtype="float32"),
         np.array([0, 3, 9, 10, 2], "int32")]
    exported = tf.saved_model.load(report.path)
    np.testing.assert_allclose(np.asarray(exported.serve(x)), network.predict(x, verbose=0), atol=1e-4)


def test_generate_and_fit_refuse_bad_arguments(trained):
    model, _, _ = trained
    for kwargs, message in [
        ({"steps": 11}, r"generate: `steps` must be at most the model's timesteps=10. Received: steps=11"),
        ({"sampler": "euler"}, r"`sampler` must be one of \['ddpm', 'ddim'\]"),
        ({"eta": -1.0}, r"`eta` must be a float >= 0"),
        ({"labels": np.array([0, 10])}, r"`labels` must be class ids in \[0, 10\)"),
        ({"labels": np.array([0, 1, 2])}, r"`labels` must be an int array of shape \(2,\)"),
        ({"guidance": float("nan")}, r"`guidance` must be a finite float"),
    ]:
        with pytest.raises(KerakitError, match=message):
            model.generate(2, **kwargs)
    with pytest.raises(KerakitError, match=r"`n` must be an integer >= 1. Received: n=0"):
        model.generate(0)
    assert model.sampler().timesteps.tolist() == list(range(9, -1, -1))  # steps=None: all T=10 < 50 steps
    with pytest.raises(KerakitError, match=r"diffusion_model.sampler: `steps` must be at most the model's "
                                           r"timesteps=10. Received: steps=50"):
        model.sampler("ddim", steps=50)
    import tensorflow as tf

    images = np.zeros((4, 8, 8, 1), "float32")
    missing = r"`y` must be class labels \(the model is class-conditional with num_classes=10\): fit it on " \
              r"\(images, labels\)"
    for data in (images, tf.data.Dataset.from_tensor_slices(images).batch(2)):
        with pytest.raises(KerakitError, match=missing):
            model.fit(data, verbose=0)
    with pytest.raises(KerakitError, match=missing):  # other inputs (generators...) fail in the loss
        model.compute_loss(x=images)


def test_sampling_from_callbacks_during_and_at_the_end_of_fit_leaves_the_model_savable(trained, tmp_path):
    model, _, bundle = trained
    shapes = []

    class Sample(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # raw weights
            shapes.append(self.model.generate(2, seed=0, steps=2).shape)

        def on_train_end(self, logs=None):  # the EMA weights, just swapped in by Keras
            shapes.append(self.model.generate(2, seed=0, steps=2).shape)

    model.fit(bundle.train.take(1), epochs=1, verbose=0, callbacks=[Sample()])
    assert shapes == [(2, 8, 8, 1)] * 2
    path = os.path.join(tmp_path, "after_callbacks.keras")
    model.save(path)  # on JAX this failed ("Array has been deleted") before DiffusionModel separated the EMA weights
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(restored.generate(2, seed=0, steps=2), model.generate(2, seed=0, steps=2), atol=1e-5)


# -- an unconditional model, untrained ------------------------------------------------------------------------------


def test_unconditional_model_attributes_sampling_and_config():
    model = _small_model(ema=None)
    assert (model.image_shape, model.num_classes, model.generating_network is model.denoiser) == ((8, 8, 1), None,
                                                                                                 True)
    x = np.full((2, 8, 8, 1), 0.5, "float32")
    np.testing.assert_array_equal(_numpy(model(x)), x)  # calling the model returns its input
    samples = model.generate(2, seed=0, steps=2)
    np.testing.assert_array_equal(model.generate(2, seed=0, steps=2, guidance=7.0), samples)  # guidance: ignored
    assert samples.shape == (2, 8, 8, 1) and 0.0 <= samples.min() and samples.max() <= 1.0
    with pytest.raises(KerakitError, match=r"`labels` must be None \(the model is not class-conditional\)"):
        model.generate(2, labels=np.array([0, 1]))
    config = model.get_config()
    assert {k: config[k] for k in ("timesteps", "schedule", "ema", "num_classes", "seed")} == {
        "timesteps": 10, "schedule": "cosine", "ema": None, "num_classes": None, "seed": 0}
    clone = DiffusionModel.from_config(config)
    assert clone.denoiser.count_params() == model.denoiser.count_params() and clone.ema is None


def test_diffusion_model_refuses_bad_arguments():
    unet = kerakit.build("diffusion_unet", **SMALL_UNET)
    conditional = kerakit.build("diffusion_unet", **SMALL_UNET, num_classes=3)
    images = keras.Input((8, 8, 1))
    single_input = keras.Model(images, keras.layers.Conv2D(1, 1)(images))
    for make, message in [
        (lambda: DiffusionModel(unet, timesteps=1), r"DiffusionModel: `timesteps` must be an integer >= 2"),
        (lambda: DiffusionModel(unet, schedule="sigmoid"), r"`schedule` must be one of \['linear', 'cosine'\]"),
        (lambda: DiffusionModel(unet, ema=1.0), r"`ema` must be a float in \(0, 1\) or None. Received: ema=1.0"),
        (lambda: DiffusionModel(unet, label_dropout=1.0), r"`label_dropout` must be a float in \[0, 1\)"),
        (lambda: DiffusionModel(unet, num_classes=3), r"`denoiser` must be .*labels.*num_classes is set"),
        (lambda: DiffusionModel(conditional), r"a denoiser with a labels input needs num_classes"),
        (lambda: DiffusionModel(single_input), r"`denoiser` must be a functional keras.Model.*with 1 inputs"),
        (lambda: DiffusionModel("unet"), r"`denoiser` must be a functional keras.Model"),
    ]:
        with pytest.raises(KerakitError, match=message):
            make()


# -- blueprints ----------------------------------------------------------------------------------------------------


def test_diffusion_unet_shapes_names_and_labels():
    unet = kerakit.build("diffusion_unet", base_width=4, width_multipliers=(1, 2, 2), blocks_per_level=1,
                         attention_levels=(1,), groups=4, input_shape=(8, 8, 3), num_classes=4, name="u")
    assert [tuple(i.shape) for i in unet.inputs] == [(None, 8, 8, 3), (None,), (None,)]
    assert unet.inputs[2].dtype == "int32" and unet.output_shape == (None, 8, 8, 3)
    names = {layer.name for layer in unet.layers}
    assert {"u_stem", "u_down1_block0_attention", "u_middle_attention", "u_up1_block1_attention",
            "u_down0_downsample", "u_up2_upsample", "u_label_embedding", "u_time_embedding", "u_output"} <= names
    assert "u_down0_block0_attention" not in names and "u_down2_block0_attention" not in names
    assert unet.get_layer("u_label_embedding").input_dim == 5  # 4 classes and the null label
    assert unet.get_layer("u_down2_block0").output.shape == (None, 2, 2, 8)
    # By default attention follows the blocks of the last (lowest-resolution) level only.
    assert _check_unet("u", (8, 8, 1), 4, (1, 1, 1), 2, None, 1, 4, 0.0, None, "swish")[2] == (2,)


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="the same architecture code on both backends; JAX "
                    "compiles an initializer per weight shape, about 20 s for these 35.7M weights")
def test_diffusion_unet_has_ddpms_cifar10_parameter_count():
    # Ho et al. 2020, appendix B: 35.7M parameters for CIFAR-10.
    unet = kerakit.build("diffusion_unet", input_shape=(32, 32, 3), base_width=128, width_multipliers=(1, 2, 2, 2),
                         blocks_per_level=2, attention_levels=(1,), dropout=0.1)
    assert unet.count_params() == 35_746_307


@pytest.mark.parametrize("kwargs, message", [
    ({"input_shape": (6, 6, 1), "width_multipliers": (1, 2, 2)},
     (r"diffusion_unet: `input_shape` must be a height and width divisible by 4 \(the U-Net halves them 2 times: "
      r"once between each of the 3 levels of width_multipliers=\(1, 2, 2\)\). Received: input_shape=\(6, 6, 1\)")),
    ({"input_shape": (8, 8)}, r"`input_shape` must be a tuple of 3 positive integers"),
    ({"input_shape": (None, 8, 1)}, r"`input_shape` must be a tuple of 3 known sizes"),
    ({"groups": 3}, r"`groups` must be a divisor of every level's width \[8, 16\]"),
    ({"num_heads": 3, "groups": 4}, r"`num_heads` must be a divisor of every level's width"),
    ({"attention_levels": (2,)}, r"`attention_levels` must be level indices in \[0, 2\)"),
    ({"width_multipliers": ()}, r"`width_multipliers` must be a non-empty sequence"),
    ({"base_width": 0}, r"`base_width` must be an integer >= 1"),
    ({"blocks_per_level": 0}, r"`blocks_per_level` must be an integer >= 1"),
    ({"dropout": 1.0}, r"`dropout` must be a float in \[0, 1\)"),
    ({"num_classes": 0}, r"`num_classes` must be an integer >= 1"),
])
def test_diffusion_unet_refuses_bad_arguments(kwargs, message):
    arguments = {"base_width": 8, "width_multipliers": (1, 2), "groups": 4, **kwargs}
    with pytest.raises(KerakitError, match=message):
        kerakit.build("diffusion_unet", **arguments)


def test_ddpm_builds_a_diffusion_model_around_the_unet():
    spec = kerakit.get_blueprint("ddpm")
    assert (spec.family, spec.task, kerakit.get_blueprint("diffusion_unet").task) == ("generative", "generation",
                                                                                      "denoising")
    model = kerakit.build("ddpm", **SMALL_UNET, timesteps=20, num_classes=3, ema=None, name="gen")
    assert isinstance(model, DiffusionModel) and model.name == "gen" and model.denoiser.name == "gen_denoiser"
    assert (model.timesteps, model.schedule, model.num_classes, model.ema) == (20, "linear", 3, None)
    assert len(model.denoiser.inputs) == 3
    for kwargs, message in [
        ({"timesteps": 1}, r"ddpm: `timesteps` must be an integer >= 2. Received: timesteps=1"),
        ({"schedule": "cosin"}, r"ddpm: `schedule` must be one of \['linear', 'cosine'\] \(did you mean 'cosine'"),
        ({"ema": 0.0}, r"ddpm: `ema` must be a float in \(0, 1\) or None"),
        ({"input_shape": (6, 6, 1), "width_multipliers": (1, 2, 2)},
         r"ddpm: `input_shape` must be a height and width divisible by 4"),
    ]:
        with pytest.raises(KerakitError, match=message):
            kerakit.build("ddpm", **{**SMALL_UNET, **kwargs})


@pytest.mark.parametrize("name", ["NoiseSchedule", "linear_schedule", "cosine_schedule", "noise_schedule",
                                  "DDPMSampler", "DDIMSampler", "DiffusionModel"])
def test_docstring_examples_run(name):
    assert run_docstring_examples(getattr(diffusion, name)) >= 2
