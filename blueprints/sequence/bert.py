"""BERT (Devlin, Chang, Lee and Toutanova, "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding", NAACL 2019, arXiv:1810.04805), in the sizes of Turc, Chang, Lee and Toutanova ("Well-Read Students
Learn Better: On the Importance of Pre-training Compact Models", arXiv:1908.08962): Tiny, Mini, Small, plus the
paper's Base and Large.

The model takes keras-hub's three int32 inputs, each `(batch, length)`: `token_ids`, `segment_ids` (sentence A or
B) and `padding_mask` (1 for a real token, 0 for padding). Its layout is that of the reference implementation
(Google's `modeling.py`, Hugging Face's `BertModel`, keras-hub's `BertBackbone`):

    x = Dropout(LayerNorm(TokenEmbedding(token_ids) + PositionEmbedding + SegmentEmbedding(segment_ids)))
    x = LayerNorm(x + Dropout(SelfAttention(x, padding_mask)))          # `num_layers` post-norm blocks,
    x = LayerNorm(x + Dropout(Dense(width)(GELU(Dense(4 width)(x)))))    # LayerNorm epsilon 1e-12
    pooled = tanh(Dense(width)(x[:, 0]))                                  # the [CLS] token

A padded token never receives attention, so the real tokens' outputs do not depend on what the padding holds. The
heads: `"classification"` (dropout, then `Dense(num_classes)` on the pooled output: logits), `"masked_lm"`
(`Dense(width, gelu)`, LayerNorm, then the token embedding matrix transposed: tied vocabulary logits for every
position; the reference adds a per-token output bias, which this head leaves out) or `None` (the backbone: a dict
of `sequence_output` and `pooled_output`). With `vocabulary_size=30522`, 512 positions and 2 segments, BERT-Base
without a head has 109,482,240 parameters, as Hugging Face's `bert-base-uncased` `BertModel`. kerakit ships no
pretrained BERT weights, and the weights start from Keras's default initialisers (the reference draws them from a
truncated normal of standard deviation 0.02).

A SavedModel export on JAX (jax2tf) gives every unknown input dimension its own symbol, and the three inputs'
lengths then cannot be proven equal: build with a fixed `sequence_length`, or declare the lengths equal,
`model.export(path, format="tf_saved_model", jax2tf_kwargs={"polymorphic_shapes": [{key: "(batch, length)" for key
in model.input}]})`.
"""

from kerakit import errors
from kerakit.registry import blueprint, variant_of

HEADS = ("classification", "masked_lm", None)
_EPSILON = 1e-12
# A fixed length: a JAX SavedModel export gives each unknown input dimension its own symbol, and three inputs whose
# lengths cannot be proven equal do not add up (see tests/test_sequence_bert.py for the export of any length).
_TINY = {"vocabulary_size": 50, "max_length": 16, "sequence_length": 8, "num_layers": 2, "width": 16,
         "num_heads": 2, "intermediate_dim": 32, "num_classes": 3}


def _check_arguments(owner, vocabulary_size, max_length, num_segments, num_layers, width, num_heads,
                     intermediate_dim, dropout, head, num_classes, sequence_length, classifier_activation):
    from kerakit.layers.sequence import check_transformer_sizes

    check_transformer_sizes(owner, vocabulary_size, max_length, width, num_heads, intermediate_dim, dropout,
                            sequence_length)
    errors.check_int(owner, "num_segments", num_segments)
    errors.check_int(owner, "num_layers", num_layers)
    errors.check_choice(owner, "head", head, HEADS)
    if head == "classification":
        errors.check_int(owner, "num_classes", num_classes)
    errors.check_activation(owner, "classifier_activation", classifier_activation)


