"""Layers for diffusion denoisers: a sinusoidal time embedding and the U-Net's residual and attention blocks.

- `timestep_features` and `TimeEmbedding`: the diffusion step `t` (an integer or a float) as Vaswani et al.'s
  sinusoidal features ("Attention Is All You Need", NeurIPS 2017), the same frequencies as
  `kerakit.layers.sequence.sinusoidal_positions` but at any real `t`, then optionally a two-layer MLP, as in Ho, Jain
  and Abbeel, "Denoising Diffusion Probabilistic Models" (NeurIPS 2020, arXiv:2006.11239).
- `ResidualBlock`: DDPM's residual block: GroupNorm, activation, 3x3 convolution, plus a projection of the time
  embedding added to every pixel, then GroupNorm, activation, dropout, 3x3 convolution; a 1x1 convolution on the
  shortcut when the width changes (Wu and He, "Group Normalization", ECCV 2018).
- `AttentionBlock`: self-attention over the pixels of a (low-resolution) feature map, after a GroupNorm, added back
  to its input; Keras's `MultiHeadAttention` does the attending.
"""

import keras
from keras import ops

from kerakit import errors


def timestep_features(timesteps, width, max_wavelength=10000.0):
    """Sinusoidal features `(batch, width)` of the steps `timesteps` `(batch,)` (or `(batch, 1)`), floats or ints.

    Feature `2i` is `sin(t / max_wavelength ** (2i / width))` and feature `2i + 1` the cosine of the same angle:
    at `t = 0, 1, ..., L - 1` these are the rows of `sinusoidal_positions(L, width)`.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.diffusion import timestep_features
    features = np.asarray(timestep_features(np.array([0.0, 2.5]), 6))
    features.shape, float(features[0, 1])  # ((2, 6), 1.0)
    ```
    """
    timesteps = ops.convert_to_tensor(timesteps)
    batch = ops.shape(timesteps)[0]  # explicit sizes, no -1: JAX's shape-polymorphic export cannot always infer one
    t = ops.reshape(ops.cast(timesteps, "float32"), (batch,))
    pairs = (width + 1) // 2
    frequencies = ops.power(float(max_wavelength), -ops.cast(ops.arange(pairs), "float32") * 2.0 / width)
    angles = t[:, None] * frequencies[None, :]
    features = ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (batch, 2 * pairs))
    return features[:, :width]


def _channels(owner, shape):
    channels = shape[-1]
    if channels is None:
        raise errors.invalid(owner, "inputs", "a tensor with a known channel (last) dimension", tuple(shape))
    return channels


