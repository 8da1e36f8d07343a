"""The encoder-decoder transformer: Vaswani et al.'s Transformer and a T5-style variant.

`transformer_base` is the base model of Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser and Polosukhin
("Attention Is All You Need", NeurIPS 2017, arXiv:1706.03762): a shared source/target vocabulary of 37,000 tokens,
width 512, 6 encoder and 6 decoder blocks of 8 heads with a 2,048-wide ReLU feed-forward network, sinusoidal
positions, token embeddings multiplied by `sqrt(width)`, post-norm residuals and dropout 0.1:

    x = LayerNorm(x + Dropout(SelfAttention(x)))                    # encoder block (source padding masked)
    x = LayerNorm(x + Dropout(FeedForward(x)))
    y = LayerNorm(y + Dropout(CausalSelfAttention(y)))              # decoder block
    y = LayerNorm(y + Dropout(CrossAttention(y, encoder_outputs)))  # (source padding masked)
    y = LayerNorm(y + Dropout(FeedForward(y)))
    logits = y @ E^T                                                # E: the one shared embedding matrix

`t5_small` follows T5-small (Raffel, Shazeer, Roberts, Lee, Narang, Matena, Zhou, Li and Liu, "Exploring the Limits
of Transfer Learning with a Unified Text-to-Text Transformer", JMLR 2020, arXiv:1910.10683): vocabulary 32,128, the
same sizes, but pre-norm residuals with RMS norm (`x + Dropout(Sublayer(RMSNorm(x)))`) and a final RMS norm on each
stack, no bias anywhere, no absolute positions: a learned relative position bias (32 buckets up to distance 128,
bidirectional in the encoder, looking back only in the decoder) is computed once per stack and added to the scores
of every self-attention; the decoder's last states are scaled by `1 / sqrt(width)` before the tied output
projection. Its 60,506,624 parameters are those of Hugging Face's `t5-small`. It differs from T5 where Keras's
attention does: the scores are divided by `sqrt(head_dim)` (T5 folds that into its initialisation), and the weights
start from Keras's default initialisers.

The model takes `{"source_tokens", "target_tokens"}`, int32 `(batch, length)` arrays of any lengths, and returns
logits `(batch, target_length, vocabulary_size)` for the next target token at every position (teacher forcing:
train with `compile`/`fit` on `(inputs, targets)` where `target_tokens` are the targets shifted right behind a
start token). Token id 0 is padding: a padded source token receives no attention, in the encoder or from the
decoder. The decoder's self-attention is causal, so it masks target padding as well as it needs to (padding after
the tokens only affects padded positions); its first token may be 0, as T5's start token is.
"""

import math

from kerakit import errors
from kerakit.registry import blueprint, variant_of

_TINY = {"vocabulary_size": 50, "max_length": 16, "num_encoder_layers": 1, "num_decoder_layers": 1, "width": 16,
         "num_heads": 2, "intermediate_dim": 32}
_T5_TINY = {**_TINY, "relative_attention_buckets": 8, "relative_attention_max_distance": 16}


def _check_arguments(owner, vocabulary_size, max_length, num_encoder_layers, num_decoder_layers, width, num_heads,
                     intermediate_dim, dropout, attention_dropout, activation, position, scale_embeddings, norm,
                     norm_first, layer_norm_epsilon, use_bias, relative_attention, relative_attention_buckets,
                     relative_attention_max_distance, scale_output):
    from kerakit.layers.sequence import NORMS, POSITIONS, check_transformer_sizes

    check_transformer_sizes(owner, vocabulary_size, max_length, width, num_heads, intermediate_dim, dropout)
    errors.check_int(owner, "num_encoder_layers", num_encoder_layers)
    errors.check_int(owner, "num_decoder_layers", num_decoder_layers)
    errors.check_rate(owner, "attention_dropout", attention_dropout)
    errors.check_activation(owner, "activation", activation)
    errors.check_choice(owner, "position", position, POSITIONS)
    errors.check_choice(owner, "norm", norm, NORMS)
    errors.check_positive_float(owner, "layer_norm_epsilon", layer_norm_epsilon)
    for argument, value in (("scale_embeddings", scale_embeddings), ("norm_first", norm_first),
                            ("use_bias", use_bias), ("relative_attention", relative_attention),
                            ("scale_output", scale_output)):
        if not isinstance(value, bool):
            raise errors.invalid(owner, argument, "True or False", value)
    if relative_attention:
        errors.check_int(owner, "relative_attention_buckets", relative_attention_buckets, minimum=2)
        errors.check_int(owner, "relative_attention_max_distance", relative_attention_max_distance, minimum=2)


