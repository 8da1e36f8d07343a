"""DenseNet-BC (Huang, Liu, van der Maaten and Weinberger, "Densely Connected Convolutional Networks", CVPR 2017).

Each layer of a dense block sees the concatenation of every earlier feature map of its block and adds
`growth_rate` new channels (a 1x1 bottleneck to `4 * growth_rate` channels, then a 3x3 convolution, both
pre-activated by batch norm and ReLU); transition layers between blocks compress the channels (by `compression`)
and halve the resolution with 2x2 average pooling.

The layers, their weights and their order are those of `keras.applications.DenseNet121/169/201`, so the ImageNet
weights of those models load into these (`weights="imagenet"`). Like them, the model holds no preprocessing: feed
images through `keras.applications.densenet.preprocess_input` (scale to [0, 1], then ImageNet mean and std).
"""

from blueprints._heads import check_head_arguments, classification_head
from kerakit import errors
from kerakit.registry import blueprint, variant_of

_BN_EPSILON = 1.001e-5
_KERAS_APPLICATIONS = {(6, 12, 24, 16): "DenseNet121", (6, 12, 32, 32): "DenseNet169", (6, 12, 48, 32): "DenseNet201"}


def _output_size(size, num_blocks):
    """The side of the last feature map for an input side `size` (7x7/2 conv, 3x3/2 max pool, 2x2/2 transitions)."""
    size = (size - 1) // 2 + 1  # 7x7 stride-2 convolution after 3 pixels of zero padding
    size = (size - 1) // 2 + 1  # 3x3 stride-2 max pooling after 1 pixel of zero padding
    for _ in range(num_blocks - 1):
        size //= 2  # 2x2 stride-2 average pooling ("valid")
    return size


def _smallest_input(num_blocks):
    """The smallest input side that leaves at least a 1x1 feature map."""
    size = 1
    while _output_size(size, num_blocks) < 1:
        size += 1
    return size


def _check_weights(owner, weights, blocks, growth_rate, compression, stem_filters, num_classes, include_top,
                   input_shape):
    """Checks that `weights` is None, "imagenet" or a file, and that the architecture is one keras.applications has."""
    import os

    if weights is None:
        return
    if not (weights == "imagenet" or (isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights))):
        raise errors.invalid(owner, "weights", "None, 'imagenet' or the path of an existing weights file", weights)
    if blocks not in _KERAS_APPLICATIONS or growth_rate != 32 or compression != 0.5 or stem_filters != 64:
        raise errors.invalid(
            owner, "weights", "None unless the architecture is DenseNet121, 169 or 201 (blocks (6, 12, 24, 16), "
            "(6, 12, 32, 32) or (6, 12, 48, 32), growth_rate=32, compression=0.5, stem_filters=64)", weights)
    if include_top and num_classes != 1000:
        raise errors.invalid(owner, "num_classes", "1000 when weights are loaded with include_top=True (or pass "
                             "include_top=False and add your own head)", num_classes)
    if input_shape[-1] != 3:
        raise errors.invalid(owner, "input_shape", "3 channels (RGB) when weights are loaded", input_shape)


def _dense_layer(x, growth_rate, name):
    """BN-ReLU-Conv(1x1, 4k) -> BN-ReLU-Conv(3x3, k), concatenated to its input."""
    import keras

    y = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_bn1")(x)
    y = keras.layers.Activation("relu", name=f"{name}_relu1")(y)
    y = keras.layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_conv1")(y)
    y = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_bn2")(y)
    y = keras.layers.Activation("relu", name=f"{name}_relu2")(y)
    y = keras.layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    return keras.layers.Concatenate(name=f"{name}_concat")([x, y])


