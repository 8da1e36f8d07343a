"""GANs on images: DCGAN (Radford et al., "Unsupervised Representation Learning with Deep Convolutional Generative
Adversarial Networks", ICLR 2016), WGAN-GP (Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017)
and a class-conditional GAN (Mirza and Osindero, "Conditional Generative Adversarial Nets", 2014) whose
discriminator is a projection discriminator (Miyato and Koyama, "cGANs with Projection Discriminator", ICLR 2018).

One builder makes both networks; the registered variants only change its defaults. Each returns an uncompiled
`kerakit.models.gan.GAN`: `model.compile(optimizer=...)` then `model.fit(images_in_0_1)`.

- Generator: latent vector (and, when conditional, a label embedding concatenated to it) -> Dense to a small
  `widths[0]`-channel map -> per width, a stride-2 4x4 transposed convolution, batch norm, ReLU (each doubles the
  image) -> 3x3 convolution to the image's channels, `tanh`. The image's height and width must be the start size
  times `2 ** len(generator_widths)`.
- Discriminator: per width, a stride-2 4x4 convolution, normalisation (none on the first, as in DCGAN), LeakyReLU
  0.2 -> flatten -> one logit; when conditional, plus the inner product of a label embedding with the features
  (the projection). `discriminator_norm`: `"batch"` (DCGAN), `"layer"` over each example's whole feature map (the
  WGAN-GP critic: batch norm would break the per-example gradient penalty), `"spectral"` (Keras's
  `SpectralNormalization` around every convolution, the output layer and the label embedding; Miyato et al. 2018)
  or `None`. Keras's `SpectralNormalization` writes the normalised kernel back in training; on JAX the
  discriminator's gradient also flows through the normalisation, on TensorFlow it does not (as in Keras's own
  trainers).
"""

import inspect
import textwrap

from kerakit import errors
from kerakit.registry import blueprint, variant_of

NORMS = ("batch", "layer", "spectral", None)
_TINY = {"input_shape": (8, 8, 1), "latent_dim": 4, "generator_widths": (4,), "discriminator_widths": (4,)}


_ARGUMENTS = {
    "input_shape": "tuple. The image shape `(H, W, C)`; H and W must be divisible by `2 ** len(generator_widths)`.",
    "latent_dim": "int. Size of the generator's latent vector.",
    "generator_widths": "sequence of int. Channels of the generator's start map and of each doubling stage.",
    "discriminator_widths": "sequence of int. Channels of each stride-2 discriminator stage.",
    "discriminator_norm": "str or None. `\"batch\"`, `\"layer\"`, `\"spectral\"` or `None`.",
    "loss": "str. `\"non_saturating\"`, `\"wasserstein_gp\"` or `\"hinge\"`.",
    "critic_steps": "int. Discriminator updates per generator update.",
    "gradient_penalty_weight": "float. WGAN-GP's penalty weight (only with `loss=\"wasserstein_gp\"`).",
    "num_classes": "int or None. Classes of a class-conditional GAN, `None` for an unconditional one.",
    "seed": "int or None. Seed of the training noise.",
    "name": "str. Model name; the networks are `f\"{name}_generator\"` and `f\"{name}_discriminator\"`.",
}


def _document(fn):
    """Fills the `{ARGS}` placeholder of `fn`'s docstring from its signature (the defaults cannot drift)."""
    if fn.__doc__:  # None under `python -OO`
        lines = ["    Args:"]
        for argument, parameter in inspect.signature(fn).parameters.items():
            default = parameter.default
            shown = (f'"{default}"' if isinstance(default, str) else repr(default)).replace(" ", "\0")  # unbroken
            text = textwrap.fill(f"{argument}: {_ARGUMENTS[argument]} Defaults to `{shown}`.", width=116,
                                 initial_indent=" " * 8, subsequent_indent=" " * 12)
            lines.append(text.replace("\0", " "))
        fn.__doc__ = fn.__doc__.replace("    {ARGS}", "\n".join(lines))
    return fn


