"""Layers for generative models.

- `Sampling`: the reparameterisation trick of Kingma and Welling, "Auto-Encoding Variational Bayes" (ICLR 2014,
  arXiv:1312.6114), section 2.4: a draw `z ~ N(mean, exp(log_var))` written as `z = mean + exp(log_var / 2) * eps`
  with `eps ~ N(0, I)`, so that gradients flow to `mean` and `log_var`.

`LOG_VAR_MIN` and `LOG_VAR_MAX` bound the log-variance wherever it is exponentiated (here and in the VAE's KL term):
`exp(20 / 2)` is about 2.2e4 and `exp(20)` about 4.9e8, far from float32's overflow at about 3.4e38.
"""

import keras

from kerakit import errors

LOG_VAR_MIN = -20.0
LOG_VAR_MAX = 20.0


def clip_log_var(log_var):
    """Clips a log-variance to `[LOG_VAR_MIN, LOG_VAR_MAX]`, so that `exp(log_var)` stays finite in float32."""
    return keras.ops.clip(log_var, LOG_VAR_MIN, LOG_VAR_MAX)


@keras.saving.register_keras_serializable(package="kerakit")
class Sampling(keras.layers.Layer):
    """Draws `z = mean + exp(log_var / 2) * eps`, `eps ~ N(0, I)`: the reparameterisation trick.

    Kingma and Welling, "Auto-Encoding Variational Bayes" (ICLR 2014), section 2.4. Called on `[mean, log_var]`
    (two tensors of the same shape, e.g. `(batch, latent_dim)`), it returns one sample of that shape. It also takes
    the two concatenated on the last axis, `(..., 2 * latent_dim)` (mean first), as one `Dense(2 * latent_dim)`
    head gives them. `log_var` is clipped to `[-20, 20]` (`LOG_VAR_MIN`, `LOG_VAR_MAX`) before it is exponentiated,
    so a huge log-variance gives a large but finite sample, never `inf`.

    Like `Dropout`, the layer samples in training (`training=True`, as `fit` calls it) and returns `mean` in
    inference (`predict`, `evaluate`, a plain call), so a trained model's outputs are deterministic and survive a
    `.keras` round trip and a SavedModel export unchanged. `sample_in_inference=True` samples in every mode. The
    noise comes from `keras.random.normal` with the layer's `keras.random.SeedGenerator`: successive calls draw
    fresh noise, and two layers with the same `seed` draw the same sequence.

    Args:
        seed: int or None. Seed of the layer's `keras.random.SeedGenerator`. Defaults to `None`.
        sample_in_inference: bool. Sample outside training too, instead of returning `mean`. Defaults to `False`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.generative import Sampling
    mean, log_var = np.full((2, 3), 5.0, "float32"), np.zeros((2, 3), "float32")
    np.asarray(Sampling()([mean, log_var])).tolist()  # [[5.0, 5.0, 5.0], [5.0, 5.0, 5.0]]
    z = np.asarray(Sampling(seed=0)([mean, log_var], training=True))
    z.shape, bool((z != 5.0).all())  # ((2, 3), True)
    tuple(Sampling()(np.zeros((4, 6), "float32")).shape)  # (4, 3)
    ```
    """

    def __init__(self, seed=None, sample_in_inference=False, **kwargs):
        super().__init__(**kwargs)
        if seed is not None:
            seed = errors.check_int("Sampling", "seed", seed, minimum=0)
        if not isinstance(sample_in_inference, bool):
            raise errors.invalid("Sampling", "sample_in_inference", "True or False", sample_in_inference)
        self.seed = seed
        self.sample_in_inference = sample_in_inference
        self.seed_generator = keras.random.SeedGenerator(seed)

    @staticmethod
    def _check_shapes(shapes):
        """Refuses what is neither two equal shapes nor one shape with an even last axis."""
        if isinstance(shapes, (list, tuple)) and len(shapes) == 2 and isinstance(shapes[0], (list, tuple)):
            if tuple(shapes[0]) != tuple(shapes[1]):
                raise errors.invalid("Sampling", "inputs", "[mean, log_var] of the same shape",
                                     f"shapes {tuple(shapes[0])} and {tuple(shapes[1])}")
            return tuple(shapes[0])
        if isinstance(shapes, (list, tuple)) and all(d is None or isinstance(d, int) for d in shapes) and shapes:
            if shapes[-1] is None or shapes[-1] % 2:
                raise errors.invalid("Sampling", "inputs", "[mean, log_var], or one tensor whose last axis (mean "
                                     "and log_var concatenated) has an even, known size", f"shape {tuple(shapes)}")
            return (*shapes[:-1], shapes[-1] // 2)
        raise errors.invalid("Sampling", "inputs", "[mean, log_var], or one tensor of both concatenated", shapes)

    def build(self, input_shape):
        self._check_shapes(input_shape)

    def call(self, inputs, training=None):
        if isinstance(inputs, (list, tuple)):
            mean, log_var = inputs
        else:
            half = inputs.shape[-1] // 2
            mean, log_var = inputs[..., :half], inputs[..., half:]
        if not (training or self.sample_in_inference):
            return mean
        eps = keras.random.normal(keras.ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        return mean + keras.ops.exp(0.5 * clip_log_var(log_var)) * eps

    def compute_output_shape(self, input_shape):
        return self._check_shapes(input_shape)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "sample_in_inference": self.sample_in_inference}
