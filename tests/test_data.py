"""Tests for `kerakit.data`: the bundled digits, NumPy arrays and TensorFlow Datasets sources.

The tfds path runs under `tfds.testing.mock_data` (random examples with the real features, offline) and on tiny
datasets that tfds prepares here from code, offline, to check the split choice and slicing on real split sizes.
"""

import math
import socket
import subprocess
import sys

import numpy as np
import pytest

import kerakit.data
from kerakit.data._arrays import split_indices
from kerakit.errors import KerakitError
from tests.helpers import run_docstring_examples

DIGITS_SIZES = {"train": 1257, "validation": 270, "test": 270}


def _arrays(dataset):
    """All of a batched `(x, y)` dataset (one pass) as two NumPy arrays."""
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in dataset))
    return np.concatenate(xs), np.concatenate(ys)


@pytest.fixture(scope="module")
def digits():
    return kerakit.data.load("digits")


# --- docstrings ---------------------------------------------------------------------------------------------------


def test_docstring_examples_run_and_show_the_right_values():
    """Runs every example in kerakit.data's docstrings; a line `expr  # value` must evaluate to `value`."""
    from kerakit.data import _bundled

    objects = [kerakit.data, kerakit.data.load, kerakit.data.available, kerakit.data.from_arrays]
    objects += [kerakit.data.DataBundle, _bundled.digits]
    checked = sum(run_docstring_examples(obj) for obj in objects)
    assert checked >= 10


# --- import -------------------------------------------------------------------------------------------------------


def test_import_does_not_load_tensorflow():
    code = "import sys, kerakit.data; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- digits -------------------------------------------------------------------------------------------------------


def test_available_lists_digits():
    assert kerakit.data.available() == ["digits", "graphs", "karate", "sbm", "sbm_links", "text"]


def test_digits_info_and_split_sizes(digits):
    info = digits.info
    assert (info.name, info.input_shape, info.num_classes, info.task) == ("digits", (8, 8, 1), 10, "classification")
    assert info.num_examples == DIGITS_SIZES
    assert sum(info.num_examples.values()) == 1797
    assert "Alpaydin" in info.source and "CC BY 4.0" in info.source
    assert digits.steps_per_epoch == math.ceil(1257 / 32) == 40
    for split, size in DIGITS_SIZES.items():
        x, y = _arrays(getattr(digits, split))
        assert len(x) == len(y) == size


def test_digits_batches_shapes_dtypes_and_range(digits):
    x, y = next(iter(digits.train))
    assert x.shape == (32, 8, 8, 1) and x.dtype.name == "float32"
    assert y.shape == (32,) and y.dtype.name == "int32"
    x, _ = _arrays(digits.train)
    assert x.min() == 0.0 and x.max() == 1.0  # pixel counts 0..16 divided by 16
    assert np.allclose(x * 16, np.round(x * 16))


def test_digits_every_class_in_every_split(digits):
    for split in ("train", "validation", "test"):
        _, y = _arrays(getattr(digits, split))
        counts = np.bincount(y, minlength=10)
        assert len(counts) == 10 and counts.min() > 0, (split, counts)
        # stratified: each class holds its share (about 10 %) of every split
        assert counts.max() - counts.min() <= 0.04 * len(y) + 2, (split, counts)


def test_digits_validation_and_test_do_not_depend_on_seed(digits):
    other = kerakit.data.load("digits", seed=7)
    for split in ("validation", "test"):
        x0, y0 = _arrays(getattr(digits, split))
        x1, y1 = _arrays(getattr(other, split))
        np.testing.assert_array_equal(x0, x1)
        np.testing.assert_array_equal(y0, y1)


