"""Decoder-only transformer language models: GPT (Radford et al., "Improving Language Understanding by Generative
Pre-Training", 2018) and GPT-2 (Radford et al., "Language Models are Unsupervised Multitask Learners", 2019).

Pre-norm decoder blocks with causal self-attention and a GELU feed-forward network, learned positions, a final layer
norm, and input/output embeddings tied (the token table scores the vocabulary). `kerakit.generation.generate` writes
text with these models using a key/value cache.
"""

from kerakit import errors
from kerakit.registry import blueprint, variant_of

POSITIONS = ("learned", "sinusoidal", "rotary")

_TINY = {"vocabulary_size": 32, "max_length": 16, "num_layers": 2, "width": 16, "num_heads": 2, "dropout": 0.0}


def gpt(
    vocabulary_size=50257,
    max_length=1024,
    num_layers=12,
    width=768,
    num_heads=12,
    intermediate_dim=None,
    dropout=0.1,
    position="learned",
    sequence_length=None,
    layer_norm_epsilon=1e-5,
    name="gpt",
):
    """A GPT-style decoder-only language model: token ids `(batch, length)` -> next-token logits `(batch, length, vocab)`.

    Args:
        vocabulary_size: int. Number of token ids. Defaults to `50257` (GPT-2's byte-pair vocabulary).
        max_length: int. Longest sequence (the position table). Defaults to `1024`.
        num_layers: int. Decoder blocks. Defaults to `12`.
        width: int. Model width. Defaults to `768`.
        num_heads: int. Attention heads; must divide `width`. Defaults to `12`.
        intermediate_dim: int or None. Feed-forward width. Defaults to `4 * width`.
        dropout: float. Dropout on embeddings, residual branches and attention weights. Defaults to `0.1`.
        position: str. `"learned"` (GPT-2), `"sinusoidal"` or `"rotary"` (RoPE in every attention layer).
            Defaults to `"learned"`.
        sequence_length: int or None. Fixed input length; `None` takes any length up to `max_length`.
            Defaults to `None`.
        layer_norm_epsilon: float. Defaults to `1e-5`.
        name: str. Model name and layer-name prefix. Defaults to `"gpt"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("gpt_nano", vocabulary_size=256, num_layers=2, width=32, num_heads=2)
    model.output_shape  # (None, None, 256)
    ```
    """
    owner = name if isinstance(name, str) else "gpt"
    from kerakit.layers.sequence import check_transformer_sizes

    errors.check_int(owner, "width", width)
    intermediate_dim = 4 * width if intermediate_dim is None else intermediate_dim
    check_transformer_sizes(owner, vocabulary_size, max_length, width, num_heads, intermediate_dim, dropout,
                            sequence_length)
    errors.check_int(owner, "num_layers", num_layers)
    errors.check_choice(owner, "position", position, POSITIONS)
    if position == "rotary" and (width // num_heads) % 2:
        raise errors.invalid(owner, "num_heads", "one that leaves an even head width for rotary positions", num_heads)
    import keras

    from kerakit.layers.sequence import TokenAndPositionEmbedding, TransformerDecoderBlock

    tokens = keras.Input(shape=(sequence_length,), dtype="int32", name=f"{name}_token_ids")
    embedding = TokenAndPositionEmbedding(
        vocabulary_size, max_length, width, position="none" if position == "rotary" else position,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02), name=f"{name}_embedding")
    x = embedding(tokens)
    x = keras.layers.Dropout(dropout, name=f"{name}_embedding_dropout")(x)
    for i in range(1, num_layers + 1):
        x = TransformerDecoderBlock(
            num_heads, intermediate_dim, dropout=dropout, attention_dropout=dropout, activation="gelu",
            norm_first=True, layer_norm_epsilon=layer_norm_epsilon,
            rotary_max_wavelength=10000.0 if position == "rotary" else None, name=f"{name}_block{i}")(x)
    x = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name=f"{name}_final_norm")(x)
    logits = embedding(x, reverse=True)
    return keras.Model(tokens, logits, name=name)


@blueprint(family="sequence", task="language_modeling", tiny=_TINY)
@variant_of(gpt, name="gpt_nano", vocabulary_size=256, max_length=256, num_layers=4, width=128, num_heads=4)
def gpt_nano(**kwargs):
    """A small GPT for bytes (vocabulary 256, 4 layers, width 128, 4 heads): the default for the bundled text.

    Trains on `kerakit.data.load("text")` in minutes on a CPU (`kerakit train --blueprint gpt_nano --data text`).

    Example:

    ```python
    import kerakit
    model = kerakit.build("gpt_nano")
    model.count_params()  # 858880
    ```
    """
    return gpt(**{"name": "gpt_nano", "vocabulary_size": 256, "max_length": 256, "num_layers": 4, "width": 128,
                  "num_heads": 4, **kwargs})


@blueprint(family="sequence", task="language_modeling", tiny=_TINY)
@variant_of(gpt, name="gpt2_small")
def gpt2_small(**kwargs):
    """GPT-2 small: vocabulary 50,257, 1,024 positions, 12 layers, width 768, 12 heads; 124,439,808 parameters.

    Example:

    ```python
    import kerakit
    model = kerakit.build("gpt2_small", vocabulary_size=100, num_layers=1, width=32, num_heads=2, max_length=32)
    model.output_shape  # (None, None, 100)
    ```
    """
    return gpt(**{"name": "gpt2_small", **kwargs})


@blueprint(family="sequence", task="language_modeling", tiny=_TINY)
@variant_of(gpt, name="gpt2_medium", num_layers=24, width=1024, num_heads=16)
def gpt2_medium(**kwargs):
    """GPT-2 medium: vocabulary 50,257, 1,024 positions, 24 layers, width 1,024, 16 heads; 354,823,168 parameters.

    Example:

    ```python
    import kerakit
    model = kerakit.build("gpt2_medium", vocabulary_size=100, num_layers=1, width=32, num_heads=2, max_length=32)
    model.output_shape  # (None, None, 100)
    ```
    """
    return gpt(**{"name": "gpt2_medium", "num_layers": 24, "width": 1024, "num_heads": 16, **kwargs})


def layout_map(mesh):
    """Model-parallel layouts of this file's blueprints' weights (attention heads and feed-forward units split over
    the mesh's `"model"` axis); used by `kerakit.distribute.model_parallel`."""
    from kerakit.distribute import transformer_layout_map

    return transformer_layout_map(mesh)
