"""Text as next-token batches: the tokenizers, the text sources and the windows of tokens.

A text (the bundled one, or a user's UTF-8 file) is cut into three contiguous parts, train first, then validation,
then test; each part is tokenized on its own and cut into non-overlapping windows of `sequence_length + 1` tokens
(stride `sequence_length`). A window gives one example: `x` its first `sequence_length` tokens, `y` its last
`sequence_length` (`x` shifted by one token, the next-token targets). No window crosses two parts, and the word
tokenizer learns its vocabulary from the training part alone. The windows then go through the shared pipeline
(`_core.make_bundle`: shuffle train, batch, prefetch).

Keras is imported inside the word tokenizer, TensorFlow inside `build`.
"""

import os
import re

import numpy as np

from kerakit.data._core import SPLITS, make_bundle
from kerakit.errors import KerakitError, check_choice, check_int, invalid

TEXT_PREFIX = "text:"
TOKENIZERS = ("bytes", "words")
DEFAULT_SEQUENCE_LENGTH = 128
DEFAULT_MAX_TOKENS = 10_000


def _check_text(owner, text):
    if not isinstance(text, str):
        raise invalid(owner, "text", "a str", text)
    return text


def _check_ids(owner, ids, vocabulary_size):
    """Token ids as a 1-D int64 array, each in [0, vocabulary_size)."""
    try:
        array = np.asarray(ids)
    except (TypeError, ValueError):  # e.g. a ragged list
        array = None
    if array is not None and array.size == 0:
        return np.zeros((0,), np.int64)
    if array is None or array.ndim != 1 or array.dtype.kind not in "iu":
        shape = "" if array is None else f" (got shape {array.shape}, dtype {array.dtype})"
        raise invalid(owner, "ids", f"a 1-D sequence of integer token ids{shape}; decode a batch row by row", ids)
    if array.min() < 0 or array.max() >= vocabulary_size:
        bad = int(array[(array < 0) | (array >= vocabulary_size)][0])
        raise invalid(owner, "ids", f"token ids in [0, {vocabulary_size}) (found {bad})", ids)
    return array.astype(np.int64)


class ByteTokenizer:
    """Text as its UTF-8 bytes: 256 token ids, nothing to learn, and any text round-trips.

    Byte-level models need no vocabulary and never meet an unknown token (ByT5: Xue et al., "ByT5: Towards a
    token-free future with pre-trained byte-to-byte models", TACL 2022, https://arxiv.org/abs/2105.13626). A
    character outside ASCII takes two to four tokens. `decode` never raises on bytes that are not valid UTF-8 (a
    model's sample may cut a character in two): it shows them as U+FFFD.

    Example:

    ```python
    from kerakit.data import ByteTokenizer
    tokenizer = ByteTokenizer()
    ids = tokenizer.encode("Où?")
    ids.tolist(), ids.dtype.name  # [79, 195, 185, 63], 'int32'
    tokenizer.decode(ids)  # 'Où?'
    tokenizer.decode([79, 195])  # 'O\\ufffd'
    tokenizer.vocabulary_size  # 256
    ```
    """

    vocabulary_size = 256

    def encode(self, text):
        """Returns the UTF-8 bytes of `text` (str) as a 1-D int32 array."""
        text = _check_text("ByteTokenizer.encode", text)
        data = text.encode("utf-8", errors="surrogatepass")  # lone surrogates, too, never raise
        return np.frombuffer(data, dtype=np.uint8).astype(np.int32)

    def decode(self, ids):
        """Returns the text of `ids` (a 1-D sequence of ints in [0, 256)); invalid UTF-8 becomes U+FFFD."""
        ids = _check_ids("ByteTokenizer.decode", ids, self.vocabulary_size)
        return ids.astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def __repr__(self):
        return "ByteTokenizer()"


