"""Layers for image models: stochastic depth (drop path) and layer scale.

- `StochasticDepth`: Huang, Sun, Liu, Sedra and Weinberger, "Deep Networks with Stochastic Depth" (ECCV 2016), in
  its per-example form ("drop path", as in timm and ConvNeXt): during training each example's residual branch is
  dropped with probability `rate` and kept examples are scaled by `1 / (1 - rate)`, so the expected output is the
  input; at inference the layer is the identity.
- `LayerScale`: Touvron, Cord, Sablayrolles, Synnaeve and Jégou, "Going deeper with Image Transformers" (ICCV
  2021): a learnable per-channel scale on a residual branch, initialised small (e.g. `1e-6`), so a deep network
  starts close to the identity.
"""

import keras

from kerakit import errors


@keras.saving.register_keras_serializable(package="kerakit")
class StochasticDepth(keras.layers.Layer):
    """Drops a residual branch for whole examples during training (drop path); the identity at inference.

    For an input `x` of shape `(batch, ...)`, in training: `y[b] = x[b] * m[b] / (1 - rate)` with
    `m[b] ~ Bernoulli(1 - rate)`, one draw per example `b`. Apply it to the branch, before adding the shortcut:
    `shortcut + StochasticDepth(rate)(branch)`.

    Args:
        rate: float. Probability of dropping an example's branch, in `[0, 1)`. `0` makes the layer the identity.
            Defaults to `0.1`.
        seed: int or None. Seed of the layer's `keras.random.SeedGenerator`. Defaults to `None`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.vision import StochasticDepth
    layer = StochasticDepth(0.5, seed=0)
    x = np.ones((4, 3), "float32")
    bool((np.asarray(layer(x, training=False)) == x).all())  # True
    sorted(set(np.asarray(layer(x, training=True)).ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])  # True
    ```
    """

    def __init__(self, rate=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = errors.check_rate("StochasticDepth", "rate", rate)
        if seed is not None:
            seed = errors.check_int("StochasticDepth", "seed", seed, minimum=0)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep_prob = 1.0 - self.rate
        shape = (keras.ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        keep = keras.random.uniform(shape, seed=self.seed_generator) < keep_prob
        return inputs * keras.ops.cast(keep, inputs.dtype) / keras.ops.cast(keep_prob, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kerakit")
class LayerScale(keras.layers.Layer):
    """Multiplies the last (channel) axis by a learnable vector `gamma`, initialised to `init_value`.

    `y[..., c] = gamma[c] * x[..., c]`; `gamma` has shape `(channels,)`, taken from the input when the layer is built.

    Args:
        init_value: float. The initial value of every entry of `gamma`; must be > 0. Defaults to `1e-6` (ConvNeXt;
            CaiT uses `0.1` to `1e-6` depending on depth).
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.vision import LayerScale
    layer = LayerScale(init_value=0.5)
    np.asarray(layer(np.ones((1, 2, 4), "float32"))).tolist()  # [[[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]]]
    tuple(layer.gamma.shape)  # (4,)
    ```
    """

    def __init__(self, init_value=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.init_value = errors.check_positive_float("LayerScale", "init_value", init_value)
        self.supports_masking = True

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise errors.invalid("LayerScale", "input_shape", "an input whose last (channel) axis is known",
                                 tuple(input_shape))
        self.gamma = self.add_weight(
            shape=(channels,), initializer=keras.initializers.Constant(self.init_value), trainable=True, name="gamma")

    def call(self, inputs):
        return inputs * keras.ops.cast(self.gamma, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value}
