"""VGG (Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015,
arXiv:1409.1556), configurations A (VGG-11), B (VGG-13), D (VGG-16) and E (VGG-19), each also with batch
normalisation after every convolution (Ioffe and Szegedy, 2015; the `_bn` variants of torchvision).

`vgg16` and `vgg19` reproduce `keras.applications.VGG16` / `VGG19` layer for layer (138,357,544 and 143,667,240
parameters at 224x224x3 with 1000 classes), so `weights="imagenet"` copies the Keras ImageNet weights in. As in
keras.applications, the model holds no preprocessing: feed it `keras.applications.vgg16.preprocess_input` images
(BGR, ImageNet means subtracted) when using those weights.
"""

import os

from blueprints._heads import check_head_arguments, classification_head
from kerakit import errors
from kerakit.registry import blueprint, variant_of

# Filters of each convolution, one tuple per block; every block ends in a 2x2 max pool (the paper's Table 1).
_CONFIGS = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),
}
_TINY = {"input_shape": (32, 32, 3), "num_classes": 3, "width": 0.0625, "fc_units": 16}


def _scaled(filters, width):
    """`filters` times the width multiplier, rounded, at least 1."""
    return max(1, int(round(filters * width)))


def _vgg_block(x, filters, batch_norm, name):
    """3x3 convolutions (each followed by batch norm with `batch_norm`) and ReLU, then a 2x2 max pool."""
    import keras

    for j, block_filters in enumerate(filters, start=1):
        prefix = f"{name}_conv{j}"
        if batch_norm:
            # The bias stays, as in torchvision's vgg*_bn (its parameter counts include it).
            x = keras.layers.Conv2D(block_filters, 3, padding="same", name=prefix)(x)
            x = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{prefix}_bn")(x)
            x = keras.layers.Activation("relu", name=f"{prefix}_relu")(x)
        else:
            x = keras.layers.Conv2D(block_filters, 3, padding="same", activation="relu", name=prefix)(x)
    return keras.layers.MaxPooling2D(2, strides=2, name=f"{name}_pool")(x)


def _check_weights(owner, weights, application, input_shape, num_classes, include_top, pooling, fc_units, width):
    """Refuses `weights` this configuration cannot take, before anything is built."""
    if weights is None:
        return
    if application is None:
        raise errors.invalid(owner, "weights", f"None: keras.applications has no {owner} weights (only vgg16 and "
                             "vgg19 have ImageNet weights)", weights)
    if not isinstance(weights, str) or (weights != "imagenet" and not os.path.exists(weights)):
        raise errors.invalid(owner, "weights", f"None, 'imagenet' or the path of a {application} weights file",
                             weights)
    reference = f"when weights are loaded (the {application} architecture)"
    if width != 1.0:
        raise errors.invalid(owner, "width", f"1.0 {reference}", width)
    if include_top:
        if num_classes != 1000:
            raise errors.invalid(owner, "num_classes", "1000 when weights are loaded with include_top=True (or pass "
                                 "include_top=False and add your own head)", num_classes)
        if fc_units != 4096:
            raise errors.invalid(owner, "fc_units", f"4096 {reference}", fc_units)
        if pooling not in (None, "flatten"):
            raise errors.invalid(owner, "pooling", f"None or 'flatten' with include_top=True {reference}", pooling)
        if weights == "imagenet" and input_shape != (224, 224, 3):
            raise errors.invalid(owner, "input_shape", "(224, 224, 3) when ImageNet weights are loaded with "
                                 "include_top=True (the flattened head fixes the size)", input_shape)


