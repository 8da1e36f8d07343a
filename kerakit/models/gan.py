"""Generative adversarial networks trained by plain `fit`, with two optimizers, on TensorFlow and JAX.

- Non-saturating loss (Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014), as in DCGAN (Radford et al.,
  "Unsupervised Representation Learning with Deep Convolutional Generative Adversarial Networks", ICLR 2016):
  `d_loss = softplus(-D(x)) + softplus(D(G(z)))`, `g_loss = softplus(-D(G(z)))` (means over the batch, D gives
  logits).
- Wasserstein loss with gradient penalty (Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017):
  `d_loss = D(G(z)) - D(x) + weight * (||grad D(x_hat)||_2 - 1)^2` at random interpolates `x_hat` of real and fake
  images, `g_loss = -D(G(z))`, several critic steps per generator step.
- Hinge loss (Lim and Ye, "Geometric GAN", 2017; Miyato et al., "Spectral Normalization for Generative Adversarial
  Networks", ICLR 2018): `d_loss = relu(1 - D(x)) + relu(1 + D(G(z)))`, `g_loss = -D(G(z))`.
- Class-conditional (Mirza and Osindero, "Conditional Generative Adversarial Nets", 2014): the generator takes
  `[z, label]`, the discriminator `[image, label]`.

Images come in [0, 1] and are rescaled to [-1, 1] inside the model (the generator ends in `tanh`); everything the
model returns is in [0, 1]. The step is written once; `kerakit.models._backend` holds the little that differs
between TensorFlow and JAX (gradients, the stateless plumbing of Keras's JAX trainer).
"""

import keras
import numpy as np
from keras import ops

from kerakit import errors
from kerakit.models import _backend

LOSSES = ("non_saturating", "wasserstein_gp", "hinge")


def discriminator_loss(loss, real_logits, fake_logits):
    """The discriminator's (critic's) loss on real and generated examples, without any gradient penalty.

    Args:
        loss: str. `"non_saturating"`, `"wasserstein_gp"` or `"hinge"` (see the module docstring).
        real_logits: tensor. The discriminator's outputs (logits, or critic scores) on real examples.
        fake_logits: tensor. Its outputs on generated examples.

    Returns:
        tensor: a scalar, the mean over the batch.

    Example:

    ```python
    from kerakit.models.gan import discriminator_loss
    float(discriminator_loss("hinge", [[2.0], [0.5]], [[-2.0], [0.0]]))  # 0.75
    ```
    """
    errors.check_choice("discriminator_loss", "loss", loss, LOSSES)
    real_logits = ops.convert_to_tensor(real_logits, "float32")
    fake_logits = ops.convert_to_tensor(fake_logits, "float32")
    if loss == "non_saturating":
        return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))
    if loss == "hinge":
        return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))
    return ops.mean(fake_logits) - ops.mean(real_logits)


def generator_loss(loss, fake_logits):
    """The generator's loss on the discriminator's outputs for generated examples.

    Args:
        loss: str. `"non_saturating"` (`softplus(-D(G(z)))`, i.e. `-log sigmoid`), `"wasserstein_gp"` or `"hinge"`
            (both `-D(G(z))`).
        fake_logits: tensor. The discriminator's outputs on generated examples.

    Returns:
        tensor: a scalar, the mean over the batch.

    Example:

    ```python
    from kerakit.models.gan import generator_loss
    float(generator_loss("hinge", [[1.0], [3.0]]))  # -2.0
    ```
    """
    errors.check_choice("generator_loss", "loss", loss, LOSSES)
    fake_logits = ops.convert_to_tensor(fake_logits, "float32")
    if loss == "non_saturating":
        return ops.mean(ops.softplus(-fake_logits))
    return -ops.mean(fake_logits)


