"""Recurrent sequence blueprints (blueprints/sequence/recurrent.py): rnn_classifier, rnn_forecaster, seq2seq.

Parameter counts against the layers' formulas, stacked and bidirectional shapes, padding that really is masked (in
the classifier, the encoder, the attention and the loss), the decoder's causality, small real training runs, and
every argument error. The shared build/train/save/export test runs on the tiny configs in tests/test_blueprints.py.
"""

import keras
import numpy as np
import pytest

import kerakit
from blueprints.sequence import recurrent  # noqa: F401  (importing registers the blueprints)
from kerakit.errors import KerakitError
from tests.helpers import assert_outputs_close, infer

CELLS = ("simple", "lstm", "gru")


def _layer_params(cell, inputs, units):
    """One recurrent layer: SimpleRNN u(d+u)+u; LSTM 4 gates of that; GRU (reset_after) 3 gates with 2 biases."""
    return {"simple": units * (inputs + units) + units,
            "lstm": 4 * (units * (inputs + units) + units),
            "gru": 3 * (units * (inputs + units) + 2 * units)}[cell]


def _stack_params(cell, inputs, units, bidirectional):
    """Stacked layers; each reads the previous one's (concatenated, if bidirectional) sequence."""
    directions = 2 if bidirectional else 1
    total = 0
    for width in units:
        total += directions * _layer_params(cell, inputs, width)
        inputs = directions * width
    return total


def _padded(rows, length):
    """Right-pads int token rows with id 0 to `length`."""
    return np.array([list(row) + [0] * (length - len(row)) for row in rows], "int32")


# -------------------------------------------------------------------------------------------------- parameter counts


def _shapes_only(name, **kwargs):
    """The blueprint built without initialising its variables (shapes only): counting parameters needs no values, and
    on JAX every new variable shape would otherwise compile its initializer."""
    with keras.StatelessScope(initialize_variables=False):
        return kerakit.build(name, **kwargs)


def test_layer_formulas_match_keras_for_every_cell():
    for cell, layer in (("simple", keras.layers.SimpleRNN(5)), ("lstm", keras.layers.LSTM(5)),
                        ("gru", keras.layers.GRU(5))):
        with keras.StatelessScope(initialize_variables=False):
            layer.build((None, None, 3))
        assert layer.count_params() == _layer_params(cell, 3, 5), cell
    assert _layer_params("lstm", 3, 5) == 4 * (5 * (3 + 5) + 5) == 180
    assert _layer_params("gru", 3, 5) == 3 * (5 * (3 + 5) + 2 * 5) == 150


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_token_classifier_parameter_count_matches_the_formula(cell, bidirectional):
    model = _shapes_only("rnn_classifier", vocabulary_size=20, embedding_dim=8, units=(6, 4), num_classes=3,
                         cell=cell, bidirectional=bidirectional)
    directions = 2 if bidirectional else 1
    assert model.get_layer("rnn_classifier_rnn1").count_params() == directions * _layer_params(cell, 8, 6)
    assert model.get_layer("rnn_classifier_rnn2").count_params() == directions * _layer_params(cell, directions * 6, 4)
    expected = 20 * 8 + _stack_params(cell, 8, (6, 4), bidirectional) + (directions * 4 * 3 + 3)
    assert model.count_params() == expected


def test_bidirectional_doubles_every_recurrent_layer():
    one = _shapes_only("rnn_classifier", input_shape=(None, 3), units=(5,), cell="lstm")
    two = _shapes_only("rnn_classifier", input_shape=(None, 3), units=(5,), cell="lstm", bidirectional=True)
    assert one.get_layer("rnn_classifier_rnn1").count_params() == 180
    assert two.get_layer("rnn_classifier_rnn1").count_params() == 2 * 180
    assert isinstance(two.get_layer("rnn_classifier_rnn1"), keras.layers.Bidirectional)
    assert two.get_layer("rnn_classifier_rnn1").forward_layer.name == "forward_rnn_classifier_rnn1_lstm"
    assert one.output_shape == (None, 2) and two.output_shape == (None, 2)