@keras.saving.register_keras_serializable(package="kerakit")
class TimeEmbedding(keras.layers.Layer):
    """The diffusion step `t` as sinusoidal features, then (with `output_dim`) a two-layer MLP.

    `y = Dense(output_dim)(activation(Dense(output_dim)(features(t))))`, where `features(t)` are the `width`
    sinusoidal features of `timestep_features`; without `output_dim` the layer returns the features themselves (it
    has no weights). DDPM uses `width` = the U-Net's base width and `output_dim = 4 * width`.

    Args:
        width: int. Number of sinusoidal features.
        output_dim: int or None. Width of the MLP's two layers; `None` skips the MLP. Defaults to `None`.
        activation: str. Activation between the MLP's layers. Defaults to `"swish"`.
        max_wavelength: float. The longest wavelength of the features. Defaults to `10000.0`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        timesteps: float or int tensor `(batch,)` or `(batch, 1)`: the diffusion step of each example.

    Returns:
        `(batch, output_dim or width)`.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.diffusion import TimeEmbedding
    layer = TimeEmbedding(8, output_dim=16)
    tuple(layer(np.array([0, 10, 999])).shape)  # (3, 16)
    tuple(TimeEmbedding(8)(np.array([3.5])).shape), len(TimeEmbedding(8).weights)  # ((1, 8), 0)
    ```
    """

    def __init__(self, width, output_dim=None, activation="swish", max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        owner = "TimeEmbedding"
        self.width = errors.check_int(owner, "width", width)
        self.output_dim = None if output_dim is None else errors.check_int(owner, "output_dim", output_dim)
        self.activation = errors.check_activation(owner, "activation", activation)
        self.max_wavelength = errors.check_positive_float(owner, "max_wavelength", max_wavelength)

    def build(self, timesteps_shape):
        if self.output_dim is not None:
            self.hidden = keras.layers.Dense(self.output_dim, activation=self.activation, dtype=self.dtype_policy,
                                             name="hidden")
            self.hidden.build((None, self.width))
            self.projection = keras.layers.Dense(self.output_dim, dtype=self.dtype_policy, name="projection")
            self.projection.build((None, self.output_dim))
        self.built = True

    def call(self, timesteps):
        x = ops.cast(timestep_features(timesteps, self.width, self.max_wavelength), self.compute_dtype)
        if self.output_dim is None:
            return x
        return self.projection(self.hidden(x))

    def compute_output_shape(self, timesteps_shape):
        return (timesteps_shape[0], self.output_dim or self.width)

    def get_config(self):
        return {**super().get_config(), "width": self.width, "output_dim": self.output_dim,
                "activation": self.activation, "max_wavelength": self.max_wavelength}


@keras.saving.register_keras_serializable(package="kerakit")
class ResidualBlock(keras.layers.Layer):
    """DDPM's residual block: two GroupNorm-activation-convolution steps, the time embedding added in between.

    `h = conv1(act(norm1(x))) + Dense(filters)(act(time_embedding))[:, None, None, :]`,
    `y = shortcut(x) + conv2(dropout(act(norm2(h))))`, with `shortcut` the identity when `x` already has `filters`
    channels and a 1x1 convolution otherwise. Without a time embedding the block is a plain residual block.

    Args:
        filters: int. Output channels.
        groups: int. GroupNormalization groups; must divide `filters` and the input's channels. Defaults to `8`.
        dropout: float. Dropout before the second convolution. Defaults to `0.0`.
        activation: str. Defaults to `"swish"`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, height, width, channels)`.
        time_embedding: `(batch, embedding_dim)` or None.
        training: bool. Dropout is active only in training.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.diffusion import ResidualBlock
    block = ResidualBlock(8, groups=4)
    x, t = np.zeros((2, 4, 4, 4), "float32"), np.ones((2, 16), "float32")
    tuple(block(x, t).shape)  # (2, 4, 4, 8)
    ```
    """

    def __init__(self, filters, groups=8, dropout=0.0, activation="swish", **kwargs):
        super().__init__(**kwargs)
        owner = "ResidualBlock"
        self.filters = errors.check_int(owner, "filters", filters)
        self.groups = errors.check_int(owner, "groups", groups)
        self.dropout = errors.check_rate(owner, "dropout", dropout)
        self.activation = errors.check_activation(owner, "activation", activation)
        if self.filters % self.groups:
            raise errors.invalid(owner, "groups", f"a divisor of filters={self.filters}", groups)

    def build(self, inputs_shape, time_embedding_shape=None):
        channels = _channels(self.name, inputs_shape)
        if channels % self.groups:
            raise errors.invalid(self.name, "groups", f"a divisor of the input's {channels} channels", self.groups)
        policy = self.dtype_policy
        self.norm1 = keras.layers.GroupNormalization(self.groups, dtype=policy, name="norm1")
        self.norm1.build(inputs_shape)
        self.conv1 = keras.layers.Conv2D(self.filters, 3, padding="same", dtype=policy, name="conv1")
        self.conv1.build(inputs_shape)
        hidden_shape = (*inputs_shape[:-1], self.filters)
        self.time_projection = None
        if time_embedding_shape is not None:
            self.time_projection = keras.layers.Dense(self.filters, dtype=policy, name="time_projection")
            self.time_projection.build(time_embedding_shape)
        self.norm2 = keras.layers.GroupNormalization(self.groups, dtype=policy, name="norm2")
        self.norm2.build(hidden_shape)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=policy, name="dropout")
        self.conv2 = keras.layers.Conv2D(self.filters, 3, padding="same", dtype=policy, name="conv2")
        self.conv2.build(hidden_shape)
        self.shortcut = None
        if channels != self.filters:
            self.shortcut = keras.layers.Conv2D(self.filters, 1, dtype=policy, name="shortcut")
            self.shortcut.build(inputs_shape)
        self.built = True

    def call(self, inputs, time_embedding=None, training=None):
        act = keras.activations.get(self.activation)
        h = self.conv1(act(self.norm1(inputs)))
        if self.time_projection is not None:
            if time_embedding is None:
                raise errors.invalid(self.name, "time_embedding", "a tensor (the block was built with one)", None)
            h = h + self.time_projection(act(time_embedding))[:, None, None, :]
        h = self.conv2(self.dropout_layer(act(self.norm2(h)), training=training))
        shortcut = inputs if self.shortcut is None else self.shortcut(inputs)
        return shortcut + h

    def compute_output_shape(self, inputs_shape, time_embedding_shape=None):
        return (*inputs_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "groups": self.groups, "dropout": self.dropout,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="kerakit")