def test_digits_train_order_follows_seed_and_reshuffles_each_epoch():
    a, b, c = (kerakit.data.load("digits", seed=seed).train for seed in (3, 3, 4))
    first_a, first_b, first_c = _arrays(a), _arrays(b), _arrays(c)
    np.testing.assert_array_equal(first_a[1], first_b[1])  # same seed: same order
    np.testing.assert_array_equal(first_a[0], first_b[0])
    assert not np.array_equal(first_a[1], first_c[1])  # other seed: other order ...
    assert sorted(first_a[1]) == sorted(first_c[1])  # ... of the same examples
    second_a = _arrays(a)
    assert not np.array_equal(first_a[1], second_a[1])  # a new order every epoch
    np.testing.assert_array_equal(np.sort(first_a[0], axis=0), np.sort(second_a[0], axis=0))


def test_digits_image_size_resizes():
    bundle = kerakit.data.load("digits", image_size=(16, 12), batch_size=5)
    x, _ = next(iter(bundle.test))
    assert bundle.info.input_shape == (16, 12, 1) and x.shape == (5, 16, 12, 1)
    assert 0.0 <= float(np.min(x)) and float(np.max(x)) <= 1.0


def test_digits_feed_a_keras_model(digits):
    import keras

    model = keras.Sequential(
        [keras.Input(digits.info.input_shape), keras.layers.Flatten(), keras.layers.Dense(digits.info.num_classes)]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(0.01), loss, metrics=["accuracy"])
    history = model.fit(digits.train, validation_data=digits.validation, epochs=2, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.8  # a linear model learns digits within a few epochs
    _, accuracy = model.evaluate(digits.test, verbose=0)
    assert accuracy > 0.8


def test_load_returns_a_bundle_unchanged(digits):
    assert kerakit.data.load(digits) is digits


# --- the split ----------------------------------------------------------------------------------------------------


def test_split_indices_partition_and_stratify():
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])
    test, validation, train = split_indices(100, [0.2, 0.1], labels=labels)
    assert (len(test), len(validation), len(train)) == (20, 10, 70)
    np.testing.assert_array_equal(np.sort(np.concatenate([test, validation, train])), np.arange(100))
    np.testing.assert_array_equal(np.bincount(labels[test], minlength=4), [10, 6, 3, 1])
    plain = split_indices(100, [0.2, 0.1])
    assert [len(part) for part in plain] == [20, 10, 70]
    assert not np.array_equal(plain[0], np.arange(20))  # a permutation, not the first rows
    assert [len(part) for part in split_indices(100, [0.07])] == [7, 93]  # 100 * 0.07 is 7.000000000000001
    assert [len(part) for part in split_indices(10, [0.15, 0.15])] == [2, 2, 6]  # parts round up


# --- arrays -------------------------------------------------------------------------------------------------------


def test_from_arrays_splits_and_infers_num_classes():
    x = np.random.default_rng(0).normal(size=(100, 4))
    y = np.arange(100) % 3
    bundle = kerakit.data.from_arrays(x, y, batch_size=10)
    info = bundle.info
    assert (info.name, info.input_shape, info.num_classes, info.task) == ("arrays", (4,), 3, "classification")
    assert info.num_examples == {"train": 70, "validation": 15, "test": 15}
    assert bundle.steps_per_epoch == 7
    xb, yb = next(iter(bundle.validation))
    assert xb.dtype.name == "float32" and yb.dtype.name == "int32"
    _, y_test = _arrays(bundle.test)
    assert sorted(np.bincount(y_test)) == [5, 5, 5]


def test_from_arrays_uses_given_validation_and_test_sets():
    x, y = np.zeros((20, 3), np.float32), np.arange(20) % 2
    bundle = kerakit.data.from_arrays(
        x, y, x_val=np.ones((4, 3)), y_val=np.array([0, 1, 4, 1]), x_test=np.ones((6, 3)), y_test=np.zeros(6, int)
    )
    assert bundle.info.num_examples == {"train": 20, "validation": 4, "test": 6}
    assert bundle.info.num_classes == 5  # the largest label of any split, plus one
    only_val = kerakit.data.from_arrays(x, y, x_val=np.ones((4, 3)), y_val=np.array([0, 1, 0, 1]))
    assert only_val.info.num_examples == {"train": 17, "validation": 4, "test": 3}