def _norm(norm, epsilon, name):
    import keras

    if norm == "rms":  # not LayerNormalization(rms_scaling=True), which divides by the standard deviation
        return keras.layers.RMSNormalization(epsilon=epsilon, name=name)
    return keras.layers.LayerNormalization(epsilon=epsilon, name=name)


def encoder_decoder_transformer(
    vocabulary_size=37000,
    max_length=512,
    num_encoder_layers=6,
    num_decoder_layers=6,
    width=512,
    num_heads=8,
    intermediate_dim=2048,
    dropout=0.1,
    attention_dropout=0.0,
    activation="relu",
    position="sinusoidal",
    scale_embeddings=True,
    norm="layer",
    norm_first=False,
    layer_norm_epsilon=1e-6,
    use_bias=True,
    relative_attention=False,
    relative_attention_buckets=32,
    relative_attention_max_distance=128,
    scale_output=False,
    name="transformer",
):
    """The configurable encoder-decoder transformer behind `transformer_base` and `t5_small`.

    {ARGS}

    Returns:
        A functional `keras.Model` taking `{"source_tokens", "target_tokens"}` (int32 `(batch, length)`, 0 for
        padding) and returning logits `(batch, target_length, vocabulary_size)`.

    Example:

    ```python
    import numpy as np
    from blueprints.sequence.transformer import encoder_decoder_transformer
    model = encoder_decoder_transformer(vocabulary_size=20, max_length=8, num_encoder_layers=1,
                                        num_decoder_layers=1, width=8, num_heads=2, intermediate_dim=16)
    inputs = {"source_tokens": np.array([[5, 6, 7, 0, 0]]), "target_tokens": np.array([[1, 5, 6]])}
    model.predict(inputs, verbose=0).shape  # (1, 3, 20)
    ```
    """
    if not isinstance(name, str) or not name:
        raise errors.invalid("encoder_decoder_transformer", "name", "a non-empty string", name)
    _check_arguments(name, vocabulary_size, max_length, num_encoder_layers, num_decoder_layers, width, num_heads,
                     intermediate_dim, dropout, attention_dropout, activation, position, scale_embeddings, norm,
                     norm_first, layer_norm_epsilon, use_bias, relative_attention, relative_attention_buckets,
                     relative_attention_max_distance, scale_output)
    import keras

    from kerakit.layers.sequence import (
        RelativePositionBias,
        TokenAndPositionEmbedding,
        TransformerDecoderBlock,
        TransformerEncoderBlock,
    )

    block_arguments = {"num_heads": num_heads, "intermediate_dim": intermediate_dim, "dropout": dropout,
                       "attention_dropout": attention_dropout, "activation": activation, "norm_first": norm_first,
                       "norm": norm, "layer_norm_epsilon": layer_norm_epsilon, "use_bias": use_bias}
    inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key) for key in ("source_tokens", "target_tokens")}
    source_mask = keras.ops.not_equal(inputs["source_tokens"], 0)  # true for real tokens
    # One embedding matrix for the source, the target and the output projection (Press and Wolf 2017).
    embedding = TokenAndPositionEmbedding(vocabulary_size, max_length, width, position=position,
                                          scale=scale_embeddings, name=f"{name}_embedding")

    def relative_bias(x, stack, bidirectional):
        if not relative_attention:
            return {}
        bias = RelativePositionBias(num_heads, num_buckets=relative_attention_buckets,
                                    max_distance=relative_attention_max_distance, bidirectional=bidirectional,
                                    name=f"{name}_{stack}_relative_position_bias")(x)
        return {"attention_bias" if stack == "encoder" else "self_attention_bias": bias}

    def finish(x, stack):
        """Pre-norm stacks end with a norm (their blocks leave the residual stream unnormalised)."""
        if norm_first:
            x = _norm(norm, layer_norm_epsilon, f"{name}_{stack}_norm")(x)
            x = keras.layers.Dropout(dropout, name=f"{name}_{stack}_output_dropout")(x)
        return x

    x = embedding(inputs["source_tokens"])
    x = keras.layers.Dropout(dropout, name=f"{name}_encoder_embedding_dropout")(x)
    bias = relative_bias(x, "encoder", bidirectional=True)
    for i in range(1, num_encoder_layers + 1):
        x = TransformerEncoderBlock(**block_arguments, name=f"{name}_encoder_block{i}")(
            x, padding_mask=source_mask, **bias)
    encoder_outputs = finish(x, "encoder")

    y = embedding(inputs["target_tokens"])
    y = keras.layers.Dropout(dropout, name=f"{name}_decoder_embedding_dropout")(y)
    bias = relative_bias(y, "decoder", bidirectional=False)
    for i in range(1, num_decoder_layers + 1):
        y = TransformerDecoderBlock(**block_arguments, cross_attention=True, name=f"{name}_decoder_block{i}")(
            y, encoder_outputs=encoder_outputs, encoder_padding_mask=source_mask, **bias)
    y = finish(y, "decoder")
    if scale_output:
        y = keras.layers.Rescaling(1.0 / math.sqrt(width), name=f"{name}_output_scale")(y)
    logits = embedding(y, reverse=True)  # tied: the shared embedding matrix, transposed
    return keras.Model(inputs, logits, name=name)


