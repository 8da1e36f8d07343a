"""Layers for image models: stochastic depth (drop path), layer scale, and the pieces of vision transformers.

- `StochasticDepth`: Huang, Sun, Liu, Sedra and Weinberger, "Deep Networks with Stochastic Depth" (ECCV 2016), in
  its per-example form ("drop path", as in timm and ConvNeXt): during training each example's residual branch is
  dropped with probability `rate` and kept examples are scaled by `1 / (1 - rate)`, so the expected output is the
  input; at inference the layer is the identity.
- `LayerScale`: Touvron, Cord, Sablayrolles, Synnaeve and Jégou, "Going deeper with Image Transformers" (ICCV
  2021): a learnable per-channel scale on a residual branch, initialised small (e.g. `1e-6`), so a deep network
  starts close to the identity.
- Vision transformers (Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021): `PatchEmbedding` (patches
  to tokens), `PositionEmbedding` (learned, bilinearly interpolated to other grids with `resize_bilinear`),
  `ClassToken`, `TokenPooling` and `TokensToMap` (tokens back to a feature map).
- MobileViT (Mehta and Rastegari, ICLR 2022): `UnfoldPatches` and `FoldPatches`, the unfolding of a feature map into
  per-pixel-place sequences of patches and back.
"""

import numbers

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


def _check_grid(owner, argument, value):
    """Checks an optional grid: None, an integer >= 1 (a square grid) or a pair of them; returns a tuple or None."""
    if value is None:
        return None
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in pair):
        raise errors.invalid(owner, argument, "None, an integer >= 1 or a pair of them", value)
    return tuple(int(v) for v in pair)


def _bilinear_indices(in_size, out_size):
    """Source rows (low, high) and weights of `high` for a bilinear resize from `in_size` to `out_size` samples.

    Half-pixel centres, no antialiasing: output sample `i` reads the input at `(i + 0.5) * in / out - 0.5`,
    clamped to `[0, in - 1]` — what `keras.ops.image.resize(..., interpolation="bilinear")` computes on both
    backends. `out_size` may be a symbolic (dynamic) size.
    """
    scale = keras.ops.cast(in_size, "float32") / keras.ops.cast(out_size, "float32")
    source = (keras.ops.cast(keras.ops.arange(out_size), "float32") + 0.5) * scale - 0.5
    source = keras.ops.clip(source, 0.0, float(in_size - 1))
    low = keras.ops.floor(source)
    weight = source - low
    low = keras.ops.cast(low, "int32")
    high = keras.ops.minimum(low + 1, in_size - 1)
    return low, high, weight


def resize_bilinear(grid, height, width):
    """Resizes a `(rows, cols, channels)` grid to `(height, width, channels)` by bilinear interpolation.

    The same numbers as `keras.ops.image.resize(grid, (height, width), interpolation="bilinear")` (half-pixel
    centres, no antialiasing), written with `keras.ops.take` so that `height` and `width` may be symbolic sizes
    (a TensorFlow graph of an image model built with `input_shape=(None, None, 3)`), which `keras.ops.image.resize`
    does not accept. Resizing to the grid's own size returns it unchanged (every weight is exactly 0 or 1).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.vision import resize_bilinear
    grid = np.arange(4, dtype="float32").reshape(2, 2, 1)
    np.asarray(resize_bilinear(grid, 2, 4))[..., 0].tolist()  # [[0.0, 0.25, 0.75, 1.0], [2.0, 2.25, 2.75, 3.0]]
    ```
    """
    grid = keras.ops.convert_to_tensor(grid)
    rows, cols = grid.shape[0], grid.shape[1]
    low, high, weight = _bilinear_indices(rows, height)
    weight = keras.ops.cast(weight, grid.dtype)[:, None, None]
    grid = keras.ops.take(grid, low, axis=0) * (1.0 - weight) + keras.ops.take(grid, high, axis=0) * weight
    low, high, weight = _bilinear_indices(cols, width)
    weight = keras.ops.cast(weight, grid.dtype)[None, :, None]
    return keras.ops.take(grid, low, axis=1) * (1.0 - weight) + keras.ops.take(grid, high, axis=1) * weight


