"""The variational autoencoder (Kingma and Welling, "Auto-Encoding Variational Bayes", ICLR 2014, arXiv:1312.6114),
with the beta-weighted KL term of Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a Constrained
Variational Framework" (ICLR 2017).

The model minimises the negative evidence lower bound, per example and averaged over the batch:

    loss = reconstruction(x, decoder(z)) + beta * KL(N(mean, exp(log_var)) || N(0, I)),   z = mean + exp(log_var/2) * eps

with the KL term in closed form (Kingma and Welling, appendix B):
`KL = -1/2 * sum_j (1 + log_var_j - mean_j^2 - exp(log_var_j))`, summed over the latent dimensions. It trains through
the backend-agnostic `compute_loss` override, so `compile(optimizer=...)` and `fit` work on TensorFlow and JAX alike.
"""

import numbers

import keras
import numpy as np

from kerakit import errors
from kerakit.layers.generative import Sampling, clip_log_var

RECONSTRUCTIONS = ("bernoulli", "gaussian")
_EPSILON = 1e-7  # keeps log() of the decoder's probabilities finite


def kl_divergence(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per example: `-1/2 * sum(1 + log_var - mean^2 - exp(log_var))`.

    Sums over every axis but the first; `log_var` is clipped to `[-20, 20]` first (see `kerakit.layers.generative`).

    Example:

    ```python
    import numpy as np
    from kerakit.models.vae import kl_divergence
    np.asarray(kl_divergence(np.zeros((2, 3), "float32"), np.zeros((2, 3), "float32"))).tolist()  # [0.0, 0.0]
    float(kl_divergence(np.array([[2.0]], "float32"), np.array([[0.0]], "float32"))[0])  # 2.0
    ```
    """
    mean = keras.ops.convert_to_tensor(mean)
    log_var = clip_log_var(keras.ops.cast(log_var, mean.dtype))
    terms = 1.0 + log_var - keras.ops.square(mean) - keras.ops.exp(log_var)
    return -0.5 * keras.ops.sum(keras.ops.reshape(terms, (keras.ops.shape(terms)[0], -1)), axis=-1)


def reconstruction_loss(images, reconstruction, kind="bernoulli"):
    """Per-example reconstruction loss, summed over every axis but the first.

    `"bernoulli"`: binary cross-entropy `-(x log p + (1 - x) log(1 - p))` of the pixels `x` in [0, 1] under the
    decoder's probabilities `p` (clipped to `[1e-7, 1 - 1e-7]`); `"gaussian"`: the squared error `(x - p)^2`.

    Example:

    ```python
    import numpy as np
    from kerakit.models.vae import reconstruction_loss
    x, p = np.array([[1.0, 0.0]], "float32"), np.array([[0.5, 0.5]], "float32")
    round(float(reconstruction_loss(x, p)[0]), 4)  # 1.3863
    float(reconstruction_loss(x, p, "gaussian")[0])  # 0.5
    ```
    """
    reconstruction = keras.ops.convert_to_tensor(reconstruction)
    images = keras.ops.cast(images, reconstruction.dtype)
    if kind == "bernoulli":
        p = keras.ops.clip(reconstruction, _EPSILON, 1.0 - _EPSILON)
        per_pixel = -(images * keras.ops.log(p) + (1.0 - images) * keras.ops.log(1.0 - p))
    else:
        per_pixel = keras.ops.square(images - reconstruction)
    return keras.ops.sum(keras.ops.reshape(per_pixel, (keras.ops.shape(per_pixel)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package="kerakit")
class VAE(keras.Model):
    """A variational autoencoder: an encoder to `[z_mean, z_log_var]`, the reparameterised sample, a decoder.

    Kingma and Welling, "Auto-Encoding Variational Bayes" (ICLR 2014); `beta` weights the KL term as in Higgins et
    al., "beta-VAE" (ICLR 2017). The loss of a batch is the mean over its examples of

    `reconstruction(x, decoder(z)) + beta * KL(N(z_mean, exp(z_log_var)) || N(0, I))`

    (plus any regularisation losses of the sub-networks), with the reconstruction term summed over the pixels:
    binary cross-entropy for `"bernoulli"`, squared error for `"gaussian"`; see `reconstruction_loss` and
    `kl_divergence`. `fit`'s logs show `loss`, `reconstruction_loss` and `kl_loss` (the unweighted KL), and the
    same with `val_` for validation data. `compile(optimizer=...)` is all it needs; data is images in [0, 1], alone
    or as `(images, labels)` (the labels are ignored).

    Calling the model returns a dict: `"reconstruction"`, `"z_mean"` and `"z_log_var"`. In training `z` is sampled
    (the `Sampling` layer); in inference (`predict`, `evaluate`) `z = z_mean`, so reconstructions are deterministic
    and `val_loss` is the loss at the posterior mean.

    Args:
        encoder: keras.Model. Images `(batch, H, W, C)` -> `[z_mean, z_log_var]`, two outputs `(batch, latent_dim)`.
        decoder: keras.Model. Codes `(batch, latent_dim)` -> images `(batch, H, W, C)` in [0, 1] (a sigmoid output).
        beta: float. Weight of the KL term, >= 0; `1` is the ELBO, `0` a plain autoencoder. Defaults to `1.0`.
        reconstruction: str. `"bernoulli"` (binary cross-entropy) or `"gaussian"` (squared error). Defaults to
            `"bernoulli"`.
        seed: int or None. Seed of the sampling noise in training. Defaults to `None`.
        **kwargs: Base `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    import keras
    import numpy as np
    from kerakit.models import VAE
    images = keras.Input((4, 4, 1))
    h = keras.layers.Flatten()(images)
    encoder = keras.Model(images, [keras.layers.Dense(2)(h), keras.layers.Dense(2)(h)])
    codes = keras.Input((2,))
    decoder = keras.Model(codes, keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16, "sigmoid")(codes)))
    vae = VAE(encoder, decoder, beta=1.0, seed=0)
    vae.compile(optimizer="adam")
    history = vae.fit(np.random.default_rng(0).uniform(size=(8, 4, 4, 1)), epochs=1, verbose=0)
    sorted(history.history)  # ['kl_loss', 'loss', 'reconstruction_loss']
    vae.generate(3, seed=0).shape, vae.image_shape, vae.latent_dim  # ((3, 4, 4, 1), (4, 4, 1), 2)
    ```
    """

    def __init__(self, encoder, decoder, beta=1.0, reconstruction="bernoulli", seed=None, **kwargs):
        owner = "VAE"
        latent_dim = _check_networks(owner, encoder, decoder)
        beta, reconstruction, seed = check_loss_arguments(owner, beta, reconstruction, seed)
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.beta = beta
        self.reconstruction = reconstruction
        self.seed = seed
        self._latent_dim = latent_dim
        self.sampler = Sampling(seed=seed, name="sampling")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.build((None, *self.image_shape))

    def build(self, input_shape):
        self.sampler.build([(None, self._latent_dim)] * 2)
        self.built = True

    # -- attributes ---------------------------------------------------------------------------------------------

    @property
    def image_shape(self):
        """tuple. The shape `(H, W, C)` of one image."""
        return tuple(self.encoder.input_shape[1:])

    @property
    def latent_dim(self):
        """int. The size of the latent code."""
        return self._latent_dim

    @property
    def num_classes(self):
        """None: the VAE is not class-conditional."""
        return None

    @property
    def generating_network(self):
        """keras.Model. The decoder (latent code -> image), the network a run exports as a SavedModel."""
        return self.decoder

    # -- training -----------------------------------------------------------------------------------------------

    def call(self, inputs, training=None):
        z_mean, z_log_var = self.encoder(inputs, training=training)
        z = self.sampler([z_mean, z_log_var], training=training)
        return {"reconstruction": self.decoder(z, training=training), "z_mean": z_mean, "z_log_var": z_log_var}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """`mean(reconstruction + beta * KL)` over the batch (plus the sub-networks' regularisation losses);
        updates the `reconstruction_loss` and `kl_loss` trackers. `y` (labels, if any) is not used."""
        del y, training
        reconstruction = reconstruction_loss(x, y_pred["reconstruction"], self.reconstruction)
        kl = kl_divergence(y_pred["z_mean"], y_pred["z_log_var"])
        if sample_weight is not None:
            weight = keras.ops.reshape(keras.ops.cast(sample_weight, reconstruction.dtype), (-1,))
            reconstruction, kl = reconstruction * weight, kl * weight
        reconstruction, kl = keras.ops.mean(reconstruction), keras.ops.mean(kl)
        total = reconstruction + self.beta * kl
        for loss in self.losses:  # regularisers of the encoder and decoder
            total = total + keras.ops.cast(keras.ops.sum(loss), total.dtype)
        batch_size = keras.ops.shape(x)[0]  # weighted like Keras's own `loss` tracker, so the logs add up
        self.reconstruction_loss_tracker.update_state(reconstruction, sample_weight=batch_size)
        self.kl_loss_tracker.update_state(kl, sample_weight=batch_size)
        return total

    # -- inference ----------------------------------------------------------------------------------------------

    def encode(self, images, batch_size=256):
        """Returns `(z_mean, z_log_var)` of `images` as NumPy arrays `(n, latent_dim)`, through `predict`."""
        z_mean, z_log_var = self.encoder.predict(images, batch_size=batch_size, verbose=0)
        return np.asarray(z_mean), np.asarray(z_log_var)

    def decode(self, codes, batch_size=256):
        """Returns the decoder's images of `codes` `(n, latent_dim)`: float32 NumPy `(n, H, W, C)` in [0, 1]."""
        images = self.decoder.predict(np.asarray(codes, "float32"), batch_size=batch_size, verbose=0)
        return np.clip(np.asarray(images, "float32"), 0.0, 1.0)

    def generate(self, n, seed=None, labels=None, batch_size=256):
        """Decodes `n` codes drawn from the prior `N(0, I)`: float32 NumPy `(n, H, W, C)` in [0, 1].

        Args:
            n: int. How many images.
            seed: int or None. Seed of the NumPy generator that draws the codes; the same seed gives the same
                images. Defaults to `None`.
            labels: None. The VAE is not class-conditional; any other value is refused. Defaults to `None`.
            batch_size: int. Codes decoded per `predict` batch. Defaults to `256`.
        """
        owner = "VAE.generate"
        n = errors.check_int(owner, "n", n)
        if seed is not None:
            seed = errors.check_int(owner, "seed", seed, minimum=0)
        if labels is not None:
            raise errors.invalid(owner, "labels", "None (this VAE is not class-conditional)", labels)
        batch_size = errors.check_int(owner, "batch_size", batch_size)
        codes = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")
        return self.decode(codes, batch_size=batch_size)

    # -- serialisation ------------------------------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "beta": self.beta,
            "reconstruction": self.reconstruction,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("encoder", "decoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)


def check_loss_arguments(owner, beta, reconstruction, seed):
    """Checks `beta`, `reconstruction` and `seed` of a VAE (also used by the blueprints, before they build)."""
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0 <= beta < float("inf"):
        raise errors.invalid(owner, "beta", "a finite number >= 0", beta)
    errors.check_choice(owner, "reconstruction", reconstruction, RECONSTRUCTIONS)
    if seed is not None:
        seed = errors.check_int(owner, "seed", seed, minimum=0)
    return float(beta), reconstruction, seed


def _check_networks(owner, encoder, decoder):
    """Checks that the encoder and decoder fit together; returns the latent size."""
    if not isinstance(encoder, keras.Model):
        raise errors.invalid(owner, "encoder", "a keras.Model (images -> [z_mean, z_log_var])", type(encoder).__name__)
    if not isinstance(decoder, keras.Model):
        raise errors.invalid(owner, "decoder", "a keras.Model (codes -> images)", type(decoder).__name__)
    outputs = encoder.output_shape
    if not (isinstance(outputs, list) and len(outputs) == 2 and tuple(outputs[0]) == tuple(outputs[1])
            and len(outputs[0]) == 2 and isinstance(outputs[0][1], int)):
        raise errors.invalid(owner, "encoder", "a model with two outputs [z_mean, z_log_var], each of shape "
                             "(batch, latent_dim)", f"{encoder.name} with output_shape={outputs}")
    latent_dim = outputs[0][1]
    if isinstance(decoder.input_shape, list) or tuple(decoder.input_shape) != (None, latent_dim):
        raise errors.invalid(owner, "decoder", f"a model taking codes of shape (batch, {latent_dim}) (the encoder's "
                             "latent size)", f"{decoder.name} with input_shape={decoder.input_shape}")
    if isinstance(encoder.input_shape, list) or tuple(decoder.output_shape) != tuple(encoder.input_shape):
        raise errors.invalid(owner, "decoder", f"a model returning images of the encoder's input shape "
                             f"{encoder.input_shape}", f"{decoder.name} with output_shape={decoder.output_shape}")
    return latent_dim