_ARGS_DOC = """
    Args:
        vocabulary_size: int. Token ids of the shared source/target vocabulary; ids lie in
            `[0, vocabulary_size)`, 0 being padding. Defaults to `{vocabulary_size}`.
        max_length: int. Longest sequence the absolute positions cover (unused with `position="none"`).
            Defaults to `512`.
        num_encoder_layers: int. Encoder blocks. Defaults to `6`.
        num_decoder_layers: int. Decoder blocks. Defaults to `6`.
        width: int. Model width (`d_model`). Defaults to `512`.
        num_heads: int. Attention heads; must divide `width`. Defaults to `8`.
        intermediate_dim: int. Width of each block's feed-forward hidden layer (`d_ff`). Defaults to `2048`.
        dropout: float. Dropout on the embeddings, every residual branch (and the pre-norm stacks' outputs).
            Defaults to `0.1`.
        attention_dropout: float. Dropout on the attention weights. Defaults to `{attention_dropout}`.
        activation: str. Feed-forward activation. Defaults to `"relu"`.
        position: str. Absolute positions added to the token vectors: `"sinusoidal"`, `"learned"` or `"none"`.
            Defaults to `"{position}"`.
        scale_embeddings: bool. Multiply the token vectors by `sqrt(width)` (Vaswani et al.). Defaults to
            `{scale_embeddings}`.
        norm: str. `"layer"` (LayerNorm) or `"rms"` (RMS norm, T5). Defaults to `"{norm}"`.
        norm_first: bool. Pre-norm residuals, and a final norm on each stack. Defaults to `{norm_first}`.
        layer_norm_epsilon: float. Epsilon of every norm. Defaults to `1e-6`.
        use_bias: bool. Biases in the attention and feed-forward projections. Defaults to `{use_bias}`.
        relative_attention: bool. Add T5's relative position bias to the self-attention scores, one bias layer
            per stack shared by all its blocks. Defaults to `{relative_attention}`.
        relative_attention_buckets: int. Distance buckets of the relative bias. Defaults to `32`.
        relative_attention_max_distance: int. Distances from here on share the last bucket. Defaults to `128`.
        scale_output: bool. Multiply the decoder's last states by `1 / sqrt(width)` before the tied output
            projection (T5). Defaults to `{scale_output}`.
        name: str. Model name and layer-name prefix. Defaults to `"{name}"`.
"""

