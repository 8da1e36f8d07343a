"""The encoder-decoder transformer (blueprints/sequence/transformer.py): parameter counts (T5-small against Hugging
Face, the base Transformer against its layout), the causal decoder, source padding that really masks, one shared
embedding matrix, T5's one relative position bias per stack and its bias-free layers, training on a copy task,
argument errors. Full-size models are built inside a `keras.StatelessScope` that leaves their variables
uninitialised (shapes only, fast); everything that runs is tiny."""

import keras
import numpy as np
import pytest

import kerakit
from blueprints.sequence import transformer as transformer_module
from blueprints.sequence.transformer import encoder_decoder_transformer
from kerakit.errors import KerakitError
from kerakit.layers.sequence import RelativePositionBias
from tests.helpers import infer, run_docstring_examples

SMALL = {"vocabulary_size": 30, "max_length": 16, "num_encoder_layers": 2, "num_decoder_layers": 2, "width": 16,
         "num_heads": 2, "intermediate_dim": 32}
T5_SMALL = {**SMALL, "relative_attention_buckets": 8, "relative_attention_max_distance": 16}
VARIANTS = {"transformer_base": SMALL, "t5_small": T5_SMALL}


def _shapes_only(name, **kwargs):
    """The blueprint built without initialising any variable: enough to count 60M parameters in a second."""
    with keras.StatelessScope(initialize_variables=False):
        return kerakit.build(name, **kwargs)


def _count(model, part):
    return sum(int(np.prod(w.shape)) for layer in model.layers if part in layer.name for w in layer.weights)


def _inputs(source, target):
    return {"source_tokens": np.asarray(source, "int32"), "target_tokens": np.asarray(target, "int32")}


def test_t5_small_matches_hugging_face_t5_small():
    model = _shapes_only("t5_small")
    assert model.count_params() == 60_506_624
    width, heads, ff, buckets, vocabulary = 512, 8, 2048, 32, 32128
    attention, feedforward, norm = 4 * width * width, 2 * width * ff, width  # no biases; RMS norm: a scale only
    encoder = 6 * (attention + feedforward + 2 * norm) + buckets * heads + norm
    decoder = 6 * (2 * attention + feedforward + 3 * norm) + buckets * heads + norm
    assert (vocabulary * width, encoder, decoder) == (16_449_536, 18_881_280, 25_175_808)  # HF's shared/encoder/decoder
    assert (_count(model, "embedding"), _count(model, "encoder"), _count(model, "decoder")) == (
        16_449_536, 18_881_280, 25_175_808)
    assert not [w.path for w in model.weights if "bias" in w.path.split("/")[-1]]  # no biases anywhere


def test_transformer_base_matches_its_layout():
    model = _shapes_only("transformer_base")
    width, ff, vocabulary = 512, 2048, 37000
    attention = 4 * (width * width + width)  # Q, K, V, output projections with biases
    feedforward = (width * ff + ff) + (ff * width + width)
    norm = 2 * width  # LayerNorm: scale and offset
    embedding = vocabulary * width  # shared by source, target and the output projection; sinusoidal positions
    encoder = 6 * (attention + feedforward + 2 * norm)  # post-norm: no final norm
    decoder = 6 * (2 * attention + feedforward + 3 * norm)
    assert (embedding, encoder, decoder) == (18_944_000, 18_914_304, 25_224_192)
    assert model.count_params() == embedding + encoder + decoder == 63_082_496
    assert _count(model, "encoder") == encoder and _count(model, "decoder") == decoder


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_one_embedding_matrix_for_source_target_and_output(name):
    model = kerakit.build(name, **VARIANTS[name])
    assert [tuple(w.shape) for w in model.weights].count((30, 16)) == 1
    embedding = model.get_layer(f"{name}_embedding")
    assert len(embedding._inbound_nodes) == 3  # source, target, and the reverse call that gives the logits
    assert model.output_shape == (None, None, 30)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_decoder_is_causal(name):
    model = kerakit.build(name, **VARIANTS[name])
    source = [[5, 6, 7, 8, 0], [9, 4, 0, 0, 0]]
    target = np.array([[1, 5, 6, 7, 8, 2], [1, 9, 4, 2, 0, 0]])
    reference = infer(model, _inputs(source, target))
    assert reference.shape == (2, 6, 30)
    for position in (1, 3, 5):
        changed = target.copy()
        changed[:, position] = 17
        outputs = infer(model, _inputs(source, changed))
        np.testing.assert_allclose(outputs[:, :position], reference[:, :position], atol=1e-5)
        assert np.abs(outputs[:, position] - reference[:, position]).max() > 1e-3


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_source_padding_is_masked(name):
    model = kerakit.build(name, **VARIANTS[name])
    target = [[1, 5, 6, 7]]
    reference = infer(model, _inputs([[5, 6, 7]], target))
    for padded in ([[5, 6, 7, 0]], [[5, 6, 7, 0, 0, 0, 0, 0]]):
        np.testing.assert_allclose(infer(model, _inputs(padded, target)), reference, atol=1e-5)
    # A real source token does reach the decoder.
    assert np.abs(infer(model, _inputs([[5, 6, 8]], target)) - reference).max() > 1e-3