def _transition(x, compression, name):
    """BN-ReLU-Conv(1x1) to `compression` times the channels, then 2x2 average pooling."""
    import keras

    filters = int(x.shape[-1] * compression)
    x = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def _densenet(
    blocks,
    growth_rate=32,
    compression=0.5,
    stem_filters=None,
    input_shape=(224, 224, 3),
    num_classes=1000,
    include_top=True,
    pooling="avg",
    dropout=0.0,
    classifier_activation=None,
    weights=None,
    name="densenet",
):
    """The DenseNet-BC builder behind `densenet121`, `densenet169` and `densenet201`.

    Args:
        blocks: sequence of int. Dense layers in each dense block; a transition layer sits between two blocks.
        growth_rate: int. Channels each dense layer adds (k); its bottleneck has `4 * growth_rate`. Defaults to
            `32`.
        compression: float. Fraction of the channels a transition layer keeps, in (0, 1]. Defaults to `0.5`.
        stem_filters: int or None. Filters of the 7x7 stem convolution; `None` means `2 * growth_rate` (64 at the
            default growth rate, as in the paper and keras.applications). Defaults to `None`.
        input_shape: tuple. `(height, width, channels)`; height and width may be `None`, and must otherwise be at
            least 29 with four blocks (the last map is about 1/32 of the input). Defaults to `(224, 224, 3)`.
        num_classes: int. Number of classes. Defaults to `1000`.
        include_top: bool. Add the output layer. Defaults to `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How the last feature map is reduced; `None` without the top
            returns the map. Defaults to `"avg"` (the paper's global average pooling).
        dropout: float. Dropout before the output layer (not in the paper). Defaults to `0.0`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        weights: None, `"imagenet"` or the path of a keras.applications DenseNet weights file, for the
            keras.applications architectures only. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"densenet"`.
    """
    owner = name if isinstance(name, str) else "densenet"
    blocks = errors.check_int_sequence(owner, "blocks", blocks)
    growth_rate = errors.check_int(owner, "growth_rate", growth_rate)
    compression = errors.check_positive_float(owner, "compression", compression)
    if compression > 1:
        raise errors.invalid(owner, "compression", "a number in (0, 1]", compression)
    stem_filters = 2 * growth_rate if stem_filters is None else errors.check_int(owner, "stem_filters", stem_filters)
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    smallest = _smallest_input(len(blocks))
    if any(d is not None and d < smallest for d in input_shape[:2]):
        raise errors.invalid(
            owner, "input_shape", f"at least {smallest}x{smallest} with {len(blocks)} dense blocks (the stem and "
            f"{len(blocks) - 1} transitions downsample {2 ** (len(blocks) + 1)}x; resize smaller images or use fewer "
            "blocks)", input_shape)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    check_head_arguments(owner, num_classes, include_top, pooling, dropout)
    _check_weights(owner, weights, blocks, growth_rate, compression, stem_filters, num_classes, include_top,
                   input_shape)
    import keras

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = keras.layers.ZeroPadding2D(3, name=f"{name}_stem_pad")(inputs)
    x = keras.layers.Conv2D(stem_filters, 7, strides=2, use_bias=False, name=f"{name}_stem_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_stem_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_stem_relu")(x)
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_stem_pool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}_stem_pool")(x)
    for i, num_layers in enumerate(blocks, start=1):
        for j in range(1, num_layers + 1):
            x = _dense_layer(x, growth_rate, name=f"{name}_stage{i}_block{j}")
        if i < len(blocks):
            x = _transition(x, compression, name=f"{name}_transition{i}")
    x = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_final_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_final_relu")(x)
    outputs = classification_head(x, num_classes, include_top, pooling, dropout, classifier_activation, name)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        from blueprints._pretrained import load_keras_applications_weights

        # The weights do not depend on the input size: build the reference at its own default size.
        load_keras_applications_weights(model, _KERAS_APPLICATIONS[blocks], weights, (224, 224, 3), num_classes,
                                        include_top, owner)
    return model


_TINY = {"input_shape": (32, 32, 3), "num_classes": 3, "blocks": (1, 1, 1, 1), "growth_rate": 4}


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_densenet, blocks=(6, 12, 24, 16), name="densenet121")
def densenet121(**kwargs):
    """DenseNet-121: DenseNet-BC with dense blocks of (6, 12, 24, 16) layers, growth rate 32; 8.06 M parameters.

    The same layers, in the same order, as `keras.applications.DenseNet121` (8,062,504 parameters at 224x224x3 and
    1000 classes), so `weights="imagenet"` loads its ImageNet weights; any input of at least 29x29 works.

    Args:
        **kwargs: the arguments of the DenseNet builder, the caller's winning: `blocks` (default `(6, 12, 24, 16)`),
            `growth_rate` (`32`), `compression` (`0.5`), `stem_filters` (`None`: `2 * growth_rate`), `input_shape`
            (`(224, 224, 3)`), `num_classes` (`1000`), `include_top` (`True`), `pooling` (`"avg"`), `dropout`
            (`0.0`), `classifier_activation` (`None`: logits), `weights` (`None`, `"imagenet"` or a file) and `name`
            (`"densenet121"`).

    Example:

    ```python
    import kerakit
    model = kerakit.build("densenet121", input_shape=(32, 32, 3), num_classes=10, blocks=(1, 1, 1, 1), growth_rate=4)
    model.output_shape  # (None, 10)
    ```
    """
    return _densenet(**{"blocks": (6, 12, 24, 16), "name": "densenet121", **kwargs})


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_densenet, blocks=(6, 12, 32, 32), name="densenet169")
def densenet169(**kwargs):
    """DenseNet-169: DenseNet-BC with dense blocks of (6, 12, 32, 32) layers, growth rate 32; 14.3 M parameters.

    The same layers, in the same order, as `keras.applications.DenseNet169` (14,307,880 parameters at 224x224x3 and
    1000 classes), so `weights="imagenet"` loads its ImageNet weights; any input of at least 29x29 works.

    Args:
        **kwargs: the arguments of the DenseNet builder (see `densenet121`), the caller's winning; `blocks` defaults
            to `(6, 12, 32, 32)` and `name` to `"densenet169"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("densenet169", input_shape=(32, 32, 3), num_classes=10, blocks=(1, 1, 1, 1), growth_rate=4)
    model.output_shape  # (None, 10)
    ```
    """
    return _densenet(**{"blocks": (6, 12, 32, 32), "name": "densenet169", **kwargs})


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_densenet, blocks=(6, 12, 48, 32), name="densenet201")
def densenet201(**kwargs):
    """DenseNet-201: DenseNet-BC with dense blocks of (6, 12, 48, 32) layers, growth rate 32; 20.2 M parameters.

    The same layers, in the same order, as `keras.applications.DenseNet201` (20,242,984 parameters at 224x224x3 and
    1000 classes), so `weights="imagenet"` loads its ImageNet weights; any input of at least 29x29 works.

    Args:
        **kwargs: the arguments of the DenseNet builder (see `densenet121`), the caller's winning; `blocks` defaults
            to `(6, 12, 48, 32)` and `name` to `"densenet201"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("densenet201", input_shape=(32, 32, 3), num_classes=10, blocks=(1, 1, 1, 1), growth_rate=4)
    model.output_shape  # (None, 10)
    ```
    """
    return _densenet(**{"blocks": (6, 12, 48, 32), "name": "densenet201", **kwargs})