_BUILDER_DEFAULTS = {"vocabulary_size": 37000, "attention_dropout": 0.0, "position": "sinusoidal",
                     "scale_embeddings": True, "norm": "layer", "norm_first": False, "use_bias": True,
                     "relative_attention": False, "scale_output": False}
_VARIANTS = {
    "encoder_decoder_transformer": {**_BUILDER_DEFAULTS, "name": "transformer"},
    "transformer_base": {**_BUILDER_DEFAULTS, "name": "transformer_base"},
    "t5_small": {"vocabulary_size": 32128, "attention_dropout": 0.1, "position": "none", "scale_embeddings": False,
                 "norm": "rms", "norm_first": True, "use_bias": False, "relative_attention": True,
                 "scale_output": True, "name": "t5_small"},
}


def _document(variant):
    """Fills the `{ARGS}` placeholder of a docstring with the builder's `Args:` section and the variant's values."""

    def decorate(fn):
        if fn.__doc__:  # None under `python -OO`
            fn.__doc__ = fn.__doc__.replace("{ARGS}", _ARGS_DOC.format(**_VARIANTS[variant]).strip())
        return fn

    return decorate


_document("encoder_decoder_transformer")(encoder_decoder_transformer)


def _variant(variant, kwargs):
    """Calls the builder with the variant's defaults, the caller's `kwargs` winning."""
    return encoder_decoder_transformer(**{**_VARIANTS[variant], **kwargs})


@blueprint(family="sequence", task="seq2seq", tiny=_TINY)
@variant_of(encoder_decoder_transformer, **_VARIANTS["transformer_base"])
@_document("transformer_base")
def transformer_base(**kwargs):
    """Transformer base (Vaswani et al. 2017): 6+6 post-norm blocks, width 512, 8 heads; 63,082,496 params.

    The count is with the shared 37,000-token vocabulary (the paper's English-German byte-pair encoding): one
    embedding matrix of 18,944,000, the encoder's 18,914,304 and the decoder's 25,224,192; the arguments are the
    encoder-decoder builder's.

    {ARGS}

    Example:

    ```python
    import numpy as np
    import kerakit
    model = kerakit.build("transformer_base", vocabulary_size=30, max_length=16, num_encoder_layers=1,
                          num_decoder_layers=1, width=16, num_heads=2, intermediate_dim=32)
    inputs = {"source_tokens": np.array([[3, 4, 5, 0]]), "target_tokens": np.array([[1, 3, 4, 5, 2]])}
    model.predict(inputs, verbose=0).shape  # (1, 5, 30)
    ```
    """
    return _variant("transformer_base", kwargs)


@blueprint(family="sequence", task="seq2seq", tiny=_T5_TINY)
@variant_of(encoder_decoder_transformer, **_VARIANTS["t5_small"])
@_document("t5_small")
def t5_small(**kwargs):
    """T5-small style (Raffel et al. 2020): pre-RMS-norm, relative positions, no biases; 60,506,624 params.

    6+6 blocks, width 512, 8 heads, a 2,048-wide ReLU feed-forward network and the 32,128-token vocabulary, as
    Hugging Face's `t5-small` (shared embedding 16,449,536, encoder 18,881,280, decoder 25,175,808); the arguments
    are the encoder-decoder builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("t5_small", vocabulary_size=30, num_encoder_layers=2, num_decoder_layers=1, width=16,
                          num_heads=2, intermediate_dim=32)
    [type(layer).__name__ for layer in model.layers].count("RelativePositionBias")  # 2
    ```
    """
    return _variant("t5_small", kwargs)


def layout_map(mesh):
    """Model-parallel layouts of this file's blueprints' weights (attention heads and feed-forward units split over
    the mesh's `"model"` axis); used by `kerakit.distribute.model_parallel`."""
    from kerakit.distribute import transformer_layout_map

    return transformer_layout_map(mesh)