def bert(
    vocabulary_size=30522,
    max_length=512,
    num_segments=2,
    num_layers=12,
    width=768,
    num_heads=12,
    intermediate_dim=3072,
    dropout=0.1,
    head="classification",
    num_classes=2,
    sequence_length=None,
    classifier_activation=None,
    name="bert",
):
    """The configurable BERT builder behind the registered variants (Devlin et al. 2019).

    {ARGS}

    Returns:
        A functional `keras.Model` taking the dict `{"token_ids", "segment_ids", "padding_mask"}` of int32
        `(batch, length)` arrays.

    Example:

    ```python
    import numpy as np
    from blueprints.sequence.bert import bert
    model = bert(vocabulary_size=30, max_length=8, num_layers=1, width=8, num_heads=2, intermediate_dim=16,
                 head=None)
    inputs = {"token_ids": np.array([[2, 5, 7, 0]]), "segment_ids": np.zeros((1, 4), "int32"),
              "padding_mask": np.array([[1, 1, 1, 0]])}
    outputs = model.predict(inputs, verbose=0)
    outputs["sequence_output"].shape, outputs["pooled_output"].shape  # ((1, 4, 8), (1, 8))
    ```
    """
    if not isinstance(name, str) or not name:
        raise errors.invalid("bert", "name", "a non-empty string", name)
    _check_arguments(name, vocabulary_size, max_length, num_segments, num_layers, width, num_heads, intermediate_dim,
                     dropout, head, num_classes, sequence_length, classifier_activation)
    import keras

    from kerakit.layers.sequence import TokenAndPositionEmbedding, TransformerEncoderBlock
    from kerakit.layers.vision import TokenPooling

    inputs = {key: keras.Input(shape=(sequence_length,), dtype="int32", name=key)
              for key in ("token_ids", "segment_ids", "padding_mask")}
    embedding = TokenAndPositionEmbedding(vocabulary_size, max_length, width, position="learned",
                                          name=f"{name}_token_and_position_embedding")
    x = embedding(inputs["token_ids"])
    segments = keras.layers.Embedding(num_segments, width, name=f"{name}_segment_embedding")(inputs["segment_ids"])
    x = keras.layers.Add(name=f"{name}_embeddings_add")([x, segments])
    x = keras.layers.LayerNormalization(epsilon=_EPSILON, name=f"{name}_embeddings_norm")(x)
    x = keras.layers.Dropout(dropout, name=f"{name}_embeddings_dropout")(x)
    for i in range(1, num_layers + 1):
        x = TransformerEncoderBlock(num_heads, intermediate_dim, dropout=dropout, attention_dropout=dropout,
                                    activation="gelu", layer_norm_epsilon=_EPSILON,
                                    name=f"{name}_block{i}")(x, padding_mask=inputs["padding_mask"])
    sequence_output = x
    first_token = TokenPooling("token", name=f"{name}_first_token")(sequence_output)
    pooled_output = keras.layers.Dense(width, activation="tanh", name=f"{name}_pooler")(first_token)

    if head is None:
        outputs = {"sequence_output": sequence_output, "pooled_output": pooled_output}
    elif head == "classification":
        y = keras.layers.Dropout(dropout, name=f"{name}_head_dropout")(pooled_output)
        outputs = keras.layers.Dense(num_classes, activation=classifier_activation, name=f"{name}_predictions")(y)
    else:  # "masked_lm"
        y = keras.layers.Dense(width, activation="gelu", name=f"{name}_mlm_dense")(sequence_output)
        y = keras.layers.LayerNormalization(epsilon=_EPSILON, name=f"{name}_mlm_norm")(y)
        outputs = embedding(y, reverse=True)  # tied: the token embedding matrix, transposed
    return keras.Model(inputs, outputs, name=name)


_ARGS_DOC = """
    Args:
        vocabulary_size: int. Number of token ids (WordPiece vocabulary); ids lie in `[0, vocabulary_size)`.
            Defaults to `30522` (the uncased English vocabulary).
        max_length: int. Length of the learned position table: the longest sequence the model takes. Defaults to
            `512`.
        num_segments: int. Number of segment ids (sentence A / B). Defaults to `2`.
        num_layers: int. Transformer encoder blocks. Defaults to `{num_layers}`.
        width: int. Hidden width. Defaults to `{width}`.
        num_heads: int. Attention heads; must divide `width`. Defaults to `{num_heads}`.
        intermediate_dim: int. Width of each block's feed-forward hidden layer. Defaults to `{intermediate_dim}`.
        dropout: float. Dropout on the embeddings, the attention weights, every residual branch and before the
            classifier. Defaults to `0.1`.
        head: `"classification"`, `"masked_lm"` or None. What sits on the encoder: a classifier of the pooled
            output `(batch, num_classes)`, tied vocabulary logits `(batch, length, vocabulary_size)`, or nothing
            (a dict of `sequence_output` `(batch, length, width)` and `pooled_output` `(batch, width)`). Defaults
            to `"classification"`.
        num_classes: int. Classes of the `"classification"` head. Defaults to `2`.
        sequence_length: int or None. Fixed input length (at most `max_length`), or `None` for any length up to
            `max_length`. Defaults to `None`.
        classifier_activation: str or None. Activation of the classifier; `None` returns logits. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"{name}"`.
"""

_CONFIGS = {  # num_layers, width, num_heads (intermediate_dim = 4 * width)
    "bert": (12, 768, 12),
    "bert_tiny": (2, 128, 2),
    "bert_mini": (4, 256, 4),
    "bert_small": (4, 512, 8),
    "bert_base": (12, 768, 12),
    "bert_large": (24, 1024, 16),
}


def _defaults(variant):
    num_layers, width, num_heads = _CONFIGS[variant]
    return {"num_layers": num_layers, "width": width, "num_heads": num_heads, "intermediate_dim": 4 * width,
            "name": variant}


def _variant(variant, kwargs):
    """Calls the builder with the variant's defaults, the caller's `kwargs` winning."""
    return bert(**{**_defaults(variant), **kwargs})


