"""BERT (blueprints/sequence/bert.py): parameter counts against Hugging Face, padding that really masks, the segment
embedding, the heads (classifier, tied masked-LM logits, backbone dict), training, saving and exporting, argument
errors. Full-size models are built inside a `keras.StatelessScope` that leaves their variables uninitialised
(shapes only, fast); everything that runs is tiny."""

import os

import keras
import numpy as np
import pytest

import kerakit
import kerakit.export
from blueprints.sequence import bert as bert_module
from blueprints.sequence.bert import bert
from kerakit.errors import KerakitError
from tests.helpers import assert_outputs_close, infer, run_docstring_examples

SMALL = {"vocabulary_size": 50, "max_length": 16, "num_layers": 2, "width": 16, "num_heads": 2,
         "intermediate_dim": 32}
KEYS = ("token_ids", "segment_ids", "padding_mask")


def _shapes_only(name, **kwargs):
    """The blueprint built without initialising any variable: enough to count 335M parameters in a second."""
    with keras.StatelessScope(initialize_variables=False):
        return kerakit.build(name, **kwargs)


def _bert_count(layers, width, vocabulary=30522, positions=512, segments=2):
    """BERT's parameters from its layout (no head): token, position and segment embeddings and their LayerNorm;
    per block Q/K/V/output projections with biases, two LayerNorms and the 4x feed-forward; the tanh pooler."""
    embeddings = (vocabulary + positions + segments) * width + 2 * width
    block = 4 * (width * width + width) + 2 * 2 * width + (width * 4 * width + 4 * width) + (4 * width * width + width)
    return embeddings + layers * block + (width * width + width)


def _inputs(token_ids, segment_ids=None, padding_mask=None):
    token_ids = np.asarray(token_ids, "int32")
    return {"token_ids": token_ids,
            "segment_ids": np.zeros_like(token_ids) if segment_ids is None else np.asarray(segment_ids, "int32"),
            "padding_mask": (token_ids != 0).astype("int32") if padding_mask is None
            else np.asarray(padding_mask, "int32")}


@pytest.mark.parametrize("name, expected", [
    ("bert_tiny", 4_385_920),  # google/bert_uncased_L-2_H-128_A-2
    ("bert_mini", 11_170_560),  # google/bert_uncased_L-4_H-256_A-4
    ("bert_small", 28_763_648),  # google/bert_uncased_L-4_H-512_A-8
    ("bert_base", 109_482_240),  # bert-base-uncased BertModel
    ("bert_large", 335_141_888),  # bert-large-uncased BertModel
])
def test_full_size_parameter_counts_match_hugging_face(name, expected):
    model = _shapes_only(name, head=None)
    layers, width, _ = bert_module._CONFIGS[name]
    assert _bert_count(layers, width) == expected
    assert model.count_params() == expected
    assert model.name == name


def test_bert_base_heads_add_exactly_their_layers():
    backbone = 109_482_240
    classifier = _shapes_only("bert_base", num_classes=5)
    assert classifier.count_params() == backbone + 768 * 5 + 5
    # The masked-LM head has no vocabulary-sized matrix of its own (tied), and no pooler (the logits skip it).
    mlm = _shapes_only("bert_base", head="masked_lm")
    assert mlm.count_params() == backbone - (768 * 768 + 768) + (768 * 768 + 768) + 2 * 768
    assert sum(tuple(w.shape) == (30522, 768) for w in mlm.weights) == 1


def test_builder_structure_and_names():
    model = bert(**SMALL, head=None, name="enc")
    names = [layer.name for layer in model.layers]
    assert {"enc_token_and_position_embedding", "enc_segment_embedding", "enc_embeddings_norm", "enc_block1",
            "enc_block2", "enc_pooler"} <= set(names)
    assert sorted(model.input) == sorted(KEYS)
    assert all(tensor.dtype == "int32" for tensor in model.input.values())
    block = model.get_layer("enc_block1")
    assert (block.norm_first, block.activation, block.layer_norm_epsilon) == (False, "gelu", 1e-12)
    assert model.get_layer("enc_embeddings_norm").epsilon == 1e-12
    assert model.output["sequence_output"].shape == (None, None, 16)
    assert model.output["pooled_output"].shape == (None, 16)


def test_padding_masks_real_positions_and_pooled_output():
    model = bert(**SMALL, head=None)
    tokens = np.array([[2, 7, 9, 11, 0, 0], [3, 5, 0, 0, 0, 0]])
    mask = (tokens != 0).astype("int32")
    reference = infer(model, _inputs(tokens, padding_mask=mask))
    changed_tokens = np.where(mask == 1, tokens, np.array([[40, 41, 42, 43, 44, 45]] * 2))
    changed = infer(model, _inputs(changed_tokens, padding_mask=mask))
    real = mask.astype(bool)
    np.testing.assert_allclose(changed["sequence_output"][real], reference["sequence_output"][real], atol=1e-5)
    np.testing.assert_allclose(changed["pooled_output"], reference["pooled_output"], atol=1e-5)
    # The padded positions' own outputs do see their tokens: the test above is not vacuous.
    assert np.abs(changed["sequence_output"][~real] - reference["sequence_output"][~real]).max() > 1e-3
    # Without the mask the padding leaks into every position.
    unmasked = infer(model, _inputs(changed_tokens, padding_mask=np.ones_like(mask)))
    assert np.abs(unmasked["pooled_output"] - reference["pooled_output"]).max() > 1e-3


