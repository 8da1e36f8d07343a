"""Tests for `kerakit.augment`: presets of Keras preprocessing layers applied to real `tf.data` pipelines.

Images are built so that the augmentation can be checked exactly: every class has its own random pattern, so a
mixed image must equal the label-weighted sum of the patterns (MixUp) or take each pixel from one of the two
(CutMix), and a shifted image must equal its original shifted by whole pixels. RandAugment is traced once only
(tracing it takes about 6 s on TensorFlow and 40 s or more on JAX on 2 cores).
"""

import numpy as np
import pytest
import tensorflow as tf

import kerakit.augment
import kerakit.data
from kerakit.augment import augmenter, check_preset
from kerakit.errors import KerakitError
from tests.helpers import run_docstring_examples

NUM_CLASSES = 10


def _batches(x, y, batch_size=32):
    return tf.data.Dataset.from_tensor_slices((x, y.astype("int32"))).batch(batch_size)


def _pass(dataset):
    """One pass over a dataset of `(images, labels)` batches, as two NumPy arrays."""
    xs, ys = zip(*dataset.as_numpy_iterator())
    return np.concatenate(xs), np.concatenate(ys)


def _class_patterns(shape=(8, 8, 1), n=64, seed=0):
    """Images that are one random pattern per class (values in [0.1, 1]), their labels and the patterns."""
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(0.1, 1.0, (NUM_CLASSES, *shape)).astype("float32")
    y = np.arange(n) % NUM_CLASSES
    return patterns[y], y, patterns


def _shift(image, dy, dx, fill=0.0):
    out = np.full_like(image, fill)
    h, w = image.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = image[max(-dy, 0):h - max(dy, 0),
                                                                      max(-dx, 0):w - max(dx, 0)]
    return out


# --- presets ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset, operations", [
    ("none", ()),
    ("crop", ("crop",)),
    ("flip_crop", ("flip", "crop")),
    ("crop+flip", ("flip", "crop")),
    (" mixup + crop ", ("crop", "mixup")),
    ("strong", ("flip", "crop", "randaugment", "mixup", "cutmix")),
    ("flip_crop+cutmix+flip", ("flip", "crop", "cutmix")),
])
def test_presets_name_operations_in_the_order_they_are_applied(preset, operations):
    assert check_preset(preset) == operations


def test_every_named_preset_and_operation_is_known():
    for name in kerakit.augment.PRESETS + kerakit.augment.OPERATIONS:
        check_preset(name)
    soft = {name for name in kerakit.augment.PRESETS if augmenter(name, (8, 8, 3), 10).soft_labels}
    assert soft == {"mixup", "cutmix", "strong"}


def test_augmenter_records_its_preset():
    aug = augmenter("mixup+crop", (8, 8, 1), 10, seed=3)
    assert (aug.preset, aug.operations, aug.soft_labels) == ("crop+mixup", ("crop", "mixup"), True)
    assert aug.config() == {"preset": "crop+mixup", "operations": ["crop", "mixup"], "soft_labels": True,
                            "seed": 3, "value_range": [0.0, 1.0]}
    assert augmenter("flip_crop", (8, 8, 1)).preset == "flip_crop"


# --- what each operation does -------------------------------------------------------------------------------------


def test_none_is_the_identity_for_any_data():
    x, y, _ = _class_patterns()
    dataset = _batches(x, y)
    for aug in (augmenter("none", (8, 8, 1), NUM_CLASSES), augmenter(), augmenter("none", (64,), None)):
        assert not aug.soft_labels and aug.layers == {}
        assert aug.apply(dataset) is dataset
        assert aug.apply(dataset, training=False) is dataset


