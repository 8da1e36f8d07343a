"""Autoencoders: plain, denoising and sparse, dense or convolutional, image -> image in [0, 1].

- The autoencoder (Hinton and Salakhutdinov, "Reducing the Dimensionality of Data with Neural Networks", Science
  2006): an encoder to a `latent_dim` code, a decoder back to the image, trained to give back its input.
- Denoising (Vincent, Larochelle, Bengio and Manzagol, "Extracting and Composing Robust Features with Denoising
  Autoencoders", ICML 2008): the input is corrupted in training only (additive Gaussian noise, or Keras `Dropout`
  as masking noise) and the network learns to give back the clean image.
- Sparse (Ranzato, Poultney, Chopra and LeCun, "Efficient Learning of Sparse Representations with an Energy-Based
  Model", NIPS 2006; Ng, "Sparse autoencoder", CS294A lecture notes, 2011): an L1 penalty on the code's activations
  (Keras's `activity_regularizer`), here in place of Ng's KL-to-a-target-rate penalty.

Every variant is one builder, `_autoencoder`; the encoder and decoder bodies (`encoder_features`, `decoder_images`)
are shared with the VAEs of `blueprints/generative/vae.py`. Dense: `Flatten -> Dense(hidden_units...) -> code`, and
back through the hidden sizes in reverse to a sigmoid `Dense` of every pixel. Convolutional: 3x3 stride-2 "same"
convolutions (`filters`), flatten, the dense layers, the code; back through a dense projection, 3x3 stride-2
transposed convolutions (the filters in reverse) and a sigmoid 3x3 convolution to the image's channels. The image's
height and width must be divisible by `2 ** len(filters)`.
"""

import math

from kerakit import errors
from kerakit.registry import blueprint

KINDS = ("dense", "conv")
NOISES = ("gaussian", "dropout")

_COMMON_ARGS = """input_shape: tuple. Shape of one image `(H, W, C)`, values in [0, 1] (any fully known shape for
            `kind="dense"`). Defaults to `(8, 8, 1)`, the bundled digits.
        kind: str. `"dense"` or `"conv"` (convolutional). Defaults to `"dense"`.
        latent_dim: int. Size of the code. Defaults to `16`.
        hidden_units: sequence of int. Dense layers between the (flattened) features and the code, mirrored in the
            decoder. Defaults to `(64,)`.
        filters: sequence of int. Filters of the stride-2 convolutions, mirrored by the decoder's transposed
            convolutions; `kind="conv"` only. Defaults to `(16, 32)`.
        activation: str. Activation of the hidden layers and the code. Defaults to `"relu"`."""


def _with_common_args(fn):
    fn.__doc__ = fn.__doc__.replace("{COMMON_ARGS}", _COMMON_ARGS)
    return fn


def check_body_arguments(owner, input_shape, kind, latent_dim, hidden_units, filters, activation):
    """Checks the arguments shared by the autoencoders and VAEs; returns the normalised ones. `filters=None`: a
    dense-only builder, with no `filters` argument."""
    errors.check_choice(owner, "kind", kind, KINDS)
    input_shape = errors.check_input_shape(owner, input_shape, rank=3 if kind == "conv" else None)
    if not input_shape or None in input_shape:
        raise errors.invalid(owner, "input_shape", "a tuple of known positive sizes", input_shape)
    latent_dim = errors.check_int(owner, "latent_dim", latent_dim)
    hidden_units = errors.check_int_sequence(owner, "hidden_units", hidden_units, allow_empty=True)
    filters = () if filters is None else errors.check_int_sequence(owner, "filters", filters)
    errors.check_activation(owner, "activation", activation)
    if kind == "conv":
        factor = 2 ** len(filters)
        if input_shape[0] % factor or input_shape[1] % factor:
            raise errors.invalid(owner, "input_shape", f"an image whose height and width are divisible by {factor} "
                                 f"(one halving per stride-2 convolution, filters={filters})", input_shape)
    return input_shape, latent_dim, hidden_units, filters


