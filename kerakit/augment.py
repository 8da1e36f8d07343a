"""Image augmentation presets for training runs, built from Keras 3's own preprocessing layers.

An `Augmenter` maps batched `(images, labels)` `tf.data` pipelines (as `kerakit.data` makes them: float images,
integer class ids) to augmented batches. The layers are Keras's (`RandomFlip`, `RandomTranslation`,
`RandAugment`, `MixUp`, `CutMix`); inside `tf.data` they run on TensorFlow whatever the Keras backend, so the same
pipeline feeds a TensorFlow or a JAX model.

```python
import keras, kerakit.augment, kerakit.data
bundle = kerakit.data.load("digits", batch_size=64)
aug = kerakit.augment.augmenter("crop+mixup", bundle.info.input_shape, bundle.info.num_classes, seed=0)
train = aug.apply(bundle.train)                             # shifted and mixed images, one-hot labels
validation = aug.apply(bundle.validation, training=False)  # the same images, one-hot labels
model = kerakit.build("convnet", input_shape=(8, 8, 1), num_classes=10)
model.compile("adam", loss=aug.loss(from_logits=True), metrics=["accuracy"])   # categorical when soft
model.fit(train, validation_data=validation, epochs=2)
```

A preset names the operations, applied in this order whatever order they are written in:

| operation     | what it does (Keras layer)                                                                        |
|---------------|---------------------------------------------------------------------------------------------------|
| `flip`        | mirror left-right with probability 1/2 (`RandomFlip("horizontal")`). Wrong for digits and text.   |
| `crop`        | pad-and-random-crop: shift by whole pixels, up to 1/8 of the height and width each way, filling   |
|               | with `value_range[0]` (`RandomTranslation`, nearest, constant fill). Needs at least 8x8 pixels.   |
| `randaugment` | RandAugment (Cubuk et al., 2020, https://arxiv.org/abs/1909.13719): 2 of 11 operations per batch  |
|               | (`RandAugment(num_ops=2, factor=0.1, value_range=value_range)`). 1 or 3 channels only.            |
| `mixup`       | mixup (Zhang et al., 2018, https://arxiv.org/abs/1710.09412): x = l*x_i + (1-l)*x_j and the same  |
|               | for one-hot labels, l ~ Beta(0.2, 0.2) per example (`MixUp(alpha=0.2)`).                          |
| `cutmix`      | CutMix (Yun et al., 2019, https://arxiv.org/abs/1905.04899): a box of x_j pasted into x_i, labels |
|               | mixed by the share of pixels pasted (`CutMix(factor=1.0)`, labels recounted: see below).          |

`mixup+cutmix` gives each example one of the two, with probability 1/2 each. Presets are one operation, `none`,
`flip_crop` (= `flip+crop`, the usual CIFAR recipe), `strong` (= `flip+crop+randaugment+mixup+cutmix`), or any of
these joined with `+` (e.g. `crop+randaugment+mixup` for digits, where `flip` is wrong).

Labels: `mixup` and `cutmix` mix labels, so their augmenters have `soft_labels=True`: they turn the integer labels
into one-hot float vectors (also on validation and test data, with `apply(..., training=False)`), and the loss
must be `CategoricalCrossentropy` (`loss()` returns the right one). `metrics=["accuracy"]` needs no change: Keras
picks categorical accuracy for one-hot labels and keeps the name `accuracy`.

Reproducibility: each layer gets its own seed drawn from `seed`, and the pipeline maps batches one at a time
(a parallel map would interleave the layers' random state updates in a varying order), then prefetches. The same
`seed` gives the same augmented batches, every epoch different from the last. `seed=None` draws fresh seeds.

Keras quirks worth knowing (keras 3.15):

- `RandAugment` draws its operations once per call, so every image of a batch gets the same two operations
  (each with its own random magnitude); its `factor` is not one monotonic strength: at `factor=f` rotations go up
  to f*360 degrees (clockwise only), translations and shears up to f (one direction), while solarization inverts
  pixels above a threshold drawn in [0, f*255] and posterization keeps 1 to `int(8*f) - 1` bits (at least one),
  so small factors keep the geometry mild but not the colour operations. 0.1 is used here (Keras's default 0.5
  rotates up to 180 degrees: a 6 becomes a 9).
- On the JAX backend, `RandAugment`'s equalization takes a slow path in `tf.data` too (it picks its histogram
  code by `keras.backend.backend()`: a Python loop over 256 bins): on 2 CPU cores, tracing the pipeline took
  about 40 s instead of 6 s, and a batch of 32x8x8x1 images 7x longer (0.1 s instead of 0.014 s).
- `CutMix` weighs the labels by its box's area in continuous coordinates but pastes whole pixels: on 8x8 images
  the label weight was off by up to 0.23 (0.04 on average) from the share of pixels pasted. Here the labels are
  mixed by the share actually pasted (exact).
- `AugMix` is not offered: it picks its operations with Python's `random` when the function is traced, so in a
  `tf.data` pipeline (traced once) every batch of the whole run gets the same chain of operations.

Importing this module does not import Keras or TensorFlow.
"""