def test_flip_mirrors_about_half_of_the_images_and_keeps_labels():
    x, y, _ = _class_patterns(n=128)
    aug = augmenter("flip", (8, 8, 1), NUM_CLASSES, seed=0)
    images, labels = _pass(aug.apply(_batches(x, y)))
    assert images.shape == x.shape and images.dtype == np.float32
    np.testing.assert_array_equal(labels, y)
    same = np.all(images == x, axis=(1, 2, 3))
    mirrored = np.all(images == x[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same | mirrored)  # every image is its original or its mirror image, nothing else
    assert 30 <= mirrored.sum() <= 98  # about half of 128


def test_crop_shifts_by_whole_pixels_filling_with_the_low_end_of_the_range():
    x, y, _ = _class_patterns(shape=(16, 16, 3), n=64)  # up to 16 / 8 = 2 pixels each way
    aug = augmenter("crop", (16, 16, 3), NUM_CLASSES, seed=0)
    images, labels = _pass(aug.apply(_batches(x, y)))
    assert images.shape == x.shape and images.dtype == np.float32
    np.testing.assert_array_equal(labels, y)
    shifts = []
    for image, original in zip(images, x):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.allclose(image, _shift(original, dy, dx), atol=1e-6)]
        assert found, "an augmented image is not its original shifted by whole pixels"
        shifts.append(found[0])
    assert len(set(shifts)) >= 10  # many different shifts
    assert sum(s == (0, 0) for s in shifts) < 32  # most images moved


def test_mixup_mixes_images_and_one_hot_labels_with_the_same_weights():
    x, y, patterns = _class_patterns(n=64)
    aug = augmenter("mixup", (8, 8, 1), NUM_CLASSES, seed=0)
    images, labels = _pass(aug.apply(_batches(x, y)))
    assert images.shape == x.shape and images.dtype == np.float32
    assert labels.shape == (64, NUM_CLASSES) and labels.dtype == np.float32
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    assert labels.min() >= 0.0 and labels.max() <= 1.0
    assert np.sum((labels > 0.01) & (labels < 0.99)) >= 10  # some examples really are mixed
    expected = np.einsum("nk,khwc->nhwc", labels, patterns)  # the label weights applied to the class patterns
    np.testing.assert_allclose(images, expected, atol=1e-5)


def test_cutmix_pastes_whole_pixels_and_labels_count_them():
    x, y, patterns = _class_patterns(n=64)
    aug = augmenter("cutmix", (8, 8, 1), NUM_CLASSES, seed=0)
    images, labels = _pass(aug.apply(_batches(x, y)))
    assert images.shape == x.shape and labels.shape == (64, NUM_CLASSES) and labels.dtype == np.float32
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    mixed = 0
    for image, label, own in zip(images, labels, y):
        from_own = np.isclose(image, patterns[own]).all(axis=-1)
        others = [k for k in np.flatnonzero(label > 0) if k != own]
        assert len(others) <= 1
        if others:
            mixed += 1
            other = others[0]
            from_other = np.isclose(image, patterns[other]).all(axis=-1) & ~from_own
            assert np.all(from_own | from_other)  # every pixel comes from one of the two images
            assert label[other] == pytest.approx(from_other.mean(), abs=1e-6)  # the share actually pasted
        else:
            assert label[own] == 1.0
    assert mixed >= 10


def test_mixup_plus_cutmix_gives_each_example_one_of_the_two():
    x, y, patterns = _class_patterns(n=128)
    aug = augmenter("mixup+cutmix", (8, 8, 1), NUM_CLASSES, seed=0)
    images, labels = _pass(aug.apply(_batches(x, y, batch_size=64)))
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    blend = np.einsum("nk,khwc->nhwc", labels, patterns)
    as_mixup = np.all(np.isclose(images, blend, atol=1e-5), axis=(1, 2, 3))
    from_patterns = np.isclose(images[:, None], patterns[None]).any(axis=1).all(axis=(1, 2, 3))
    truly_mixed = labels.max(axis=1) < 0.95  # both images weigh at least 0.05
    assert np.all(as_mixup | from_patterns)  # each example is a MixUp or a CutMix example
    assert np.sum(truly_mixed & as_mixup & ~from_patterns) >= 5  # blended pixels: MixUp
    assert np.sum(truly_mixed & from_patterns & ~as_mixup) >= 5  # pasted pixels: CutMix


# --- reproducibility, evaluation data, value ranges ---------------------------------------------------------------


def test_a_seed_repeats_the_batches_and_every_epoch_differs():
    x, y, _ = _class_patterns(shape=(8, 8, 3), n=64)
    dataset = _batches(x, y)

    def two_epochs(seed):
        augmented = augmenter("flip+crop+mixup+cutmix", (8, 8, 3), NUM_CLASSES, seed=seed).apply(dataset)
        return _pass(augmented), _pass(augmented)

    (first, second), (again_first, again_second) = two_epochs(7), two_epochs(7)
    for a, b in ((first, again_first), (second, again_second)):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(first[0], second[0])
    assert not np.array_equal(two_epochs(8)[0][0], first[0])