def test_segment_ids_change_the_outputs():
    model = bert(**SMALL, head=None)
    tokens = np.array([[2, 7, 9, 11, 13, 0]])
    first = infer(model, _inputs(tokens, segment_ids=[[0, 0, 0, 1, 1, 0]]))
    second = infer(model, _inputs(tokens, segment_ids=[[0, 0, 0, 0, 0, 0]]))
    assert np.abs(first["sequence_output"] - second["sequence_output"]).max() > 1e-3
    assert np.abs(first["pooled_output"] - second["pooled_output"]).max() > 1e-3


def test_classification_head_shape_and_activation():
    tokens = np.array([[2, 7, 9, 0], [4, 0, 0, 0], [5, 6, 7, 8]])
    logits = infer(bert(**SMALL, num_classes=4), _inputs(tokens))
    assert logits.shape == (3, 4)
    probabilities = infer(bert(**SMALL, num_classes=4, classifier_activation="softmax"), _inputs(tokens))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)


def test_masked_lm_head_gives_tied_vocabulary_logits(tmp_path):
    model = bert(**SMALL, head="masked_lm", sequence_length=6, name="mlm")
    assert model.output_shape == (None, 6, 50)
    tokens = np.array([[2, 7, 9, 11, 0, 0], [3, 4, 5, 6, 7, 8]])
    logits = infer(model, _inputs(tokens))
    assert logits.shape == (2, 6, 50)
    # The logits are the head's states times the token embedding matrix, transposed: one matrix, used twice.
    states = infer(keras.Model(model.input, model.get_layer("mlm_mlm_norm").output), _inputs(tokens))
    matrix = keras.ops.convert_to_numpy(
        model.get_layer("mlm_token_and_position_embedding").token_embedding.embeddings)
    np.testing.assert_allclose(logits, states @ matrix.T, atol=1e-4)
    path = os.path.join(tmp_path, "mlm.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert_outputs_close(infer(restored, _inputs(tokens)), logits, atol=1e-6)


def test_backbone_dict_outputs_survive_a_keras_round_trip(tmp_path):
    model = bert(**SMALL, head=None)
    x = _inputs([[2, 7, 9, 0, 0]])
    path = os.path.join(tmp_path, "backbone.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    expected, actual = infer(model, x), infer(restored, x)
    assert sorted(actual) == ["pooled_output", "sequence_output"]
    assert_outputs_close(actual, expected, atol=1e-6)


def test_any_length_exports_with_lengths_declared_equal(tmp_path):
    import tensorflow as tf

    model = bert(**{**SMALL, "num_layers": 1}, num_classes=3)
    # On JAX one symbol for the three lengths (see the module docstring); TensorFlow ignores the argument.
    report = kerakit.export.saved_model(model, os.path.join(tmp_path, "bert"),
                                        polymorphic_shapes={key: "(batch, length)" for key in model.input})
    exported = tf.saved_model.load(report.path)
    for tokens in ([[2, 7, 9, 0, 0]], [[2, 7, 9, 11, 12, 13, 14, 0, 0], [4, 5, 0, 0, 0, 0, 0, 0, 0]]):
        x = _inputs(tokens)
        np.testing.assert_allclose(np.asarray(exported.serve(x)), infer(model, x), atol=1e-4)


def test_a_short_fit_lowers_the_loss():
    # Label: does token 3 occur in the (padded) sequence?
    rng = np.random.default_rng(0)
    tokens = rng.integers(4, 20, size=(64, 8))
    labels = rng.integers(0, 2, size=64)
    tokens[labels == 1, rng.integers(0, 5, size=int(labels.sum()))] = 3
    tokens[:, 6:] = 0
    model = bert(**{**SMALL, "num_layers": 1}, dropout=0.0, num_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(_inputs(tokens), labels, batch_size=32, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 16, "num_heads": 3}, r"bert: `num_heads` must be a divisor of the width 16. Received: num_heads=3"),
    ({"sequence_length": 32}, r"bert: `sequence_length` must be None or at most max_length=16 .*sequence_length=32"),
    ({"head": "pooled"}, r"bert: `head` must be one of \['classification', 'masked_lm', None\].*head='pooled'"),
    ({"vocabulary_size": 0}, r"bert: `vocabulary_size` must be an integer >= 1. Received: vocabulary_size=0"),
    ({"vocabulary_size": -5}, r"`vocabulary_size` must be an integer >= 1. Received: vocabulary_size=-5"),
    ({"num_classes": 0}, r"`num_classes` must be an integer >= 1. Received: num_classes=0"),
    ({"dropout": 1.0}, r"`dropout` must be a float in \[0, 1\). Received: dropout=1.0"),
    ({"classifier_activation": "nope"}, r"`classifier_activation` must be a Keras activation name"),
    ({"name": ""}, r"bert: `name` must be a non-empty string"),
])
def test_bad_arguments_are_refused_before_anything_is_built(kwargs, message, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("keras.Input was called: the model was being built")

    monkeypatch.setattr(keras, "Input", refuse)
    with pytest.raises(KerakitError, match=message):
        bert(**{**SMALL, "width": 16, "num_heads": 2, "max_length": 16, **kwargs})


def test_variants_refuse_bad_arguments_under_their_own_name():
    with pytest.raises(KerakitError, match=r"bert_base: `num_heads` must be a divisor of the width 768"):
        kerakit.build("bert_base", num_heads=10)
    with pytest.raises(KerakitError, match=r"bert_tiny: `sequence_length` must be None or at most max_length=512"):
        kerakit.build("bert_tiny", sequence_length=513)


def test_builder_docstring_example_runs():
    assert run_docstring_examples(bert) >= 5