def test_float_classifier_has_no_embedding_and_counts_its_layers():
    model = _shapes_only("rnn_classifier", input_shape=(None, 3), units=(8,), cell="gru", num_classes=4)
    assert model.input.dtype == "float32" and model.input_shape == (None, None, 3)
    assert not any(isinstance(layer, keras.layers.Embedding) for layer in model.layers)
    assert model.count_params() == _layer_params("gru", 3, 8) + (8 * 4 + 4)


def test_forecaster_parameter_count_and_output_shape():
    model = _shapes_only("rnn_forecaster", input_shape=(12, 3), horizon=4, num_targets=2, units=(8, 5), cell="gru",
                         bidirectional=True, dropout=0.2)
    assert model.count_params() == _stack_params("gru", 3, (8, 5), True) + (2 * 5 * 8 + 8)
    assert model.output_shape == (None, 4, 2)
    assert model.get_layer("rnn_forecaster_rnn1").forward_layer.dropout == 0.2
    model = _shapes_only("rnn_forecaster", input_shape=(None, 1), horizon=1, units=(4,), cell="simple")
    assert model.output_shape == (None, 1, 1)
    assert model.count_params() == _layer_params("simple", 1, 4) + (4 + 1)


def _seq2seq_params(cell, source_vocabulary, target_vocabulary, embedding_dim, units, bidirectional):
    """Embeddings, encoder and decoder stacks and the bridges (a bidirectional encoder's final [h, c] -> one tanh
    Dense per state); also returns the encoder's output width, the decoder's and the vocabulary."""
    total = (source_vocabulary + target_vocabulary) * embedding_dim
    total += _stack_params(cell, embedding_dim, units, bidirectional)
    total += _stack_params(cell, embedding_dim, units, False)
    if bidirectional:
        states = 2 if cell == "lstm" else 1
        total += sum(states * (2 * width * width + width) for width in units)
    return total, (2 if bidirectional else 1) * units[-1], units[-1], target_vocabulary


@pytest.mark.parametrize("cell, bidirectional", [("lstm", True), ("gru", False), ("simple", True)])
@pytest.mark.parametrize("attention", ["additive", "dot"])
def test_seq2seq_parameter_count_matches_the_formula(cell, bidirectional, attention):
    model = _shapes_only("seq2seq", source_vocabulary_size=20, target_vocabulary_size=12, embedding_dim=8,
                         units=(6, 4), cell=cell, bidirectional=bidirectional, attention=attention)
    total, encoded, top, vocabulary = _seq2seq_params(cell, 20, 12, 8, (6, 4), bidirectional)
    if attention == "additive":  # W (queries), U (keys), v (Keras's scale vector); no biases (Bahdanau)
        total += top * top + encoded * top + top
    else:  # Luong's "general" W_a on the keys
        total += encoded * top
    total += (encoded + top) * top + top + top * vocabulary + vocabulary  # attentional state, logits
    assert model.count_params() == total
    layer_type = type(model.get_layer("seq2seq_attention")).__name__
    assert layer_type == {"additive": "AdditiveAttention", "dot": "Attention"}[attention]


# ------------------------------------------------------------------------------------------------ shapes and names


def test_stacked_layers_return_sequences_except_the_last():
    model = _shapes_only("rnn_classifier", vocabulary_size=20, embedding_dim=8, units=(6, 5, 4), cell="lstm",
                         bidirectional=True, include_top=False, sequence_length=7)
    assert model.input_shape == (None, 7) and model.input.dtype == "int32"
    assert model.get_layer("rnn_classifier_rnn1").output.shape == (None, 7, 12)
    assert model.get_layer("rnn_classifier_rnn2").output.shape == (None, 7, 10)
    assert model.get_layer("rnn_classifier_rnn3").output.shape == (None, 8)
    assert model.output_shape == (None, 8)  # no top: the final state of both directions
    assert model.get_layer("rnn_classifier_embedding").mask_zero


def test_token_classifier_takes_input_shape_as_a_training_run_fills_it():
    model = _shapes_only("rnn_classifier", input_shape=(9,), vocabulary_size=20, embedding_dim=4, units=(4,))
    assert model.input_shape == (None, 9)
    model = _shapes_only("rnn_classifier", input_shape=(9,), sequence_length=9, vocabulary_size=20, units=(4,))
    assert model.input_shape == (None, 9)
    model = _shapes_only("rnn_classifier", input_shape=(None,), sequence_length=9, vocabulary_size=20, units=(4,))
    assert model.input_shape == (None, 9)
    model = _shapes_only("rnn_classifier", vocabulary_size=20, embedding_dim=4, units=(4,), num_classes=5,
                         classifier_activation="softmax", dropout=0.3)
    assert model.input_shape == (None, None) and model.output_shape == (None, 5)
    assert model.layers[-1].activation is keras.activations.softmax
    assert model.get_layer("rnn_classifier_head_dropout").rate == 0.3