def test_evaluation_data_keeps_its_images_and_gets_one_hot_labels():
    x, y, _ = _class_patterns(n=40)
    dataset = _batches(x, y, batch_size=16)
    images, labels = _pass(augmenter("cutmix", (8, 8, 1), NUM_CLASSES).apply(dataset, training=False))
    np.testing.assert_array_equal(images, x)
    np.testing.assert_array_equal(labels, np.eye(NUM_CLASSES, dtype="float32")[y])
    assert augmenter("flip_crop", (8, 8, 1), NUM_CLASSES).apply(dataset, training=False) is dataset


def test_strong_preset_on_digits_keeps_shapes_and_the_given_value_range():
    bundle = kerakit.data.load("digits", batch_size=64)
    x, y = _pass(bundle.validation)
    x = x * 255.0  # as raw pixels: RandAugment must be told the range
    aug = augmenter("strong", bundle.info.input_shape, bundle.info.num_classes, seed=0, value_range=(0, 255))
    images, labels = _pass(aug.apply(_batches(x, y, batch_size=64)))
    assert images.shape == x.shape and images.dtype == np.float32
    assert labels.shape == (len(y), 10) and labels.dtype == np.float32
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-5)
    assert np.sum((labels > 0.01) & (labels < 0.99)) >= 10
    assert images.min() >= 0.0 and images.max() <= 255.0
    assert images.max() > 200.0 and 0.3 < images.mean() / x.mean() < 3.0  # not clipped to [0, 1]
    assert np.mean(np.abs(images - x) > 1e-3) > 0.5  # most pixels changed


def test_images_outside_the_value_range_are_reported(monkeypatch):
    import keras

    x, y, _ = _class_patterns(n=32)
    aug = augmenter("randaugment", (8, 8, 1), NUM_CLASSES, seed=0)  # value_range (0, 1)
    # The check runs before the layer; a cheap stand-in spares tracing RandAugment again (40 s on JAX).
    monkeypatch.setitem(aug.layers, "randaugment", keras.layers.RandomFlip("horizontal"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside value_range=\\(0.0, 1.0\\)"):
        _pass(aug.apply(_batches(x * 255.0, y)))


# --- with a model -------------------------------------------------------------------------------------------------


def test_a_model_trains_on_soft_labels_and_reports_accuracy(backend):
    import keras

    bundle = kerakit.data.load("digits", batch_size=64, seed=0)
    aug = augmenter("crop+mixup", bundle.info.input_shape, bundle.info.num_classes, seed=0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=aug.loss(from_logits=True), metrics=["accuracy"])
    assert type(aug.loss()).__name__ == "CategoricalCrossentropy"
    history = model.fit(aug.apply(bundle.train), validation_data=aug.apply(bundle.validation, training=False),
                        epochs=2, shuffle=False, verbose=0).history
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
    assert np.isfinite(history["loss"]).all() and history["val_accuracy"][-1] > 0.5
    # "accuracy" on one-hot labels is categorical accuracy: the same number as on the integer labels.
    test = aug.apply(bundle.test, training=False)
    reported = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    x, y = _pass(bundle.test)
    assert reported == pytest.approx(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y), abs=1e-6)


# --- errors -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"preset": "flipp"}, r"`preset`: Unknown augmentation 'flipp'\. Did you mean: flip, flip_crop\?"),
    ({"preset": "crop+mixupp"}, r"Unknown augmentation 'mixupp'\. Did you mean: mixup.*Received: preset='crop\+mixupp'"),
    ({"preset": 3}, r"`preset` must be a preset name such as 'crop'"),
    ({"preset": ""}, r"`preset` must be a preset name"),
    ({"preset": "crop", "image_shape": (4, 4, 1)}, r"without 'crop' for images smaller than 8x8 pixels"),
    ({"preset": "randaugment", "image_shape": (8, 8, 4)},
     r"without 'randaugment' for images with 4 channels .* 1 \(grayscale\) or 3 \(RGB\)"),
    ({"preset": "strong", "image_shape": (32, 32, 2)}, r"without 'randaugment' for images with 2 channels"),
    ({"preset": "mixup", "num_classes": None}, r"without mixup for data without at least two classes"),
    ({"preset": "mixup+cutmix", "num_classes": 1}, r"without mixup/cutmix"),
    ({"preset": "crop", "image_shape": (64,)}, r"`preset` must be 'none' for inputs that are not \(height, width"),
    ({"preset": "crop", "image_shape": None}, r"`image_shape` must be a \(height, width, channels\) tuple"),
    ({"preset": "crop", "image_shape": (8, 0, 1)}, r"`image_shape` must be a \(height, width, channels\) tuple"),
    ({"preset": "crop", "num_classes": 0}, r"`num_classes` must be an integer >= 1, or None"),
    ({"preset": "crop", "value_range": (1, 0)}, r"`value_range` must be a pair \(low, high\)"),
    ({"preset": "crop", "value_range": 255}, r"`value_range` must be a pair \(low, high\)"),
    ({"preset": "crop", "seed": -1}, r"`seed` must be an integer >= 0"),
])
def test_bad_arguments_name_what_is_wrong(kwargs, message):
    arguments = {"image_shape": (8, 8, 1), "num_classes": NUM_CLASSES, **kwargs}
    with pytest.raises(KerakitError, match=f"^kerakit.augment.augmenter: .*{message}"):
        augmenter(**arguments)