import math
import numbers

from kerakit.errors import KerakitError, check_int, invalid, unknown_name_error

OPERATIONS = ("flip", "crop", "randaugment", "mixup", "cutmix")  # in the order they are applied
MIXING = ("mixup", "cutmix")
ALIASES = {
    "none": (),
    "flip_crop": ("flip", "crop"),
    "strong": ("flip", "crop", "randaugment", "mixup", "cutmix"),
}
PRESETS = ("none", "crop", "flip", "flip_crop", "randaugment", "mixup", "cutmix", "strong")

CROP_FRACTION = 1 / 8  # the largest shift, as a fraction of the height and width (4 pixels on 32, 1 on 8)
MIN_CROP_SIZE = 8  # below this, the largest shift is less than one pixel
RANDAUGMENT = {"num_ops": 2, "factor": 0.1}
MIXUP_ALPHA = 0.2
CUTMIX_FACTOR = 1.0

_OWNER = "kerakit.augment.augmenter"
_RANGE_TOLERANCE = 1e-3  # of the value range's width, for the check that images lie within it


def check_preset(preset, owner=_OWNER, argument="preset"):
    """Checks a preset name and returns its operations, in the order they are applied.

    Args:
        preset: str. A name in `PRESETS` or in `OPERATIONS`, or several joined with `+`.
        owner: str. Who is checking, for the message.
        argument: str. The argument's name, for the message.

    Returns:
        tuple of str. The operations, a sub-sequence of `OPERATIONS`; `()` for `"none"`.

    Example:

    ```python
    from kerakit.augment import check_preset
    check_preset("mixup+crop")  # ('crop', 'mixup')
    check_preset("strong")  # ('flip', 'crop', 'randaugment', 'mixup', 'cutmix')
    ```
    """
    expected = "a preset name such as 'crop' or 'flip_crop', or operations joined with '+' such as 'crop+mixup'"
    if not isinstance(preset, str) or not preset.strip():
        raise invalid(owner, argument, expected, preset)
    chosen = set()
    for token in preset.split("+"):
        token = token.strip()
        if token in ALIASES:
            chosen.update(ALIASES[token])
        elif token in OPERATIONS:
            chosen.add(token)
        else:
            error = unknown_name_error("augmentation", token, sorted(set(PRESETS) | set(OPERATIONS)))
            raise KerakitError(f"{owner}: `{argument}`: {error} Join operations with '+', e.g. 'crop+mixup'. "
                               f"Received: {argument}={preset!r}")
    return tuple(op for op in OPERATIONS if op in chosen)


def augmenter(preset="none", image_shape=None, num_classes=None, *, seed=None, value_range=(0.0, 1.0),
              owner=_OWNER, argument="preset"):
    """Builds the `Augmenter` for a preset, checking that it fits the images and labels first.

    Args:
        preset: str. See the module docstring: one of `PRESETS`, one of `OPERATIONS`, or several joined with `+`.
            Defaults to `"none"`, which fits any data (even non-image data) and changes nothing.
        image_shape: tuple or None. One image's `(height, width, channels)`, e.g. `DataInfo.input_shape`.
            Needed unless the preset is `"none"`.
        num_classes: int or None. The number of classes; needed by `mixup` and `cutmix` (one-hot labels).
        seed: int or None. Seeds every random layer: the same seed gives the same batches. Defaults to `None`.
        value_range: (float, float). The range of the pixel values, `(0, 1)` for `kerakit.data`'s images
            (uint8 images are scaled to [0, 1]). `randaugment` needs it (its colour operations clip to it and
            scale by it) and checks the images lie within it; `crop` fills with `value_range[0]`.
            Defaults to `(0.0, 1.0)`.
        owner: str. Who is asking, for error messages (e.g. `"train"`). Defaults to `"kerakit.augment.augmenter"`.
        argument: str. The name of the preset argument in error messages (e.g. `"augment"`).
            Defaults to `"preset"`.

    Returns:
        An `Augmenter`.

    Raises:
        KerakitError: for an unknown preset, one that does not fit the images (not (height, width, channels),
            smaller than 8x8 for `crop`, neither 1 nor 3 channels for `randaugment`) or the labels (`mixup` or
            `cutmix` without classes), or a bad `seed` or `value_range`.

    Example:

    ```python
    import kerakit.augment
    aug = kerakit.augment.augmenter("flip_crop", image_shape=(32, 32, 3), num_classes=10, seed=0)
    aug.operations, aug.soft_labels  # ('flip', 'crop'), False
    kerakit.augment.augmenter("cutmix", (32, 32, 3), 10).soft_labels  # True
    ```
    """
    operations = check_preset(preset, owner, argument)
    if seed is not None:
        seed = check_int(owner, "seed", seed, minimum=0)
    value_range = _check_value_range(owner, value_range)
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral)
                                    or num_classes < 1):
        raise invalid(owner, "num_classes", "an integer >= 1, or None for regression targets", num_classes)
    if operations:
        image_shape = _check_image_shape(owner, argument, preset, operations, image_shape)
    if any(op in MIXING for op in operations) and (num_classes is None or num_classes < 2):
        mixing = "/".join(op for op in operations if op in MIXING)
        raise invalid(owner, argument, f"a preset without {mixing} for data without at least two classes "
                      f"(num_classes={num_classes}): they mix one-hot class labels", preset)
    name = preset.strip() if preset.strip() in PRESETS else ("+".join(operations) or "none")
    return Augmenter(name, operations, image_shape, num_classes, seed, value_range)