def test_t5_shares_one_relative_position_bias_per_stack():
    model = kerakit.build("t5_small", **T5_SMALL)
    biases = [layer for layer in model.layers if isinstance(layer, RelativePositionBias)]
    assert [(b.name, b.bidirectional, b.num_buckets, b.max_distance) for b in biases] == [
        ("t5_small_encoder_relative_position_bias", True, 8, 16),
        ("t5_small_decoder_relative_position_bias", False, 8, 16)]
    encoder_bias, decoder_bias = (b.output for b in biases)
    for i in (1, 2):  # every block of a stack receives the same bias tensor
        encoder_node = model.get_layer(f"t5_small_encoder_block{i}")._inbound_nodes[0]
        assert encoder_node.arguments.kwargs["attention_bias"] is encoder_bias
        decoder_node = model.get_layer(f"t5_small_decoder_block{i}")._inbound_nodes[0]
        assert decoder_node.arguments.kwargs["self_attention_bias"] is decoder_bias
        assert decoder_node.arguments.kwargs.get("cross_attention_bias") is None
    # The bias is used: zeroing it changes the logits.
    x = _inputs([[5, 6, 7, 0]], [[1, 5, 6, 7]])
    reference = infer(model, x)
    for bias in biases:
        bias.embeddings.assign(np.zeros(bias.embeddings.shape, "float32"))
    assert np.abs(infer(model, x) - reference).max() > 1e-4


def test_t5_and_transformer_base_layouts():
    t5 = kerakit.build("t5_small", **T5_SMALL)
    block = t5.get_layer("t5_small_encoder_block1")
    assert (block.norm_first, block.norm, block.use_bias, block.activation) == (True, "rms", False, "relu")
    assert isinstance(block.self_attention_norm, keras.layers.RMSNormalization)  # mean square, not variance
    assert isinstance(t5.get_layer("t5_small_encoder_norm"), keras.layers.RMSNormalization)
    assert isinstance(t5.get_layer("t5_small_decoder_norm"), keras.layers.RMSNormalization)
    assert t5.get_layer("t5_small_output_scale").scale == pytest.approx(16 ** -0.5)
    embedding = t5.get_layer("t5_small_embedding")
    assert (embedding.position, embedding.scale) == ("none", False)

    base = kerakit.build("transformer_base", **SMALL)
    block = base.get_layer("transformer_base_decoder_block2")
    assert (block.norm_first, block.norm, block.use_bias, block.cross_attention) == (False, "layer", True, True)
    embedding = base.get_layer("transformer_base_embedding")
    assert (embedding.position, embedding.scale) == ("sinusoidal", True)
    names = [layer.name for layer in base.layers]
    assert "transformer_base_encoder_norm" not in names and "transformer_base_output_scale" not in names


def test_a_short_fit_learns_to_copy():
    rng = np.random.default_rng(0)
    source = rng.integers(3, 20, size=(128, 5))
    x = _inputs(np.pad(source, ((0, 0), (0, 2))), np.pad(source, ((0, 0), (1, 0)), constant_values=1))
    y = np.pad(source, ((0, 0), (0, 1)), constant_values=2)  # the source, then the end token
    model = kerakit.build("transformer_base", **{**SMALL, "num_encoder_layers": 1, "num_decoder_layers": 1,
                                                 "width": 32, "intermediate_dim": 64, "dropout": 0.0})
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    losses = model.fit(x, y, batch_size=32, epochs=6, verbose=0).history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 16, "num_heads": 3}, r"net: `num_heads` must be a divisor of the width 16. Received: num_heads=3"),
    ({"vocabulary_size": 0}, r"net: `vocabulary_size` must be an integer >= 1. Received: vocabulary_size=0"),
    ({"vocabulary_size": -1}, r"`vocabulary_size` must be an integer >= 1. Received: vocabulary_size=-1"),
    ({"num_decoder_layers": 0}, r"`num_decoder_layers` must be an integer >= 1. Received: num_decoder_layers=0"),
    ({"position": "rotary"}, r"`position` must be one of \['learned', 'sinusoidal', 'none'\].*position='rotary'"),
    ({"norm": "batch"}, r"`norm` must be one of \['layer', 'rms'\].*Received: norm='batch'"),
    ({"activation": "relux"}, r"`activation` must be a Keras activation name"),
    ({"attention_dropout": -0.1}, r"`attention_dropout` must be a float in \[0, 1\)"),
    ({"norm_first": "yes"}, r"`norm_first` must be True or False. Received: norm_first='yes'"),
    ({"relative_attention": True, "relative_attention_buckets": 1},
     r"`relative_attention_buckets` must be an integer >= 2. Received: relative_attention_buckets=1"),
    ({"name": None}, r"encoder_decoder_transformer: `name` must be a non-empty string"),
])
def test_bad_arguments_are_refused_before_anything_is_built(kwargs, message, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("keras.Input was called: the model was being built")

    monkeypatch.setattr(keras, "Input", refuse)
    with pytest.raises(KerakitError, match=message):
        encoder_decoder_transformer(**{**SMALL, "name": "net", **kwargs})


def test_variants_refuse_bad_arguments_under_their_own_name():
    with pytest.raises(KerakitError, match=r"t5_small: `num_heads` must be a divisor of the width 512"):
        kerakit.build("t5_small", num_heads=7)
    with pytest.raises(KerakitError, match=r"transformer_base: `vocabulary_size` must be an integer >= 1"):
        kerakit.build("transformer_base", vocabulary_size=0)


def test_builder_docstring_example_runs():
    assert run_docstring_examples(encoder_decoder_transformer) >= 4
    assert "Defaults to `32128`" in transformer_module.t5_small.__doc__
