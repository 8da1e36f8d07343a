"""Denoising diffusion: noise schedules, the DDPM and DDIM samplers, and `DiffusionModel`, kept apart.

The three parts of a diffusion model live apart, as in diffusers' scheduler design:

- the noise schedule (`linear_schedule`, `cosine_schedule`, `noise_schedule`): `NoiseSchedule` holds
  `beta_t`, `alpha_t = 1 - beta_t` and `alpha_bar_t = prod_{s <= t} alpha_s` for `t = 0 .. T-1`, computed with
  `keras.ops`; the forward process is `x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps`.
  Linear: Ho, Jain and Abbeel, "Denoising Diffusion Probabilistic Models" (NeurIPS 2020, arXiv:2006.11239).
  Cosine: Nichol and Dhariwal, "Improved Denoising Diffusion Probabilistic Models" (ICML 2021, arXiv:2102.09672).
- the denoising network (a blueprint, e.g. `diffusion_unet`): `(x_t, t [, label]) -> predicted eps`;
- the samplers (`DDPMSampler`, `DDIMSampler`): a list of `timesteps` to visit and a `step` from `x_t` to `x_{t_prev}`
  given the predicted noise, with no network inside. DDIM: Song, Meng and Ermon, "Denoising Diffusion Implicit
  Models" (ICLR 2021, arXiv:2010.02502).

`DiffusionModel` trains the denoiser with `compile(optimizer)` / `fit` (the loss is its own: the mean squared error
between the noise added at a uniformly drawn `t` and the predicted one), keeps an exponential moving average of the
weights with the optimizer's own EMA, and samples with either sampler; class-conditional models use classifier-free
guidance (Ho and Salimans, "Classifier-Free Diffusion Guidance", 2021, arXiv:2207.12598).
"""

import math
import numbers

import keras
import numpy as np
from keras import ops

from kerakit import errors

SCHEDULES = ("linear", "cosine")
SAMPLERS = ("ddpm", "ddim")


# -- noise schedules ----------------------------------------------------------------------------------------------


class NoiseSchedule:
    """The variances of a diffusion's forward process and the products the samplers need.

    Attributes:
        timesteps: int. `T`, the number of steps; `t` runs over `0 .. T-1`.
        betas: float32 tensor `(T,)`. `beta_t`, the variance added at step `t`.
        alphas: float32 tensor `(T,)`. `1 - beta_t`.
        alpha_bar: float32 tensor `(T,)`. `prod_{s <= t} alpha_s`: strictly decreasing, from `alpha_0` close to 1
            down to close to 0 for a schedule that reaches pure noise.

    Args:
        betas: 1-D array or tensor of floats in `(0, 1)`, at least two of them.

    Example:

    ```python
    from keras import ops
    from kerakit.models.diffusion import NoiseSchedule
    schedule = NoiseSchedule([0.1, 0.5])
    schedule.timesteps, [round(v, 4) for v in ops.convert_to_numpy(schedule.alpha_bar).tolist()]  # (2, [0.9, 0.45])
    ```
    """

    def __init__(self, betas):
        values = np.asarray(ops.convert_to_numpy(betas), dtype="float64")
        if values.ndim != 1 or len(values) < 2 or not np.all((values > 0) & (values < 1)):
            raise errors.invalid("NoiseSchedule", "betas", "a 1-D sequence of at least 2 floats in (0, 1)",
                                 values.tolist() if values.size <= 8 else f"array of shape {values.shape}")
        self.timesteps = len(values)
        self.betas = ops.cast(betas, "float32")
        self.alphas = 1.0 - self.betas
        self.alpha_bar = ops.cumprod(self.alphas)

    def alpha_bar_at(self, t):
        """`alpha_bar_t` at integer steps `t` (a scalar or a tensor); `1.0` where `t < 0` (before the first step)."""
        t = ops.cast(t, "int32")
        values = ops.take(self.alpha_bar, ops.maximum(t, 0), axis=0)
        return ops.where(t >= 0, values, ops.ones_like(values))

    def add_noise(self, x0, noise, t):
        """The forward process: `sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise`, `t` an int per example."""
        alpha_bar = _per_example(self.alpha_bar_at(t), x0)
        return ops.sqrt(alpha_bar) * x0 + ops.sqrt(1.0 - alpha_bar) * noise