def _generator(image_shape, latent_dim, widths, num_classes, name):
    """Latent (and label) -> image in [-1, 1], by transposed convolutions that each double the image."""
    import keras

    height, width, channels = image_shape
    start = (height >> len(widths), width >> len(widths))
    latent = keras.Input((latent_dim,), name=f"{name}_latent")
    inputs, x = [latent], latent
    if num_classes:
        label = keras.Input((), dtype="int32", name=f"{name}_label")
        embedded = keras.layers.Embedding(num_classes, latent_dim, name=f"{name}_label_embedding")(label)
        x = keras.layers.Concatenate(name=f"{name}_latent_and_label")([latent, embedded])
        inputs.append(label)
    x = keras.layers.Dense(start[0] * start[1] * widths[0], use_bias=False, name=f"{name}_project")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_project_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_project_relu")(x)
    x = keras.layers.Reshape((*start, widths[0]), name=f"{name}_reshape")(x)
    for i, filters in enumerate(widths, start=1):
        x = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False,
                                         name=f"{name}_up{i}_deconv")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_up{i}_bn")(x)
        x = keras.layers.ReLU(name=f"{name}_up{i}_relu")(x)
    outputs = keras.layers.Conv2D(channels, 3, padding="same", activation="tanh", name=f"{name}_output")(x)
    return keras.Model(inputs if num_classes else latent, outputs, name=name)


def _discriminator(image_shape, widths, norm, num_classes, name):
    """Image (and label) -> one logit, by stride-2 convolutions; a projection of the label when conditional."""
    import keras

    def spectral(layer):
        return keras.layers.SpectralNormalization(layer, name=f"{layer.name}_sn") if norm == "spectral" else layer

    image = keras.Input(image_shape, name=f"{name}_image")
    x = image
    for i, filters in enumerate(widths, start=1):
        x = spectral(keras.layers.Conv2D(filters, 4, strides=2, padding="same", name=f"{name}_down{i}_conv"))(x)
        if i > 1 and norm == "batch":
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_down{i}_bn")(x)
        elif i > 1 and norm == "layer":
            x = keras.layers.LayerNormalization(axis=(-3, -2, -1), name=f"{name}_down{i}_ln")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"{name}_down{i}_lrelu")(x)
    features = keras.layers.Flatten(name=f"{name}_flatten")(x)
    logit = spectral(keras.layers.Dense(1, name=f"{name}_logit"))(features)
    if not num_classes:
        return keras.Model(image, logit, name=name)
    label = keras.Input((), dtype="int32", name=f"{name}_label")
    embedded = spectral(keras.layers.Embedding(num_classes, features.shape[-1], name=f"{name}_label_embedding"))(
        label)
    projection = keras.layers.Dot(axes=1, name=f"{name}_projection")([embedded, features])
    logit = keras.layers.Add(name=f"{name}_output")([logit, projection])
    return keras.Model([image, label], logit, name=name)