def test_seq2seq_takes_a_dict_of_token_inputs_and_returns_logits_per_target_position():
    model = _shapes_only("seq2seq", source_vocabulary_size=20, target_vocabulary_size=12, embedding_dim=8,
                         units=(8, 6), cell="gru")
    assert set(model.input) == {"source_tokens", "target_tokens"}
    assert all(model.input[key].dtype == "int32" and model.input[key].shape == (None, None) for key in model.input)
    assert model.output_shape == (None, None, 12)
    names = {layer.name for layer in model.layers}
    assert {"seq2seq_encoder_rnn1", "seq2seq_encoder_rnn2", "seq2seq_decoder_rnn1", "seq2seq_decoder_rnn2",
            "seq2seq_bridge1_h", "seq2seq_bridge2_h", "seq2seq_attention", "seq2seq_logits"} <= names
    assert "seq2seq_bridge1_c" not in names  # a GRU has one state
    assert isinstance(model.get_layer("seq2seq_encoder_rnn2"), keras.layers.Bidirectional)
    assert isinstance(model.get_layer("seq2seq_decoder_rnn2"), keras.layers.GRU)  # unidirectional
    unbridged = _shapes_only("seq2seq", source_vocabulary_size=20, target_vocabulary_size=12, units=(8,),
                             bidirectional=False)
    assert not any("bridge" in layer.name for layer in unbridged.layers)  # same widths: states passed as they are


# ------------------------------------------------------------------------------------------------------- padding

# The models of these tests share their sizes: on JAX each new variable shape compiles its initializer once.
_CLASSIFIER = {"vocabulary_size": 20, "embedding_dim": 8, "units": (8, 6), "num_classes": 3}
_SEQ2SEQ = {"source_vocabulary_size": 20, "target_vocabulary_size": 12, "embedding_dim": 8, "units": (8, 6)}


@pytest.mark.parametrize("cell, bidirectional", [("lstm", True), ("gru", False), ("simple", True)])
def test_classifier_padding_is_really_masked(cell, bidirectional):
    model = kerakit.build("rnn_classifier", cell=cell, bidirectional=bidirectional, **_CLASSIFIER)
    rows = [[5, 3, 9], [2, 7, 7, 11, 4, 1], [19], [5, 3, 8]]
    short = infer(model, _padded(rows, 6))  # the second row has no padding at all
    longer = infer(model, _padded(rows, 10))  # four more padded steps at the end of every row
    assert_outputs_close(longer, short, atol=1e-5, what="extra trailing padding")
    assert np.abs(short[3] - short[0]).max() > 1e-4  # the last real token does change the output


@pytest.mark.parametrize("attention, cell", [("additive", "lstm"), ("dot", "gru")])
def test_seq2seq_is_causal_and_masks_source_padding(attention, cell):
    model = kerakit.build("seq2seq", attention=attention, cell=cell, bidirectional=True, **_SEQ2SEQ)
    source = _padded([[4, 7, 2], [3, 9, 9, 5, 1]], 5)
    target = np.array([[1, 5, 3, 8, 2, 7], [1, 4, 4, 10, 6, 9]], "int32")
    variants = [(source, target)]
    for position in (1, 3, 5):  # another real (non-padding) target id at `position`
        changed = target.copy()
        changed[:, position] = changed[:, position] % 11 + 1
        variants.append((source, changed))
    other_source = source.copy()
    other_source[0, 2] = 6  # the first row's last real source token
    variants.append((other_source, target))
    # One call for all variants (one compilation), then the base batch with four more padded source positions.
    outputs = infer(model, {"source_tokens": np.concatenate([s for s, _ in variants]),
                            "target_tokens": np.concatenate([t for _, t in variants])})
    base, *changed_targets, changed_source = np.split(outputs, len(variants))
    assert base.shape == (2, 6, 12)
    for position, out in zip((1, 3, 5), changed_targets):
        assert_outputs_close(out[:, :position], base[:, :position], atol=1e-6, what=f"positions < {position}")
        assert np.abs(out[:, position] - base[:, position]).max() > 1e-5  # the changed position itself moves
    assert np.abs(changed_source[0, 0] - base[0, 0]).max() > 1e-5  # a real source token reaches every position
    padded = infer(model, {"source_tokens": _padded(source.tolist(), 9), "target_tokens": target})
    assert_outputs_close(padded, base, atol=1e-5, what="extra trailing source padding")


