"""Tests for text in `kerakit.data`: the tokenizers, the bundled text, text files and the next-token windows."""

import numpy as np
import pytest

import kerakit.data
from kerakit.data import ByteTokenizer, WordTokenizer, _bundled
from kerakit.data._text import split_text
from kerakit.errors import KerakitError
from tests.helpers import run_docstring_examples

SEQUENCE_LENGTH = 32


def _arrays(dataset):
    """All of a batched `(x, y)` dataset (one pass) as two NumPy arrays."""
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in dataset))
    return np.concatenate(xs), np.concatenate(ys)


def _windows_of(stream, sequence_length):
    """The `(x, y)` rows a split of `stream` must give: windows of `sequence_length + 1` tokens at that stride."""
    count = (len(stream) - 1) // sequence_length
    x = np.stack([stream[i * sequence_length : (i + 1) * sequence_length] for i in range(count)])
    y = np.stack([stream[i * sequence_length + 1 : (i + 1) * sequence_length + 1] for i in range(count)])
    return x, y


def _sorted_rows(rows):
    return rows[np.lexsort(rows.T[::-1])]


@pytest.fixture(scope="module")
def shakespeare():
    return _bundled.text()[0]


@pytest.fixture(scope="module")
def text_bundle():
    return kerakit.data.load("text", sequence_length=SEQUENCE_LENGTH, batch_size=64)


def test_docstring_examples_run_and_show_the_right_values():
    objects = [ByteTokenizer, WordTokenizer, _bundled.text]
    assert sum(run_docstring_examples(obj) for obj in objects) >= 12


# --- tokenizers ---------------------------------------------------------------------------------------------------


def test_byte_tokenizer_round_trips_any_text_and_never_raises_on_bad_bytes():
    tokenizer = ByteTokenizer()
    assert tokenizer.vocabulary_size == 256
    ascii_ids = tokenizer.encode("Hail, noble Marcius!\n")
    assert ascii_ids.dtype == np.int32 and ascii_ids.tolist() == list(b"Hail, noble Marcius!\n")
    for text in ["Hail, noble Marcius!\n", "naïve café — 日本語 🙂", ""]:
        ids = tokenizer.encode(text)
        assert ids.dtype == np.int32 and ids.ndim == 1 and len(ids) == len(text.encode("utf-8"))
        assert tokenizer.decode(ids) == text
        assert tokenizer.decode(ids.tolist()) == text  # lists decode too
    assert len(tokenizer.encode("é🙂")) == 2 + 4  # two and four UTF-8 bytes
    # a sample cut mid-character, or bytes that are no UTF-8 at all, decode with U+FFFD instead of raising
    assert tokenizer.decode([0xFF, 0xFE, 104, 105]) == "\ufffd\ufffdhi"
    assert tokenizer.decode(tokenizer.encode("日本")[:4]) == "日\ufffd"
    assert tokenizer.decode(np.array([], np.int32)) == ""
    lone_surrogate = tokenizer.encode("a\udc80b")  # not encodable as strict UTF-8: still no error
    assert tokenizer.decode(lone_surrogate).startswith("a") and tokenizer.decode(lone_surrogate).endswith("b")


def test_byte_tokenizer_errors():
    tokenizer = ByteTokenizer()
    cases = [
        (lambda: tokenizer.encode(b"bytes"), r"ByteTokenizer.encode: `text` must be a str. Received: text=b'bytes'"),
        (lambda: tokenizer.decode([104, 256]), r"`ids` must be token ids in \[0, 256\) \(found 256\)"),
        (lambda: tokenizer.decode([-1]), r"`ids` must be token ids in \[0, 256\) \(found -1\)"),
        (lambda: tokenizer.decode([[104, 105]]), r"`ids` must be a 1-D sequence of integer token ids \(got shape"),
        (lambda: tokenizer.decode([1.5]), r"`ids` must be a 1-D sequence of integer token ids"),
        (lambda: tokenizer.decode("hi"), r"`ids` must be a 1-D sequence of integer token ids"),
    ]
    for call, pattern in cases:
        with pytest.raises(KerakitError, match=pattern):
            call()