class Augmenter:
    """Applies a preset's Keras preprocessing layers to batched `(images, labels)` `tf.data` pipelines.

    Build it with `augmenter()`, which checks the arguments first, outside any distribution scope (the layers'
    random state lives in variables that the data pipeline updates).

    Attributes:
        preset: str. The preset's name (`"+"`-joined operations when it is not one of `PRESETS`).
        operations: tuple of str. The operations, in the order they are applied.
        soft_labels: bool. Whether `apply` turns the labels into one-hot float vectors (`mixup`, `cutmix`), so
            that the loss must be `CategoricalCrossentropy` (see `loss`).
        image_shape: tuple or None. One image's shape.
        num_classes: int or None. The number of classes.
        seed: int or None. The seed every layer's seed is drawn from.
        value_range: (float, float). The range of the pixel values.
        layers: dict. The Keras layers by operation (`"mixup+cutmix"` adds both), in the order they are applied.
    """

    def __init__(self, preset, operations, image_shape, num_classes, seed, value_range):
        self.preset = preset
        self.operations = tuple(operations)
        self.soft_labels = any(op in MIXING for op in self.operations)
        self.image_shape = image_shape
        self.num_classes = num_classes
        self.seed = seed
        self.value_range = value_range
        self.layers = self._make_layers() if self.operations else {}

    def __repr__(self):
        return (f"Augmenter(preset={self.preset!r}, operations={self.operations}, soft_labels={self.soft_labels}, "
                f"seed={self.seed})")

    def config(self):
        """dict. What a run records about its augmentation (JSON-ready)."""
        return {"preset": self.preset, "operations": list(self.operations), "soft_labels": self.soft_labels,
                "seed": self.seed, "value_range": list(self.value_range)}

    def _make_layers(self):
        import keras
        import numpy as np

        # One seed per random part, so that no two layers draw the same numbers (a flip and a shift seeded alike
        # would be correlated). `seed=None` leaves each layer its own random seed.
        seeds = [None] * 4 if self.seed is None else [int(s) for s in np.random.SeedSequence(self.seed)
                                                      .generate_state(4) % (2**31 - 1)]
        low, _ = self.value_range
        kwargs = {"dtype": "float32"}  # stay float32 under a mixed-precision policy
        layers = {}
        if "flip" in self.operations:
            layers["flip"] = keras.layers.RandomFlip("horizontal", seed=seeds[0], **kwargs)
        if "crop" in self.operations:
            layers["crop"] = keras.layers.RandomTranslation(
                height_factor=CROP_FRACTION, width_factor=CROP_FRACTION, fill_mode="constant", fill_value=low,
                interpolation="nearest", seed=seeds[1], **kwargs)
        if "randaugment" in self.operations:
            layers["randaugment"] = keras.layers.RandAugment(
                value_range=self.value_range, **RANDAUGMENT, seed=seeds[2], **kwargs)
        if "mixup" in self.operations:
            layers["mixup"] = keras.layers.MixUp(alpha=MIXUP_ALPHA, seed=seeds[3], **kwargs)
        if "cutmix" in self.operations:
            layers["cutmix"] = keras.layers.CutMix(factor=CUTMIX_FACTOR, seed=None if seeds[3] is None
                                                   else seeds[3] + 1, **kwargs)
        if "mixup" in self.operations and "cutmix" in self.operations:
            import tensorflow as tf

            # Which of the two each example gets: a TensorFlow generator, since it runs inside tf.data.
            self._switch = (tf.random.Generator.from_non_deterministic_state() if self.seed is None
                            else tf.random.Generator.from_seed(seeds[3] + 2))
        return layers

    def apply(self, dataset, training=True):
        """Augments a `tf.data.Dataset` of `(images, labels)` batches.

        The batches are mapped one at a time (for reproducibility) and prefetched. With `soft_labels`, integer
        labels become one-hot float32 vectors (labels that already are `(batch, num_classes)` floats are mixed
        as they are).

        Args:
            dataset: `tf.data.Dataset`. Batches `(images, labels)`: float images `(batch, *image_shape)` and
                integer labels `(batch,)`.
            training: bool. `False` for validation and test data: no augmentation, only the labels made one-hot
                when `soft_labels` (so that they fit the same loss). Defaults to `True`.

        Returns:
            `tf.data.Dataset`. `dataset` itself for `"none"` (and for `training=False` without `soft_labels`).

        Example:

        ```python
        import numpy as np, tensorflow as tf, kerakit.augment
        x, y = np.random.rand(32, 8, 8, 1).astype("float32"), np.arange(32) % 10
        batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        aug = kerakit.augment.augmenter("crop+mixup", image_shape=(8, 8, 1), num_classes=10, seed=0)
        images, labels = next(iter(aug.apply(batches)))
        tuple(images.shape), tuple(labels.shape), labels.dtype.name  # (16, 8, 8, 1), (16, 10), 'float32'
        kerakit.augment.augmenter("none").apply(batches) is batches  # True
        ```
        """
        if not isinstance(training, bool):
            raise invalid("Augmenter.apply", "training", "True or False", training)
        if not self.operations or (not training and not self.soft_labels):
            return dataset
        import tensorflow as tf

        self._check_dataset(dataset)
        if not training:
            return dataset.map(lambda images, labels: (images, self._labels(labels)),
                               num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.map(self.augment_batch).prefetch(tf.data.AUTOTUNE)

    def augment_batch(self, images, labels):
        """Augments one batch of TensorFlow tensors (the function `apply` maps); returns `(images, labels)`."""
        import tensorflow as tf

        if "randaugment" in self.operations:
            low, high = self.value_range
            slack = _RANGE_TOLERANCE * (high - low)
            message = (f"kerakit.augment: images outside value_range={self.value_range}, which RandAugment clips "
                       "to; pass the data's range as `value_range`")
            checks = [tf.debugging.assert_greater_equal(tf.reduce_min(images), tf.cast(low - slack, images.dtype),
                                                        message=message),
                      tf.debugging.assert_less_equal(tf.reduce_max(images), tf.cast(high + slack, images.dtype),
                                                     message=message)]
            with tf.control_dependencies(checks):
                images = tf.identity(images)
        for op in ("flip", "crop", "randaugment"):
            if op in self.layers:
                images = self.layers[op](images)
        if not self.soft_labels:
            return images, labels
        labels = self._labels(labels)
        mixed = [self._mixup(images, labels)] if "mixup" in self.layers else []
        if "cutmix" in self.layers:
            mixed.append(self._cutmix(images, labels))
        if len(mixed) == 1:
            return mixed[0]
        use_cutmix = self._switch.uniform(tf.shape(images)[:1]) < 0.5
        images = tf.where(use_cutmix[:, None, None, None], mixed[1][0], mixed[0][0])
        labels = tf.where(use_cutmix[:, None], mixed[1][1], mixed[0][1])
        return images, labels

    def _mixup(self, images, labels):
        out = self.layers["mixup"]({"images": images, "labels": labels})
        return out["images"], out["labels"]

    def _cutmix(self, images, labels):
        """Keras's CutMix, with the labels mixed by the share of pixels actually pasted.

        Keras weighs the labels by the box's area in continuous coordinates, while it pastes the whole pixels
        whose corner lies in the box: on 8x8 images the two differ by up to 0.23 (0.04 on average). The batch
        index of each pixel's source, carried through the same transformation as a segmentation mask, gives the
        exact share.
        """
        import tensorflow as tf

        batch = tf.shape(images)[0]
        index = tf.cast(tf.range(batch), tf.float32)[:, None, None, None] * tf.ones_like(images[..., :1])
        out = self.layers["cutmix"]({"images": images, "labels": labels, "segmentation_masks": index})
        source = tf.cast(tf.round(out["segmentation_masks"][..., 0]), tf.int32)  # (batch, height, width)
        pasted = tf.not_equal(source, tf.range(batch)[:, None, None])
        pasted_share = tf.reduce_mean(tf.cast(pasted, tf.float32), axis=[1, 2])
        partner = tf.maximum(tf.reduce_max(tf.where(pasted, source, -1), axis=[1, 2]), 0)  # 0 if none pasted
        weight = pasted_share[:, None]
        return out["images"], (1.0 - weight) * labels + weight * tf.gather(labels, partner)

    def _labels(self, labels):
        import tensorflow as tf

        if labels.shape.rank == 2:  # already one-hot (or soft)
            return tf.cast(labels, tf.float32)
        return tf.one_hot(tf.cast(labels, tf.int32), self.num_classes, dtype=tf.float32)

    def loss(self, from_logits=True):
        """The cross-entropy that fits the labels `apply` gives: categorical for soft labels, else sparse.

        Args:
            from_logits: bool. Whether the model outputs logits (no softmax). Defaults to `True`.

        Example:

        ```python
        import kerakit.augment
        type(kerakit.augment.augmenter("mixup", (8, 8, 1), 10).loss()).__name__  # 'CategoricalCrossentropy'
        type(kerakit.augment.augmenter("none").loss()).__name__  # 'SparseCategoricalCrossentropy'
        ```
        """
        import keras

        if self.soft_labels:
            return keras.losses.CategoricalCrossentropy(from_logits=from_logits)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)

    def _check_dataset(self, dataset):
        owner = "Augmenter.apply"
        spec = getattr(dataset, "element_spec", None)
        expected = (f"a tf.data.Dataset of (images, labels) batches, images of shape (batch, "
                    f"{', '.join(map(str, self.image_shape))}) and float dtype")
        if not (isinstance(spec, tuple) and len(spec) == 2 and hasattr(spec[0], "shape")
                and hasattr(spec[1], "shape")):
            raise invalid(owner, "dataset", expected, spec)
        images, labels = spec
        shape = tuple(images.shape)
        if len(shape) != 4 or any(d not in (None, e) for d, e in zip(shape[1:], self.image_shape)):
            raise invalid(owner, "dataset", expected, spec)
        if not images.dtype.is_floating:
            raise invalid(owner, "dataset", expected + " (kerakit.data scales uint8 images to [0, 1])", spec)
        if self.soft_labels:
            sparse = labels.shape.rank == 1 and labels.dtype.is_integer
            dense = labels.shape.rank == 2 and labels.shape[-1] == self.num_classes and labels.dtype.is_floating
            if not (sparse or dense):
                raise invalid(owner, "dataset", f"batches whose labels are integer class ids (batch,) or float "
                              f"one-hot vectors (batch, {self.num_classes})", spec)


