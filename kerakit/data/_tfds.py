"""TensorFlow Datasets as a `DataBundle`: open the builder, pick or slice the splits, then the shared pipeline.

`tensorflow_datasets` is imported only here, and only when a `"tfds:..."` source is loaded.
"""

from kerakit.data._core import check_example_shape, make_bundle
from kerakit.errors import KerakitError, closest

SHUFFLE_BUFFER = 10_000  # examples; the whole train split when it is smaller


def load_tfds(spec, data_dir, download, options, owner):
    """Loads `spec` (`"<name>[/<config>][:<version>]"`) from `data_dir` as a `DataBundle` of `(x, y)` batches."""
    import tensorflow_datasets as tfds

    builder = _builder(tfds, spec, data_dir, owner)
    info = builder.info
    keys = info.supervised_keys
    if not (isinstance(keys, tuple) and len(keys) == 2 and all(isinstance(key, str) for key in keys)):
        raise KerakitError(
            f"{owner}: tfds:{spec} has no (input, label) `supervised_keys` (it has {keys!r}), so it cannot be "
            "loaded as (x, y) pairs. Load it with tensorflow_datasets directly and pass arrays to "
            "kerakit.data.from_arrays."
        )
    x_key, y_key = keys
    check_example_shape(owner, f"tfds:{spec}", info.features[x_key].shape, options.image_size)
    if download:
        builder.download_and_prepare()

    read_config = tfds.ReadConfig(shuffle_seed=options.seed)
    split_names = _split_names(info.splits, options, spec, owner)
    try:
        splits = {
            split: builder.as_dataset(
                split=name, as_supervised=True, shuffle_files=split == "train", read_config=read_config
            )
            for split, name in split_names.items()
        }
    except AssertionError:  # tfds's "could not find data"; checked here so that tfds.testing.mock_data works
        if builder.is_prepared():
            raise
        raise _not_prepared_error(spec, builder, owner) from None

    num_examples = {split: _count(dataset, info, split_names[split]) for split, dataset in splits.items()}
    source = f"TensorFlow Datasets {info.full_name} ({info.homepage}), read from {builder.data_dir_root}"
    return make_bundle(
        name=f"tfds:{spec}",
        splits=splits,
        num_examples=num_examples,
        num_classes=getattr(info.features[y_key], "num_classes", None),
        source=source,
        options=options,
        shuffle_buffer=max(1, min(num_examples["train"], SHUFFLE_BUFFER)),
    )


def _builder(tfds, spec, data_dir, owner):
    """`tfds.builder(spec)`, with tfds's errors on the name, config or version turned into `KerakitError`s."""
    try:
        return tfds.builder(spec, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        name = spec.split("/")[0].split(":")[0]
        names = tfds.list_builders(with_community_datasets=False)
        near = [f"tfds:{n}" for n in closest(name, names)]
        hint = f" Did you mean: {', '.join(near)}?" if near else ""
        raise KerakitError(
            f"{owner}: unknown TensorFlow Datasets name {name!r} in 'tfds:{spec}'.{hint} "
            f"tfds.list_builders() lists all {len(names)}."
        ) from None
    except (ValueError, AssertionError) as error:  # an unknown config or version
        raise KerakitError(f"{owner}: cannot open tfds:{spec}: {error}") from None


def _split_names(known, options, spec, owner):
    """`{"train": ..., "validation": ..., "test": ...}` as tfds split names, slicing the ones missing off train.

    `known` holds the dataset's split names; it is empty when tfds has no metadata for the dataset (as under
    `tfds.testing.mock_data`), and then validation and test are sliced off train too.
    """
    if known and "train" not in known:
        raise KerakitError(f"{owner}: tfds:{spec} has no 'train' split (it has {', '.join(known)}).")
    names, end = {}, 100.0  # train[:end%] is left to train on
    for split, fraction in (("test", options.test_fraction), ("validation", options.validation_fraction)):
        if split in known:
            names[split] = split
        else:
            start = end - 100.0 * fraction
            names[split] = f"train[{_percent(start)}:{_percent(end)}]"
            end = start
    names["train"] = f"train[:{_percent(end)}]"
    return names


def _percent(value):
    return f"{round(value, 6):g}%"  # e.g. "85%", not "85.00000000000001%"


def _count(dataset, info, split_name):
    """The number of examples in a split: the dataset's cardinality, else tfds's split metadata."""
    cardinality = int(dataset.cardinality())
    return cardinality if cardinality >= 0 else info.splits[split_name].num_examples


def _not_prepared_error(spec, builder, owner):
    name = spec.split(":")[0]
    root = builder.data_dir_root
    return KerakitError(
        f"{owner}: the TensorFlow Datasets dataset tfds:{spec} is not prepared in {root} (no {builder.info.full_name} "
        f"there), and download=False. Prepare it on a machine with network access with "
        f"`tfds build {name} --data_dir {root}` and copy that folder here, or pass download=True "
        "(command line: --tfds-download)."
    )