class WordTokenizer:
    """Text as lowercase words, with a vocabulary learnt from a text by Keras's `TextVectorization`.

    `adapt(text)` learns the vocabulary: id 0 is padding, id 1 `[UNK]` (any word not in the vocabulary), then the
    words of `text` from the most frequent, up to `max_tokens` ids in all. Text is lowercased, its punctuation
    stripped and it is split on whitespace, so `decode` (the words joined with spaces) gives it back normalised.
    `kerakit.data.load(..., tokenizer="words")` adapts one on the training text only.

    Args:
        max_tokens: int. The most token ids, padding and `[UNK]` included. Defaults to `10000`.

    Example:

    ```python
    from kerakit.data import WordTokenizer
    tokenizer = WordTokenizer(max_tokens=100).adapt("The cat sat on the mat. The end!")
    tokenizer.vocabulary_size, tokenizer.vocabulary[:3]  # 8, ['', '[UNK]', 'the']
    ids = tokenizer.encode("The dog sat on the mat")
    ids.dtype.name, len(ids), int(ids[1])  # 'int32', 6, 1
    tokenizer.decode(ids)  # 'the [UNK] sat on the mat'
    ```
    """

    def __init__(self, max_tokens=DEFAULT_MAX_TOKENS):
        self.max_tokens = check_int("WordTokenizer", "max_tokens", max_tokens, minimum=3)
        self.layer = None
        self._words = None

    @property
    def vocabulary(self):
        """list of str or None. The token of each id (`None` before `adapt`)."""
        return None if self._words is None else self._words.tolist()

    @property
    def vocabulary_size(self):
        """int or None. The number of token ids, padding and `[UNK]` included (`None` before `adapt`)."""
        return None if self._words is None else len(self._words)

    def adapt(self, text):
        """Learns the vocabulary from `text` (str); returns the tokenizer."""
        text = _check_text("WordTokenizer.adapt", text)
        import keras

        layer = keras.layers.TextVectorization(max_tokens=self.max_tokens, output_mode="int", name="word_tokenizer")
        layer.adapt([text])
        self.layer = layer
        self._words = np.asarray([str(word) for word in layer.get_vocabulary()], dtype=object)
        return self

    def _check_adapted(self, owner):
        if self.layer is None:
            raise KerakitError(
                f"{owner}: the tokenizer has no vocabulary yet; call adapt(text) first "
                "(kerakit.data.load(..., tokenizer='words') adapts one on the training text)."
            )

    def encode(self, text):
        """Returns the word ids of `text` (str) as a 1-D int32 array."""
        self._check_adapted("WordTokenizer.encode")
        text = _check_text("WordTokenizer.encode", text)
        import keras

        return np.asarray(keras.ops.convert_to_numpy(self.layer(text)), dtype=np.int32).reshape(-1)

    def decode(self, ids):
        """Returns the words of `ids` (a 1-D sequence of ints) joined with spaces, padding (id 0) left out."""
        self._check_adapted("WordTokenizer.decode")
        ids = _check_ids("WordTokenizer.decode", ids, len(self._words))
        return " ".join(self._words[ids[ids != 0]])

    def __repr__(self):
        size = "not adapted" if self._words is None else f"vocabulary_size={len(self._words)}"
        return f"WordTokenizer(max_tokens={self.max_tokens}, {size})"


def check_tokenizer(owner, tokenizer):
    """Checks `tokenizer`: "bytes", "words", or a `ByteTokenizer` / `WordTokenizer`."""
    if isinstance(tokenizer, (ByteTokenizer, WordTokenizer)):
        return tokenizer
    if isinstance(tokenizer, str):
        return check_choice(owner, "tokenizer", tokenizer, TOKENIZERS)
    raise invalid(owner, "tokenizer", f"one of {list(TOKENIZERS)}, a ByteTokenizer or a WordTokenizer", tokenizer)


def read_text_file(owner, spec):
    """The text of the UTF-8 file named by `spec` (the part of the source after `text:`); `(text, name, source)`."""
    if not spec:
        raise invalid(owner, "source", "'text:<path to a UTF-8 text file>', e.g. 'text:notes.txt'", TEXT_PREFIX)
    path = os.path.abspath(os.path.expanduser(spec))
    if not os.path.isfile(path):
        what = "is a folder, not a file" if os.path.isdir(path) else "does not exist"
        raise KerakitError(f"{owner}: cannot read text:{spec}: {path} {what}. Give the path of a UTF-8 text file.")
    with open(path, "rb") as file:
        data = file.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise KerakitError(
            f"{owner}: {path} is not UTF-8 text ({error.reason} at byte {error.start}); convert it to UTF-8 first, "
            f"e.g. `iconv -f latin1 -t utf-8 {os.path.basename(path)}`."
        ) from None
    return text, f"{TEXT_PREFIX}{os.path.basename(path)}", f"the text file {path}"