def encoder_features(x, kind, hidden_units, filters, activation, name):
    """The encoder's body: (stride-2 convolutions,) flatten, dense layers. Returns flat features."""
    import keras

    if kind == "conv":
        for i, f in enumerate(filters, start=1):
            x = keras.layers.Conv2D(f, 3, strides=2, padding="same", activation=activation, name=f"{name}_conv{i}")(x)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    for i, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, activation=activation, name=f"{name}_dense{i}")(x)
    return x


def decoder_images(z, image_shape, kind, hidden_units, filters, activation, name):
    """The decoder's body, the encoder's mirror: dense layers, (projection and transposed convolutions,) a sigmoid
    output of shape `image_shape`."""
    import keras

    x = z
    for i in range(len(hidden_units), 0, -1):
        x = keras.layers.Dense(hidden_units[i - 1], activation=activation, name=f"{name}_dense{i}")(x)
    if kind == "conv":
        factor = 2 ** len(filters)
        grid = (image_shape[0] // factor, image_shape[1] // factor, filters[-1])
        x = keras.layers.Dense(math.prod(grid), activation=activation, name=f"{name}_project")(x)
        x = keras.layers.Reshape(grid, name=f"{name}_reshape")(x)
        for i in range(len(filters), 0, -1):
            x = keras.layers.Conv2DTranspose(filters[i - 1], 3, strides=2, padding="same", activation=activation,
                                             name=f"{name}_deconv{i}")(x)
        return keras.layers.Conv2D(image_shape[-1], 3, padding="same", activation="sigmoid", name=f"{name}_output")(x)
    x = keras.layers.Dense(math.prod(image_shape), activation="sigmoid", name=f"{name}_output")(x)
    return keras.layers.Reshape(image_shape, name=f"{name}_reshape")(x)


def _autoencoder(owner, input_shape, kind, latent_dim, hidden_units, filters, activation, name, noise=None,
                 noise_level=None, seed=None, sparsity_weight=None):
    """The one autoencoder builder: checks everything, then `input -> (corruption) -> encoder -> code -> decoder`.

    `owner` is the variant: `"denoising_autoencoder"` checks and uses `noise`, `noise_level` and `seed`,
    `"sparse_autoencoder"` checks and uses `sparsity_weight`; the plain `"autoencoder"` has neither.
    """
    input_shape, latent_dim, hidden_units, filters = check_body_arguments(
        owner, input_shape, kind, latent_dim, hidden_units, filters, activation)
    if owner == "denoising_autoencoder":
        errors.check_choice(owner, "noise", noise, NOISES)
        if noise == "dropout":
            if errors.check_rate(owner, "noise_level", noise_level) == 0.0:
                raise errors.invalid(owner, "noise_level", "a dropout rate in (0, 1)", noise_level)
        else:
            errors.check_positive_float(owner, "noise_level", noise_level)
        if seed is not None:
            errors.check_int(owner, "seed", seed, minimum=0)
    if owner == "sparse_autoencoder":
        errors.check_positive_float(owner, "sparsity_weight", sparsity_weight)
    import keras

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    if noise == "gaussian":
        x = keras.layers.GaussianNoise(noise_level, seed=seed, name=f"{name}_noise")(x)
    elif noise == "dropout":
        x = keras.layers.Dropout(noise_level, seed=seed, name=f"{name}_noise")(x)
    x = encoder_features(x, kind, hidden_units, filters, activation, f"{name}_encoder")
    regularizer = None if sparsity_weight is None else keras.regularizers.L1(sparsity_weight)
    code = keras.layers.Dense(latent_dim, activation=activation, activity_regularizer=regularizer,
                              name=f"{name}_code")(x)
    outputs = decoder_images(code, input_shape, kind, hidden_units, filters, activation, f"{name}_decoder")
    return keras.Model(inputs, outputs, name=name)


@blueprint(family="generative", task="reconstruction", tiny={"latent_dim": 2, "hidden_units": (8,)})
@_with_common_args
def autoencoder(input_shape=(8, 8, 1), kind="dense", latent_dim=16, hidden_units=(64,), filters=(16, 32),
                activation="relu", name="autoencoder"):
    """An autoencoder, dense or convolutional: image -> code -> image in [0, 1] (Hinton and Salakhutdinov 2006).

    A functional model; the code is the output of the layer `f"{name}_code"`, so
    `keras.Model(model.input, model.get_layer(f"{name}_code").output)` is the encoder. Train it on `(x, x)` (the run
    does, with MSE).

    Args:
        {COMMON_ARGS}
        name: str. Model name and layer-name prefix. Defaults to `"autoencoder"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("autoencoder", input_shape=(28, 28, 1), kind="conv", latent_dim=8, filters=(4, 8))
    model.output_shape, model.get_layer("autoencoder_code").output.shape  # ((None, 28, 28, 1), (None, 8))
    ```
    """
    return _autoencoder("autoencoder", input_shape, kind, latent_dim, hidden_units, filters, activation, name)


@blueprint(family="generative", task="reconstruction",
           tiny={"kind": "conv", "latent_dim": 2, "hidden_units": (), "filters": (4,)})
@_with_common_args
def denoising_autoencoder(input_shape=(8, 8, 1), kind="dense", latent_dim=16, hidden_units=(64,), filters=(16, 32),
                          activation="relu", noise="gaussian", noise_level=0.2, seed=None,
                          name="denoising_autoencoder"):
    """A denoising autoencoder: the input is corrupted in training only (Vincent et al., ICML 2008).

    The corruption is the first layer, `f"{name}_noise"`: `GaussianNoise(noise_level)` (additive, standard deviation
    `noise_level`) or `Dropout(noise_level)` (masking noise: each pixel zeroed with probability `noise_level`; Keras
    scales the kept ones by `1 / (1 - noise_level)`, where the paper leaves them as they are). At inference the model
    sees the clean input, so it maps noisy images to clean ones once trained on `(x, x)`.

    Args:
        {COMMON_ARGS}
        noise: str. `"gaussian"` or `"dropout"`. Defaults to `"gaussian"`.
        noise_level: float. The noise's standard deviation (`"gaussian"`, > 0) or drop rate (`"dropout"`, in
            (0, 1)). Defaults to `0.2`.
        seed: int or None. Seed of the corruption. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"denoising_autoencoder"`.

    Example:

    ```python
    import numpy as np
    import kerakit
    model = kerakit.build("denoising_autoencoder", noise="dropout", noise_level=0.5, latent_dim=4, hidden_units=(8,))
    noise, x = model.get_layer("denoising_autoencoder_noise"), np.ones((1, 8, 8, 1), "float32")
    bool((np.asarray(noise(x, training=True)) == 0).any()), bool((np.asarray(noise(x)) == x).all())  # (True, True)
    ```
    """
    return _autoencoder("denoising_autoencoder", input_shape, kind, latent_dim, hidden_units, filters, activation, name,
                        noise=noise, noise_level=noise_level, seed=seed)


@blueprint(family="generative", task="reconstruction", tiny={"latent_dim": 2, "hidden_units": (8,)})
@_with_common_args
def sparse_autoencoder(input_shape=(8, 8, 1), kind="dense", latent_dim=16, hidden_units=(64,), filters=(16, 32),
                       activation="relu", sparsity_weight=1e-4, name="sparse_autoencoder"):
    """A sparse autoencoder: an L1 penalty on the code's activations (Ranzato et al. 2006; Ng's CS294A notes).

    The code layer `f"{name}_code"` carries `activity_regularizer=keras.regularizers.L1(sparsity_weight)`; Keras adds
    `sparsity_weight * sum(|code|) / batch_size` to the training loss (`model.losses` after a call).

    Args:
        {COMMON_ARGS}
        sparsity_weight: float. Weight of the L1 penalty, > 0. Defaults to `1e-4`.
        name: str. Model name and layer-name prefix. Defaults to `"sparse_autoencoder"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("sparse_autoencoder", sparsity_weight=1e-3, latent_dim=4, hidden_units=(8,))
    model.get_layer("sparse_autoencoder_code").activity_regularizer.l1  # 0.001
    ```
    """
    return _autoencoder("sparse_autoencoder", input_shape, kind, latent_dim, hidden_units, filters, activation, name,
                        sparsity_weight=sparsity_weight)