def test_from_arrays_num_classes_given_and_regression():
    x = np.random.default_rng(1).normal(size=(40, 2))
    assert kerakit.data.from_arrays(x, np.arange(40) % 2, num_classes=5).info.num_classes == 5
    regression = kerakit.data.from_arrays(x, x[:, 0] * 2.0)
    assert (regression.info.task, regression.info.num_classes) == ("regression", None)
    _, y = next(iter(regression.train))
    assert y.dtype.name == "float32"


def test_from_arrays_scales_uint8_images():
    x = np.full((30, 5, 5, 3), 255, np.uint8)
    x[::2] = 0
    bundle = kerakit.data.load((x, np.arange(30) % 2), batch_size=30)
    assert bundle.info.name == "arrays" and bundle.info.input_shape == (5, 5, 3)
    xb, yb = next(iter(bundle.train))
    assert xb.dtype.name == "float32" and set(np.unique(xb)) == {0.0, 1.0}
    np.testing.assert_array_equal(xb.numpy()[:, 0, 0, 0], yb.numpy())  # pairs stay together: odd rows are 255


def _all_raise(call, cases):
    """Checks that each `(kwargs, pattern)` case of `call` raises a `KerakitError` whose message matches."""
    for kwargs, pattern in cases:
        with pytest.raises(KerakitError, match=pattern):
            call(**kwargs)


def test_from_arrays_errors_name_the_argument_and_what_was_received():
    # One test for all the cases: each test costs ~0.5 s of teardown (conftest clears the Keras session).
    x9, y9 = np.zeros((9, 2)), np.zeros(9, int)
    _all_raise(
        kerakit.data.from_arrays,
        [
            ({"x": np.zeros((10, 2)), "y": np.zeros(9, int)}, r"`y` must be an array with one entry per row of `x`"),
            ({"x": np.zeros((2, 2)), "y": np.zeros(2, int)}, r"`x` must be an array of at least 3 .*shape=\(2, 2\)"),
            ({"x": "digits", "y": np.zeros(3, int)}, r"`x` must be an array of numbers.*Received: x='digits'"),
            ({"x": [[1, 2], [3]], "y": [0, 1]}, r"`x` must be an array of numbers.*Received: x=<list of 2 items>"),
            ({"x": np.zeros((5, 2)), "y": np.array(list("abcde"))}, r"`y` must be an array of integer class labels"),
            ({"x": np.zeros((5, 2)), "y": np.array([0, 1, -1, 0, 1])}, r"`y` must be an array of integer .* >= 0"),
            ({"x": x9, "y": y9, "x_val": np.zeros((2, 2))}, r"`y_val` must be given together with `x_val`"),
            ({"x": x9, "y": y9, "x_val": np.zeros((2, 3)), "y_val": np.zeros(2, int)}, r"`x_val`.*shape \(2,\)"),
            ({"x": x9, "y": y9, "x_test": np.zeros((2, 2)), "y_test": np.zeros(2)}, r"`y_test` must be of the same"),
            ({"x": x9, "y": np.arange(9), "num_classes": 4}, r"`num_classes` must be larger than the largest .*\(8\)"),
            ({"x": x9, "y": np.zeros(9), "num_classes": 4}, r"`num_classes` must be None for float targets"),
            ({"x": x9, "y": y9, "batch_size": 0}, r"`batch_size` must be an integer >= 1. Received: batch_size=0"),
            ({"x": x9, "y": y9, "batch_size": 2.0}, r"`batch_size` must be an integer >= 1. Received: batch_size=2.0"),
            ({"x": x9, "y": y9, "test_fraction": 0.0}, r"`test_fraction` must be a float in \(0, 1\)"),
            ({"x": x9, "y": y9, "validation_fraction": 1}, r"`validation_fraction` must be a float in \(0, 1\)"),
            ({"x": x9, "y": y9, "validation_fraction": 0.6, "test_fraction": 0.4}, r"test_fraction` must be below 1"),
            ({"x": x9, "y": y9, "image_size": (8, 8)}, r"`image_size` must be None for arrays"),
            ({"x": x9, "y": y9, "name": ""}, r"`name` must be a non-empty string"),
        ],
    )