def gradient_penalty(critic, real, fake, epsilon):
    """WGAN-GP's penalty `mean((||grad critic(x_hat)||_2 - 1)^2)` at `x_hat = epsilon * real + (1 - epsilon) * fake`.

    The gradient norm is taken over every axis but the batch's. The penalty is differentiable with respect to the
    critic's weights (it is trained through: double backpropagation), on TensorFlow and JAX.

    Args:
        critic: callable. Maps a batch of examples to scores of shape `(batch, 1)`.
        real: tensor. Real examples.
        fake: tensor. Generated examples, shaped like `real`.
        epsilon: tensor. Interpolation weights in [0, 1], broadcastable to `real` (one per example).

    Returns:
        tensor: a scalar, not yet multiplied by the penalty weight.

    Example:

    ```python
    import numpy as np
    from kerakit.models.gan import gradient_penalty
    x = np.ones((4, 3), "float32")
    critic = lambda t: 2.0 * t[:, :1]  # gradient norm 2 everywhere
    float(gradient_penalty(critic, x, -x, np.full((4, 1), 0.5, "float32")))  # 1.0
    ```
    """
    real = ops.convert_to_tensor(real, "float32")
    fake = ops.convert_to_tensor(fake, "float32")
    interpolates = epsilon * real + (1.0 - epsilon) * fake
    gradients = _backend.input_gradients(critic, interpolates)
    axes = tuple(range(1, len(gradients.shape)))
    norms = ops.sqrt(ops.sum(ops.square(gradients), axis=axes) + 1e-12)
    return ops.mean(ops.square(norms - 1.0))


def check_arguments(owner, loss, critic_steps, gradient_penalty_weight, num_classes):
    """Checks the GAN's training arguments (used by `GAN` and by the blueprints, before they build anything).

    Returns:
        tuple: `(loss, critic_steps, gradient_penalty_weight, num_classes)`, normalised.
    """
    errors.check_choice(owner, "loss", loss, LOSSES)
    critic_steps = errors.check_int(owner, "critic_steps", critic_steps)
    gradient_penalty_weight = errors.check_positive_float(owner, "gradient_penalty_weight", gradient_penalty_weight)
    if num_classes is not None:
        num_classes = errors.check_int(owner, "num_classes", num_classes, minimum=2)
    return loss, critic_steps, gradient_penalty_weight, num_classes


class _Optimizers:
    """What `model.optimizer` is for a GAN: the discriminator's and the generator's optimizers as one.

    Keras's trainers read `variables` (the JAX trainer carries them through its stateless step), `built` and
    `build`; its callbacks (`ReduceLROnPlateau`, `LearningRateScheduler`, `TensorBoard`, `SwapEMAWeights`) handle
    an optimizer with an `optimizers` list, one learning rate each. `iterations` counts generator steps.
    """

    def __init__(self, model, d_optimizer, g_optimizer):
        self._model = model
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    @property
    def optimizers(self):
        return [self.d_optimizer, self.g_optimizer]

    @property
    def variables(self):
        return self.d_optimizer.variables + self.g_optimizer.variables

    @property
    def built(self):
        return self.d_optimizer.built and self.g_optimizer.built

    def build(self, variables=None):
        """Builds each optimizer on its own network's trainable variables (`variables` is ignored)."""
        del variables
        if not self.d_optimizer.built:
            self.d_optimizer.build(self._model.discriminator.trainable_variables)
        if not self.g_optimizer.built:
            self.g_optimizer.build(self._model.generator.trainable_variables)

    @property
    def iterations(self):
        return self.g_optimizer.iterations

    def finalize_variable_values(self, variables=None):
        """Copies the weight averages into each network where its optimizer keeps them (`use_ema=True`)."""
        del variables
        for optimizer, network in ((self.d_optimizer, self._model.discriminator),
                                   (self.g_optimizer, self._model.generator)):
            if getattr(optimizer, "use_ema", False):
                optimizer.finalize_variable_values(network.trainable_variables)
                _backend.unshare_averaged_weights(optimizer, network.trainable_variables)


def _input_shapes(owner, argument, network):
    inputs = getattr(network, "inputs", None)
    if not isinstance(network, keras.Model) or not inputs:
        raise errors.invalid(owner, argument, "a built functional keras.Model (made with keras.Input)", network)
    return [tuple(i.shape) for i in inputs]