def test_seq2seq_loss_ignores_padded_target_positions():
    model = kerakit.build("seq2seq", **_SEQ2SEQ)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    inputs = {"source_tokens": _padded([[4, 7, 2], [3, 3]], 4), "target_tokens": _padded([[1, 5, 3, 8], [1, 2]], 4)}
    labels = _padded([[5, 3, 8, 2], [2, 9]], 4)
    other_padding = labels.copy()
    other_padding[1, 2:] = [7, 11]  # labels under the padded target positions
    other_real = labels.copy()
    other_real[1, 1] = 4
    loss = model.evaluate(inputs, labels, verbose=0)
    assert model.evaluate(inputs, other_padding, verbose=0) == pytest.approx(loss, abs=1e-6)
    assert abs(model.evaluate(inputs, other_real, verbose=0) - loss) > 1e-5


# ------------------------------------------------------------------------------------------------------ training


def test_forecaster_learns_a_sine_wave():
    rng = np.random.default_rng(0)
    window, horizon = 12, 3
    phase = rng.uniform(0, 2 * np.pi, size=(256, 1))
    wave = np.sin(0.5 * np.arange(window + horizon)[None] + phase).astype("float32")[..., None]
    x, y = wave[:, :window], wave[:, window:]
    model = kerakit.build("rnn_forecaster", input_shape=(window, 1), horizon=horizon, units=(16,), cell="gru")
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    before = model.evaluate(x, y, batch_size=256, verbose=0)
    model.fit(x, y, batch_size=32, epochs=5, verbose=0)
    after = model.evaluate(x, y, batch_size=256, verbose=0)
    assert after < before / 20, f"MSE {before:.4f} -> {after:.4f}"


def test_token_classifier_learns_the_sign_of_a_padded_sum():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 9, size=512)
    rows = [rng.integers(1, 12, size=n) for n in lengths]  # ids 1..5 count -1, ids 6..11 count +1
    tokens = _padded(rows, 8)
    labels = np.array([int(np.where(row < 6, -1, 1).sum() > 0) for row in rows], "int32")
    model = kerakit.build("rnn_classifier", vocabulary_size=12, embedding_dim=8, units=(16,), num_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(0.02), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before, _ = model.evaluate(tokens, labels, batch_size=512, verbose=0)
    model.fit(tokens, labels, batch_size=32, epochs=5, verbose=0)
    after, accuracy = model.evaluate(tokens, labels, batch_size=512, verbose=0)
    assert after < before / 5 and accuracy > 0.9, f"loss {before:.3f} -> {after:.3f}, accuracy {accuracy:.3f}"


# -------------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, message", [
    ({"cell": "lstmm"}, (r"rnn_classifier: `cell` must be one of \['simple', 'lstm', 'gru'\] \(did you mean "
                         r"'lstm'\?\)\. Received: cell='lstmm'")),
    ({"units": ()}, r"rnn_classifier: `units` must be a non-empty sequence of integers. Received: units=\(\)"),
    ({"units": (8, -1)}, r"`units` must be a sequence of integers >= 1. Received: units=\(8, -1\)"),
    ({"units": 8}, r"`units` must be a sequence of integers >= 1. Received: units=8"),
    ({"dropout": 1.0}, r"`dropout` must be a float in \[0, 1\). Received: dropout=1.0"),
    ({"dropout": -0.1}, r"`dropout` must be a float in \[0, 1\). Received: dropout=-0.1"),
    ({"vocabulary_size": 0}, r"`vocabulary_size` must be an integer >= 2. Received: vocabulary_size=0"),
    ({"vocabulary_size": -5}, r"`vocabulary_size` must be an integer >= 2. Received: vocabulary_size=-5"),
    ({"vocabulary_size": 20, "embedding_dim": 0}, r"`embedding_dim` must be an integer >= 1"),
    ({"vocabulary_size": 20, "sequence_length": 0}, r"`sequence_length` must be an integer >= 1"),
    ({"vocabulary_size": 20, "sequence_length": 5, "input_shape": (6,)},
     r"`input_shape` must be None or \(sequence_length,\) = \(5,\) for token ids. Received: input_shape=\(6,\)"),
    ({"vocabulary_size": 20, "input_shape": (6, 2)}, r"`input_shape` must be a tuple of 1 positive integers"),
    ({}, r"`input_shape` must be a tuple \(timesteps, features\) for float inputs.*Received: input_shape=None"),
    ({"input_shape": (10,)}, r"`input_shape` must be a tuple of 2 positive integers. Received: input_shape=\(10,\)"),
    ({"input_shape": (10, None)}, r"`input_shape` must be a tuple \(timesteps, features\) with a known number"),
    ({"input_shape": (10, 2), "sequence_length": 10}, r"`sequence_length` must be None for float inputs"),
    ({"bidirectional": "yes"}, r"`bidirectional` must be True or False. Received: bidirectional='yes'"),
    ({"num_classes": 0}, r"`num_classes` must be an integer >= 1. Received: num_classes=0"),
    ({"classifier_activation": "softmaxx"}, r"`classifier_activation` must be a Keras activation name"),
])
def test_rnn_classifier_refuses_bad_arguments_with_a_clear_message(kwargs, message):
    arguments = {"units": (4,), **kwargs}
    if "vocabulary_size" not in kwargs and "input_shape" not in kwargs and kwargs:
        arguments["input_shape"] = (None, 2)
    with pytest.raises(KerakitError, match=message):
        kerakit.build("rnn_classifier", **arguments)