def test_load_errors_name_the_argument_and_what_was_received():
    _all_raise(
        kerakit.data.load,
        [
            ({"source": "digit"}, r"Unknown bundled dataset 'digit'. Did you mean: digits\?.*'tfds:<name>'"),
            ({"source": 42}, r"`source` must be a bundled name.*Received: source=42"),
            ({"source": "tfds:"}, r"`source` must be 'tfds:<name>'"),
            ({"source": "digits", "batch_size": True}, r"`batch_size` must be an integer >= 1"),
            ({"source": "digits", "seed": -1}, r"`seed` must be an integer >= 0"),
            ({"source": "digits", "image_size": (8,)}, r"`image_size` must be a \(height, width\) pair"),
            ({"source": "digits", "download": "yes"}, r"`download` must be True or False"),
            ({"source": "digits", "data_dir": 3}, r"`data_dir` must be a path"),
        ],
    )


# --- tfds ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tfds():
    return pytest.importorskip("tensorflow_datasets")


def test_tfds_mnist_under_mock_data(tfds):
    with tfds.testing.mock_data(num_examples=20):
        bundle = kerakit.data.load("tfds:mnist", batch_size=8)
    info = bundle.info
    assert (info.name, info.input_shape, info.num_classes) == ("tfds:mnist", (28, 28, 1), 10)
    # mock_data yields num_examples for every split and slice, so each split holds 20 examples
    assert info.num_examples == {"train": 20, "validation": 20, "test": 20}
    assert bundle.steps_per_epoch == 3
    assert "mnist/3.0.1" in info.source
    for split in ("train", "validation", "test"):
        x, y = _arrays(getattr(bundle, split))
        assert x.shape == (20, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int32
        assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5  # scaled from 0..255
        assert 0 <= y.min() and y.max() < 10


def test_tfds_image_size_resizes_and_is_needed_for_varying_sizes(tfds):
    with tfds.testing.mock_data(num_examples=6):
        mnist = kerakit.data.load("tfds:mnist", image_size=(32, 16), batch_size=6)
        with pytest.raises(KerakitError, match=r"oxford_flowers102 vary in shape \(None, None, 3\); pass image_size"):
            kerakit.data.load("tfds:oxford_flowers102")
        flowers = kerakit.data.load("tfds:oxford_flowers102", image_size=(24, 24), batch_size=6)
    assert mnist.info.input_shape == (32, 16, 1)
    assert next(iter(mnist.train))[0].shape == (6, 32, 16, 1)
    assert (flowers.info.input_shape, flowers.info.num_classes) == ((24, 24, 3), 102)
    x, _ = _arrays(flowers.validation)
    assert x.shape == (6, 24, 24, 3) and 0.0 <= x.min() and x.max() <= 1.0


@pytest.fixture(scope="module")
def prepared(tfds, tmp_path_factory):
    """Two tiny datasets that tfds prepares from code (no download): with and without validation/test splits.

    Every image is filled with its example's index, so a test can tell which examples each split holds.
    """

    def tiny_builder(class_name, sizes, supervised=True):
        def _info(self):
            features = tfds.features.FeaturesDict(
                {"image": tfds.features.Image(shape=(4, 4, 1)), "label": tfds.features.ClassLabel(num_classes=3)}
            )
            keys = ("image", "label") if supervised else None
            return tfds.core.DatasetInfo(builder=self, features=features, supervised_keys=keys)

        def _split_generators(self, dl_manager):
            start = np.cumsum([0, *sizes.values()])
            return {split: self._generate_examples(int(s), n) for (split, n), s in zip(sizes.items(), start)}

        def _generate_examples(self, start, n):
            for i in range(start, start + n):
                yield i, {"image": np.full((4, 4, 1), i, np.uint8), "label": i % 3}

        methods = {"_info": _info, "_split_generators": _split_generators, "_generate_examples": _generate_examples}
        attributes = {"VERSION": tfds.core.Version("1.0.0"), **methods}
        return type(class_name, (tfds.core.GeneratorBasedBuilder,), attributes)

    data_dir = tmp_path_factory.mktemp("tfds")
    for builder in (
        tiny_builder("KerakitTinyThreeSplits", {"train": 40, "validation": 10, "test": 10}),
        tiny_builder("KerakitTinyTrainOnly", {"train": 100}),
    ):
        builder(data_dir=str(data_dir)).download_and_prepare()
    tiny_builder("KerakitTinyUnsupervised", {"train": 10}, supervised=False)  # registered, never prepared
    return str(data_dir)


def _indices(dataset):
    x, _ = _arrays(dataset)
    return set(np.round(x[:, 0, 0, 0] * 255).astype(int))


def test_tfds_uses_the_validation_and_test_splits_when_present(prepared):
    bundle = kerakit.data.load("tfds:kerakit_tiny_three_splits", data_dir=prepared, batch_size=16)
    assert bundle.info.num_examples == {"train": 40, "validation": 10, "test": 10}
    assert (bundle.info.input_shape, bundle.info.num_classes) == ((4, 4, 1), 3)
    assert _indices(bundle.train) == set(range(40))
    assert _indices(bundle.validation) == set(range(40, 50))
    assert _indices(bundle.test) == set(range(50, 60))


def test_tfds_slices_missing_splits_off_train(prepared):
    bundle = kerakit.data.load(
        "tfds:kerakit_tiny_train_only", data_dir=prepared, validation_fraction=0.2, test_fraction=0.1
    )
    assert bundle.info.num_examples == {"train": 70, "validation": 20, "test": 10}
    train, validation, test = (_indices(getattr(bundle, split)) for split in ("train", "validation", "test"))
    assert (len(train), len(validation), len(test)) == (70, 20, 10)
    assert train | validation | test == set(range(100))  # disjoint slices that cover train
    again = kerakit.data.load(
        "tfds:kerakit_tiny_train_only", data_dir=prepared, validation_fraction=0.2, test_fraction=0.1, seed=5
    )
    assert _indices(again.test) == test  # the slices do not depend on the seed


def test_tfds_unprepared_dataset_error(tfds, tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise RuntimeError("kerakit.data tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(KerakitError) as error:
        kerakit.data.load("tfds:mnist", data_dir=str(tmp_path))
    message = str(error.value)
    assert "tfds:mnist is not prepared in" in message and str(tmp_path) in message
    assert f"tfds build mnist --data_dir {tmp_path}" in message
    assert "download=True" in message and "--tfds-download" in message


def test_tfds_unknown_name_suggests_the_closest(tfds, tmp_path):
    with pytest.raises(KerakitError, match=r"unknown TensorFlow Datasets name 'mnistt'.*Did you mean: tfds:mnist"):
        kerakit.data.load("tfds:mnistt", data_dir=str(tmp_path))
    with pytest.raises(KerakitError, match=r"cannot open tfds:mnist:9.9.9: .*version 9.9.9"):
        kerakit.data.load("tfds:mnist:9.9.9", data_dir=str(tmp_path))


def test_tfds_dataset_without_supervised_keys(prepared):
    with pytest.raises(KerakitError, match=r"tfds:kerakit_tiny_unsupervised has no \(input, label\) `supervised_keys`"):
        kerakit.data.load("tfds:kerakit_tiny_unsupervised", data_dir=prepared)