def test_word_tokenizer_learns_lowercase_words_and_maps_unknown_ones_to_one():
    tokenizer = WordTokenizer(max_tokens=100)
    assert tokenizer.vocabulary_size is None and "not adapted" in repr(tokenizer)
    for call in (lambda: tokenizer.encode("the"), lambda: tokenizer.decode([2])):
        with pytest.raises(KerakitError, match=r"has no vocabulary yet; call adapt\(text\) first"):
            call()
    assert tokenizer.adapt("The cat sat on the mat. The END!") is tokenizer
    vocabulary = tokenizer.vocabulary
    assert vocabulary[:3] == ["", "[UNK]", "the"] and sorted(vocabulary[3:]) == ["cat", "end", "mat", "on", "sat"]
    assert tokenizer.vocabulary_size == 8 and all(isinstance(word, str) for word in vocabulary)
    ids = tokenizer.encode("THE dog, on the MAT!")
    assert ids.dtype == np.int32 and ids.tolist() == [2, 1, vocabulary.index("on"), 2, vocabulary.index("mat")]
    assert tokenizer.decode(ids) == "the [UNK] on the mat"
    assert tokenizer.decode([0, 2, 0]) == "the"  # padding is left out
    assert tokenizer.encode("").tolist() == []
    with pytest.raises(KerakitError, match=r"`ids` must be token ids in \[0, 8\) \(found 8\)"):
        tokenizer.decode([8])
    capped = WordTokenizer(max_tokens=4).adapt("a a a b b c")
    assert capped.vocabulary == ["", "[UNK]", "a", "b"] and capped.encode("c a").tolist() == [1, 2]
    with pytest.raises(KerakitError, match=r"WordTokenizer: `max_tokens` must be an integer >= 3. Received: max_to"):
        WordTokenizer(max_tokens=2)
    with pytest.raises(KerakitError, match=r"WordTokenizer.adapt: `text` must be a str. Received: text=\['a'\]"):
        WordTokenizer().adapt(["a"])


# --- the bundled text -----------------------------------------------------------------------------------------------


def test_bundled_text_is_listed_and_is_the_shakespeare_excerpt(shakespeare):
    assert kerakit.data.available() == ["digits", "graphs", "karate", "sbm", "sbm_links", "text"]
    assert len(shakespeare) == 127_991 and shakespeare.startswith("First Citizen:\nBefore we proceed any further")
    assert shakespeare.endswith("With his unkindness? say't be so?\n") and shakespeare.isascii()