class AttentionBlock(keras.layers.Layer):
    """Self-attention over the pixels of a feature map, added to it: `y = x + MHA(norm(x), norm(x))`.

    The `height * width` pixels attend to each other (cost quadratic in their number: use it at low resolution, as
    DDPM does at 16x16 on 32x32 images). Height and width must be known when the layer is built.

    Args:
        num_heads: int. Attention heads; must divide the channels. Defaults to `1`.
        groups: int. GroupNormalization groups; must divide the channels. Defaults to `8`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.diffusion import AttentionBlock
    block = AttentionBlock(num_heads=2, groups=4)
    tuple(block(np.ones((1, 2, 3, 8), "float32")).shape)  # (1, 2, 3, 8)
    ```
    """

    def __init__(self, num_heads=1, groups=8, **kwargs):
        super().__init__(**kwargs)
        owner = "AttentionBlock"
        self.num_heads = errors.check_int(owner, "num_heads", num_heads)
        self.groups = errors.check_int(owner, "groups", groups)

    def build(self, inputs_shape):
        channels = _channels(self.name, inputs_shape)
        if len(inputs_shape) != 4 or inputs_shape[1] is None or inputs_shape[2] is None:
            raise errors.invalid(self.name, "inputs", "a (batch, height, width, channels) feature map with known "
                                 "height and width", tuple(inputs_shape))
        if channels % self.groups:
            raise errors.invalid(self.name, "groups", f"a divisor of the input's {channels} channels", self.groups)
        if channels % self.num_heads:
            raise errors.invalid(self.name, "num_heads", f"a divisor of the input's {channels} channels",
                                 self.num_heads)
        self.norm = keras.layers.GroupNormalization(self.groups, dtype=self.dtype_policy, name="norm")
        self.norm.build(inputs_shape)
        self.attention = keras.layers.MultiHeadAttention(self.num_heads, channels // self.num_heads,
                                                         dtype=self.dtype_policy, name="attention")
        sequence_shape = (inputs_shape[0], inputs_shape[1] * inputs_shape[2], channels)
        self.attention.build(sequence_shape, sequence_shape)
        self.built = True

    def call(self, inputs):
        _, height, width, channels = inputs.shape
        batch = ops.shape(inputs)[0]
        h = ops.reshape(self.norm(inputs), (batch, height * width, channels))
        h = self.attention(h, h)
        return inputs + ops.reshape(h, (batch, height, width, channels))

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "groups": self.groups}
