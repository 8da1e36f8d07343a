"""Recurrent sequence blueprints: a classifier, a forecaster and an attentional encoder-decoder.

The recurrent layers are Keras's own: `SimpleRNN` (Elman, "Finding Structure in Time", Cognitive Science 1990),
`LSTM` (Hochreiter and Schmidhuber, "Long Short-Term Memory", Neural Computation 1997; with the forget gate of Gers,
Schmidhuber and Cummins 2000) and `GRU` (Cho, van Merrienboer, Gulcehre, Bahdanau, Bougares, Schwenk and Bengio,
"Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine Translation", EMNLP 2014; Keras's
`reset_after=True` form, with separate input and recurrent biases). A layer of `u` units on inputs of width `d` has

    simple: u * (d + u) + u        lstm: 4 * (u * (d + u) + u)        gru: 3 * (u * (d + u) + 2 * u)

parameters, twice that when `bidirectional` (Schuster and Paliwal 1997; the two directions are concatenated).
Layers are stacked in the order of `units`; every layer but the last of a classifier or forecaster returns its whole
sequence, the last its final state.

Token inputs go through `keras.layers.Embedding(mask_zero=True)`: id 0 is padding, and the Keras mask it makes
reaches every recurrent layer (which then carries its state over the padded steps, in either direction) and the
attention (which gives padded source positions zero weight). Padding must come after the tokens (right padding),
which is also what cuDNN's fast path needs on a GPU.

`seq2seq` is the attentional encoder-decoder of Bahdanau, Cho and Bengio ("Neural Machine Translation by Jointly
Learning to Align and Translate", ICLR 2015) and Luong, Pham and Manning ("Effective Approaches to Attention-based
Neural Machine Translation", EMNLP 2015), trained with teacher forcing.
"""

from blueprints._heads import check_head_arguments, classification_head
from kerakit import errors
from kerakit.registry import blueprint

CELLS = ("simple", "lstm", "gru")
ATTENTIONS = ("additive", "dot")


# -- argument checks ----------------------------------------------------------------------------------------------


def _check_bool(owner, argument, value):
    if not isinstance(value, bool):
        raise errors.invalid(owner, argument, "True or False", value)
    return value


def _check_recurrent_arguments(owner, cell, units, bidirectional, dropout):
    """Checks the arguments every recurrent blueprint shares; returns `units` as a tuple."""
    errors.check_choice(owner, "cell", cell, CELLS)
    units = errors.check_int_sequence(owner, "units", units)
    _check_bool(owner, "bidirectional", bidirectional)
    errors.check_rate(owner, "dropout", dropout)
    return units


def _check_float_input_shape(owner, input_shape):
    """A `(timesteps, features)` shape; `timesteps` may be `None`, `features` may not."""
    if input_shape is None:
        raise errors.invalid(owner, "input_shape", "a tuple (timesteps, features) for float inputs (or give "
                             "`vocabulary_size` for token ids)", input_shape)
    shape = errors.check_input_shape(owner, input_shape, rank=2)
    if shape[-1] is None:
        raise errors.invalid(owner, "input_shape", "a tuple (timesteps, features) with a known number of features",
                             input_shape)
    return shape


# -- building blocks ----------------------------------------------------------------------------------------------


def _recurrent_layer(cell, units, dropout, bidirectional, name, return_sequences, return_state=False):
    """A Keras `SimpleRNN`/`LSTM`/`GRU` layer, wrapped in `Bidirectional` (concatenated directions) if asked.

    `dropout` is Keras's input dropout of the layer: one mask for all time steps of a sequence.
    """
    import keras

    layer_class = {"simple": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    layer = layer_class(units, dropout=dropout, return_sequences=return_sequences, return_state=return_state,
                        name=f"{name}_{cell}" if bidirectional else name)
    return keras.layers.Bidirectional(layer, name=name) if bidirectional else layer


def _recurrent_stack(x, cell, units, dropout, bidirectional, name):
    """`len(units)` stacked recurrent layers named `{name}_rnn{i}`; all but the last return their sequences."""
    for i, width in enumerate(units, start=1):
        x = _recurrent_layer(cell, width, dropout, bidirectional, f"{name}_rnn{i}",
                             return_sequences=i < len(units))(x)
    return x


def _token_embedding(tokens, vocabulary_size, embedding_dim, name):
    """Embeds int ids; id 0 is padding (`mask_zero=True`: the mask follows the embeddings downstream)."""
    import keras

    return keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True, name=name)(tokens)