def _check_networks(owner, generator, discriminator, latent_dim, num_classes):
    """Checks the two networks against each other; returns `(latent_dim, image_shape)`."""
    count = 2 if num_classes else 1
    conditional = " (num_classes is set)" if num_classes else " (num_classes is None)"
    g_inputs = _input_shapes(owner, "generator", generator)
    d_inputs = _input_shapes(owner, "discriminator", discriminator)
    if len(g_inputs) != count or len(g_inputs[0]) != 2 or not isinstance(g_inputs[0][1], int):
        expected = "[latent, label] inputs" if num_classes else "one input"
        raise errors.invalid(owner, "generator", f"a model with {expected}, the latent of shape (batch, latent_dim)"
                             f"{conditional}", f"{generator.name} with inputs {g_inputs}")
    if latent_dim is not None and g_inputs[0][1] != latent_dim:
        raise errors.invalid(owner, "latent_dim", f"{g_inputs[0][1]}, the generator's latent size, or None",
                             latent_dim)
    outputs = getattr(generator, "outputs", None) or []
    image_shape = tuple(outputs[0].shape[1:]) if len(outputs) == 1 else ()
    if not image_shape or not all(isinstance(d, int) for d in image_shape):
        raise errors.invalid(owner, "generator", "a model with one output of known shape (batch, H, W, C)",
                             generator.name)
    if len(d_inputs) != count or d_inputs[0][1:] != image_shape:
        expected = "[image, label] inputs" if num_classes else "one input"
        raise errors.invalid(owner, "discriminator", f"a model with {expected}, the image of shape {image_shape} "
                             f"(the generator's output){conditional}", f"{discriminator.name} with inputs {d_inputs}")
    for argument, network, shapes in (("generator", generator, g_inputs), ("discriminator", discriminator, d_inputs)):
        if num_classes and shapes[1][1:] not in ((), (1,)):
            raise errors.invalid(owner, argument, "a model whose label input has shape (batch,) or (batch, 1)",
                                 f"{network.name} with inputs {shapes}")
    d_outputs = getattr(discriminator, "outputs", None) or []
    if len(d_outputs) != 1 or tuple(d_outputs[0].shape[1:]) != (1,):
        raise errors.invalid(owner, "discriminator", "a model with one output of shape (batch, 1) (a logit or "
                             "critic score per example)", discriminator.name)
    return g_inputs[0][1], image_shape


