"""Datasets by name, as batched `tf.data` pipelines that Keras feeds to either backend.

A source is a bundled dataset (`"digits"`, `"text"`, offline), a TensorFlow Datasets name (`"tfds:mnist"`, read
from the user's TFDS data dir), a UTF-8 text file (`"text:notes.txt"`), NumPy arrays (`(x, y)`), or a `DataBundle`
(returned unchanged). Every source goes through the same split rules and the same pipeline: standardize (uint8
images to float32 in [0, 1]), shuffle the training set with `seed` (reshuffled every epoch), batch, prefetch. Text
becomes windows of token ids and their next tokens (`ByteTokenizer`, `WordTokenizer`), for language models.

```python
import kerakit.data
bundle = kerakit.data.load("digits", batch_size=64)
x, y = next(iter(bundle.train))  # x: (64, 8, 8, 1) float32, y: (64,) int32
bundle.info.num_examples  # {'train': 1257, 'validation': 270, 'test': 270}
```

Importing this package does not import TensorFlow.
"""

import os

from kerakit.data import _text
from kerakit.data._arrays import build as _build_from_arrays
from kerakit.data._arrays import from_arrays
from kerakit.data._bundled import BUNDLED as _BUNDLED
from kerakit.data._bundled import BUNDLED_TEXT as _BUNDLED_TEXT
from kerakit.data._core import DataBundle, DataInfo
from kerakit.data._core import check_options as _check_options
from kerakit.data._text import ByteTokenizer, WordTokenizer
from kerakit.data.graph import GRAPH_DATASETS as _GRAPH_DATASETS
from kerakit.data.graph import Graph
from kerakit.errors import KerakitError, invalid, unknown_name_error

__all__ = ["ByteTokenizer", "DataBundle", "DataInfo", "Graph", "WordTokenizer", "available", "from_arrays", "load"]

TFDS_PREFIX = "tfds:"
TEXT_PREFIX = _text.TEXT_PREFIX


def available():
    """Returns the names of the bundled datasets (TensorFlow Datasets are loaded as `"tfds:<name>"`).

    Example:

    ```python
    import kerakit.data
    kerakit.data.available()  # ['digits', 'graphs', 'karate', 'sbm', 'sbm_links', 'text']
    ```
    """
    return sorted([*_BUNDLED, *_BUNDLED_TEXT, *_GRAPH_DATASETS])


