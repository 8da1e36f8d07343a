"""In-memory NumPy arrays as a `DataBundle`: the checks, the fixed stratified split, then the shared pipeline."""

import itertools
import math

import numpy as np

from kerakit.data._core import check_example_shape, check_options, make_bundle
from kerakit.errors import check_int, invalid

# The split does not depend on `seed`: the test set stays the same whatever seed a run trains with.
SPLIT_SEED = 1998
ARRAYS_SOURCE = "in-memory NumPy arrays"


def from_arrays(
    x,
    y,
    *,
    x_val=None,
    y_val=None,
    x_test=None,
    y_test=None,
    num_classes=None,
    batch_size=32,
    seed=0,
    validation_fraction=0.15,
    test_fraction=0.15,
    name="arrays",
    image_size=None,
):
    """Builds a `DataBundle` from NumPy arrays, splitting off validation and test sets where they are not given.

    The split is drawn with a constant seed, stratified by class when `y` holds integer labels: the validation and
    test sets are the same for every `seed`, which only drives the (per-epoch) shuffling of the training set.
    Integer `y` means classification (`num_classes` defaults to `max(y) + 1`), float `y` regression. uint8 inputs
    are scaled to float32 in [0, 1]; other floats become float32, other integers (e.g. token ids) int32.

    Args:
        x: array. Inputs, one row per example.
        y: array. Integer class labels or float targets, one per row of `x`.
        x_val, y_val: arrays or None. A validation set; split off `x` when not given.
        x_test, y_test: arrays or None. A test set; split off `x` when not given.
        num_classes: int or None. The number of classes. Defaults to `max(y) + 1` for integer labels.
        batch_size: int. Examples per batch. Defaults to `32`.
        seed: int. Seeds the shuffling of the training set. Defaults to `0`.
        validation_fraction: float. The share of `x` split off for validation. Defaults to `0.15`.
        test_fraction: float. The share of `x` split off for testing. Defaults to `0.15`.
        name: str. The dataset's name in `info`. Defaults to `"arrays"`.
        image_size: (int, int) or None. Resize (height, width, channels) images to this size. Defaults to `None`.

    Example:

    ```python
    import numpy as np
    import kerakit.data
    x = np.random.rand(100, 4).astype("float32")
    y = np.arange(100) % 3
    bundle = kerakit.data.from_arrays(x, y, batch_size=10)
    bundle.info.num_classes, bundle.info.num_examples  # 3, {'train': 70, 'validation': 15, 'test': 15}
    ```
    """
    owner = "kerakit.data.from_arrays"
    options = check_options(owner, batch_size, seed, validation_fraction, test_fraction, image_size)
    if not isinstance(name, str) or not name:
        raise invalid(owner, "name", "a non-empty string", name)
    return build(
        x,
        y,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        name=name,
        options=options,
        owner=owner,
    )


class _Summary(str):
    """A short stand-in for an array in error messages (its repr has no quotes)."""

    def __repr__(self):
        return str(self)


def _describe(value):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return _Summary(f"<{type(value).__name__} shape={tuple(value.shape)} dtype={value.dtype}>")
    if isinstance(value, (list, tuple)):
        return _Summary(f"<{type(value).__name__} of {len(value)} items>")
    return value


def _as_array(owner, argument, value, expected="an array of numbers with one row per example"):
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # e.g. a ragged list
        array = None
    if array is None or array.ndim == 0 or array.dtype.kind not in "biuf":
        raise invalid(owner, argument, expected, _describe(value))
    return array


def _check_pair(owner, x_name, y_name, x, y, like=None):
    """Checks inputs `x` and their targets `y` (one per row; rows shaped like `like`'s when given)."""
    if (x is None) != (y is None):
        given, missing = (x_name, y_name) if y is None else (y_name, x_name)
        raise invalid(owner, missing, f"given together with `{given}`", None)
    if x is None:
        return None
    x = _as_array(owner, x_name, x)
    y = _as_array(owner, y_name, y, "an array of integer class labels or float targets")
    if like is not None and x.shape[1:] != like[0].shape[1:]:
        expected = f"an array of examples of shape {like[0].shape[1:]}, like those of `x`"
        raise invalid(owner, x_name, expected, _describe(x))
    if len(y) != len(x):
        raise invalid(owner, y_name, f"an array with one entry per row of `{x_name}` ({len(x)} rows)", _describe(y))
    if y.dtype.kind in "biu":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise invalid(owner, y_name, "a 1-D array of integer class labels (or float targets)", _describe(y))
        if y.size and y.min() < 0:
            raise invalid(owner, y_name, "an array of integer class labels >= 0", _describe(y))
    if like is not None and (y.dtype.kind == "f") != (like[1].dtype.kind == "f"):
        raise invalid(owner, y_name, f"of the same kind as `y` ({like[1].dtype})", _describe(y))
    x = x.astype(np.float32) if x.dtype.kind == "f" else x
    y = y.astype(np.float32) if y.dtype.kind == "f" else y.astype(np.int32)
    return x, y