@keras.saving.register_keras_serializable(package="kerakit")
class GAN(keras.Model):
    """A generative adversarial network: a generator and a discriminator, each trained by its own optimizer.

    Trains by plain `fit` on images in [0, 1] (`(images, labels)` or `images` alone; labels are used only when
    `num_classes` is set), with callbacks, on TensorFlow and JAX. Each `fit` step runs `critic_steps` discriminator
    updates, each on fresh noise and the same real batch, then one generator update. The losses are described in
    the module docstring; `fit` logs `d_loss` (of the last critic step), `g_loss` and `loss = d_loss + g_loss`
    (NaN as soon as either is), averaged over the epoch; `evaluate` computes the same without updating anything.

    `compile(optimizer=...)` gives each network its own copy of `optimizer` (same class and configuration, a
    learning-rate schedule included); `compile(g_optimizer=..., d_optimizer=...)` sets them apart. `model.optimizer`
    stands for both (`model.optimizer.optimizers`, as Keras's learning-rate callbacks expect). A model saved after
    `compile` loads back compiled, with both optimizers' states.

    Args:
        generator: keras.Model. A functional model from a latent vector `(batch, latent_dim)` (and, when
            conditional, an integer label `(batch,)`) to images in [-1, 1] (end it in `tanh`).
        discriminator: keras.Model. A functional model from images (and the label) to one logit per image,
            shape `(batch, 1)`.
        latent_dim: int or None. The generator's latent size; `None` reads it from the generator. Defaults to
            `None`.
        loss: str. `"non_saturating"`, `"wasserstein_gp"` or `"hinge"`. Defaults to `"non_saturating"`.
        critic_steps: int. Discriminator updates per generator update (5 in WGAN-GP). Defaults to `1`.
        gradient_penalty_weight: float. The weight of WGAN-GP's gradient penalty (only with
            `loss="wasserstein_gp"`). Defaults to `10.0`.
        num_classes: int or None. The number of classes of a class-conditional GAN; `None` for an unconditional
            one. Defaults to `None`.
        seed: int or None. Seed of the training noise. Defaults to `None` (drawn from Keras's global seed).
        **kwargs: passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    import keras
    import numpy as np
    from kerakit.models.gan import GAN

    generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="tanh"),
                                  keras.layers.Reshape((4, 4, 1))])
    discriminator = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    gan = GAN(generator, discriminator, loss="hinge")
    gan.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = gan.fit(np.random.default_rng(0).uniform(size=(32, 4, 4, 1)), batch_size=16, epochs=1, verbose=0)
    sorted(history.history)  # ['d_loss', 'g_loss', 'loss']
    gan.generate(3, seed=0).shape  # (3, 4, 4, 1)
    ```
    """

    def __init__(self, generator, discriminator, latent_dim=None, loss="non_saturating", critic_steps=1,
                 gradient_penalty_weight=10.0, num_classes=None, seed=None, **kwargs):
        owner = "GAN"
        if latent_dim is not None:
            latent_dim = errors.check_int(owner, "latent_dim", latent_dim)
        loss, critic_steps, gradient_penalty_weight, num_classes = check_arguments(
            owner, loss, critic_steps, gradient_penalty_weight, num_classes)
        if seed is not None:
            seed = errors.check_int(owner, "seed", seed, minimum=0)
        latent_dim, image_shape = _check_networks(owner, generator, discriminator, latent_dim, num_classes)
        kwargs.setdefault("name", "gan")
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self._latent_dim = latent_dim
        self._image_shape = image_shape
        self._num_classes = num_classes
        self.adversarial_loss = loss
        self.critic_steps = critic_steps
        self.gradient_penalty_weight = gradient_penalty_weight
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="noise_seed")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.g_optimizer = None
        self.d_optimizer = None
        self._compile_arguments = {}
        self.built = True

    # --- attributes of the generative-model contract -----------------------------------------------------------

    @property
    def latent_dim(self):
        """int. The size of the generator's latent vector."""
        return self._latent_dim

    @property
    def image_shape(self):
        """tuple. The shape of one image, `(H, W, C)`."""
        return self._image_shape

    @property
    def num_classes(self):
        """int or None. The number of classes when class-conditional, else `None`."""
        return self._num_classes

    @property
    def generating_network(self):
        """keras.Model. The generator (latent [, label] -> image in [-1, 1]), for export."""
        return self.generator

    @property
    def metrics(self):
        return [self.loss_tracker, self.d_loss_tracker, self.g_loss_tracker]

    # --- compile, fit ------------------------------------------------------------------------------------------

    def compile(self, optimizer=None, g_optimizer=None, d_optimizer=None, loss=None, metrics=None, **kwargs):
        """Sets the generator's and the discriminator's optimizers.

        Args:
            optimizer: str, keras.optimizers.Optimizer or None. Each network gets its own copy (its class and
                configuration, a learning-rate schedule included) unless `g_optimizer` / `d_optimizer` is given.
            g_optimizer: str, keras.optimizers.Optimizer or None. The generator's optimizer.
            d_optimizer: str, keras.optimizers.Optimizer or None. The discriminator's optimizer.
            loss: must be `None`: the model computes its own losses.
            metrics: must be `None`.
            **kwargs: `jit_compile`, `run_eagerly`, `steps_per_execution`, as in `keras.Model.compile`.
        """
        owner = "GAN.compile"
        if loss is not None:
            raise errors.invalid(owner, "loss", f"None (the GAN computes its {self.adversarial_loss!r} loss; choose "
                                 "it with GAN(loss=...))", loss)
        if metrics is not None:
            raise errors.invalid(owner, "metrics", "None (the GAN logs d_loss, g_loss and loss)", metrics)
        if optimizer is None and (g_optimizer is None or d_optimizer is None):
            raise errors.invalid(owner, "optimizer", "an optimizer (or both g_optimizer and d_optimizer)", optimizer)
        g_optimizer = self._resolve_optimizer(owner, "g_optimizer", g_optimizer, optimizer, "generator_optimizer")
        d_optimizer = self._resolve_optimizer(owner, "d_optimizer", d_optimizer, optimizer, "discriminator_optimizer")
        if g_optimizer is d_optimizer:
            raise errors.invalid(owner, "d_optimizer", "a different optimizer object from g_optimizer (each network "
                                 "needs its own state)", d_optimizer)
        super().compile(optimizer=None, auto_scale_loss=False, **kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.optimizer = _Optimizers(self, d_optimizer, g_optimizer)
        self.optimizer.build()  # now, so that a model saved before training loads its optimizers' state back
        self._compile_arguments = dict(kwargs)

    @staticmethod
    def _resolve_optimizer(owner, argument, given, shared, name):
        source = given if given is not None else shared
        try:
            optimizer = keras.optimizers.get(source)
        except (ValueError, TypeError):
            raise errors.invalid(owner, argument, "a Keras optimizer or its name", source) from None
        if given is None:  # a copy of the shared optimizer: same class, same configuration, own state
            config = optimizer.get_config()
            config["name"] = name
            optimizer = optimizer.__class__.from_config(config)
        return optimizer

    def get_compile_config(self):
        if not self.compiled or self.g_optimizer is None:
            return {}
        return {
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            **self._compile_arguments,
        }

    def compile_from_config(self, config):
        if not config:
            return
        config = dict(config)
        g_optimizer = keras.saving.deserialize_keras_object(config.pop("g_optimizer"))
        d_optimizer = keras.saving.deserialize_keras_object(config.pop("d_optimizer"))
        self.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer, **config)  # builds them: their state loads next

    def fit(self, *args, **kwargs):
        history = super().fit(*args, **kwargs)
        self.optimizer.finalize_variable_values()  # Keras does this only for a single keras Optimizer
        return history

    # --- the step, written once for both backends ----------------------------------------------------------------

    def call(self, inputs, training=False):
        """Images in [0, 1] from latent vectors (and labels, when conditional): `[z, labels]`."""
        images = self.generator(inputs, training=training)
        return ops.clip((images + 1.0) / 2.0, 0.0, 1.0)

    def train_step(self, *args):
        return _backend.train_step(self, self._train_step, *args)

    def test_step(self, *args):
        return _backend.test_step(self, self._test_step, *args)

    def _unpack(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = ops.cast(x, "float32") * 2.0 - 1.0
        if not self._num_classes:
            return real, None
        if y is None:
            raise errors.KerakitError(f"{self.name}: a class-conditional GAN trains on (images, labels); the data "
                                      "has no labels.")
        return real, ops.reshape(ops.cast(y, "int32"), (-1,))

    def _noise(self, real):
        return keras.random.normal((ops.shape(real)[0], self._latent_dim), seed=self.seed_generator)

    @staticmethod
    def _with_labels(network, x, labels):
        """`x`, or `[x, labels]` shaped and typed as the network's label input ((batch,) or (batch, 1))."""
        if labels is None:
            return x
        label_input = network.inputs[1]
        return [x, ops.cast(ops.reshape(labels, (-1, *label_input.shape[1:])), label_input.dtype)]

    def _generate(self, z, labels, training):
        return self.generator(self._with_labels(self.generator, z, labels), training=training)

    def _discriminate(self, images, labels, training):
        return self.discriminator(self._with_labels(self.discriminator, images, labels), training=training)

    def _discriminator_loss(self, real, fake, labels, training):
        loss = discriminator_loss(self.adversarial_loss, self._discriminate(real, labels, training),
                                  self._discriminate(fake, labels, training))
        if self.adversarial_loss == "wasserstein_gp":
            epsilon = keras.random.uniform((ops.shape(real)[0],) + (1,) * len(self._image_shape),
                                           seed=self.seed_generator)
            penalty = gradient_penalty(lambda x: self._discriminate(x, labels, training), real, fake, epsilon)
            loss = loss + self.gradient_penalty_weight * penalty
        return loss

    def _generator_loss(self, z, labels, training):
        return generator_loss(self.adversarial_loss,
                              self._discriminate(self._generate(z, labels, training), labels, training))

    def _train_step(self, data):
        real, labels = self._unpack(data)
        d_variables = self.discriminator.trainable_variables
        g_variables = self.generator.trainable_variables
        for _ in range(self.critic_steps):
            fake = ops.stop_gradient(self._generate(self._noise(real), labels, training=True))
            d_loss, gradients = _backend.value_and_gradients(
                lambda fake=fake: self._discriminator_loss(real, fake, labels, training=True), d_variables)
            self.d_optimizer.apply(gradients, d_variables)
        z = self._noise(real)
        g_loss, gradients = _backend.value_and_gradients(lambda: self._generator_loss(z, labels, training=True),
                                                         g_variables)
        self.g_optimizer.apply(gradients, g_variables)
        return self._update_trackers(d_loss, g_loss)

    def _test_step(self, data):
        real, labels = self._unpack(data)
        fake = self._generate(self._noise(real), labels, training=False)
        d_loss = self._discriminator_loss(real, fake, labels, training=False)
        g_loss = self._generator_loss(self._noise(real), labels, training=False)
        return self._update_trackers(d_loss, g_loss)

    def _update_trackers(self, d_loss, g_loss):
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.loss_tracker.update_state(d_loss + g_loss)
        return {m.name: m.result() for m in self.metrics}

    # --- sampling ------------------------------------------------------------------------------------------------

    def generate(self, n, seed=None, labels=None, batch_size=256):
        """Draws `n` images in [0, 1] with the generator in inference mode (through `predict`: compiled).

        Args:
            n: int. How many images.
            seed: int or None. Seed of the latent noise (a NumPy generator): the same seed gives the same images.
                Defaults to `None` (fresh noise).
            labels: sequence of int or None. The class of each image, length `n`, for a class-conditional GAN;
                `None` cycles through the classes (0, 1, ..., num_classes - 1, 0, ...). Must be `None` for an
                unconditional GAN. Defaults to `None`.
            batch_size: int. Images per `predict` batch. Defaults to `256`.

        Returns:
            np.ndarray: float32, shape `(n, H, W, C)`, values in [0, 1].
        """
        owner = f"{self.name}.generate"
        n = errors.check_int(owner, "n", n)
        if seed is not None:
            seed = errors.check_int(owner, "seed", seed, minimum=0)
        batch_size = errors.check_int(owner, "batch_size", batch_size)
        labels = self._check_labels(owner, labels, n)
        z = np.random.default_rng(seed).standard_normal((n, self._latent_dim)).astype("float32")
        if labels is not None:
            label_input = self.generator.inputs[1]
            labels = labels.reshape((n, *label_input.shape[1:])).astype(label_input.dtype)
        images = self.generator.predict(z if labels is None else [z, labels], batch_size=min(n, batch_size),
                                        verbose=0)
        return np.clip((np.asarray(images, "float32") + 1.0) / 2.0, 0.0, 1.0)

    def _check_labels(self, owner, labels, n):
        if not self._num_classes:
            if labels is not None:
                raise errors.invalid(owner, "labels", "None (the GAN is not class-conditional)", labels)
            return None
        if labels is None:
            return (np.arange(n) % self._num_classes).astype("int32")
        expected = f"{n} integer class ids in [0, {self._num_classes})"
        values = np.asarray(labels)
        if values.shape != (n,) or not (np.issubdtype(values.dtype, np.integer) or values.dtype == bool):
            raise errors.invalid(owner, "labels", expected, labels)
        if values.size and (values.min() < 0 or values.max() >= self._num_classes):
            raise errors.invalid(owner, "labels", expected, labels)
        return values.astype("int32")

    # --- serialization -------------------------------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self._latent_dim,
            "loss": self.adversarial_loss,
            "critic_steps": self.critic_steps,
            "gradient_penalty_weight": self.gradient_penalty_weight,
            "num_classes": self._num_classes,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
