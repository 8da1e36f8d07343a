"""Datasets by name, as batched `tf.data` pipelines that Keras feeds to either backend.

A source is a bundled dataset (`"digits"`, offline), a TensorFlow Datasets name (`"tfds:mnist"`, read from the
user's TFDS data dir), NumPy arrays (`(x, y)`), or a `DataBundle` (returned unchanged). Every source goes through
the same split rules and the same pipeline: standardize (uint8 images to float32 in [0, 1]), shuffle the training
set with `seed` (reshuffled every epoch), batch, prefetch.

```python
import kerakit.data
bundle = kerakit.data.load("digits", batch_size=64)
x, y = next(iter(bundle.train))  # x: (64, 8, 8, 1) float32, y: (64,) int32
bundle.info.num_examples  # {'train': 1257, 'validation': 270, 'test': 270}
```

Importing this package does not import TensorFlow.
"""

import os

from kerakit.data._arrays import build as _build_from_arrays
from kerakit.data._arrays import from_arrays
from kerakit.data._bundled import BUNDLED as _BUNDLED
from kerakit.data._core import DataBundle, DataInfo
from kerakit.data._core import check_options as _check_options
from kerakit.errors import KerakitError, invalid, unknown_name_error

__all__ = ["DataBundle", "DataInfo", "available", "from_arrays", "load"]

TFDS_PREFIX = "tfds:"


def available():
    """Returns the names of the bundled datasets (TensorFlow Datasets are loaded as `"tfds:<name>"`).

    Example:

    ```python
    import kerakit.data
    kerakit.data.available()  # ['digits']
    ```
    """
    return sorted(_BUNDLED)


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
):
    """Loads a dataset as a `DataBundle` of train, validation and test `tf.data.Dataset`s of `(x, y)` batches.

    Bundled datasets and arrays get a fixed split (stratified by class; the same for every `seed`). TensorFlow
    Datasets use their `train` and `test` splits and their `validation` split when there is one; a missing split is
    sliced off the end of `train` (`validation_fraction`, `test_fraction`). Only `train` is shuffled.

    Args:
        source: str, tuple or DataBundle. A bundled name (see `available()`), `"tfds:<name>[/<config>][:<version>]"`,
            a tuple `(x, y)` of arrays (see `from_arrays`), or a `DataBundle`, returned unchanged.
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

    Example:

    ```python
    import kerakit.data
    bundle = kerakit.data.load("digits", batch_size=64, seed=1)
    bundle.info.input_shape, bundle.info.num_classes, bundle.steps_per_epoch  # ((8, 8, 1), 10, 20)
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
            error = unknown_name_error("bundled dataset", source, _BUNDLED)
            raise KerakitError(f"{owner}: {error} For TensorFlow Datasets, use 'tfds:<name>', e.g. 'tfds:mnist'.")
        x, y, citation = _BUNDLED[source]()
        return _build_from_arrays(x, y, options=options, owner=owner, name=source, source=citation)
    expected = "a bundled name such as 'digits', 'tfds:<name>', a tuple (x, y) of arrays or a DataBundle"
    raise invalid(owner, "source", expected, source)
