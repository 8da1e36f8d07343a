"""Layers for sequence models: token and position embeddings, attention with a key/value cache, transformer blocks.

- `TokenAndPositionEmbedding`: token ids to vectors (Keras's `ReversibleEmbedding`, so the same matrix projects hidden
  states back to vocabulary logits: tied input/output embeddings, Press and Wolf 2017) plus learned or sinusoidal
  positions (Vaswani et al., "Attention Is All You Need", NeurIPS 2017), or none when attention is rotary.
- `RotaryEmbedding` and `rotate`: rotary position embedding (Su et al., "RoFormer", 2021), applied to queries and keys.
- `CachedMultiHeadAttention`: Keras's `MultiHeadAttention` with an optional key/value cache (one new token costs one
  step during generation), rotary positions and an additive attention bias (T5's relative positions).
- `RelativePositionBias`: T5's bucketed relative position bias (Raffel et al., "Exploring the Limits of Transfer
  Learning with a Unified Text-to-Text Transformer", JMLR 2020).
- `TransformerEncoderBlock` and `TransformerDecoderBlock`: self-attention (causal in the decoder), optional
  cross-attention, GELU feed-forward, residual dropout, pre- or post-norm (Xiong et al. 2020), layer or RMS norm;
  padding masks that really mask: a padded key never receives attention.

Masks are boolean or 0/1 tensors of shape `(batch, length)`, true where a token is real.
"""

import math
import numbers

import keras
from keras import ops

from kerakit import errors

POSITIONS = ("learned", "sinusoidal", "none")
NORMS = ("layer", "rms")


def _static_length(x, axis=1):
    """The static size of `x` along `axis`, or None where it is only known at run time."""
    size = x.shape[axis]
    return size if isinstance(size, int) else None


def check_mask_shape(owner, argument, mask, x):
    """Refuses a padding mask that is not `(batch, length)` for the sequence `x` of shape `(batch, length, width)`."""
    if mask is None:
        return None
    mask_shape, expected = tuple(mask.shape), tuple(x.shape[:2])
    agrees = len(mask_shape) == 2 and all(m is None or e is None or m == e for m, e in zip(mask_shape, expected))
    if not agrees:
        raise errors.invalid(owner, argument, f"a (batch, length) mask matching the sequence's shape {expected}",
                             f"a tensor of shape {mask_shape}")
    return ops.cast(mask, "bool")


def sinusoidal_positions(length, width, max_wavelength=10000.0, start=0, dtype="float32"):
    """Vaswani et al.'s position table: `sin` on even features, `cos` on odd ones; shape `(length, width)`.

    Example:

    ```python
    from kerakit.layers.sequence import sinusoidal_positions
    table = sinusoidal_positions(4, 6)
    tuple(table.shape), float(table[0, 1])  # ((4, 6), 1.0)
    ```
    """
    positions = ops.cast(ops.arange(length), "float32") + ops.cast(start, "float32")
    pairs = (width + 1) // 2
    frequencies = ops.power(float(max_wavelength), -ops.cast(ops.arange(pairs), "float32") * 2.0 / width)
    angles = positions[:, None] * frequencies[None, :]
    table = ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (length, 2 * pairs))
    return ops.cast(table[:, :width], dtype)