def load(
    source,
    *,
    batch_size=32,
    seed=0,
    validation_fraction=0.15,
    test_fraction=0.15,
    data_dir=None,
    download=False,
    image_size=None,
    sequence_length=None,
    tokenizer=None,
):
    """Loads a dataset as a `DataBundle` of train, validation and test `tf.data.Dataset`s of `(x, y)` batches.

    Bundled datasets and arrays get a fixed split (stratified by class; the same for every `seed`). TensorFlow
    Datasets use their `train` and `test` splits and their `validation` split when there is one; a missing split is
    sliced off the end of `train` (`validation_fraction`, `test_fraction`). Only `train` is shuffled.

    Text (`"text"`, `"text:<path>"`) is cut into contiguous parts, train first, then validation, then test
    (`validation_fraction` and `test_fraction` of its characters), each tokenized and cut into non-overlapping
    windows of `sequence_length + 1` tokens, so that no window crosses two splits: `x` and `y` are int32
    `(batch, sequence_length)`, `y` being `x` shifted by one token (next-token targets). `info.num_classes` is the
    tokenizer's vocabulary size, `info.task` `"language_modeling"`, and `bundle.tokenizer` the tokenizer.

    Graph datasets (`"karate"`, `"sbm"`, `"graphs"`, `"sbm_links"`; see `kerakit.data.graph`) yield
    `(inputs, labels, sample_weight)` with dict inputs (`node_features`, `senders`, `receivers`, ...): a node task
    is the whole graph in one step, weighted by the split's node mask (`batch_size` is not used); a graph task,
    padded batches of `batch_size` graphs; link prediction, the training graph and node pairs to score.

    Args:
        source: str, tuple or DataBundle. A bundled name (see `available()`), `"tfds:<name>[/<config>][:<version>]"`,
            `"text:<path>"` (a UTF-8 text file), a tuple `(x, y)` of arrays (see `from_arrays`), or a `DataBundle`,
            returned unchanged.
        batch_size: int. Examples per batch. Defaults to `32`.
        seed: int. Seeds the shuffling of the training set. Defaults to `0`.
        validation_fraction: float. The share split off for validation where there is no validation split.
            Defaults to `0.15`.
        test_fraction: float. The share split off for testing where there is no test split. Defaults to `0.15`.
        data_dir: str or None. TensorFlow Datasets' data dir. Defaults to tfds's own (`TFDS_DATA_DIR` or
            `~/tensorflow_datasets`).
        download: bool. Whether tfds may download and prepare a dataset that is not in `data_dir`. Defaults to
            `False`: a missing dataset is an error that says how to prepare it.
        image_size: (int, int) or None. Resize images to (height, width). Defaults to `None` (keep their size).
        sequence_length: int or None. Text only: the tokens of one example. Defaults to `128` for text.
        tokenizer: str, ByteTokenizer, WordTokenizer or None. Text only: `"bytes"` (UTF-8 bytes, 256 ids),
            `"words"` (a `WordTokenizer` adapted on the training text), or a tokenizer (a `WordTokenizer` not yet
            adapted is adapted on the training text). Defaults to `"bytes"` for text.

    Example:

    ```python
    import kerakit.data
    bundle = kerakit.data.load("digits", batch_size=64, seed=1)
    bundle.info.input_shape, bundle.info.num_classes, bundle.steps_per_epoch  # ((8, 8, 1), 10, 20)
    text = kerakit.data.load("text", sequence_length=64, batch_size=16)
    text.info.input_shape, text.info.num_classes, text.info.task  # (64,), 256, 'language_modeling'
    x, y = next(iter(text.test))
    x.shape, y.dtype.name, bool((x[:, 1:] == y[:, :-1]).numpy().all())  # (16, 64), 'int32', True
    text.tokenizer.decode(x[0, :8]), text.tokenizer.decode(y[0, :8])  # 'eak in t', 'ak in th'
    ```
    """
    if isinstance(source, DataBundle):
        return source
    owner = "kerakit.data.load"
    options = _check_options(owner, batch_size, seed, validation_fraction, test_fraction, image_size)
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise invalid(owner, "data_dir", "a path (str) or None", data_dir)
    if not isinstance(download, bool):
        raise invalid(owner, "download", "True or False", download)
    is_text = isinstance(source, str) and (source in _BUNDLED_TEXT or source.startswith(TEXT_PREFIX))
    if is_text:
        if image_size is not None:
            raise invalid(owner, "image_size", f"None for text ({source!r} gives windows of token ids)", image_size)
        sequence_length = _text.check_sequence_length(owner, sequence_length)
        tokenizer = _text.check_tokenizer(owner, "bytes" if tokenizer is None else tokenizer)
        if source in _BUNDLED_TEXT:
            (text, citation), name = _BUNDLED_TEXT[source](), source
        else:
            text, name, citation = _text.read_text_file(owner, source[len(TEXT_PREFIX) :])
        return _text.build(
            text,
            name=name,
            source=citation,
            tokenizer=tokenizer,
            sequence_length=sequence_length,
            options=options,
            owner=owner,
        )
    for argument, value in (("sequence_length", sequence_length), ("tokenizer", tokenizer)):
        if value is not None:
            expected = f"None for {_describe_source(source)} (it is for text: 'text' or 'text:<path>')"
            raise invalid(owner, argument, expected, value)

    if isinstance(source, str) and source in _GRAPH_DATASETS:
        from kerakit.data import graph

        return graph.load(source, options, owner)
    if isinstance(source, tuple) and len(source) == 2:
        return _build_from_arrays(*source, options=options, owner=owner)
    if isinstance(source, str) and source.startswith(TFDS_PREFIX):
        spec = source[len(TFDS_PREFIX) :]
        if not spec:
            raise invalid(owner, "source", "'tfds:<name>', e.g. 'tfds:mnist'", source)
        from kerakit.data._tfds import load_tfds

        return load_tfds(spec, None if data_dir is None else os.fspath(data_dir), download, options, owner)
    if isinstance(source, str):
        if source not in _BUNDLED:
            error = unknown_name_error("bundled dataset", source, available())
            raise KerakitError(
                f"{owner}: {error} For TensorFlow Datasets, use 'tfds:<name>', e.g. 'tfds:mnist'; for a text file, "
                "'text:<path>'."
            )
        x, y, citation = _BUNDLED[source]()
        return _build_from_arrays(x, y, options=options, owner=owner, name=source, source=citation)
    expected = "a bundled name such as 'digits', 'tfds:<name>', 'text:<path>', a tuple (x, y) of arrays or a DataBundle"
    raise invalid(owner, "source", expected, source)


def _describe_source(source):
    """A short name for a non-text source, for error messages."""
    if isinstance(source, str):
        return repr(source)
    if isinstance(source, tuple):
        return "arrays"
    return "this source"