# -- the blueprints -----------------------------------------------------------------------------------------------


@blueprint(family="sequence", task="sequence_classification",
           tiny={"num_classes": 3, "vocabulary_size": 20, "embedding_dim": 8, "units": (8, 8), "cell": "gru",
                 "bidirectional": True})
def rnn_classifier(
    input_shape=None,
    num_classes=2,
    cell="lstm",
    units=(64,),
    bidirectional=False,
    dropout=0.0,
    vocabulary_size=None,
    sequence_length=None,
    embedding_dim=64,
    include_top=True,
    classifier_activation=None,
    name="rnn_classifier",
):
    """A recurrent sequence classifier: (embedding ->) stacked RNN/LSTM/GRU layers -> final state -> Dense.

    Two kinds of input:

    - token ids (`vocabulary_size` given): int32 `(batch, sequence_length)`, embedded with
      `Embedding(mask_zero=True)`; id 0 is padding, must come after the tokens, and is masked (padding changes
      nothing);
    - float features (`vocabulary_size=None`): `(batch, timesteps, features)`, e.g. a time series; no masking.

    The recurrent layers follow Elman (1990, `"simple"`), Hochreiter and Schmidhuber (1997, `"lstm"`) or Cho et al.
    (2014, `"gru"`); the classifier reads the last layer's final state (both directions' when `bidirectional`).

    Args:
        input_shape: tuple or None. `(timesteps, features)` for float inputs (`timesteps` may be `None`). With
            `vocabulary_size` it may be `None` or `(sequence_length,)` (as a training run fills it from the data).
            Defaults to `None`.
        num_classes: int. Number of classes. Defaults to `2`.
        cell: str. `"simple"` (`keras.layers.SimpleRNN`), `"lstm"` or `"gru"`. Defaults to `"lstm"`.
        units: sequence of int. Units of each stacked recurrent layer (per direction). Defaults to `(64,)`.
        bidirectional: bool. Wrap every recurrent layer in `keras.layers.Bidirectional` (outputs concatenated).
            Defaults to `False`.
        dropout: float. Input dropout of every recurrent layer (one mask for all time steps) and dropout before
            the output layer. Defaults to `0.0`.
        vocabulary_size: int or None. Number of token ids, padding id 0 included; `None` for float inputs.
            Defaults to `None`.
        sequence_length: int or None. Length of the token sequences; `None` accepts any length. Token input only.
            Defaults to `None`.
        embedding_dim: int. Width of the token embeddings. Token input only. Defaults to `64`.
        include_top: bool. Add the output layer; otherwise return the final state `(batch, units[-1])` (doubled
            when bidirectional). Defaults to `True`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"rnn_classifier"`.

    Example:

    ```python
    import numpy as np
    import kerakit
    model = kerakit.build("rnn_classifier", vocabulary_size=20, embedding_dim=8, units=(8,), num_classes=3)
    model.output_shape  # (None, 3)
    model.count_params()  # 731
    tokens = np.array([[5, 3, 9, 0, 0]], "int32")  # id 0 is padding
    np.allclose(model.predict(tokens, verbose=0), model.predict(tokens[:, :3], verbose=0), atol=1e-5)  # True
    series = kerakit.build("rnn_classifier", input_shape=(None, 2), cell="gru", units=(8, 4), bidirectional=True)
    series.output_shape  # (None, 2)
    ```
    """
    owner = "rnn_classifier"
    units = _check_recurrent_arguments(owner, cell, units, bidirectional, dropout)
    _check_bool(owner, "include_top", include_top)
    check_head_arguments(owner, num_classes, include_top, None, dropout)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    tokens = vocabulary_size is not None
    if tokens:
        vocabulary_size = errors.check_int(owner, "vocabulary_size", vocabulary_size, minimum=2)
        embedding_dim = errors.check_int(owner, "embedding_dim", embedding_dim)
        if sequence_length is not None:
            sequence_length = errors.check_int(owner, "sequence_length", sequence_length)
        if input_shape is not None:
            shape = errors.check_input_shape(owner, input_shape, rank=1)
            if sequence_length is not None and shape[0] not in (None, sequence_length):
                raise errors.invalid(owner, "input_shape", f"None or (sequence_length,) = ({sequence_length},) for "
                                     "token ids", input_shape)
            sequence_length = sequence_length if shape[0] is None else shape[0]
    else:
        input_shape = _check_float_input_shape(owner, input_shape)
        if sequence_length is not None:
            raise errors.invalid(owner, "sequence_length", "None for float inputs (their length is "
                                 "input_shape[0]; give `vocabulary_size` for token ids)", sequence_length)
    import keras

    if tokens:
        inputs = keras.Input(shape=(sequence_length,), dtype="int32", name=f"{name}_tokens")
        x = _token_embedding(inputs, vocabulary_size, embedding_dim, f"{name}_embedding")
    else:
        inputs = keras.Input(shape=input_shape, name=f"{name}_input")
        x = inputs
    x = _recurrent_stack(x, cell, units, dropout, bidirectional, name)
    outputs = classification_head(x, num_classes, include_top, None, dropout, classifier_activation, name)
    return keras.Model(inputs, outputs, name=name)