@keras.saving.register_keras_serializable(package="kerakit")
class PatchEmbedding(keras.layers.Layer):
    """Cuts an image into non-overlapping `p x p` patches and projects each to `hidden_dim` channels.

    Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale" (ICLR 2021),
    eq. 1: `z = x_p E` for the flattened patches `x_p` — a convolution with kernel size and stride `p` (weights
    `(p, p, channels, hidden_dim)` and a bias). An input `(batch, H, W, channels)` gives the patch grid
    `(batch, H / p, W / p, hidden_dim)`, or with `flatten=True` the tokens `(batch, H / p * W / p, hidden_dim)`
    (row-major). `H` and `W` must be multiples of `p`; a known size that is not is refused, when the layer is
    built or called (on JAX every call knows its sizes; a TensorFlow graph of unknown size cannot check).

    Args:
        patch_size: int. The side `p` of the square patches. Defaults to `16`.
        hidden_dim: int. Output channels (the token width). Defaults to `768`.
        flatten: bool. Return tokens `(batch, patches, hidden_dim)` instead of the patch grid. Defaults to `False`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.vision import PatchEmbedding
    layer = PatchEmbedding(patch_size=4, hidden_dim=8)
    tuple(layer(np.zeros((2, 16, 12, 3), "float32")).shape)  # (2, 4, 3, 8)
    tuple(PatchEmbedding(4, 8, flatten=True)(np.zeros((2, 16, 12, 3), "float32")).shape)  # (2, 12, 8)
    tuple(layer.projection.kernel.shape)  # (4, 4, 3, 8)
    ```
    """

    def __init__(self, patch_size=16, hidden_dim=768, flatten=False, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = errors.check_int("PatchEmbedding", "patch_size", patch_size)
        self.hidden_dim = errors.check_int("PatchEmbedding", "hidden_dim", hidden_dim)
        if not isinstance(flatten, bool):
            raise errors.invalid("PatchEmbedding", "flatten", "True or False", flatten)
        self.flatten = flatten
        self.projection = keras.layers.Conv2D(hidden_dim, patch_size, strides=patch_size, padding="valid",
                                              dtype=self.dtype_policy, name="projection")

    def _check_size(self, shape):
        sizes = tuple(shape[1:3])
        if any(isinstance(s, int) and s % self.patch_size for s in sizes):
            raise errors.invalid(self.name, "input_shape", f"height and width that are multiples of patch_size="
                                 f"{self.patch_size}", tuple(shape))

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise errors.invalid(self.name, "input_shape", "(batch, height, width, channels)", tuple(input_shape))
        self._check_size(input_shape)
        self.projection.build(input_shape)

    def call(self, inputs):
        self._check_size(tuple(keras.ops.shape(inputs)))
        x = self.projection(inputs)
        if self.flatten:
            shape = keras.ops.shape(x)  # explicit sizes, no -1: JAX's shape-polymorphic export cannot infer one
            x = keras.ops.reshape(x, (shape[0], shape[1] * shape[2], self.hidden_dim))
        return x

    def compute_output_shape(self, input_shape):
        rows, cols = (None if s is None else s // self.patch_size for s in input_shape[1:3])
        if self.flatten:
            return (input_shape[0], None if rows is None or cols is None else rows * cols, self.hidden_dim)
        return (input_shape[0], rows, cols, self.hidden_dim)

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size, "hidden_dim": self.hidden_dim,
                "flatten": self.flatten}


@keras.saving.register_keras_serializable(package="kerakit")
class PositionEmbedding(keras.layers.Layer):
    """Adds learned position embeddings to a patch grid, interpolated bilinearly to grids of another size.

    Dosovitskiy et al. (ICLR 2021), eq. 1 (`z_0 = [x_class; x_p E] + E_pos`) and section 3.2 ("Fine-tuning and
    higher resolution": "we perform 2D interpolation of the pre-trained position embeddings, according to their
    location in the original image"). The layer holds `E_pos` for a `grid_size = (rows, cols)` grid,
    `embeddings` of shape `(rows, cols, channels)`, and for an input `(batch, h, w, channels)` returns
    `x + resize(E_pos, (h, w))`: the stored embeddings themselves when `(h, w) == grid_size`, else their
    bilinear resize (`resize_bilinear`). The grid comes from the input at every call, so one layer serves any
    image size: weights trained at 224x224 (a 14x14 grid of 16-pixel patches) used at 384x384 (24x24), or a model
    built with `input_shape=(None, None, 3)`. The class token's position embedding is not part of the grid (see
    `ClassToken(position_embedding=True)`), so it is never interpolated.

    Args:
        grid_size: int, `(rows, cols)` or None. The grid the embeddings are learned for; `None` takes the grid of
            the input the layer is built on (which must then be known). Defaults to `None`.
        stddev: float. Standard deviation of the truncated normal initialiser (ViT, DeiT and timm use `0.02`).
            Defaults to `0.02`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.vision import PositionEmbedding
    layer = PositionEmbedding(grid_size=(2, 2))
    x = np.zeros((1, 2, 2, 3), "float32")
    bool(np.allclose(layer(x)[0], layer.embeddings))  # True
    tuple(layer(np.zeros((1, 5, 3, 3), "float32")).shape)  # (1, 5, 3, 3)
    tuple(layer.embeddings.shape)  # (2, 2, 3)
    ```
    """

    def __init__(self, grid_size=None, stddev=0.02, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = _check_grid("PositionEmbedding", "grid_size", grid_size)
        self.stddev = errors.check_positive_float("PositionEmbedding", "stddev", stddev)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise errors.invalid(self.name, "input_shape", "(batch, rows, cols, channels) with known channels",
                                 tuple(input_shape))
        if self.grid_size is None:
            if input_shape[1] is None or input_shape[2] is None:
                raise errors.invalid(self.name, "grid_size", "given when the input grid is not known",
                                     self.grid_size)
            self.grid_size = (int(input_shape[1]), int(input_shape[2]))
        self.embeddings = self.add_weight(
            shape=(*self.grid_size, input_shape[-1]), name="embeddings",
            initializer=keras.initializers.TruncatedNormal(stddev=self.stddev), trainable=True)

    def resized(self, rows, cols):
        """The embeddings for a `rows x cols` grid: the stored ones at `grid_size`, their bilinear resize else."""
        if isinstance(rows, int) and isinstance(cols, int) and (rows, cols) == tuple(self.grid_size):
            return self.embeddings
        return resize_bilinear(self.embeddings, rows, cols)

    def call(self, inputs):
        shape = keras.ops.shape(inputs)
        return inputs + keras.ops.cast(self.resized(shape[1], shape[2]), inputs.dtype)[None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        grid = None if self.grid_size is None else list(self.grid_size)
        return {**super().get_config(), "grid_size": grid, "stddev": self.stddev}


@keras.saving.register_keras_serializable(package="kerakit")
class ClassToken(keras.layers.Layer):
    """Prepends a learned class token to a sequence of tokens: `(batch, n, channels) -> (batch, 1 + n, channels)`.

    A patch grid `(batch, rows, cols, channels)` is taken as its `n = rows * cols` tokens in row-major order.

    Dosovitskiy et al. (ICLR 2021), eq. 1: `z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos`; the class token
    (`token`, shape `(channels,)`, initialised to zeros as in timm and torchvision) is the one whose final state
    the classifier reads (`TokenPooling("token")`), as BERT's `[CLS]`. With `position_embedding=True` the layer
    also holds the class token's own position embedding (`position`, the first row of `E_pos`, initialised with
    a truncated normal of standard deviation `stddev`) and prepends `token + position`: kept apart from the
    patches' grid so that only the grid is interpolated to other image sizes (`PositionEmbedding`).

    Args:
        position_embedding: bool. Add the class token's own position embedding. Defaults to `False`.
        stddev: float. Standard deviation of the position embedding's truncated normal initialiser. Defaults to
            `0.02`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.vision import ClassToken
    layer = ClassToken()
    y = layer(np.ones((2, 3, 4), "float32"))
    tuple(y.shape)  # (2, 4, 4)
    np.asarray(y)[0, :, 0].tolist()  # [0.0, 1.0, 1.0, 1.0]
    with_position = ClassToken(position_embedding=True)
    tuple(with_position(np.ones((2, 3, 4), "float32")).shape)  # (2, 4, 4)
    tuple(ClassToken()(np.ones((2, 3, 5, 4), "float32")).shape)  # (2, 16, 4)
    [weight.name for weight in with_position.weights]  # ['token', 'position']
    ```
    """

    def __init__(self, position_embedding=False, stddev=0.02, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(position_embedding, bool):
            raise errors.invalid("ClassToken", "position_embedding", "True or False", position_embedding)
        self.position_embedding = position_embedding
        self.stddev = errors.check_positive_float("ClassToken", "stddev", stddev)

    def build(self, input_shape):
        if len(input_shape) not in (3, 4) or input_shape[-1] is None:
            raise errors.invalid(self.name, "input_shape", "(batch, tokens, channels) or (batch, rows, cols, "
                                 "channels) with known channels", tuple(input_shape))
        self.token = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=True, name="token")
        self.position = None
        if self.position_embedding:
            self.position = self.add_weight(
                shape=(input_shape[-1],), initializer=keras.initializers.TruncatedNormal(stddev=self.stddev),
                trainable=True, name="position")

    def call(self, inputs):
        if len(inputs.shape) == 4:  # a patch grid: its tokens, row-major
            shape = keras.ops.shape(inputs)
            inputs = keras.ops.reshape(inputs, (shape[0], shape[1] * shape[2], inputs.shape[-1]))
        token = self.token if self.position is None else self.token + self.position
        token = keras.ops.zeros_like(inputs[:, :1, :]) + keras.ops.cast(token, inputs.dtype)
        return keras.ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape):
        tokens = input_shape[1] if len(input_shape) == 3 else (
            None if None in input_shape[1:3] else input_shape[1] * input_shape[2])
        return (input_shape[0], None if tokens is None else tokens + 1, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "position_embedding": self.position_embedding, "stddev": self.stddev}


@keras.saving.register_keras_serializable(package="kerakit")
class TokenPooling(keras.layers.Layer):
    """Reduces a token sequence `(batch, tokens, channels)` to `(batch, channels)`.

    `"token"`: the first token (the class token of `ClassToken`, as ViT's classifier reads it, Dosovitskiy et al.
    2021, eq. 4); `"avg"`: the mean of the tokens after the first `num_prefix_tokens` ones (global average pooling
    of the patch tokens, the paper's appendix D.3 alternative).

    Args:
        mode: `"token"` or `"avg"`. Defaults to `"token"`.
        num_prefix_tokens: int. Tokens before the patch tokens (class token, registers), left out of `"avg"`.
            Defaults to `1`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.vision import TokenPooling
    x = np.arange(6, dtype="float32").reshape(1, 3, 2)  # tokens [0, 1], [2, 3], [4, 5]
    np.asarray(TokenPooling("token")(x)).tolist()  # [[0.0, 1.0]]
    np.asarray(TokenPooling("avg")(x)).tolist()  # [[3.0, 4.0]]
    ```
    """

    MODES = ("token", "avg")

    def __init__(self, mode="token", num_prefix_tokens=1, **kwargs):
        super().__init__(**kwargs)
        self.mode = errors.check_choice("TokenPooling", "mode", mode, self.MODES)
        self.num_prefix_tokens = errors.check_int("TokenPooling", "num_prefix_tokens", num_prefix_tokens,
                                                  minimum=0)
        if mode == "token" and self.num_prefix_tokens == 0:
            raise errors.invalid("TokenPooling", "num_prefix_tokens", ">= 1 with mode='token'", num_prefix_tokens)

    def call(self, inputs):
        if self.mode == "token":
            return inputs[:, 0]
        return keras.ops.mean(inputs[:, self.num_prefix_tokens:], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "num_prefix_tokens": self.num_prefix_tokens}


@keras.saving.register_keras_serializable(package="kerakit")
class TokensToMap(keras.layers.Layer):
    """Reshapes patch tokens back to their grid: `[tokens, reference] -> (batch, rows, cols, channels)`.

    `tokens` is `(batch, num_prefix_tokens + rows * cols, channels)` (row-major patches after the prefix tokens,
    as `PatchEmbedding` and `ClassToken` make them); `reference` is any `(batch, rows, cols, ...)` tensor whose
    grid the tokens came from (the patch embedding), which gives `rows` and `cols` even when the image size is
    only known at run time. The prefix tokens are dropped. This turns a ViT into a backbone whose last feature
    map has the stride of its patches.

    Args:
        num_prefix_tokens: int. Tokens before the patch tokens, dropped. Defaults to `1`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.vision import TokensToMap
    tokens = np.arange(7, dtype="float32").reshape(1, 7, 1)  # a class token, then a 2x3 grid
    grid = TokensToMap()([tokens, np.zeros((1, 2, 3, 5), "float32")])
    np.asarray(grid)[0, :, :, 0].tolist()  # [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    ```
    """

    def __init__(self, num_prefix_tokens=1, **kwargs):
        super().__init__(**kwargs)
        self.num_prefix_tokens = errors.check_int("TokensToMap", "num_prefix_tokens", num_prefix_tokens, minimum=0)

    def call(self, inputs):
        tokens, reference = inputs
        shape = keras.ops.shape(reference)
        tokens = tokens[:, self.num_prefix_tokens:]
        return keras.ops.reshape(tokens, (keras.ops.shape(tokens)[0], shape[1], shape[2], tokens.shape[-1]))

    def compute_output_shape(self, input_shape):
        tokens, reference = input_shape
        return (tokens[0], reference[1], reference[2], tokens[-1])

    def get_config(self):
        return {**super().get_config(), "num_prefix_tokens": self.num_prefix_tokens}


@keras.saving.register_keras_serializable(package="kerakit")
class UnfoldPatches(keras.layers.Layer):
    """Splits a feature map into `p x p` patches and groups the pixels by their place in the patch (MobileViT).

    Mehta and Rastegari, "MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision Transformer" (ICLR
    2022), section 3.1: `X_L` of shape `(H, W, d)` is unfolded into `P = p * p` sequences of `N = H W / P` patches,
    `X_U` of shape `(P, N, d)`, and a transformer relates the `N` patches separately for each pixel place `q`:
    `(batch, H, W, d) -> (batch, P, H / p, W / p, d)` with `y[b, i * p + j, r, c] = x[b, r * p + i, c * p + j]`
    (the order of timm's and Apple's ml-cvnets `unfolding`). The patch axes stay two (`H / p`, `W / p`) so that
    `FoldPatches` needs no sizes and attention runs over both (`MultiHeadAttention(attention_axes=(2, 3))`).
    `H` and `W` must be multiples of `p`.

    Args:
        patch_size: int. The patch side `p`. Defaults to `2`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.vision import FoldPatches, UnfoldPatches
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    y = UnfoldPatches(2)(x)
    tuple(y.shape)  # (1, 4, 2, 2, 1)
    np.asarray(y)[0, :, 0, 0, 0].tolist()  # [0.0, 1.0, 4.0, 5.0]
    bool((np.asarray(FoldPatches(2)(y)) == x).all())  # True
    ```
    """

    def __init__(self, patch_size=2, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = errors.check_int("UnfoldPatches", "patch_size", patch_size)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise errors.invalid(self.name, "input_shape", "(batch, height, width, channels) with known channels",
                                 tuple(input_shape))
        if any(s is not None and s % self.patch_size for s in input_shape[1:3]):
            raise errors.invalid(self.name, "input_shape", f"height and width that are multiples of patch_size="
                                 f"{self.patch_size}", tuple(input_shape))

    def call(self, inputs):
        p, channels = self.patch_size, inputs.shape[-1]
        batch, height, width = keras.ops.shape(inputs)[:3]
        rows, cols = height // p, width // p
        x = keras.ops.reshape(inputs, (batch, rows, p, cols, p, channels))
        x = keras.ops.transpose(x, (0, 2, 4, 1, 3, 5))
        return keras.ops.reshape(x, (batch, p * p, rows, cols, channels))

    def compute_output_shape(self, input_shape):
        rows, cols = (None if s is None else s // self.patch_size for s in input_shape[1:3])
        return (input_shape[0], self.patch_size ** 2, rows, cols, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size}


@keras.saving.register_keras_serializable(package="kerakit")
class FoldPatches(keras.layers.Layer):
    """The inverse of `UnfoldPatches`: `(batch, p * p, rows, cols, d) -> (batch, rows * p, cols * p, d)`.

    Mehta and Rastegari (ICLR 2022), section 3.1: `X_G` of shape `(P, N, d)` is folded back into `(H, W, d)`,
    each pixel returning to its place: `y[b, r * p + i, c * p + j] = x[b, i * p + j, r, c]`.

    Args:
        patch_size: int. The patch side `p`; the input's second axis must be `p * p`. Defaults to `2`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.vision import FoldPatches
    x = np.arange(4, dtype="float32").reshape(1, 4, 1, 1, 1)  # one patch, pixels 0..3
    np.asarray(FoldPatches(2)(x))[0, :, :, 0].tolist()  # [[0.0, 1.0], [2.0, 3.0]]
    ```
    """

    def __init__(self, patch_size=2, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = errors.check_int("FoldPatches", "patch_size", patch_size)

    def build(self, input_shape):
        if len(input_shape) != 5 or input_shape[1] != self.patch_size ** 2 or input_shape[-1] is None:
            raise errors.invalid(self.name, "input_shape", f"(batch, {self.patch_size ** 2}, rows, cols, channels) "
                                 "with known channels", tuple(input_shape))

    def call(self, inputs):
        p, channels = self.patch_size, inputs.shape[-1]
        batch, _, rows, cols = keras.ops.shape(inputs)[:4]
        x = keras.ops.reshape(inputs, (batch, p, p, rows, cols, channels))
        x = keras.ops.transpose(x, (0, 3, 1, 4, 2, 5))
        return keras.ops.reshape(x, (batch, rows * p, cols * p, channels))

    def compute_output_shape(self, input_shape):
        rows, cols = (None if s is None else s * self.patch_size for s in input_shape[2:4])
        return (input_shape[0], rows, cols, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size}