@keras.saving.register_keras_serializable(package="kerakit")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token ids -> vectors plus positions; called with `reverse=True`, hidden states -> vocabulary logits.

    The token table is Keras's `ReversibleEmbedding`: the same matrix embeds tokens and (transposed) scores the
    vocabulary, so a language model's input and output embeddings are tied. Call the layer once on the ids and once,
    with `reverse=True`, on the last hidden states.

    Args:
        vocabulary_size: int. Number of token ids; ids lie in `[0, vocabulary_size)`.
        max_length: int. Length of the position table (the longest sequence the model takes).
        width: int. Embedding width.
        position: str. `"learned"` (a trained table), `"sinusoidal"` (fixed) or `"none"` (rotary attention adds
            positions itself). Defaults to `"learned"`.
        scale: bool. Multiply token vectors by `sqrt(width)` (as Vaswani et al. do). Defaults to `False`.
        embeddings_initializer: str. Initialiser of both tables. Defaults to `"glorot_uniform"`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: int tensor `(batch, length)` of token ids, or, with `reverse=True`, float `(batch, length, width)`.
        start_index: int or scalar tensor. Position of the first token (generation with a cache). Defaults to `0`.
        reverse: bool. Project hidden states onto the vocabulary instead. Defaults to `False`.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.sequence import TokenAndPositionEmbedding
    layer = TokenAndPositionEmbedding(vocabulary_size=50, max_length=16, width=8)
    vectors = layer(np.array([[1, 2, 3]]))
    tuple(vectors.shape), tuple(layer(vectors, reverse=True).shape)  # ((1, 3, 8), (1, 3, 50))
    ```
    """

    def __init__(self, vocabulary_size, max_length, width, position="learned", scale=False,
                 embeddings_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        owner = "TokenAndPositionEmbedding"
        self.vocabulary_size = errors.check_int(owner, "vocabulary_size", vocabulary_size)
        self.max_length = errors.check_int(owner, "max_length", max_length)
        self.width = errors.check_int(owner, "width", width)
        self.position = errors.check_choice(owner, "position", position, POSITIONS)
        self.scale = bool(scale)
        self.embeddings_initializer = embeddings_initializer
        self.token_embedding = keras.layers.ReversibleEmbedding(
            vocabulary_size, width, embeddings_initializer=embeddings_initializer, dtype=self.dtype_policy,
            name="token_embedding")
        self.supports_masking = False

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        if self.position == "learned":
            self.position_embeddings = self.add_weight(
                shape=(self.max_length, self.width), initializer=self.embeddings_initializer,
                name="position_embeddings")
        self.built = True

    def call(self, inputs, start_index=0, reverse=False):
        if reverse:
            return self.token_embedding(inputs, reverse=True)
        length = _static_length(inputs)
        if length is not None and self.position != "none":
            first = start_index if isinstance(start_index, numbers.Integral) else 0
            if first + length > self.max_length:
                raise errors.invalid(self.name, "inputs", f"sequences of at most {self.max_length} tokens (the "
                                     "position table's max_length)", f"{length} tokens from position {first}")
        x = self.token_embedding(inputs)
        if self.scale:
            x = x * ops.cast(math.sqrt(self.width), x.dtype)
        if self.position == "none":
            return x
        length = ops.shape(inputs)[1]
        if self.position == "learned":
            table = ops.take(self.position_embeddings, ops.arange(length) + start_index, axis=0)
        else:
            table = sinusoidal_positions(length, self.width, start=start_index)
        return x + ops.cast(table, x.dtype)[None]

    def compute_output_spec(self, inputs, start_index=0, reverse=False):
        if reverse:
            return keras.KerasTensor((*inputs.shape[:-1], self.vocabulary_size), dtype=self.compute_dtype)
        return keras.KerasTensor((*inputs.shape, self.width), dtype=self.compute_dtype)


    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "max_length": self.max_length,
                "width": self.width, "position": self.position, "scale": self.scale,
                "embeddings_initializer": self.embeddings_initializer}


def rotate(x, positions, max_wavelength=10000.0):
    """Rotary position embedding of `x` `(batch, length, heads, head_dim)` at integer `positions` `(length,)`.

    Feature pairs `(x[i], x[i + head_dim / 2])` turn by the angle `position / max_wavelength ** (2i / head_dim)`, so
    the dot product of a rotated query and key depends only on their distance (Su et al. 2021).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.sequence import rotate
    x = np.ones((1, 3, 2, 4), "float32")
    float(np.abs(np.asarray(rotate(x, np.arange(3)))[0, 0] - x[0, 0]).max())  # 0.0
    ```
    """
    head_dim = x.shape[-1]
    half = head_dim // 2
    frequencies = ops.power(float(max_wavelength), -ops.cast(ops.arange(half), "float32") * 2.0 / head_dim)
    angles = ops.cast(positions, "float32")[:, None] * frequencies[None, :]
    cos = ops.cast(ops.cos(angles), x.dtype)[None, :, None, :]
    sin = ops.cast(ops.sin(angles), x.dtype)[None, :, None, :]
    first, second = x[..., :half], x[..., half:]
    return ops.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


@keras.saving.register_keras_serializable(package="kerakit")
class CachedMultiHeadAttention(keras.layers.MultiHeadAttention):
    """Keras's `MultiHeadAttention` with a key/value cache, rotary positions and an additive attention bias.

    With `cache` (shape `(batch, 2, cache_length, heads, key_dim)`: keys then values) and `cache_index`, the keys and
    values of the new query tokens are written into the cache at `cache_index`, attention runs over the whole cache,
    and the call returns `(output, cache)`: a generated token costs one step, not a re-run of the sequence.

    Args:
        num_heads: int. Attention heads.
        key_dim: int. Width of each head.
        rotary_max_wavelength: float or None. Rotate queries and keys by their positions (RoPE) with this base;
            `None` turns rotary positions off. Defaults to `None`.
        **kwargs: `keras.layers.MultiHeadAttention` arguments (`dropout`, `use_bias`, `name`, ...).

    Call arguments:
        query: `(batch, query_length, width)`.
        value: `(batch, key_length, width)`.
        key: `(batch, key_length, width)` or None (then `value` is the key too).
        attention_mask: bool `(batch, query_length, key_length)`, true where a query may attend. Defaults to `None`.
        attention_bias: float, broadcastable to `(batch, heads, query_length, key_length)`, added to the scores.
        cache: the key/value cache, or `None`.
        cache_index: int or scalar tensor. Where the new keys and values go in the cache, and the position of the
            first query for rotary positions. Defaults to `0`.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.sequence import CachedMultiHeadAttention
    attention = CachedMultiHeadAttention(num_heads=2, key_dim=4)
    x = np.random.default_rng(0).normal(size=(1, 5, 8)).astype("float32")
    tuple(attention(x, x).shape)  # (1, 5, 8)
    ```
    """

    def __init__(self, num_heads, key_dim, rotary_max_wavelength=None, **kwargs):
        super().__init__(num_heads=num_heads, key_dim=key_dim, **kwargs)
        if rotary_max_wavelength is not None:
            errors.check_positive_float("CachedMultiHeadAttention", "rotary_max_wavelength", rotary_max_wavelength)
            if key_dim % 2:
                raise errors.invalid("CachedMultiHeadAttention", "key_dim", "even with rotary positions", key_dim)
        self.rotary_max_wavelength = rotary_max_wavelength

    def call(self, query, value, key=None, attention_mask=None, attention_bias=None, cache=None, cache_index=0,
             training=None):
        key_input = value if key is None else key
        query_projected = self._query_dense(query)
        if cache is None:
            key, value_projected = self._key_dense(key_input), self._value_dense(value)
            if self.rotary_max_wavelength:
                positions = ops.arange(ops.shape(query)[1]) + cache_index
                query_projected = rotate(query_projected, positions, self.rotary_max_wavelength)
                key = rotate(key, positions, self.rotary_max_wavelength)
        else:
            new_key, new_value = self._key_dense(key_input), self._value_dense(value)
            if self.rotary_max_wavelength:
                positions = ops.arange(ops.shape(query)[1]) + cache_index
                query_projected = rotate(query_projected, positions, self.rotary_max_wavelength)
                new_key = rotate(new_key, positions, self.rotary_max_wavelength)
            start = (0, cache_index, 0, 0)
            key = ops.slice_update(cache[:, 0], start, ops.cast(new_key, cache.dtype))
            value_projected = ops.slice_update(cache[:, 1], start, ops.cast(new_value, cache.dtype))
            cache = ops.stack([key, value_projected], axis=1)
        output = self._attend(query_projected, key, value_projected, attention_mask, attention_bias, training)
        output = self._output_dense(output)
        return output if cache is None else (output, cache)

    def _attend(self, query, key, value, attention_mask, attention_bias, training):
        """Scaled dot-product attention over `(batch, length, heads, head_dim)` tensors with a mask and a bias."""
        mask = None if attention_mask is None else ops.cast(attention_mask, "bool")[:, None, :, :]
        if not (self._dropout > 0.0 and training):
            return ops.dot_product_attention(query, key, value, bias=attention_bias, mask=mask,
                                             scale=self._inverse_sqrt_key_dim)
        scores = ops.einsum("bqhd,bkhd->bhqk", query, key) * ops.cast(self._inverse_sqrt_key_dim, query.dtype)
        if attention_bias is not None:
            scores = scores + ops.cast(attention_bias, scores.dtype)
        if mask is not None:
            scores = ops.where(mask, scores, ops.cast(-1e9 if scores.dtype == "float32" else -3e4, scores.dtype))
        weights = self._dropout_layer(ops.softmax(scores, axis=-1), training=training)
        return ops.einsum("bhqk,bkhd->bqhd", weights, value)

    def get_config(self):
        return {**super().get_config(), "rotary_max_wavelength": self.rotary_max_wavelength}


@keras.saving.register_keras_serializable(package="kerakit")
class RelativePositionBias(keras.layers.Layer):
    """T5's relative position bias: one learned scalar per head and distance bucket, added to attention scores.

    Distances below `num_buckets / 2` (half that when bidirectional, per direction) get a bucket each; longer ones
    share logarithmically wider buckets up to `max_distance` (Raffel et al. 2020). Compute it once and pass it to
    every block as `attention_bias`.

    Args:
        num_heads: int. Attention heads.
        num_buckets: int. Distance buckets. Defaults to `32`.
        max_distance: int. Distances from here on share the last bucket. Defaults to `128`.
        bidirectional: bool. Separate buckets for keys before and after the query (encoders). Defaults to `True`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, query_length, width)`; only its length is used.
        key_length: int or None. Length of the keys; defaults to the query length.
        start_index: int or scalar tensor. Position of the first query (generation with a cache). Defaults to `0`.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.sequence import RelativePositionBias
    bias = RelativePositionBias(num_heads=2, num_buckets=8, max_distance=16)
    tuple(bias(np.zeros((1, 5, 4), "float32")).shape)  # (1, 2, 5, 5)
    ```
    """

    def __init__(self, num_heads, num_buckets=32, max_distance=128, bidirectional=True, **kwargs):
        super().__init__(**kwargs)
        owner = "RelativePositionBias"
        self.num_heads = errors.check_int(owner, "num_heads", num_heads)
        self.num_buckets = errors.check_int(owner, "num_buckets", num_buckets, minimum=2)
        self.max_distance = errors.check_int(owner, "max_distance", max_distance, minimum=2)
        self.bidirectional = bool(bidirectional)

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.num_buckets, self.num_heads), initializer="glorot_uniform",
                                          name="embeddings")
        self.built = True

    def buckets(self, relative_position):
        """Bucket index of each `key_position - query_position` (int tensor)."""
        num_buckets, bucket = self.num_buckets, 0
        if self.bidirectional:
            num_buckets //= 2
            bucket = ops.cast(relative_position > 0, "int32") * num_buckets
            distance = ops.abs(relative_position)
        else:
            distance = ops.maximum(-relative_position, 0)
        exact = num_buckets // 2
        is_small = distance < exact
        scaled = ops.log(ops.maximum(ops.cast(distance, "float32"), 1.0) / exact) / math.log(self.max_distance / exact)
        large = ops.minimum(exact + ops.cast(scaled * (num_buckets - exact), "int32"), num_buckets - 1)
        return bucket + ops.where(is_small, ops.cast(distance, "int32"), large)

    def call(self, inputs, key_length=None, start_index=0):
        query_length = ops.shape(inputs)[1]
        key_length = query_length if key_length is None else key_length
        query_positions = ops.arange(query_length) + start_index
        relative = ops.arange(key_length)[None, :] - query_positions[:, None]
        values = ops.take(self.embeddings, self.buckets(relative), axis=0)  # (query, key, heads)
        return ops.transpose(values, (2, 0, 1))[None]

    def compute_output_spec(self, inputs, key_length=None, start_index=0):
        keys = inputs.shape[1] if key_length is None else key_length
        return keras.KerasTensor((1, self.num_heads, inputs.shape[1], keys if isinstance(keys, int) else None),
                                 dtype=self.compute_dtype)


    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "num_buckets": self.num_buckets,
                "max_distance": self.max_distance, "bidirectional": self.bidirectional}


def _check_block_arguments(owner, num_heads, intermediate_dim, dropout, attention_dropout, activation, norm,
                           layer_norm_epsilon):
    errors.check_int(owner, "num_heads", num_heads)
    errors.check_int(owner, "intermediate_dim", intermediate_dim)
    errors.check_rate(owner, "dropout", dropout)
    errors.check_rate(owner, "attention_dropout", attention_dropout)
    errors.check_activation(owner, "activation", activation)
    errors.check_choice(owner, "norm", norm, NORMS)
    errors.check_positive_float(owner, "layer_norm_epsilon", layer_norm_epsilon)


def check_heads_divide_width(owner, num_heads, width):
    """Refuses a `num_heads` that does not divide the model width."""
    if width % num_heads:
        raise errors.invalid(owner, "num_heads", f"a divisor of the width {width}", num_heads)
    return width // num_heads


def check_transformer_sizes(owner, vocabulary_size, max_length, width, num_heads, intermediate_dim, dropout,
                            sequence_length=None):
    """Checks the sizes every transformer blueprint takes, with the same messages everywhere."""
    for argument, value in (("vocabulary_size", vocabulary_size), ("max_length", max_length), ("width", width),
                            ("num_heads", num_heads), ("intermediate_dim", intermediate_dim)):
        errors.check_int(owner, argument, value)
    check_heads_divide_width(owner, num_heads, width)
    errors.check_rate(owner, "dropout", dropout)
    if sequence_length is not None:
        errors.check_int(owner, "sequence_length", sequence_length)
        if sequence_length > max_length:
            raise errors.invalid(owner, "sequence_length", f"None or at most max_length={max_length} (the position "
                                 "table's length)", sequence_length)


class _TransformerBlock(keras.layers.Layer):
    """What the encoder and decoder blocks share: attention sublayers, the feed-forward network, norms, residuals."""

    def __init__(self, num_heads, intermediate_dim, dropout=0.0, attention_dropout=0.0, activation="gelu",
                 norm_first=False, norm="layer", layer_norm_epsilon=1e-5, use_bias=True, rotary_max_wavelength=None,
                 **kwargs):
        super().__init__(**kwargs)
        _check_block_arguments(type(self).__name__, num_heads, intermediate_dim, dropout, attention_dropout,
                               activation, norm, layer_norm_epsilon)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.activation = activation
        self.norm_first = bool(norm_first)
        self.norm = norm
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.use_bias = bool(use_bias)
        self.rotary_max_wavelength = rotary_max_wavelength
        self.supports_masking = False

    def _norm_layer(self, name):
        if self.norm == "rms":
            return keras.layers.RMSNormalization(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name)
        return keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name)

    def _attention_layer(self, width, name, rotary):
        key_dim = check_heads_divide_width(self.name, self.num_heads, width)
        return CachedMultiHeadAttention(
            num_heads=self.num_heads, key_dim=key_dim, dropout=self.attention_dropout, use_bias=self.use_bias,
            rotary_max_wavelength=self.rotary_max_wavelength if rotary else None, dtype=self.dtype_policy, name=name)

    def _build_self_attention(self, shape):
        self.self_attention = self._attention_layer(shape[-1], "self_attention", rotary=True)
        self.self_attention.build(shape, shape)
        self.self_attention_norm = self._norm_layer("self_attention_norm")
        self.self_attention_norm.build(shape)

    def _build_feedforward(self, shape):
        width = shape[-1]
        self.feedforward_intermediate = keras.layers.Dense(self.intermediate_dim, activation=self.activation,
                                                           use_bias=self.use_bias, dtype=self.dtype_policy,
                                                           name="feedforward_intermediate")
        self.feedforward_output = keras.layers.Dense(width, use_bias=self.use_bias, dtype=self.dtype_policy,
                                                     name="feedforward_output")
        self.feedforward_norm = self._norm_layer("feedforward_norm")
        self.feedforward_intermediate.build(shape)
        self.feedforward_output.build((*shape[:-1], self.intermediate_dim))
        self.feedforward_norm.build(shape)
        self.residual_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="residual_dropout")

    def _residual(self, x, norm, sublayer, training):
        """`x + dropout(sublayer(norm(x)))` (pre-norm) or `norm(x + dropout(sublayer(x)))` (post-norm).

        `sublayer` returns the branch, or `(branch, cache)`; the cache is passed through."""
        result = sublayer(norm(x) if self.norm_first else x)
        branch, cache = result if isinstance(result, tuple) else (result, None)
        x = x + self.residual_dropout(branch, training=training)
        return (x if self.norm_first else norm(x)), cache

    def compute_output_spec(self, inputs, *args, cache=None, **kwargs):
        output = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        return output if cache is None else (output, keras.KerasTensor(cache.shape, dtype=cache.dtype))

    def _feedforward(self, x, training):
        return self._residual(x, self.feedforward_norm,
                              lambda h: self.feedforward_output(self.feedforward_intermediate(h)), training)[0]


    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout, "attention_dropout": self.attention_dropout,
                "activation": keras.activations.serialize(keras.activations.get(self.activation))
                if not isinstance(self.activation, str) else self.activation,
                "norm_first": self.norm_first, "norm": self.norm, "layer_norm_epsilon": self.layer_norm_epsilon,
                "use_bias": self.use_bias, "rotary_max_wavelength": self.rotary_max_wavelength}


def _padding_attention_mask(mask, query_length):
    """`(batch, keys)` padding mask -> `(batch, queries, keys)`: no query attends to a padded key."""
    return ops.broadcast_to(mask[:, None, :], (ops.shape(mask)[0], query_length, ops.shape(mask)[1]))


@keras.saving.register_keras_serializable(package="kerakit")
class TransformerEncoderBlock(_TransformerBlock):
    """Self-attention over the whole sequence, then a feed-forward network; each with a residual and a norm.

    Post-norm by default, as in Vaswani et al. 2017 and BERT (Devlin et al. 2019); `norm_first=True` gives pre-norm.

    Args:
        num_heads: int. Attention heads; must divide the width.
        intermediate_dim: int. Width of the feed-forward network's hidden layer.
        dropout: float. Dropout on each residual branch. Defaults to `0.0`.
        attention_dropout: float. Dropout on the attention weights. Defaults to `0.0`.
        activation: str. Feed-forward activation. Defaults to `"gelu"`.
        norm_first: bool. Pre-norm instead of post-norm. Defaults to `False`.
        norm: str. `"layer"` or `"rms"` (T5). Defaults to `"layer"`.
        layer_norm_epsilon: float. Defaults to `1e-5`.
        use_bias: bool. Biases in the dense projections. Defaults to `True`.
        rotary_max_wavelength: float or None. Rotary positions in self-attention. Defaults to `None`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, length, width)`.
        padding_mask: `(batch, length)`, true for real tokens; padded tokens receive no attention.
        attention_bias: float, broadcastable to `(batch, heads, length, length)`.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.sequence import TransformerEncoderBlock
    block = TransformerEncoderBlock(num_heads=2, intermediate_dim=16)
    x = np.zeros((2, 5, 8), "float32")
    tuple(block(x, padding_mask=np.array([[1, 1, 1, 0, 0]] * 2)).shape)  # (2, 5, 8)
    ```
    """

    def build(self, input_shape, *args, **kwargs):
        self._build_self_attention(input_shape)
        self._build_feedforward(input_shape)
        self.built = True

    def call(self, inputs, padding_mask=None, attention_bias=None, training=None):
        mask = check_mask_shape(self.name, "padding_mask", padding_mask, inputs)
        attention_mask = None if mask is None else _padding_attention_mask(mask, ops.shape(inputs)[1])
        x, _ = self._residual(inputs, self.self_attention_norm, lambda h: self.self_attention(
            h, h, attention_mask=attention_mask, attention_bias=attention_bias, training=training), training)
        return self._feedforward(x, training)


def causal_mask(query_length, key_length, start_index=0):
    """Bool `(1, query_length, key_length)`: query `i` (at position `start_index + i`) sees keys at positions <= its own.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.sequence import causal_mask
    np.asarray(causal_mask(2, 3)).astype(int).tolist()  # [[[1, 0, 0], [1, 1, 0]]]
    ```
    """
    query_positions = ops.arange(query_length) + start_index
    return (ops.arange(key_length)[None, :] <= query_positions[:, None])[None]


@keras.saving.register_keras_serializable(package="kerakit")
class TransformerDecoderBlock(_TransformerBlock):
    """Causal self-attention, optional cross-attention to an encoder, then a feed-forward network.

    With `cross_attention=False` it is a GPT block (Radford et al. 2018, 2019; pre-norm there); with it, a
    Vaswani et al. decoder block. Generation passes `cache` and `cache_index`: the block then attends over the cached
    keys and values of earlier tokens and returns `(outputs, cache)`.

    Args:
        num_heads, intermediate_dim, dropout, attention_dropout, activation, norm_first, norm, layer_norm_epsilon,
        use_bias, rotary_max_wavelength: as in `TransformerEncoderBlock`.
        cross_attention: bool. Attend to `encoder_outputs` after the self-attention. Defaults to `False`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, length, width)`.
        encoder_outputs: `(batch, source_length, width)`, needed with `cross_attention=True`.
        padding_mask: `(batch, length)` for the decoder's own tokens.
        encoder_padding_mask: `(batch, source_length)`.
        self_attention_bias, cross_attention_bias: additive attention biases (T5).
        cache: `(batch, 2, cache_length, heads, head_dim)` self-attention keys and values, or `None`.
        cache_index: int or scalar tensor. Position of the first of `inputs` (where its keys go in the cache).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.sequence import TransformerDecoderBlock
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=16, norm_first=True)
    x = np.random.default_rng(0).normal(size=(1, 4, 8)).astype("float32")
    y = np.asarray(block(x))
    x[0, 3] += 1.0  # a later token changes...
    float(np.abs(np.asarray(block(x))[0, :3] - y[0, :3]).max()) < 1e-6  # True
    ```
    """

    def __init__(self, num_heads, intermediate_dim, cross_attention=False, **kwargs):
        super().__init__(num_heads, intermediate_dim, **kwargs)
        self.cross_attention = bool(cross_attention)

    def build(self, input_shape, *args, **kwargs):
        self._build_self_attention(input_shape)
        if self.cross_attention:
            self.cross_attention_layer = self._attention_layer(input_shape[-1], "cross_attention", rotary=False)
            self.cross_attention_layer.build(input_shape, input_shape)
            self.cross_attention_norm = self._norm_layer("cross_attention_norm")
            self.cross_attention_norm.build(input_shape)
        self._build_feedforward(input_shape)
        self.built = True

    def call(self, inputs, encoder_outputs=None, padding_mask=None, encoder_padding_mask=None,
             self_attention_bias=None, cross_attention_bias=None, cache=None, cache_index=0, training=None):
        if self.cross_attention and encoder_outputs is None:
            raise errors.invalid(self.name, "encoder_outputs", "the encoder's outputs (the block has "
                                 "cross_attention=True)", None)
        mask = check_mask_shape(self.name, "padding_mask", padding_mask, inputs)
        query_length = ops.shape(inputs)[1]
        key_length = query_length if cache is None else ops.shape(cache)[2]
        attention_mask = causal_mask(query_length, key_length, cache_index)
        if mask is not None and cache is None:
            attention_mask = ops.logical_and(attention_mask, _padding_attention_mask(mask, query_length))
        x, cache = self._residual(inputs, self.self_attention_norm, lambda h: self.self_attention(
            h, h, attention_mask=attention_mask, attention_bias=self_attention_bias, cache=cache,
            cache_index=cache_index, training=training), training)
        if self.cross_attention:
            source_mask = check_mask_shape(self.name, "encoder_padding_mask", encoder_padding_mask, encoder_outputs)
            cross_mask = None if source_mask is None else _padding_attention_mask(source_mask, query_length)
            x, _ = self._residual(x, self.cross_attention_norm, lambda h: self.cross_attention_layer(
                h, encoder_outputs, attention_mask=cross_mask, attention_bias=cross_attention_bias,
                training=training), training)
        x = self._feedforward(x, training)
        return x if cache is None else (x, cache)


    def get_config(self):
        return {**super().get_config(), "cross_attention": self.cross_attention}