def _check_value_range(owner, value_range):
    expected = "a pair (low, high) of numbers with low < high"
    try:
        low, high = value_range
    except (TypeError, ValueError):
        raise invalid(owner, "value_range", expected, value_range) from None
    for value in (low, high):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise invalid(owner, "value_range", expected, value_range)
    if not low < high:
        raise invalid(owner, "value_range", expected, value_range)
    return (float(low), float(high))


def _check_image_shape(owner, argument, preset, operations, image_shape):
    """The checked `(height, width, channels)` shape; a preset that does not fit the images is an error."""
    if isinstance(image_shape, (str, bytes)) or not hasattr(image_shape, "__iter__"):
        raise invalid(owner, "image_shape", "a (height, width, channels) tuple of positive integers",
                      image_shape)
    shape = tuple(image_shape)
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise invalid(owner, "image_shape", "a (height, width, channels) tuple of positive integers",
                          image_shape)
    shape = tuple(int(d) for d in shape)
    if len(shape) != 3:
        raise invalid(owner, argument, f"'none' for inputs that are not (height, width, channels) images "
                      f"(input shape {shape})", preset)
    height, width, channels = shape
    if "crop" in operations and min(height, width) < MIN_CROP_SIZE:
        raise invalid(owner, argument, f"a preset without 'crop' for images smaller than {MIN_CROP_SIZE}x"
                      f"{MIN_CROP_SIZE} pixels (image shape {shape}): 'crop' shifts by whole pixels, up to 1/8 "
                      "of the size", preset)
    if "randaugment" in operations and channels not in (1, 3):
        raise invalid(owner, argument, f"a preset without 'randaugment' for images with {channels} channels "
                      f"(image shape {shape}): Keras's RandAugment takes 1 (grayscale) or 3 (RGB) channels",
                      preset)
    return shape