def test_text_bundle_info_shapes_and_dtypes(text_bundle, shakespeare):
    info = text_bundle.info
    assert (info.name, info.input_shape, info.num_classes, info.task) == (
        "text",
        (SEQUENCE_LENGTH,),
        256,
        "language_modeling",
    )
    assert "Shakespeare" in info.source and "public domain" in info.source and "karpathy/char-rnn" in info.source
    assert isinstance(text_bundle.tokenizer, ByteTokenizer)
    sizes = [len(part) for part in split_text(shakespeare, 0.15, 0.15)]  # bytes: one token per ASCII character
    assert info.num_examples == {
        split: (size - 1) // SEQUENCE_LENGTH for split, size in zip(("train", "validation", "test"), sizes)
    }
    assert text_bundle.steps_per_epoch == -(-info.num_examples["train"] // 64)
    for split in ("train", "validation", "test"):
        x, y = next(iter(getattr(text_bundle, split)))
        assert x.shape == y.shape == (64, SEQUENCE_LENGTH)
        assert x.dtype.name == y.dtype.name == "int32"


def test_text_windows_are_the_token_stream_and_its_next_tokens(text_bundle, shakespeare):
    """Every split is a contiguous run of the token stream (train, validation, test), cut into windows."""
    stream = ByteTokenizer().encode(shakespeare)
    parts = split_text(shakespeare, 0.15, 0.15)
    assert "".join(parts) == shakespeare  # contiguous and disjoint: together, the whole text once
    n = len(shakespeare)
    assert abs(len(parts[1]) - 0.15 * n) <= 1 and abs(len(parts[2]) - 0.15 * n) <= 1
    starts = np.cumsum([0] + [len(part) for part in parts])
    for split, start, end in zip(("train", "validation", "test"), starts[:-1], starts[1:]):
        x, y = _arrays(getattr(text_bundle, split))
        np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # y is x shifted by one token
        expected_x, expected_y = _windows_of(stream[start:end], SEQUENCE_LENGTH)
        if split == "train":  # shuffled: the same windows, in another order
            assert not np.array_equal(x, expected_x)
            x, expected_x, y, expected_y = map(_sorted_rows, (x, expected_x, y, expected_y))
        np.testing.assert_array_equal(x, expected_x)
        np.testing.assert_array_equal(y, expected_y)
    x, _ = _arrays(text_bundle.validation)
    assert ByteTokenizer().decode(x[0]) == parts[1][:SEQUENCE_LENGTH]


def test_text_train_order_follows_seed_and_reshuffles_each_epoch():
    a, b, c = (kerakit.data.load("text", sequence_length=64, batch_size=256, seed=s).train for s in (3, 3, 4))
    first_a, first_b, first_c = _arrays(a)[0], _arrays(b)[0], _arrays(c)[0]
    np.testing.assert_array_equal(first_a, first_b)  # same seed: same order
    assert not np.array_equal(first_a, first_c)  # other seed: other order ...
    np.testing.assert_array_equal(_sorted_rows(first_a), _sorted_rows(first_c))  # ... of the same windows
    second_a = _arrays(a)[0]
    assert not np.array_equal(first_a, second_a)  # a new order every epoch
    np.testing.assert_array_equal(_sorted_rows(first_a), _sorted_rows(second_a))


def test_text_batches_feed_a_keras_model(text_bundle):
    import keras

    model = keras.Sequential(
        [
            keras.Input(text_bundle.info.input_shape, dtype="int32"),
            keras.layers.Embedding(text_bundle.info.num_classes, 8),
            keras.layers.Dense(text_bundle.info.num_classes),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(text_bundle.train, epochs=1, steps_per_epoch=3, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert model.predict(text_bundle.test.take(1), verbose=0).shape == (64, SEQUENCE_LENGTH, 256)


# --- words --------------------------------------------------------------------------------------------------------


def test_words_tokenizer_is_adapted_on_the_training_text_only(shakespeare):
    bundle = kerakit.data.load("text", tokenizer="words", sequence_length=16, batch_size=8)
    tokenizer = bundle.tokenizer
    train, validation, test = split_text(shakespeare, 0.15, 0.15, at_whitespace=True)
    assert train + validation + test == shakespeare and validation[0].isspace() and test[0].isspace()
    assert tokenizer.vocabulary == WordTokenizer().adapt(train).vocabulary  # learnt from train alone
    assert bundle.info.num_classes == tokenizer.vocabulary_size > 2000
    assert (bundle.info.input_shape, bundle.info.task) == ((16,), "language_modeling")
    # cut at whitespace, the parts tokenize as the whole text does
    streams = [tokenizer.encode(part) for part in (train, validation, test)]
    np.testing.assert_array_equal(np.concatenate(streams), tokenizer.encode(shakespeare))
    x, y = _arrays(bundle.test)
    expected_x, expected_y = _windows_of(streams[2], 16)
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(y, expected_y)
    assert x.dtype == np.int32 and bundle.info.num_examples["test"] == len(x)
    # a word seen only after the training text is unknown (id 1)
    unseen = sorted(set(test.lower().split()) - set(train.lower().split()) - set(validation.lower().split()))
    unseen = [word for word in unseen if word.isalpha()]
    assert unseen and tokenizer.encode(unseen[0]).tolist() == [1]
    assert tokenizer.decode(x[0]) == " ".join(tokenizer.vocabulary[i] for i in x[0])


def test_a_given_word_tokenizer_is_adapted_once_and_reused():
    mine = WordTokenizer(max_tokens=50)
    bundle = kerakit.data.load("text", tokenizer=mine, sequence_length=64)
    assert bundle.tokenizer is mine and bundle.info.num_classes == mine.vocabulary_size == 50
    vocabulary = mine.vocabulary
    again = kerakit.data.load("text", tokenizer=mine, sequence_length=64, validation_fraction=0.3)
    assert again.tokenizer is mine and mine.vocabulary == vocabulary  # already adapted: kept as it is
    x, _ = next(iter(again.validation))
    assert int(np.max(x)) < 50


# --- a user's file ------------------------------------------------------------------------------------------------


def test_text_file_source(tmp_path):
    text = "".join(f"Línea {i}: ¿qué tal? — ok 🙂\n" for i in range(60))
    path = tmp_path / "notes.txt"
    path.write_text(text, encoding="utf-8")
    bundle = kerakit.data.load(f"text:{path}", sequence_length=20, batch_size=4, validation_fraction=0.2)
    info = bundle.info
    assert (info.name, info.input_shape, info.num_classes) == ("text:notes.txt", (20,), 256)
    assert str(path) in info.source
    tokenizer = ByteTokenizer()
    parts = split_text(text, 0.2, 0.15)
    for split, part in zip(("train", "validation", "test"), parts):
        x, y = _arrays(getattr(bundle, split))
        expected_x, expected_y = _windows_of(tokenizer.encode(part), 20)
        if split == "train":
            x, expected_x, y, expected_y = map(_sorted_rows, (x, expected_x, y, expected_y))
        np.testing.assert_array_equal(x, expected_x)
        np.testing.assert_array_equal(y, expected_y)
        assert info.num_examples[split] == len(x)
    words = kerakit.data.load(f"text:{path}", tokenizer="words", sequence_length=8, batch_size=4)
    assert words.info.name == "text:notes.txt" and "línea" in words.tokenizer.vocabulary


def test_text_errors_name_the_argument_and_the_fix(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("x" * 400, encoding="utf-8")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café crème".encode("latin-1"))
    missing = tmp_path / "missing.txt"
    x9, y9 = np.zeros((9, 2)), np.zeros(9, int)
    cases = [
        ({"source": "text", "sequence_length": 0}, r"`sequence_length` must be an integer >= 1. Received: seq.*=0"),
        ({"source": "text", "sequence_length": 2.5}, r"`sequence_length` must be an integer >= 1"),
        ({"source": "text", "tokenizer": "byte"}, r"`tokenizer` must be one of \['bytes', 'words'\] \(did you mean"),
        ({"source": "text", "tokenizer": 3}, r"`tokenizer` must be one of .*, a ByteTokenizer or a WordTokenizer"),
        ({"source": "text", "image_size": (8, 8)}, r"`image_size` must be None for text"),
        ({"source": "digits", "sequence_length": 64}, r"`sequence_length` must be None for 'digits' \(it is for text"),
        ({"source": "digits", "tokenizer": "bytes"}, r"`tokenizer` must be None for 'digits'"),
        ({"source": (x9, y9), "sequence_length": 8}, r"`sequence_length` must be None for arrays"),
        ({"source": "tfds:mnist", "tokenizer": "words"}, r"`tokenizer` must be None for 'tfds:mnist'"),
        ({"source": "texts"}, r"Unknown bundled dataset 'texts'. Did you mean: text\?.*'text:<path>'"),
        ({"source": "text:"}, r"`source` must be 'text:<path to a UTF-8 text file>'"),
        ({"source": f"text:{missing}"}, rf"cannot read text:{missing}: {missing} does not exist"),
        ({"source": f"text:{tmp_path}"}, r"is a folder, not a file"),
        ({"source": f"text:{latin1}"}, r"latin1.txt is not UTF-8 text \(invalid continuation byte at byte 3\)"),
        (
            {"source": f"text:{short}", "sequence_length": 64},
            (
                r"the validation split of text:short.txt holds 60 byte tokens \(60 characters\), too few for one "
                r"window of sequence_length \+ 1 = 65 tokens \(the whole text: 400 tokens, 400 characters\). Use a "
                r"smaller sequence_length or a longer text, or a larger validation_fraction."
            ),
        ),
        (
            {"source": "text", "sequence_length": 100_000},
            r"the train split of text holds 89594 byte tokens .* or smaller validation_fraction and test_fraction",
        ),
    ]
    for kwargs, pattern in cases:
        with pytest.raises(KerakitError, match=pattern):
            kerakit.data.load(**kwargs)