def _per_example(values, x):
    """A scalar, or a `(batch,)` vector reshaped to broadcast over `x` `(batch, ...)`."""
    values = ops.cast(values, x.dtype)
    if len(values.shape) == 0:
        return values
    return ops.reshape(values, (ops.shape(values)[0],) + (1,) * (len(x.shape) - 1))


def linear_schedule(timesteps, beta_start=1e-4, beta_end=0.02):
    """Ho et al.'s schedule: `beta_t` linear from `beta_start` to `beta_end` over `timesteps` steps.

    Ho et al.'s values are meant for `T = 1000` (then `alpha_bar_{T-1}` is about `4e-5`); with far fewer steps they
    do not reach pure noise (with `T = 10`, `alpha_bar_{T-1}` is about 0.9): use larger betas or `cosine_schedule`.

    Args:
        timesteps: int. `T`, at least 2.
        beta_start: float. `beta_0`, in `(0, 1)`. Defaults to `1e-4`.
        beta_end: float. `beta_{T-1}`, in `[beta_start, 1)`. Defaults to `0.02`.

    Returns:
        NoiseSchedule.

    Example:

    ```python
    from keras import ops
    from kerakit.models.diffusion import linear_schedule
    schedule = linear_schedule(1000)
    betas, alpha_bar = ops.convert_to_numpy(schedule.betas), ops.convert_to_numpy(schedule.alpha_bar)
    round(float(betas[999]), 6), float(alpha_bar[-1]) < 1e-4  # (0.02, True)
    ```
    """
    owner = "linear_schedule"
    timesteps = errors.check_int(owner, "timesteps", timesteps, minimum=2)
    for argument, value in (("beta_start", beta_start), ("beta_end", beta_end)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
            raise errors.invalid(owner, argument, "a float in (0, 1)", value)
    if beta_end < beta_start:
        raise errors.invalid(owner, "beta_end", f"at least beta_start={beta_start}", beta_end)
    return NoiseSchedule(ops.linspace(float(beta_start), float(beta_end), timesteps, dtype="float32"))


def cosine_schedule(timesteps, s=0.008, max_beta=0.999):
    """Nichol and Dhariwal's schedule: `alpha_bar(t) = f(t) / f(0)`, `f(t) = cos^2((t / T + s) / (1 + s) * pi / 2)`.

    `beta_t = 1 - alpha_bar(t + 1) / alpha_bar(t)`, clipped to `max_beta` (the last step would otherwise be 1), so
    `alpha_bar_t` here (the product of `1 - beta_s` for `s <= t`) follows the cosine closely and reaches about 0 at
    `t = T - 1` for any `T`.

    Args:
        timesteps: int. `T`, at least 2.
        s: float. The small offset that keeps `beta_0` from being tiny. Defaults to `0.008`.
        max_beta: float. The largest `beta_t`, in `(0, 1)`. Defaults to `0.999`.

    Returns:
        NoiseSchedule.

    Example:

    ```python
    from keras import ops
    from kerakit.models.diffusion import cosine_schedule
    alpha_bar = ops.convert_to_numpy(cosine_schedule(10).alpha_bar)
    float(alpha_bar[0]) > 0.95, float(alpha_bar[-1]) < 1e-3  # (True, True)
    ```
    """
    owner = "cosine_schedule"
    timesteps = errors.check_int(owner, "timesteps", timesteps, minimum=2)
    if isinstance(s, bool) or not isinstance(s, numbers.Real) or s < 0:
        raise errors.invalid(owner, "s", "a float >= 0", s)
    if isinstance(max_beta, bool) or not isinstance(max_beta, numbers.Real) or not 0 < max_beta < 1:
        raise errors.invalid(owner, "max_beta", "a float in (0, 1)", max_beta)
    t = ops.cast(ops.arange(timesteps + 1), "float32") / float(timesteps)
    f = ops.square(ops.cos((t + s) / (1.0 + s) * (math.pi / 2)))
    alpha_bar = f / f[0]
    betas = ops.clip(1.0 - alpha_bar[1:] / alpha_bar[:-1], 1e-8, float(max_beta))
    return NoiseSchedule(betas)


def noise_schedule(name, timesteps):
    """The schedule `name` (`"linear"` or `"cosine"`, with their default arguments) over `timesteps` steps.

    Example:

    ```python
    from kerakit.models.diffusion import noise_schedule
    noise_schedule("cosine", 50).timesteps  # 50
    ```
    """
    errors.check_choice("noise_schedule", "schedule", name, SCHEDULES)
    return {"linear": linear_schedule, "cosine": cosine_schedule}[name](timesteps)


# -- samplers -----------------------------------------------------------------------------------------------------


class _Sampler:
    """Shared by the samplers: the schedule, the timesteps to visit, and the denoised estimate of `x_0`."""

    def __init__(self, owner, schedule, clip_denoised):
        if not isinstance(schedule, NoiseSchedule):
            raise errors.invalid(owner, "schedule", "a NoiseSchedule (e.g. linear_schedule(1000))", schedule)
        self.schedule = schedule
        self.clip_denoised = bool(clip_denoised)

    @property
    def previous_timesteps(self):
        """`t_prev` for each of `timesteps`: the next one visited, and `-1` (the clean image) after the last."""
        return np.append(self.timesteps[1:], -1)

    def _alpha_bars(self, t, t_prev, x_t):
        return (_per_example(self.schedule.alpha_bar_at(t), x_t),
                _per_example(self.schedule.alpha_bar_at(t_prev), x_t))

    def _denoised(self, predicted_noise, x_t, alpha_bar):
        """`x_0` estimated from `x_t` and the predicted noise; clipped to `[-1, 1]` with `clip_denoised`."""
        x0 = (x_t - ops.sqrt(1.0 - alpha_bar) * predicted_noise) / ops.sqrt(alpha_bar)
        return ops.clip(x0, -1.0, 1.0) if self.clip_denoised else x0


class DDPMSampler(_Sampler):
    """Ho et al.'s ancestral sampler: every step `t = T-1, ..., 0` draws `x_{t-1}` from the posterior
    `q(x_{t-1} | x_t, x_0)` at the denoised estimate of `x_0`.

    With `alpha_bar` at `t` and `t_prev` (`alpha_bar_{-1} = 1`), `alpha = alpha_bar_t / alpha_bar_{t_prev}` and
    `beta = 1 - alpha`: `x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)` (clipped to `[-1, 1]`),
    `mean = sqrt(alpha_bar_{t_prev}) beta / (1 - alpha_bar_t) x0 + sqrt(alpha) (1 - alpha_bar_{t_prev}) /
    (1 - alpha_bar_t) x_t`, and `x_{t_prev} = mean + sqrt(beta_tilde) noise` with the posterior variance
    `beta_tilde = (1 - alpha_bar_{t_prev}) / (1 - alpha_bar_t) beta`.

    Args:
        schedule: NoiseSchedule.
        clip_denoised: bool. Clip the estimate of `x_0` to the data range `[-1, 1]`. Defaults to `True`.

    Attributes:
        timesteps: int array. The steps visited, `T-1` down to `0`.

    Example:

    ```python
    import numpy as np
    from kerakit.models.diffusion import DDPMSampler, cosine_schedule
    sampler = DDPMSampler(cosine_schedule(4))
    sampler.timesteps.tolist(), sampler.previous_timesteps.tolist()  # ([3, 2, 1, 0], [2, 1, 0, -1])
    x = np.ones((1, 2, 2, 1), "float32")
    float(np.asarray(sampler.step(0 * x, 0, -1, x, x)).max())  # 1.0
    ```
    """

    def __init__(self, schedule, clip_denoised=True):
        super().__init__("DDPMSampler", schedule, clip_denoised)
        self.timesteps = np.arange(schedule.timesteps - 1, -1, -1)

    def step(self, predicted_noise, t, t_prev, x_t, noise=None):
        """`x_{t_prev}` from `x_t` and the predicted noise.

        Args:
            predicted_noise: tensor like `x_t`. The network's estimate of the noise in `x_t`.
            t: int, or int tensor `()` or `(batch,)`. The current step.
            t_prev: like `t`. The step to go to (`t - 1`; `-1` gives the clean image).
            x_t: tensor `(batch, ...)`.
            noise: tensor like `x_t` (standard normal) or None. `None` returns the posterior mean.

        Returns:
            `x_{t_prev}`, like `x_t`.
        """
        alpha_bar, alpha_bar_prev = self._alpha_bars(t, t_prev, x_t)
        x0 = self._denoised(predicted_noise, x_t, alpha_bar)
        alpha = alpha_bar / alpha_bar_prev
        beta = 1.0 - alpha
        mean = (ops.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar) * x0
                + ops.sqrt(alpha) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * x_t)
        if noise is None:
            return mean
        variance = (1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * beta
        return mean + ops.sqrt(ops.maximum(variance, 0.0)) * noise


class DDIMSampler(_Sampler):
    """Song et al.'s sampler: `steps` of the `T` timesteps, deterministic with `eta = 0`.

    `x_{t_prev} = sqrt(alpha_bar_{t_prev}) x0 + sqrt(1 - alpha_bar_{t_prev} - sigma^2) eps + sigma noise`, with
    `sigma = eta sqrt((1 - alpha_bar_{t_prev}) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_{t_prev})`.
    When `x0` is clipped, `eps` is recomputed from the clipped `x0`. With `eta = 1` and all `T` steps every step is
    DDPM's (`sigma^2` is then DDPM's posterior variance `beta_tilde`).

    Args:
        schedule: NoiseSchedule.
        steps: int. Number of steps, `1 .. T`; the timesteps are evenly spaced from `T-1` down to `0`.
            Defaults to `50`.
        eta: float. `0` is deterministic DDIM, `1` the DDPM-like stochastic sampler. Defaults to `0.0`.
        clip_denoised: bool. Clip the estimate of `x_0` to `[-1, 1]`. Defaults to `True`.

    Attributes:
        timesteps: int array. The steps visited, from `T-1` down to `0`.

    Example:

    ```python
    from kerakit.models.diffusion import DDIMSampler, linear_schedule
    DDIMSampler(linear_schedule(1000), steps=5).timesteps.tolist()  # [999, 749, 500, 250, 0]
    ```
    """

    def __init__(self, schedule, steps=50, eta=0.0, clip_denoised=True):
        owner = "DDIMSampler"
        super().__init__(owner, schedule, clip_denoised)
        self.steps = errors.check_int(owner, "steps", steps)
        if self.steps > schedule.timesteps:
            raise errors.invalid(owner, "steps", f"at most the schedule's timesteps={schedule.timesteps}", steps)
        self.eta = _check_eta(owner, eta)
        self.timesteps = np.round(np.linspace(schedule.timesteps - 1, 0, self.steps)).astype("int64")

    def step(self, predicted_noise, t, t_prev, x_t, noise=None):
        """`x_{t_prev}` from `x_t` and the predicted noise; arguments as in `DDPMSampler.step` (`noise` is used only
        when `eta > 0`)."""
        alpha_bar, alpha_bar_prev = self._alpha_bars(t, t_prev, x_t)
        x0 = self._denoised(predicted_noise, x_t, alpha_bar)
        if self.clip_denoised:
            predicted_noise = (x_t - ops.sqrt(alpha_bar) * x0) / ops.sqrt(1.0 - alpha_bar)
        x_prev = ops.sqrt(alpha_bar_prev) * x0
        if self.eta == 0.0 or noise is None:
            return x_prev + ops.sqrt(1.0 - alpha_bar_prev) * predicted_noise
        variance = (self.eta ** 2 * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
                    * (1.0 - alpha_bar / alpha_bar_prev))
        direction = ops.sqrt(ops.maximum(1.0 - alpha_bar_prev - variance, 0.0))
        return x_prev + direction * predicted_noise + ops.sqrt(ops.maximum(variance, 0.0)) * noise


def _check_eta(owner, eta):
    if isinstance(eta, bool) or not isinstance(eta, numbers.Real) or not eta >= 0:
        raise errors.invalid(owner, "eta", "a float >= 0", eta)
    return float(eta)


# -- the model ----------------------------------------------------------------------------------------------------


class _SamplingStep(keras.Model):
    """One sampler step with the denoiser inside, run through `predict_on_batch` (compiled once per input shape).

    Inputs: `[x_t, t, t_prev, noise]`, plus `[labels, guidance]` for a class-conditional denoiser. Never saved.
    """

    def __init__(self, denoiser, sampler, null_label=None, guided=False):
        super().__init__(name="sampling_step")
        self.denoiser = denoiser
        self.sampler = sampler
        self.null_label = null_label
        self.guided = guided

    def call(self, inputs):
        x, t, t_prev, noise = inputs[:4]
        if self.null_label is None:
            predicted = self.denoiser([x, t])
        elif not self.guided:
            predicted = self.denoiser([x, t, inputs[4]])
        else:  # classifier-free guidance: eps_uncond + w (eps_cond - eps_uncond), both in one batch
            labels, guidance = inputs[4], inputs[5]
            both = self.denoiser([ops.concatenate([x, x]), ops.concatenate([t, t]),
                                  ops.concatenate([labels, ops.full_like(labels, self.null_label)])])
            conditional, unconditional = ops.split(both, 2)
            predicted = unconditional + _per_example(guidance, x) * (conditional - unconditional)
        return self.sampler.step(predicted, t, t_prev, x, noise)


@keras.saving.register_keras_serializable(package="kerakit")
class DiffusionModel(keras.Model):
    """A denoising diffusion model: trains a denoiser to predict noise, samples with DDPM or DDIM.

    Training (Ho et al. 2020): images in `[0, 1]` are rescaled to `[-1, 1]` (`x_0`); for each image a step `t` is
    drawn uniformly from `0 .. T-1` and noise `eps ~ N(0, I)` (with `keras.random` and the model's `SeedGenerator`);
    the denoiser sees `x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps` and `t`, and the loss is the mean of
    `(eps - denoiser(x_t, t))^2`. `compile` needs only an optimizer; `fit` takes `(images, labels)` batches or images
    alone (labels are used by class-conditional models only) and logs `loss`; `evaluate` gives the same loss.

    EMA: with `ema` set, `compile` turns on the optimizer's own weight averaging (`use_ema=True`,
    `ema_momentum=ema`; an optimizer that already has `use_ema=True` keeps its momentum). Keras overwrites the
    weights with their moving average at the end of every `fit` (`finalize_variable_values`): during `fit` (for
    callbacks) the weights are the raw trained ones, after `fit` they are the EMA weights, which `generate`, `save` and
    `generating_network` then use. A further `fit` continues from the averaged weights. The average starts at the
    first step's weights and has no warm-up: a momentum `m` forgets those after a few times `1 / (1 - m)` steps, so
    short runs need a smaller `ema` (e.g. `0.99` for a few hundred steps) or `ema=None`.

    Class-conditional models (Ho and Salimans 2021): the denoiser takes a third input, the label, with the extra id
    `num_classes` meaning "no label"; in training each label is replaced by it with probability `label_dropout`.
    `generate(..., guidance=w)` predicts `eps_uncond + w (eps_cond - eps_uncond)`: `w = 1` is the plain conditional
    model, `w > 1` follows the class more closely.

    Calling the model returns its input unchanged (Keras's train step calls the model before `compute_loss`, which
    does the work); use `generate` to sample and `denoiser` to predict noise.

    Args:
        denoiser: keras.Model. A functional model `[noisy_images (batch, H, W, C), timesteps (batch,)]` (plus
            `labels (batch,)` int when `num_classes` is set) -> predicted noise `(batch, H, W, C)`, e.g.
            `diffusion_unet`. Timesteps are given as float32 step indices `0 .. T-1`.
        timesteps: int. `T`, the number of diffusion steps, at least 2. Defaults to `1000`.
        schedule: str. `"linear"` (Ho et al.'s betas 1e-4 .. 0.02, meant for `T` near 1000) or `"cosine"`
            (Nichol and Dhariwal, any `T`). Defaults to `"linear"`.
        ema: float or None. Momentum of the weights' moving average, in `(0, 1)`; `None` turns it off. Defaults to
            `0.999`.
        num_classes: int or None. Classes of a class-conditional model; `None` for an unconditional one. Defaults to
            `None`.
        label_dropout: float. Probability of training on the null label instead of the real one (class-conditional
            models only). Defaults to `0.1`.
        clip_denoised: bool. Samplers clip their estimate of the clean image to the data range. Defaults to `True`.
        seed: int or None. Seed of the training noise and steps. Defaults to `None`.
        **kwargs: Base `keras.Model` arguments (`name`).

    Example:

    ```python
    import keras
    import numpy as np
    from kerakit.models.diffusion import DiffusionModel
    images = keras.Input((4, 4, 1))
    steps = keras.Input(())
    outputs = keras.layers.Conv2D(1, 3, padding="same")(images)
    model = DiffusionModel(keras.Model([images, steps], outputs), timesteps=10, schedule="cosine")
    model.compile(optimizer="adam")
    history = model.fit(np.random.default_rng(0).uniform(size=(32, 4, 4, 1)), epochs=1, batch_size=16, verbose=0)
    sorted(history.history)  # ['loss']
    samples = model.generate(3, seed=0, steps=5)
    samples.shape, bool(((samples >= 0) & (samples <= 1)).all())  # ((3, 4, 4, 1), True)
    ```
    """

    def __init__(self, denoiser, timesteps=1000, schedule="linear", ema=0.999, num_classes=None, label_dropout=0.1,
                 clip_denoised=True, seed=None, **kwargs):
        owner = "DiffusionModel"
        timesteps = errors.check_int(owner, "timesteps", timesteps, minimum=2)
        errors.check_choice(owner, "schedule", schedule, SCHEDULES)
        if ema is not None and (isinstance(ema, bool) or not isinstance(ema, numbers.Real) or not 0 < ema < 1):
            raise errors.invalid(owner, "ema", "a float in (0, 1) or None", ema)
        if num_classes is not None:
            num_classes = errors.check_int(owner, "num_classes", num_classes)
        label_dropout = errors.check_rate(owner, "label_dropout", label_dropout)
        if seed is not None:
            seed = errors.check_int(owner, "seed", seed, minimum=0)
        image_shape = _check_denoiser(owner, denoiser, num_classes)
        super().__init__(**kwargs)
        self.denoiser = denoiser
        self.timesteps = timesteps
        self.schedule = schedule
        self.ema = None if ema is None else float(ema)
        self.num_classes = num_classes
        self.label_dropout = label_dropout
        self.clip_denoised = bool(clip_denoised)
        self.seed = seed
        self.image_shape = image_shape
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.noise_schedule = noise_schedule(schedule, timesteps)
        object.__setattr__(self, "_sampling_steps", {})  # compiled samplers; not tracked, never saved
        self.build((None, *image_shape))

    def build(self, input_shape=None):
        self.built = True  # the denoiser is a built functional model

    @property
    def generating_network(self):
        """The denoiser `[noisy_images, timesteps (, labels)] -> predicted noise`, the network to export."""
        return self.denoiser

    def call(self, inputs, training=None):
        return inputs

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Compiles for `fit`: only the optimizer (and `Model.compile`'s other options); the loss is the model's own.

        With `ema` set, an optimizer without `use_ema` is rebuilt from its config with `use_ema=True` and
        `ema_momentum=ema`.
        """
        if loss is not None:
            raise errors.invalid(self.name, "loss", "None (a DiffusionModel computes its own loss)", loss)
        if metrics:
            raise errors.invalid(self.name, "metrics", "None (a DiffusionModel logs its loss only)", metrics)
        optimizer = keras.optimizers.get(optimizer)
        if self.ema is not None and not optimizer.use_ema:
            config = {**optimizer.get_config(), "use_ema": True, "ema_momentum": self.ema}
            optimizer = optimizer.__class__.from_config(config)
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        """Compiles a loaded model as it was saved (the optimizer, with its EMA setting); see `compile`."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        self.optimizer.build(self.trainable_variables)  # so that the saved optimizer state (the EMA) loads

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`; afterwards the weights are their moving average when `ema` is set (see the class)."""
        if self.num_classes is not None and y is None and _images_only(x):
            raise self._missing_labels_error()
        history = super().fit(x, y, *args, **kwargs)
        self._unshare_averaged_weights()
        return history

    def _unshare_averaged_weights(self):
        """See `kerakit.models._backend.unshare_averaged_weights` (also before sampling: a `generate` in a callback's
        `on_train_end` runs after Keras's EMA swap but before `fit` returns)."""
        from kerakit.models import _backend

        _backend.unshare_averaged_weights(getattr(self, "optimizer", None), self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        images = ops.cast(x, "float32") * 2.0 - 1.0
        batch = ops.shape(images)[0]
        t = keras.random.randint((batch,), 0, self.timesteps, seed=self.seed_generator)
        noise = keras.random.normal(ops.shape(images), seed=self.seed_generator)
        inputs = [self.noise_schedule.add_noise(images, noise, t), ops.cast(t, "float32")]
        if self.num_classes is not None:
            if y is None:
                raise self._missing_labels_error()
            labels = ops.reshape(ops.cast(y, "int32"), (batch,))
            dropped = keras.random.uniform((batch,), seed=self.seed_generator) < self.label_dropout
            inputs.append(ops.where(dropped, ops.full_like(labels, self.num_classes), labels))
        predicted = self.denoiser(inputs, training=training)
        return ops.mean(ops.square(noise - ops.cast(predicted, noise.dtype)))

    def _missing_labels_error(self):
        return errors.invalid(self.name, "y", f"class labels (the model is class-conditional with num_classes="
                              f"{self.num_classes}): fit it on (images, labels)", None)

    def sampler(self, sampler="ddim", steps=None, eta=0.0):
        """The `DDPMSampler` or `DDIMSampler` over this model's schedule (`steps` and `eta`: DDIM only; `steps=None`
        takes 50, or `T` when `T` is smaller)."""
        return self._sampler(f"{self.name}.sampler", sampler, steps, eta)

    def _sampler(self, owner, sampler, steps, eta):
        errors.check_choice(owner, "sampler", sampler, SAMPLERS)
        if sampler == "ddpm":
            return DDPMSampler(self.noise_schedule, clip_denoised=self.clip_denoised)
        steps = min(50, self.timesteps) if steps is None else errors.check_int(owner, "steps", steps)
        if steps > self.timesteps:
            raise errors.invalid(owner, "steps", f"at most the model's timesteps={self.timesteps}", steps)
        return DDIMSampler(self.noise_schedule, steps=steps, eta=_check_eta(owner, eta),
                           clip_denoised=self.clip_denoised)

    def generate(self, n, seed=None, labels=None, sampler="ddim", steps=None, eta=0.0, guidance=2.0, progress=False):
        """Samples `n` images: NumPy float32 `(n, H, W, C)` in `[0, 1]`.

        The starting noise and every step's noise come from a NumPy generator seeded with `seed`, so a seed gives the
        same images again (up to float rounding, the same on both backends). Each step is one compiled call of the
        denoiser and the sampler's update (`predict_on_batch`); the model's current weights are used (the EMA
        weights after `fit`, see the class docstring).

        Args:
            n: int. Number of images.
            seed: int or None. Seed of the noise; `None` draws fresh noise. Defaults to `None`.
            labels: int array `(n,)` or None. Classes, for class-conditional models only; `None` cycles through
                `0, 1, ..., num_classes - 1`. Defaults to `None`.
            sampler: str. `"ddim"` (`steps` steps, `eta`) or `"ddpm"` (all `T` steps). Defaults to `"ddim"`.
            steps: int or None. DDIM steps, `1 .. T`; `None` takes 50, or `T` when `T` is smaller. Defaults to
                `None`.
            eta: float. DDIM's noise scale; `0` is deterministic. Defaults to `0.0`.
            guidance: float. Classifier-free guidance weight `w` of class-conditional models (`1` = conditional
                model alone, one denoiser call per step; otherwise two, batched). Ignored by unconditional models.
                Defaults to `2.0`.
            progress: bool. Show a `keras.utils.Progbar` over the steps. Defaults to `False`.

        Returns:
            NumPy float32 array `(n, H, W, C)` in `[0, 1]`.
        """
        owner = f"{self.name}.generate"
        n = errors.check_int(owner, "n", n)
        if seed is not None:
            seed = errors.check_int(owner, "seed", seed, minimum=0)
        chosen = self._sampler(owner, sampler, steps, eta)
        if isinstance(guidance, bool) or not isinstance(guidance, numbers.Real) or not math.isfinite(guidance):
            raise errors.invalid(owner, "guidance", "a finite float", guidance)
        labels = self._check_labels(owner, labels, n)
        guided = labels is not None and guidance != 1.0
        stochastic = sampler == "ddpm" or chosen.eta > 0
        step_model = self._sampling_step(chosen, sampler, guided)
        self._unshare_averaged_weights()

        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, *self.image_shape)).astype("float32")
        zeros = np.zeros_like(x)
        extra = [] if labels is None else [labels, np.full((n,), guidance, "float32")]
        bar = keras.utils.Progbar(len(chosen.timesteps), unit_name="step") if progress else None
        for i, (t, t_prev) in enumerate(zip(chosen.timesteps, chosen.previous_timesteps)):
            noise = rng.standard_normal(x.shape).astype("float32") if stochastic and t_prev >= 0 else zeros
            inputs = [x, np.full((n,), t, "float32"), np.full((n,), t_prev, "float32"), noise, *extra]
            x = np.asarray(step_model.predict_on_batch(inputs), dtype="float32")
            if bar is not None:
                bar.update(i + 1)
        return np.clip((x + 1.0) / 2.0, 0.0, 1.0).astype("float32")

    def _check_labels(self, owner, labels, n):
        if self.num_classes is None:
            if labels is not None:
                raise errors.invalid(owner, "labels", "None (the model is not class-conditional)", labels)
            return None
        if labels is None:
            return (np.arange(n) % self.num_classes).astype("int32")
        values = np.asarray(labels)
        if values.shape != (n,) or not np.issubdtype(values.dtype, np.integer):
            raise errors.invalid(owner, "labels", f"an int array of shape ({n},)", labels)
        if values.min() < 0 or values.max() >= self.num_classes:
            raise errors.invalid(owner, "labels", f"class ids in [0, {self.num_classes})", labels)
        return values.astype("int32")

    def _sampling_step(self, chosen, kind, guided):
        key = (kind, getattr(chosen, "eta", None), guided)
        if key not in self._sampling_steps:
            null_label = None if self.num_classes is None else self.num_classes
            self._sampling_steps[key] = _SamplingStep(self.denoiser, chosen, null_label, guided)
        return self._sampling_steps[key]

    def get_config(self):
        return {**super().get_config(), "denoiser": keras.saving.serialize_keras_object(self.denoiser),
                "timesteps": self.timesteps, "schedule": self.schedule, "ema": self.ema,
                "num_classes": self.num_classes, "label_dropout": self.label_dropout,
                "clip_denoised": self.clip_denoised, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["denoiser"] = keras.saving.deserialize_keras_object(config["denoiser"])
        return cls(**config)


def _images_only(x):
    """Whether `fit`'s `x` visibly holds images without labels: an array, or a dataset of single tensors."""
    spec = getattr(x, "element_spec", None)
    if spec is not None:
        return not isinstance(spec, (tuple, list, dict))
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _check_denoiser(owner, denoiser, num_classes):
    """The image shape `(H, W, C)` of a denoiser with the inputs `DiffusionModel` gives it; a clear error otherwise."""
    expected = ("a functional keras.Model [noisy_images (batch, H, W, C), timesteps (batch,)"
                + (", labels (batch,)" if num_classes else "") + "] -> predicted noise (batch, H, W, C)")
    try:
        inputs, outputs = list(denoiser.inputs), list(denoiser.outputs)
    except (AttributeError, TypeError, ValueError):  # a subclassed model has no symbolic inputs
        inputs = outputs = None
    if not isinstance(denoiser, keras.Model) or not inputs or not outputs:
        raise errors.invalid(owner, "denoiser", expected, denoiser)
    wanted = 2 if num_classes is None else 3
    if len(inputs) != wanted:
        hint = " (num_classes is set: the denoiser needs a labels input)" if num_classes else \
            " (a denoiser with a labels input needs num_classes)"
        raise errors.invalid(owner, "denoiser", expected + hint, f"model {denoiser.name!r} with {len(inputs)} inputs")
    image_shape = tuple(inputs[0].shape[1:])
    if len(image_shape) != 3 or None in image_shape:
        raise errors.invalid(owner, "denoiser", expected + " with a known image shape",
                             f"model {denoiser.name!r} with input shape {tuple(inputs[0].shape)}")
    if len(outputs) != 1 or tuple(outputs[0].shape[1:]) != image_shape:
        raise errors.invalid(owner, "denoiser", expected, f"model {denoiser.name!r} with output shapes "
                             f"{[tuple(o.shape) for o in outputs]}")
    return tuple(int(d) for d in image_shape)