@blueprint(family="sequence", task="sequence_regression",
           tiny={"input_shape": (6, 2), "horizon": 3, "num_targets": 2, "units": (8,), "cell": "lstm"})
def rnn_forecaster(
    input_shape,
    horizon=1,
    num_targets=1,
    cell="lstm",
    units=(64,),
    bidirectional=False,
    dropout=0.0,
    name="rnn_forecaster",
):
    """A recurrent multi-step forecaster: past `(timesteps, features)` -> the next `horizon` steps of `num_targets`.

    Stacked recurrent layers (Elman 1990, Hochreiter and Schmidhuber 1997 or Cho et al. 2014) read the window; a
    Dense layer maps the last layer's final state to all `horizon * num_targets` values at once (the "direct"
    multi-horizon strategy: no feedback of predictions, so no error accumulates over the horizon), reshaped to
    `(batch, horizon, num_targets)`. Outputs are linear: train with a regression loss such as MSE.

    Args:
        input_shape: tuple. `(timesteps, features)` of the input window; `timesteps` may be `None`.
        horizon: int. Number of future steps predicted. Defaults to `1`.
        num_targets: int. Number of values predicted per step. Defaults to `1`.
        cell: str. `"simple"` (`keras.layers.SimpleRNN`), `"lstm"` or `"gru"`. Defaults to `"lstm"`.
        units: sequence of int. Units of each stacked recurrent layer (per direction). Defaults to `(64,)`.
        bidirectional: bool. Wrap every recurrent layer in `keras.layers.Bidirectional` (the window is known as a
            whole, so reading it backwards too is allowed). Defaults to `False`.
        dropout: float. Input dropout of every recurrent layer (one mask for all time steps) and dropout before
            the output layer. Defaults to `0.0`.
        name: str. Model name and layer-name prefix. Defaults to `"rnn_forecaster"`.

    Example:

    ```python
    import numpy as np
    import kerakit
    model = kerakit.build("rnn_forecaster", input_shape=(12, 3), horizon=4, num_targets=2, cell="gru", units=(8,))
    model.output_shape  # (None, 4, 2)
    model.predict(np.zeros((5, 12, 3), "float32"), verbose=0).shape  # (5, 4, 2)
    ```
    """
    owner = "rnn_forecaster"
    input_shape = _check_float_input_shape(owner, input_shape)
    horizon = errors.check_int(owner, "horizon", horizon)
    num_targets = errors.check_int(owner, "num_targets", num_targets)
    units = _check_recurrent_arguments(owner, cell, units, bidirectional, dropout)
    import keras

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = _recurrent_stack(inputs, cell, units, dropout, bidirectional, name)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_head_dropout")(x)
    x = keras.layers.Dense(horizon * num_targets, name=f"{name}_projection")(x)
    outputs = keras.layers.Reshape((horizon, num_targets), name=f"{name}_forecast")(x)
    return keras.Model(inputs, outputs, name=name)


