"""What every data source shares: the bundle types, the option checks and the one `tf.data` pipeline.

Each source (bundled, arrays, tfds, text) only finds its unbatched `(x, y)` splits and their sizes; `make_bundle` turns
them into batched, prefetched `tf.data.Dataset`s and a `DataInfo`. TensorFlow is imported inside the functions.
"""

import dataclasses
import math
import numbers

from kerakit.errors import KerakitError, check_int, check_int_sequence, invalid

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What a `DataBundle` holds.

    Attributes:
        name: str. The dataset's name, e.g. `"digits"` or `"tfds:mnist"`.
        input_shape: tuple. The shape of one input, without the batch dimension, e.g. `(8, 8, 1)`.
        num_classes: int or None. The number of classes (for text, the tokenizer's vocabulary size); `None` for
            regression targets.
        task: str. `"classification"` (integer labels), `"regression"` (float targets) or `"language_modeling"`
            (windows of token ids `x` and the next tokens `y`).
        num_examples: dict. `{"train": int, "validation": int, "test": int}` (for text, the windows).
        source: str. One line saying where the data came from (citation, licence or path).
    """

    name: str
    input_shape: tuple
    num_classes: int | None
    task: str
    num_examples: dict
    source: str


@dataclasses.dataclass(frozen=True)
class DataBundle:
    """Train, validation and test `tf.data.Dataset`s of `(x, y)` batches, with their `DataInfo`.

    Only `train` is shuffled (seeded, reshuffled every epoch); all three are batched and prefetched. A text bundle
    also holds the `tokenizer` that made its token ids (a `ByteTokenizer` or an adapted `WordTokenizer`), to encode
    prompts and decode samples; other bundles hold `None`.

    Example:

    ```python
    import kerakit.data
    bundle = kerakit.data.load("digits", batch_size=64)
    bundle.info.input_shape, bundle.steps_per_epoch  # ((8, 8, 1), 20)
    ```
    """

    train: object
    validation: object
    test: object
    info: DataInfo
    batch_size: int
    tokenizer: object = None

    @property
    def steps_per_epoch(self):
        """int. The number of batches in one pass over `train`."""
        return math.ceil(self.info.num_examples["train"] / self.batch_size)


@dataclasses.dataclass(frozen=True)
class Options:
    """The checked pipeline options every source takes."""

    batch_size: int
    seed: int
    validation_fraction: float
    test_fraction: float
    image_size: tuple | None


def check_options(owner, batch_size, seed, validation_fraction, test_fraction, image_size):
    """Checks the options every source shares; returns them as `Options`."""
    batch_size = check_int(owner, "batch_size", batch_size, minimum=1)
    seed = check_int(owner, "seed", seed, minimum=0)
    for argument, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
            raise invalid(owner, argument, "a float in (0, 1)", value)
    if validation_fraction + test_fraction >= 1.0:
        raise invalid(
            owner,
            "validation_fraction + test_fraction",
            "below 1, to leave examples to train on",
            validation_fraction + test_fraction,
        )
    if image_size is not None:
        image_size = check_int_sequence(owner, "image_size", image_size)
        if len(image_size) != 2:
            raise invalid(owner, "image_size", "a (height, width) pair of integers >= 1", image_size)
    return Options(batch_size, seed, float(validation_fraction), float(test_fraction), image_size)


def check_example_shape(owner, name, shape, image_size):
    """Checks that the examples of `name` (of shape `shape`, `None` where it varies) can be batched."""
    shape = tuple(shape)
    if image_size is not None and len(shape) != 3:
        expected = f"None for {name}, whose examples (shape {shape}) are not (height, width, channels) images"
        raise invalid(owner, "image_size", expected, image_size)
    if image_size is None and None in shape:
        remedy = (
            "pass image_size=(height, width) to resize them to one size"
            if len(shape) == 3
            else "load them with tensorflow_datasets and pad them (tf.data.Dataset.padded_batch)"
        )
        raise KerakitError(f"{owner}: the examples of {name} vary in shape {shape}; {remedy}.")


def _standardize(x, y, image_size):
    """uint8 images -> float32 in [0, 1]; floats -> float32; integers -> int32; optional resize."""
    import tensorflow as tf

    def cast(t):
        if t.dtype.is_floating or t.dtype.is_bool:
            return tf.cast(t, tf.float32)
        if t.dtype.is_integer:
            return tf.cast(t, tf.int32)
        return t  # strings stay strings

    x = tf.cast(x, tf.float32) / 255.0 if x.dtype == tf.uint8 else cast(x)
    if image_size is not None:
        x = tf.image.resize(x, image_size)
    return x, cast(y)


def make_bundle(name, splits, num_examples, num_classes, source, options, shuffle_buffer, task=None, tokenizer=None):
    """Builds a `DataBundle` from unbatched `(x, y)` datasets: standardize, shuffle train, batch, prefetch.

    Args:
        name: str. The dataset's name.
        splits: dict. `{"train": tf.data.Dataset, "validation": ..., "test": ...}` of single `(x, y)` examples.
        num_examples: dict. The number of examples in each split.
        num_classes: int or None. `None` for regression targets.
        source: str. One line saying where the data came from.
        options: Options. The checked batch size, seed and image size.
        shuffle_buffer: int. The shuffle buffer of the train split.
        task: str or None. The task in `info`. Defaults to `"classification"`, or `"regression"` without classes.
        tokenizer: object or None. The tokenizer of a text bundle. Defaults to `None`.
    """
    import tensorflow as tf

    def pipeline(dataset, shuffle):
        if shuffle:
            dataset = dataset.shuffle(shuffle_buffer, seed=options.seed, reshuffle_each_iteration=True)
        dataset = dataset.map(lambda x, y: _standardize(x, y, options.image_size), num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.batch(options.batch_size).prefetch(tf.data.AUTOTUNE)

    datasets = {split: pipeline(splits[split], shuffle=split == "train") for split in SPLITS}
    info = DataInfo(
        name=name,
        input_shape=tuple(datasets["train"].element_spec[0].shape[1:]),
        num_classes=num_classes,
        task=task or ("regression" if num_classes is None else "classification"),
        num_examples={split: int(num_examples[split]) for split in SPLITS},
        source=source,
    )
    return DataBundle(**datasets, info=info, batch_size=options.batch_size, tokenizer=tokenizer)