@pytest.mark.parametrize("kwargs, message", [
    ({"horizon": 0}, r"rnn_forecaster: `horizon` must be an integer >= 1. Received: horizon=0"),
    ({"horizon": -3}, r"`horizon` must be an integer >= 1. Received: horizon=-3"),
    ({"horizon": 2.5}, r"`horizon` must be an integer >= 1. Received: horizon=2.5"),
    ({"num_targets": 0}, r"`num_targets` must be an integer >= 1. Received: num_targets=0"),
    ({"cell": "transformer"}, r"`cell` must be one of \['simple', 'lstm', 'gru'\]. Received: cell='transformer'"),
    ({"units": []}, r"`units` must be a non-empty sequence of integers"),
    ({"dropout": 1.5}, r"`dropout` must be a float in \[0, 1\). Received: dropout=1.5"),
    ({"input_shape": (12, 3, 1)}, r"`input_shape` must be a tuple of 2 positive integers"),
])
def test_rnn_forecaster_refuses_bad_arguments_with_a_clear_message(kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build("rnn_forecaster", **{"input_shape": (12, 3), "units": (4,), **kwargs})


@pytest.mark.parametrize("kwargs, message", [
    ({"source_vocabulary_size": 0}, (r"seq2seq: `source_vocabulary_size` must be an integer >= 2. "
                                     r"Received: source_vocabulary_size=0")),
    ({"target_vocabulary_size": 1}, r"`target_vocabulary_size` must be an integer >= 2"),
    ({"attention": "luong"}, r"`attention` must be one of \['additive', 'dot'\]. Received: attention='luong'"),
    ({"cell": "LSTM"}, r"`cell` must be one of \['simple', 'lstm', 'gru'\].*Received: cell='LSTM'"),
    ({"units": (0,)}, r"`units` must be a sequence of integers >= 1. Received: units=\(0,\)"),
    ({"embedding_dim": -1}, r"`embedding_dim` must be an integer >= 1. Received: embedding_dim=-1"),
    ({"dropout": "0.1"}, r"`dropout` must be a float in \[0, 1\). Received: dropout='0.1'"),
    ({"bidirectional": 1}, r"`bidirectional` must be True or False. Received: bidirectional=1"),
])
def test_seq2seq_refuses_bad_arguments_with_a_clear_message(kwargs, message):
    arguments = {"source_vocabulary_size": 20, "target_vocabulary_size": 12, "units": (4,), **kwargs}
    with pytest.raises(KerakitError, match=message):
        kerakit.build("seq2seq", **arguments)