@_document
def _gan(
    input_shape=(8, 8, 1),
    latent_dim=64,
    generator_widths=(128, 64),
    discriminator_widths=(64, 128),
    discriminator_norm="batch",
    loss="non_saturating",
    critic_steps=1,
    gradient_penalty_weight=10.0,
    num_classes=None,
    seed=None,
    name="dcgan",
):
    """Builds the generator, the discriminator and the `GAN` that trains them (see the module docstring).

    {ARGS}
    """
    owner = name if isinstance(name, str) else "gan"
    from kerakit.models import gan as gan_module

    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    latent_dim = errors.check_int(owner, "latent_dim", latent_dim)
    generator_widths = errors.check_int_sequence(owner, "generator_widths", generator_widths)
    discriminator_widths = errors.check_int_sequence(owner, "discriminator_widths", discriminator_widths)
    errors.check_choice(owner, "discriminator_norm", discriminator_norm, NORMS)
    loss, critic_steps, gradient_penalty_weight, num_classes = gan_module.check_arguments(
        owner, loss, critic_steps, gradient_penalty_weight, num_classes)
    if seed is not None:
        errors.check_int(owner, "seed", seed, minimum=0)
    if None in input_shape[:2]:
        raise errors.invalid(owner, "input_shape", "a fully known image shape (H, W, C)", input_shape)
    factor = 2 ** len(generator_widths)
    if input_shape[0] % factor or input_shape[1] % factor:
        raise errors.invalid(owner, "input_shape", f"an image whose height and width are divisible by {factor} (the "
                             f"generator doubles its start map {len(generator_widths)} times, once per "
                             "generator_widths entry: use fewer widths or another image size)", input_shape)

    generator = _generator(input_shape, latent_dim, generator_widths, num_classes, f"{name}_generator")
    discriminator = _discriminator(input_shape, discriminator_widths, discriminator_norm, num_classes,
                                   f"{name}_discriminator")
    return gan_module.GAN(generator, discriminator, latent_dim=latent_dim, loss=loss, critic_steps=critic_steps,
                          gradient_penalty_weight=gradient_penalty_weight, num_classes=num_classes, seed=seed,
                          name=name)


@blueprint(family="generative", task="generation", tiny=_TINY)
@_document
@variant_of(_gan, hide=("num_classes",))
def dcgan(**kwargs):
    """DCGAN (Radford et al. 2016): transposed-convolution generator with batch norm, strided-convolution
    discriminator with LeakyReLU, non-saturating loss.

    Unconditional (`conditional_gan` takes labels).

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("dcgan", input_shape=(8, 8, 1), latent_dim=8, generator_widths=(16, 8),
                          discriminator_widths=(8, 16))
    model.generator.output_shape  # (None, 8, 8, 1)
    model.discriminator.output_shape  # (None, 1)
    model.generate(2, seed=0).shape  # (2, 8, 8, 1)
    ```
    """
    return _gan(**{"name": "dcgan", **kwargs})


@blueprint(family="generative", task="generation", tiny={**_TINY, "critic_steps": 2})
@_document
@variant_of(_gan, hide=("num_classes",), discriminator_norm="layer", loss="wasserstein_gp", critic_steps=5,
            name="wgan_gp")
def wgan_gp(**kwargs):
    """WGAN-GP (Gulrajani et al. 2017): the DCGAN networks with a layer-normalised critic (no batch norm), the
    Wasserstein loss with gradient penalty (weight 10) and 5 critic steps per generator step.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("wgan_gp", input_shape=(28, 28, 1), latent_dim=8, generator_widths=(8, 4),
                          discriminator_widths=(4, 8))
    model.generator.output_shape  # (None, 28, 28, 1)
    (model.adversarial_loss, model.critic_steps)  # ('wasserstein_gp', 5)
    ```
    """
    return _gan(**{"discriminator_norm": "layer", "loss": "wasserstein_gp", "critic_steps": 5, "name": "wgan_gp",
                   **kwargs})


@blueprint(family="generative", task="generation", tiny={**_TINY, "num_classes": 3})
@_document
@variant_of(_gan, num_classes=10, name="conditional_gan")
def conditional_gan(**kwargs):
    """Class-conditional GAN (Mirza and Osindero 2014): the generator takes `[z, label]` (a label embedding joins
    the latent), the discriminator `[image, label]` (a projection discriminator, Miyato and Koyama 2018).

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("conditional_gan", input_shape=(8, 8, 1), num_classes=10, latent_dim=8,
                          generator_widths=(16, 8), discriminator_widths=(8, 16))
    [tuple(i.shape) for i in model.generator.inputs]  # [(None, 8), (None,)]
    model.generate(3, seed=0, labels=[7, 7, 1]).shape  # (3, 8, 8, 1)
    ```
    """
    return _gan(**{"num_classes": 10, "name": "conditional_gan", **kwargs})