@blueprint(family="sequence", task="seq2seq",
           tiny={"source_vocabulary_size": 20, "target_vocabulary_size": 20, "embedding_dim": 8, "units": (8,),
                 "bidirectional": True, "attention": "additive"})
def seq2seq(
    source_vocabulary_size,
    target_vocabulary_size,
    cell="lstm",
    units=(128,),
    embedding_dim=64,
    bidirectional=True,
    attention="additive",
    dropout=0.0,
    name="seq2seq",
):
    """An attentional RNN encoder-decoder for sequence-to-sequence tasks, trained with teacher forcing.

    Inputs are a dict of int32 token ids, `{"source_tokens": (batch, S), "target_tokens": (batch, T)}`, where
    `target_tokens` is the target shifted right (a start id first); the output is logits `(batch, T,
    target_vocabulary_size)` for the next target token at each position. Id 0 is padding on both sides and must
    come after the tokens. The target's padding mask stays on the output, so Keras losses ignore padded positions.

    - Encoder: source embedding, then `len(units)` stacked recurrent layers returning their sequences, each
      bidirectional if asked (Bahdanau et al. 2015's BiRNN; directions concatenated).
    - Decoder: target embedding, then `len(units)` unidirectional, causal recurrent layers; layer `i` starts from
      the final state of encoder layer `i` (Cho et al. 2014), through a tanh Dense "bridge" when the encoder is
      bidirectional (as Bahdanau et al. initialise the decoder from a tanh projection of the encoder).
    - Attention: the top decoder states are the queries, over all top encoder states as values (padded source
      positions get no weight). `"additive"`: Bahdanau et al. (2015)'s score `v . tanh(W q + U k)`, with
      `keras.layers.AdditiveAttention`; `"dot"`: Luong et al. (2015)'s multiplicative score `q . (W_a k)` (their
      "general" form; `W_a` also lets a bidirectional encoder's wider states meet the decoder's), with
      `keras.layers.Attention`.
    - Output: Luong's attentional state `tanh(W_c [context; q])` (the context is combined after the decoder step,
      without Bahdanau's feeding of the context into the next step, so the decoder stays a plain Keras layer),
      then a Dense layer to the target vocabulary.

    Position `t` of the output depends on the whole source and on `target_tokens[:, : t + 1]` only.

    Args:
        source_vocabulary_size: int. Number of source token ids, padding id 0 included.
        target_vocabulary_size: int. Number of target token ids, padding id 0 included; the width of the logits.
        cell: str. `"simple"` (`keras.layers.SimpleRNN`), `"lstm"` or `"gru"`, in the encoder and the decoder.
            Defaults to `"lstm"`.
        units: sequence of int. Units of each stacked recurrent layer of the encoder (per direction) and of the
            decoder. Defaults to `(128,)`.
        embedding_dim: int. Width of the source and target embeddings. Defaults to `64`.
        bidirectional: bool. Make every encoder layer bidirectional. Defaults to `True`.
        attention: str. `"additive"` (Bahdanau) or `"dot"` (Luong). Defaults to `"additive"`.
        dropout: float. Input dropout of every recurrent layer (one mask for all time steps) and dropout before the
            output layer. Defaults to `0.0`.
        name: str. Model name and layer-name prefix. Defaults to `"seq2seq"`.

    Example:

    ```python
    import numpy as np
    import kerakit
    model = kerakit.build("seq2seq", source_vocabulary_size=20, target_vocabulary_size=12, embedding_dim=8,
                          units=(8,), attention="dot")
    batch = {"source_tokens": np.array([[4, 7, 2, 0]], "int32"), "target_tokens": np.array([[1, 5, 3]], "int32")}
    model.predict(batch, verbose=0).shape  # (1, 3, 12)
    ```
    """
    owner = "seq2seq"
    source_vocabulary_size = errors.check_int(owner, "source_vocabulary_size", source_vocabulary_size, minimum=2)
    target_vocabulary_size = errors.check_int(owner, "target_vocabulary_size", target_vocabulary_size, minimum=2)
    units = _check_recurrent_arguments(owner, cell, units, bidirectional, dropout)
    embedding_dim = errors.check_int(owner, "embedding_dim", embedding_dim)
    errors.check_choice(owner, "attention", attention, ATTENTIONS)
    import keras

    source = keras.Input(shape=(None,), dtype="int32", name="source_tokens")
    target = keras.Input(shape=(None,), dtype="int32", name="target_tokens")

    # Encoder: every layer returns its sequence and its final state(s) ([h] or, for an LSTM, [h, c]).
    x = _token_embedding(source, source_vocabulary_size, embedding_dim, f"{name}_source_embedding")
    initial_states = []
    for i, width in enumerate(units, start=1):
        x, *states = _recurrent_layer(cell, width, dropout, bidirectional, f"{name}_encoder_rnn{i}",
                                      return_sequences=True, return_state=True)(x)
        if bidirectional:  # [forward states..., backward states...] -> one tanh projection per state
            half = len(states) // 2
            states = [
                keras.layers.Dense(width, activation="tanh", name=f"{name}_bridge{i}_{kind}")(
                    keras.layers.Concatenate(name=f"{name}_bridge{i}_{kind}_concat")([forward, backward]))
                for kind, forward, backward in zip(("h", "c"), states[:half], states[half:])
            ]
        initial_states.append(states)
    encoded = x

    # Decoder: causal, unidirectional, teacher-forced on the shifted target.
    y = _token_embedding(target, target_vocabulary_size, embedding_dim, f"{name}_target_embedding")
    for i, (width, states) in enumerate(zip(units, initial_states), start=1):
        y = _recurrent_layer(cell, width, dropout, False, f"{name}_decoder_rnn{i}",
                             return_sequences=True)(y, initial_state=states)

    # Attention: decoder states query all encoder states; Keras passes the source mask on as the value mask.
    if attention == "additive":
        query = keras.layers.Dense(units[-1], use_bias=False, name=f"{name}_attention_query")(y)
        key = keras.layers.Dense(units[-1], use_bias=False, name=f"{name}_attention_key")(encoded)
        context = keras.layers.AdditiveAttention(use_scale=True, name=f"{name}_attention")([query, encoded, key])
    else:
        key = keras.layers.Dense(units[-1], use_bias=False, name=f"{name}_attention_key")(encoded)
        context = keras.layers.Attention(name=f"{name}_attention")([y, encoded, key])
    h = keras.layers.Concatenate(name=f"{name}_attention_concat")([context, y])
    h = keras.layers.Dense(units[-1], activation="tanh", name=f"{name}_attentional_state")(h)
    if dropout:
        h = keras.layers.Dropout(dropout, name=f"{name}_head_dropout")(h)
    logits = keras.layers.Dense(target_vocabulary_size, name=f"{name}_logits")(h)
    return keras.Model({"source_tokens": source, "target_tokens": target}, logits, name=name)