_WHITESPACE = re.compile(r"\s")


def split_text(text, validation_fraction, test_fraction, at_whitespace=False):
    """Cuts `text` into contiguous `(train, validation, test)` parts of about `1 - v - t`, `v` and `t` of its length.

    With `at_whitespace`, each cut moves forward to the next whitespace, so that no word is cut in two.
    """
    n = len(text)
    cuts = []
    for fraction in (1.0 - validation_fraction - test_fraction, 1.0 - test_fraction):
        cut = max(round(n * fraction), cuts[-1] if cuts else 0)
        if at_whitespace:
            match = _WHITESPACE.search(text, cut)
            cut = match.start() if match else n
        cuts.append(cut)
    return text[: cuts[0]], text[cuts[0] : cuts[1]], text[cuts[1] :]


def windows(tokens, sequence_length):
    """`(x, y)` of shape `(count, sequence_length)`: windows of `sequence_length + 1` tokens at stride `sequence_length`.

    `y` is `x` shifted by one token; a last, shorter window is dropped.
    """
    count = max(len(tokens) - 1, 0) // sequence_length
    end = count * sequence_length
    x = np.asarray(tokens[:end], dtype=np.int32).reshape(count, sequence_length)
    y = np.asarray(tokens[1 : end + 1], dtype=np.int32).reshape(count, sequence_length)
    return x, y


def build(text, *, name, source, tokenizer, sequence_length, options, owner):
    """Splits and tokenizes `text`, cuts the windows and makes the bundle; the arguments are already checked."""
    if isinstance(tokenizer, str):
        tokenizer = ByteTokenizer() if tokenizer == "bytes" else WordTokenizer()
    words = isinstance(tokenizer, WordTokenizer)
    parts = dict(zip(SPLITS, split_text(text, options.validation_fraction, options.test_fraction, at_whitespace=words)))
    if words and tokenizer.vocabulary_size is None:
        tokenizer.adapt(parts["train"])  # the vocabulary comes from the training text alone
    tokens = {split: tokenizer.encode(part) for split, part in parts.items()}
    for split in SPLITS:
        if len(tokens[split]) < sequence_length + 1:
            fraction = {
                "train": ", or smaller validation_fraction and test_fraction",
                "validation": ", or a larger validation_fraction",
                "test": ", or a larger test_fraction",
            }
            total = sum(len(t) for t in tokens.values())
            kind = "word" if words else "byte"
            raise KerakitError(
                f"{owner}: the {split} split of {name} holds {len(tokens[split])} {kind} tokens "
                f"({len(parts[split])} characters), too few for one window of sequence_length + 1 = "
                f"{sequence_length + 1} tokens (the whole text: {total} tokens, {len(text)} characters). "
                f"Use a smaller sequence_length or a longer text{fraction[split]}."
            )
    pairs = {split: windows(tokens[split], sequence_length) for split in SPLITS}

    import tensorflow as tf

    splits = {split: tf.data.Dataset.from_tensor_slices(pair) for split, pair in pairs.items()}
    num_examples = {split: len(pair[0]) for split, pair in pairs.items()}
    return make_bundle(
        name,
        splits,
        num_examples,
        tokenizer.vocabulary_size,
        source,
        options,
        shuffle_buffer=num_examples["train"],
        task="language_modeling",
        tokenizer=tokenizer,
    )


def check_sequence_length(owner, sequence_length):
    """Checks `sequence_length` (None: the default, 128)."""
    if sequence_length is None:
        return DEFAULT_SEQUENCE_LENGTH
    return check_int(owner, "sequence_length", sequence_length, minimum=1)