def _check_num_classes(owner, num_classes, labels):
    """Returns the number of classes (None for float targets), checking it covers every label."""
    if labels[0].dtype.kind == "f":
        if num_classes is not None:
            raise invalid(owner, "num_classes", "None for float targets (regression)", num_classes)
        return None
    largest = max(int(y.max()) for y in labels if y.size)
    if num_classes is None:
        return largest + 1
    num_classes = check_int(owner, "num_classes", num_classes, minimum=1)
    if largest >= num_classes:
        raise invalid(owner, "num_classes", f"larger than the largest label ({largest})", num_classes)
    return num_classes


def _split_sizes(n, fractions):
    """The sizes of the parts split off `n` examples (ceil of each fraction); what is left trains."""
    return [math.ceil(round(n * fraction, 9)) for fraction in fractions]  # round: 100 * 0.07 is 7.000000000000001


def split_indices(n, fractions, labels=None, seed=SPLIT_SEED):
    """Splits `range(n)` into parts of `fractions` and the rest, stratified by `labels` when given.

    Returns a list of sorted index arrays: one per fraction, then the rest. Each class is spread evenly over the
    seeded permutation, so every leading part holds each class in proportion.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    if labels is not None:
        rank = np.empty(n)
        shuffled = labels[order]
        for label in np.unique(shuffled):
            members = np.flatnonzero(shuffled == label)
            rank[members] = (np.arange(len(members)) + 0.5) / len(members)
        order = order[np.argsort(rank, kind="stable")]
    parts = np.split(order, np.cumsum(_split_sizes(n, fractions)))
    return [np.sort(part) for part in parts]


def build(
    x,
    y,
    *,
    options,
    owner,
    x_val=None,
    y_val=None,
    x_test=None,
    y_test=None,
    num_classes=None,
    name="arrays",
    source=ARRAYS_SOURCE,
):
    """Checks the arrays, splits off the validation and test sets not given, and makes the bundle.

    The one path of `from_arrays`, `load((x, y))` and the bundled datasets; `options` are already checked.
    """
    train = _check_pair(owner, "x", "y", x, y)
    given = {
        "validation": _check_pair(owner, "x_val", "y_val", x_val, y_val, like=train),
        "test": _check_pair(owner, "x_test", "y_test", x_test, y_test, like=train),
    }
    missing = [split for split in ("test", "validation") if given[split] is None]
    fractions = [options.test_fraction if split == "test" else options.validation_fraction for split in missing]
    n = len(train[0])
    if n - sum(_split_sizes(n, fractions)) < 1:
        needed = next(m for m in itertools.count(1) if m - sum(_split_sizes(m, fractions)) >= 1)
        expected = f"an array of at least {needed} examples, to split off {' and '.join(missing)} and keep one to train"
        raise invalid(owner, "x", expected, _describe(x))
    labels = [pair[1] for pair in (train, *given.values()) if pair is not None]
    num_classes = _check_num_classes(owner, num_classes, labels)
    check_example_shape(owner, name, train[0].shape[1:], options.image_size)

    x, y = train
    *parts, rest = split_indices(n, fractions, labels=y if num_classes is not None else None)
    pairs = {"train": (x[rest], y[rest]), **given}
    pairs.update({split: (x[index], y[index]) for split, index in zip(missing, parts)})

    import tensorflow as tf

    splits = {split: tf.data.Dataset.from_tensor_slices(pair) for split, pair in pairs.items()}
    num_examples = {split: len(pair[0]) for split, pair in pairs.items()}
    return make_bundle(name, splits, num_examples, num_classes, source, options, shuffle_buffer=num_examples["train"])