def _document(variant):
    """Fills the `{ARGS}` placeholder of a docstring with the builder's `Args:` section and the variant's sizes."""

    def decorate(fn):
        if fn.__doc__:  # None under `python -OO`
            fn.__doc__ = fn.__doc__.replace("{ARGS}", _ARGS_DOC.format(**_defaults(variant)).strip())
        return fn

    return decorate


_document("bert")(bert)


@blueprint(family="sequence", task="text_classification", tiny=_TINY)
@variant_of(bert, **_defaults("bert_tiny"))
@_document("bert_tiny")
def bert_tiny(**kwargs):
    """BERT-Tiny (Turc et al. 2019): 2 layers, width 128, 2 heads, feed-forward 512; 4,385,920 params (no head).

    The count is with the 30,522-token vocabulary, 512 positions and 2 segments (Google's
    `uncased_L-2_H-128_A-2`); the arguments are the BERT builder's.

    {ARGS}

    Example:

    ```python
    import numpy as np
    import kerakit
    model = kerakit.build("bert_tiny", vocabulary_size=100, max_length=16, num_classes=3)
    inputs = {"token_ids": np.array([[2, 9, 4, 0]]), "segment_ids": np.zeros((1, 4), "int32"),
              "padding_mask": np.array([[1, 1, 1, 0]])}
    model.predict(inputs, verbose=0).shape  # (1, 3)
    ```
    """
    return _variant("bert_tiny", kwargs)


@blueprint(family="sequence", task="text_classification", tiny=_TINY)
@variant_of(bert, **_defaults("bert_mini"))
@_document("bert_mini")
def bert_mini(**kwargs):
    """BERT-Mini (Turc et al. 2019): 4 layers, width 256, 4 heads, feed-forward 1024; 11,170,560 params (no head).

    The count is with the 30,522-token vocabulary, 512 positions and 2 segments (Google's
    `uncased_L-4_H-256_A-4`); the arguments are the BERT builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("bert_mini", vocabulary_size=100, max_length=16, sequence_length=8, num_layers=1,
                          width=16, intermediate_dim=32, head="masked_lm")
    model.output_shape  # (None, 8, 100)
    ```
    """
    return _variant("bert_mini", kwargs)


@blueprint(family="sequence", task="text_classification", tiny=_TINY)
@variant_of(bert, **_defaults("bert_small"))
@_document("bert_small")
def bert_small(**kwargs):
    """BERT-Small (Turc et al. 2019): 4 layers, width 512, 8 heads, feed-forward 2048; 28,763,648 params (no head).

    The count is with the 30,522-token vocabulary, 512 positions and 2 segments (Google's
    `uncased_L-4_H-512_A-8`); the arguments are the BERT builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("bert_small", vocabulary_size=100, max_length=16, num_layers=1, width=16,
                          intermediate_dim=32, head=None)
    model.output["sequence_output"].shape, model.output["pooled_output"].shape  # ((None, None, 16), (None, 16))
    ```
    """
    return _variant("bert_small", kwargs)


@blueprint(family="sequence", task="text_classification", tiny=_TINY)
@variant_of(bert, **_defaults("bert_base"))
@_document("bert_base")
def bert_base(**kwargs):
    """BERT-Base (Devlin et al. 2019): 12 layers, width 768, 12 heads, feed-forward 3072; 109,482,240 params (no head).

    The count is with the 30,522-token vocabulary, 512 positions and 2 segments, as Hugging Face's
    `bert-base-uncased`; the arguments are the BERT builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("bert_base", vocabulary_size=100, max_length=16, num_layers=1, width=16, num_heads=2,
                          intermediate_dim=32, num_classes=4)
    model.output_shape  # (None, 4)
    ```
    """
    return _variant("bert_base", kwargs)


@blueprint(family="sequence", task="text_classification", tiny=_TINY)
@variant_of(bert, **_defaults("bert_large"))
@_document("bert_large")
def bert_large(**kwargs):
    """BERT-Large (Devlin et al. 2019): 24 layers, width 1024, 16 heads, feed-forward 4096; 335,141,888 params (no head).

    The count is with the 30,522-token vocabulary, 512 positions and 2 segments, as Hugging Face's
    `bert-large-uncased`; the arguments are the BERT builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("bert_large", vocabulary_size=100, max_length=16, num_layers=1, width=32,
                          intermediate_dim=64)
    [layer.name for layer in model.layers][-2:]  # ['bert_large_head_dropout', 'bert_large_predictions']
    ```
    """
    return _variant("bert_large", kwargs)


def layout_map(mesh):
    """Model-parallel layouts of this file's blueprints' weights (attention heads and feed-forward units split over
    the mesh's `"model"` axis); used by `kerakit.distribute.model_parallel`."""
    from kerakit.distribute import transformer_layout_map

    return transformer_layout_map(mesh)