def test_errors_can_name_the_callers_argument():
    with pytest.raises(KerakitError, match=r"^train: `augment`: Unknown augmentation 'flipp'"):
        augmenter("flipp", (8, 8, 1), 10, owner="train", argument="augment")
    with pytest.raises(KerakitError, match=r"^train: `augment` must be a preset without 'crop'"):
        augmenter("crop", (4, 4, 1), 10, owner="train", argument="augment")


def test_apply_refuses_datasets_that_do_not_fit():
    x, y, _ = _class_patterns(n=8)
    aug = augmenter("crop+mixup", (8, 8, 1), NUM_CLASSES)
    unbatched = tf.data.Dataset.from_tensor_slices((x, y))
    with pytest.raises(KerakitError, match=r"^Augmenter.apply: `dataset` must be a tf.data.Dataset of \(images, "):
        aug.apply(unbatched)
    with pytest.raises(KerakitError, match=r"`dataset` must be a tf.data.Dataset of \(images, labels\) batches, "
                                           r"images of shape \(batch, 8, 8, 1\)"):
        aug.apply(tf.data.Dataset.from_tensor_slices((x[:, :4], y)).batch(4))
    with pytest.raises(KerakitError, match=r"labels are integer class ids"):
        aug.apply(tf.data.Dataset.from_tensor_slices((x, np.zeros((8, 3), "float32"))).batch(4))
    with pytest.raises(KerakitError, match=r"uint8 images"):
        aug.apply(tf.data.Dataset.from_tensor_slices(((x * 255).astype("uint8"), y)).batch(4))
    with pytest.raises(KerakitError, match=r"`training` must be True or False"):
        aug.apply(_batches(x, y), training="yes")


# --- docstrings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("obj", [check_preset, augmenter, kerakit.augment.Augmenter.apply,
                                 kerakit.augment.Augmenter.loss], ids=lambda obj: obj.__qualname__)
def test_docstring_examples_run_and_show_the_right_values(obj):
    assert run_docstring_examples(obj) >= 1


def test_a_run_trains_on_mixed_labels_and_records_the_preset(tmp_path):
    import json

    import keras

    import kerakit

    result = kerakit.train("convnet", "digits", epochs=2, blueprint_args={"filters": (4, 8), "convs_per_block": 1},
                           augment="crop+mixup", verbose=0, run_dir=tmp_path / "run", export=False)
    assert isinstance(result.model.loss, keras.losses.CategoricalCrossentropy)
    assert 0.0 <= result.test_metrics["accuracy"] <= 1.0 and np.isfinite(result.history["loss"]).all()
    settings = json.loads((tmp_path / "run" / "config.json").read_text())["settings"]
    assert settings["augment"] == "crop+mixup"


@pytest.mark.parametrize("kwargs, message", [
    ({"augment": "flipp"}, r"flipp"),
    ({"augment": "mixup", "loss": "mse"}, r"train: `loss` must be None with augment='mixup', which mixes labels"),
])
def test_a_run_refuses_a_bad_augmentation_before_training(tmp_path, kwargs, message):
    import kerakit
    from kerakit.errors import KerakitError

    with pytest.raises(KerakitError, match=message):
        kerakit.train("convnet", "digits", epochs=1, verbose=0, run_dir=tmp_path / "run", export=False, **kwargs)
    assert not (tmp_path / "run").exists()