def _vgg(
    config,
    batch_norm,
    application=None,
    input_shape=(224, 224, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    dropout=0.0,
    fc_units=4096,
    width=1.0,
    classifier_activation=None,
    weights=None,
    name="vgg",
):
    """Builds a VGG network from `config` (one tuple of convolution filters per block); see the variants."""
    owner = name
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    smallest = 2 ** len(config)
    if any(d is not None and d < smallest for d in input_shape[:2]):
        raise errors.invalid(owner, "input_shape", f"at least {smallest}x{smallest}: each of the {len(config)} "
                             "blocks halves the size with a 2x2 max pool", input_shape)
    check_head_arguments(owner, num_classes, include_top, pooling, dropout)
    flattens = pooling == "flatten" or (include_top and pooling is None)
    if flattens and None in input_shape[:2]:
        raise errors.invalid(owner, "input_shape", "fully known (no None) when the features are flattened "
                             "(include_top=True with pooling=None, or pooling='flatten'); pass pooling='avg' or "
                             "'max' for any input size", input_shape)
    if include_top:
        fc_units = errors.check_int(owner, "fc_units", fc_units)
    width = errors.check_positive_float(owner, "width", width)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    _check_weights(owner, weights, application, input_shape, num_classes, include_top, pooling, fc_units, width)
    import keras

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    for i, block in enumerate(config, start=1):
        x = _vgg_block(x, [_scaled(f, width) for f in block], batch_norm, f"{name}_block{i}")
    if include_top:
        # Flatten (the classic head) or global pooling, then two ReLU fully connected layers, then the output.
        x = classification_head(x, None, False, pooling or "flatten", 0.0, None, name)
        x = keras.layers.Dense(fc_units, activation="relu", name=f"{name}_fc1")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_fc1_dropout")(x)
        x = keras.layers.Dense(fc_units, activation="relu", name=f"{name}_fc2")(x)
    outputs = classification_head(x, num_classes, include_top, pooling, dropout, classifier_activation, name)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        from blueprints._pretrained import load_keras_applications_weights

        load_keras_applications_weights(model, application, weights, input_shape, num_classes, include_top, owner)
    return model


_HIDDEN = ("config", "batch_norm", "application")  # fixed by each variant

_ARGS_NOTE = """
    Args:
        input_shape: tuple. `(height, width, channels)`, at least 32x32 (five 2x2 max pools). Defaults to
            `(224, 224, 3)`.
        num_classes: int. Number of classes. Defaults to `1000`.
        include_top: bool. Add the fully connected head (two `fc_units` ReLU layers and the output). Defaults to
            `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How the last feature map is reduced. With `include_top`,
            `None` (or `"flatten"`) is the paper's flattened head, whose size depends on the input size; `"avg"` or
            `"max"` pools globally before the first fully connected layer, for any input size. Without it, `None`
            returns the feature map. Defaults to `None`.
        dropout: float. Dropout after each of the two fully connected layers (the paper and torchvision use `0.5`;
            keras.applications has none). Defaults to `0.0`.
        fc_units: int. Width of the two fully connected layers. Defaults to `4096`.
        width: float. Multiplier of every convolution's filters (for small variants). Defaults to `1.0`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        weights: None, `"imagenet"` or a weights-file path. Weights of the keras.applications model (`vgg16` and
            `vgg19` only). Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to the variant's name.
"""


def _document(variant):
    """Appends the shared `Args:` section to a variant's docstring (before its example)."""
    head, example = variant.__doc__.split("    Example:", 1)
    variant.__doc__ = f"{head.rstrip()}\n{_ARGS_NOTE}\n    Example:{example}"
    return variant


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vgg, hide=_HIDDEN, name="vgg11")
@_document
def vgg11(**kwargs):
    """VGG-11 (configuration A): 8 convolutions in five blocks, then fc 4096 -> fc 4096 -> output.

    132,863,336 parameters at 224x224x3 with 1000 classes, as torchvision's `vgg11` (no keras.applications model).

    Example:

    ```python
    import kerakit
    model = kerakit.build("vgg11", input_shape=(32, 32, 3), num_classes=10, width=0.25, fc_units=64)
    model.output_shape  # (None, 10)
    ```
    """
    return _vgg(_CONFIGS[11], batch_norm=False, **{"name": "vgg11", **kwargs})


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vgg, hide=_HIDDEN, name="vgg13")
@_document
def vgg13(**kwargs):
    """VGG-13 (configuration B): 10 convolutions in five blocks, then fc 4096 -> fc 4096 -> output.

    133,047,848 parameters at 224x224x3 with 1000 classes, as torchvision's `vgg13` (no keras.applications model).

    Example:

    ```python
    import kerakit
    model = kerakit.build("vgg13", input_shape=(32, 32, 3), num_classes=10, width=0.25, fc_units=64)
    model.output_shape  # (None, 10)
    ```
    """
    return _vgg(_CONFIGS[13], batch_norm=False, **{"name": "vgg13", **kwargs})


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vgg, hide=_HIDDEN, name="vgg16")
@_document
def vgg16(**kwargs):
    """VGG-16 (configuration D): 13 convolutions in five blocks, then fc 4096 -> fc 4096 -> output.

    The architecture of `keras.applications.VGG16`, layer for layer: 138,357,544 parameters at 224x224x3 with 1000
    classes; `weights="imagenet"` loads its ImageNet weights.

    Example:

    ```python
    import kerakit
    model = kerakit.build("vgg16", input_shape=(32, 32, 3), num_classes=10, width=0.25, fc_units=64)
    model.get_layer("vgg16_block5_conv3").output.shape  # (None, 2, 2, 128)
    model.output_shape  # (None, 10)
    ```
    """
    return _vgg(_CONFIGS[16], batch_norm=False, application="VGG16", **{"name": "vgg16", **kwargs})


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vgg, hide=_HIDDEN, name="vgg19")
@_document
def vgg19(**kwargs):
    """VGG-19 (configuration E): 16 convolutions in five blocks, then fc 4096 -> fc 4096 -> output.

    The architecture of `keras.applications.VGG19`, layer for layer: 143,667,240 parameters at 224x224x3 with 1000
    classes; `weights="imagenet"` loads its ImageNet weights.

    Example:

    ```python
    import kerakit
    model = kerakit.build("vgg19", input_shape=(32, 32, 3), num_classes=10, width=0.25, fc_units=64)
    model.output_shape  # (None, 10)
    ```
    """
    return _vgg(_CONFIGS[19], batch_norm=False, application="VGG19", **{"name": "vgg19", **kwargs})


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vgg, hide=_HIDDEN, name="vgg11_bn")
@_document
def vgg11_bn(**kwargs):
    """VGG-11 with batch normalisation: conv -> batch norm -> ReLU, 8 times in five blocks, then the fc head.

    132,868,840 trainable parameters at 224x224x3 with 1000 classes, as torchvision's `vgg11_bn` (the convolutions
    keep their bias); `count_params()` adds 5,504 batch-norm moving statistics: 132,874,344.

    Example:

    ```python
    import kerakit
    model = kerakit.build("vgg11_bn", input_shape=(32, 32, 3), num_classes=10, width=0.25, fc_units=64)
    model.output_shape  # (None, 10)
    ```
    """
    return _vgg(_CONFIGS[11], batch_norm=True, **{"name": "vgg11_bn", **kwargs})


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vgg, hide=_HIDDEN, name="vgg13_bn")
@_document
def vgg13_bn(**kwargs):
    """VGG-13 with batch normalisation: conv -> batch norm -> ReLU, 10 times in five blocks, then the fc head.

    133,053,736 trainable parameters at 224x224x3 with 1000 classes, as torchvision's `vgg13_bn` (the convolutions
    keep their bias); `count_params()` adds 5,888 batch-norm moving statistics: 133,059,624.

    Example:

    ```python
    import kerakit
    model = kerakit.build("vgg13_bn", input_shape=(32, 32, 3), num_classes=10, width=0.25, fc_units=64)
    model.output_shape  # (None, 10)
    ```
    """
    return _vgg(_CONFIGS[13], batch_norm=True, **{"name": "vgg13_bn", **kwargs})


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vgg, hide=_HIDDEN, name="vgg16_bn")
@_document
def vgg16_bn(**kwargs):
    """VGG-16 with batch normalisation: conv -> batch norm -> ReLU, 13 times in five blocks, then the fc head.

    138,365,992 trainable parameters at 224x224x3 with 1000 classes, as torchvision's `vgg16_bn` (the convolutions
    keep their bias); `count_params()` adds 8,448 batch-norm moving statistics: 138,374,440.

    Example:

    ```python
    import kerakit
    model = kerakit.build("vgg16_bn", input_shape=(32, 32, 3), num_classes=10, width=0.25, fc_units=64)
    model.get_layer("vgg16_bn_block1_conv1_bn").output.shape  # (None, 32, 32, 16)
    ```
    """
    return _vgg(_CONFIGS[16], batch_norm=True, **{"name": "vgg16_bn", **kwargs})


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vgg, hide=_HIDDEN, name="vgg19_bn")
@_document
def vgg19_bn(**kwargs):
    """VGG-19 with batch normalisation: conv -> batch norm -> ReLU, 16 times in five blocks, then the fc head.

    143,678,248 trainable parameters at 224x224x3 with 1000 classes, as torchvision's `vgg19_bn` (the convolutions
    keep their bias); `count_params()` adds 11,008 batch-norm moving statistics: 143,689,256.

    Example:

    ```python
    import kerakit
    model = kerakit.build("vgg19_bn", input_shape=(32, 32, 3), num_classes=10, width=0.25, fc_units=64)
    model.output_shape  # (None, 10)
    ```
    """
    return _vgg(_CONFIGS[19], batch_norm=True, **{"name": "vgg19_bn", **kwargs})
