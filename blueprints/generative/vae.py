"""Variational autoencoders (Kingma and Welling, "Auto-Encoding Variational Bayes", ICLR 2014), dense and
convolutional, as `kerakit.models.VAE`.

The encoder is the autoencoders' body (`blueprints/generative/autoencoder.py`: dense layers, or stride-2
convolutions then dense layers) followed by two linear heads, `z_mean` and `z_log_var`; the decoder is the mirrored
body with a sigmoid output. The convolutional layout follows the Keras VAE example (Chollet): 3x3 stride-2
convolutions, a dense layer, the latent heads; back through a dense projection and stride-2 transposed convolutions.
"""

from blueprints.generative.autoencoder import check_body_arguments, decoder_images, encoder_features
from kerakit.registry import blueprint

_VAE_ARGS = """input_shape: tuple. Shape of one image `(H, W, C)`, values in [0, 1]. Defaults to `(8, 8, 1)`, the
            bundled digits.
        latent_dim: int. Size of the latent code. Defaults to `8`.
        hidden_units: sequence of int. Dense layers between the (flattened) features and the latent heads, mirrored
            in the decoder."""
_LOSS_ARGS = """activation: str. Activation of the hidden layers. Defaults to `"relu"`.
        beta: float. Weight of the KL term, >= 0 (beta-VAE, Higgins et al. 2017). Defaults to `1.0`.
        reconstruction: str. `"bernoulli"` (binary cross-entropy) or `"gaussian"` (squared error). Defaults to
            `"bernoulli"`.
        seed: int or None. Seed of the sampling noise in training. Defaults to `None`."""


def _with_vae_args(fn):
    fn.__doc__ = fn.__doc__.replace("{VAE_ARGS}", _VAE_ARGS).replace("{LOSS_ARGS}", _LOSS_ARGS)
    return fn


def _vae(owner, input_shape, kind, latent_dim, hidden_units, filters, activation, beta, reconstruction, seed, name):
    """Checks everything, then builds the encoder `image -> [z_mean, z_log_var]`, the decoder `z -> image` and the
    `VAE` around them."""
    from kerakit.models.vae import VAE, check_loss_arguments

    input_shape, latent_dim, hidden_units, filters = check_body_arguments(
        owner, input_shape, kind, latent_dim, hidden_units, filters, activation)
    beta, reconstruction, seed = check_loss_arguments(owner, beta, reconstruction, seed)
    import keras

    images = keras.Input(shape=input_shape, name=f"{name}_encoder_input")
    features = encoder_features(images, kind, hidden_units, filters, activation, f"{name}_encoder")
    z_mean = keras.layers.Dense(latent_dim, name=f"{name}_encoder_z_mean")(features)
    z_log_var = keras.layers.Dense(latent_dim, name=f"{name}_encoder_z_log_var")(features)
    encoder = keras.Model(images, [z_mean, z_log_var], name=f"{name}_encoder")
    codes = keras.Input(shape=(latent_dim,), name=f"{name}_decoder_input")
    outputs = decoder_images(codes, input_shape, kind, hidden_units, filters, activation, f"{name}_decoder")
    decoder = keras.Model(codes, outputs, name=f"{name}_decoder")
    return VAE(encoder, decoder, beta=beta, reconstruction=reconstruction, seed=seed, name=name)


@blueprint(family="generative", task="generation", tiny={"latent_dim": 2, "hidden_units": (8,)})
@_with_vae_args
def vae(input_shape=(8, 8, 1), latent_dim=8, hidden_units=(128, 64), activation="relu", beta=1.0,
        reconstruction="bernoulli", seed=None, name="vae"):
    """A dense variational autoencoder (Kingma and Welling 2014): `kerakit.models.VAE` with MLP encoder and decoder.

    Returns the (uncompiled) `VAE`; `compile(optimizer=...)` and `fit` on images train it, `generate(n, seed)` draws
    images from the prior, `.encoder` and `.decoder` are the two functional sub-networks.

    Args:
        {VAE_ARGS} Defaults to `(128, 64)`.
        {LOSS_ARGS}
        name: str. Model name and layer-name prefix. Defaults to `"vae"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("vae", latent_dim=2, hidden_units=(16,))
    model.encoder.output_shape, model.decoder.output_shape  # ([(None, 2), (None, 2)], (None, 8, 8, 1))
    model.generate(4, seed=0).shape  # (4, 8, 8, 1)
    ```
    """
    return _vae("vae", input_shape, "dense", latent_dim, hidden_units, None, activation, beta, reconstruction, seed,
                name)


@blueprint(family="generative", task="generation", tiny={"latent_dim": 2, "hidden_units": (), "filters": (4, 8)})
@_with_vae_args
def conv_vae(input_shape=(8, 8, 1), latent_dim=8, filters=(32, 64), hidden_units=(128,), activation="relu", beta=1.0,
             reconstruction="bernoulli", seed=None, name="conv_vae"):
    """A convolutional variational autoencoder (Kingma and Welling 2014), laid out as the Keras VAE example.

    Encoder: 3x3 stride-2 "same" convolutions (`filters`), flatten, dense layers, the `z_mean` and `z_log_var`
    heads. Decoder: dense layers, a projection to the smallest feature map, 3x3 stride-2 transposed convolutions
    (the filters in reverse) and a sigmoid 3x3 convolution. The image's height and width must be divisible by
    `2 ** len(filters)` (8x8 digits and 28x28 MNIST with two convolutions, 32x32 with up to five).

    Args:
        {VAE_ARGS} Defaults to `(128,)`.
        filters: sequence of int. Filters of the stride-2 convolutions. Defaults to `(32, 64)`.
        {LOSS_ARGS}
        name: str. Model name and layer-name prefix. Defaults to `"conv_vae"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("conv_vae", input_shape=(28, 28, 1), latent_dim=4, filters=(4, 8), hidden_units=(16,))
    model.decoder.get_layer("conv_vae_decoder_reshape").output.shape  # (None, 7, 7, 8)
    model.generate(2, seed=1).shape  # (2, 28, 28, 1)
    ```
    """
    return _vae("conv_vae", input_shape, "conv", latent_dim, hidden_units, filters, activation, beta, reconstruction,
                seed, name)
