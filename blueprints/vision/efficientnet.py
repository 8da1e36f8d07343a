"""EfficientNet B0-B7 (Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
ICML 2019, https://arxiv.org/abs/1905.11946).

One builder, `_efficientnet`, scales the B0 table of MBConv blocks (the inverted residuals of Sandler et al., 2018,
with the squeeze-and-excitation of Hu et al., 2018, and swish) by a width coefficient (filters, rounded to multiples
of 8) and a depth coefficient (blocks per stage, rounded up); the eight registered variants are the paper's
compound-scaled settings, with their resolution as the default input size:

    variant   width  depth  resolution  dropout
    B0        1.0    1.0    224         0.2
    B1        1.0    1.1    240         0.2
    B2        1.1    1.2    260         0.3
    B3        1.2    1.4    300         0.3
    B4        1.4    1.8    380         0.4
    B5        1.6    2.2    456         0.4
    B6        1.8    2.6    528         0.5
    B7        2.0    3.1    600         0.5

The graph reproduces `keras.applications.EfficientNetB0..B7` layer for layer (same weighted layers, in the same
order, with the same shapes and initialisers), including the `Rescaling(1/255)` + `Normalization` preprocessing inside
the model, so inputs are pixels in [0, 255] and `weights="imagenet"` copies keras.applications' weights in. Drop-connect
(stochastic depth) is, as there, a per-sample `Dropout` on the residual branch of block `b` of `B` with rate
`drop_path_rate * b / B`: identical in inference, no custom layer.
"""

import math
import os

from blueprints._heads import check_head_arguments, classification_head
from kerakit import errors
from kerakit.registry import blueprint, variant_of

# The B0 table: (kernel size, repeats, filters in, filters out, expansion ratio, stride) per stage; every block has
# squeeze-and-excitation reducing to a quarter of its input filters.
_BASE_STAGES = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)
_SE_RATIO = 0.25
_STEM_FILTERS = 32
_TOP_FILTERS = 1280
_DIVISOR = 8
_SMALLEST = 32  # five stride-2 stages; keras.applications refuses smaller inputs too
_IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)

# The registered variants: width and depth coefficients, resolution, top dropout; parameters at 1000 classes.
_VARIANTS = {
    "b0": (1.0, 1.0, 224, 0.2, 5_330_571),
    "b1": (1.0, 1.1, 240, 0.2, 7_856_239),
    "b2": (1.1, 1.2, 260, 0.3, 9_177_569),
    "b3": (1.2, 1.4, 300, 0.3, 12_320_535),
    "b4": (1.4, 1.8, 380, 0.4, 19_466_823),
    "b5": (1.6, 2.2, 456, 0.4, 30_562_527),
    "b6": (1.8, 2.6, 528, 0.5, 43_265_143),
    "b7": (2.0, 3.1, 600, 0.5, 66_658_687),
}

# One block per stage, 8 to 16 filters (128 at the top), 64x64 inputs. Not 32x32: there the last two stages run on
# 1x1 maps, so with the test's batch of 2 every batch norm there normalises 2 values per channel; nearly equal, they
# sit in its epsilon-dominated regime, where it multiplies (forward and backward) by about 1/sqrt(1e-3) = 32, and
# stacked such layers blow the first SGD step up (updates of 1e2-1e5, outputs of 1e35 after it). At 64x64 the
# smallest maps are 2x2 (8 values per channel) and the largest first-step update stays below 0.3.
_TINY = {"input_shape": (64, 64, 3), "num_classes": 3, "width_coefficient": 0.1, "depth_coefficient": 0.1,
         "dropout": 0.2}


def _conv_initializer():
    import keras

    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="truncated_normal")


def _dense_initializer():
    import keras

    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_out", distribution="uniform")


def _round_filters(filters, width_coefficient):
    """Scales a filter count by the width coefficient to a multiple of 8, never more than 10% below the exact value."""
    exact = filters * width_coefficient
    rounded = max(_DIVISOR, int(exact + _DIVISOR / 2) // _DIVISOR * _DIVISOR)
    if rounded < 0.9 * exact:
        rounded += _DIVISOR
    return rounded


def _round_repeats(repeats, depth_coefficient):
    """Scales a stage's block count by the depth coefficient, rounding up."""
    return math.ceil(depth_coefficient * repeats)


def _downsampling_pad(x, kernel_size, name):
    """Zero-pads so that a "valid" stride-2 convolution gives ceil(size / 2), as keras.applications' `correct_pad`."""
    import keras

    padding = []
    for size in x.shape[1:3]:
        adjust = 1 if size is None else 1 - size % 2
        padding.append((kernel_size // 2 - adjust, kernel_size // 2))
    return keras.layers.ZeroPadding2D(padding=tuple(padding), name=name)(x)


def _mbconv_block(x, filters_in, filters_out, kernel_size, stride, expand_ratio, drop_rate, name):
    """MBConv: 1x1 expansion -> depthwise conv -> squeeze-and-excitation -> 1x1 projection (+ drop-connect skip)."""
    import keras

    inputs = x
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = keras.layers.Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer=_conv_initializer(),
                                name=f"{name}_expand_conv")(x)
        x = keras.layers.BatchNormalization(name=f"{name}_expand_bn")(x)
        x = keras.layers.Activation("swish", name=f"{name}_expand_act")(x)
    if stride == 2:
        x = _downsampling_pad(x, kernel_size, name=f"{name}_dwconv_pad")
    x = keras.layers.DepthwiseConv2D(kernel_size, strides=stride, padding="valid" if stride == 2 else "same",
                                     use_bias=False, depthwise_initializer=_conv_initializer(),
                                     name=f"{name}_dwconv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_dwconv_bn")(x)
    x = keras.layers.Activation("swish", name=f"{name}_dwconv_act")(x)

    se = keras.layers.GlobalAveragePooling2D(name=f"{name}_se_squeeze")(x)
    se = keras.layers.Reshape((1, 1, filters), name=f"{name}_se_reshape")(se)
    se = keras.layers.Conv2D(max(1, int(filters_in * _SE_RATIO)), 1, padding="same", activation="swish",
                             kernel_initializer=_conv_initializer(), name=f"{name}_se_reduce")(se)
    se = keras.layers.Conv2D(filters, 1, padding="same", activation="sigmoid", kernel_initializer=_conv_initializer(),
                             name=f"{name}_se_expand")(se)
    x = keras.layers.Multiply(name=f"{name}_se_excite")([x, se])

    x = keras.layers.Conv2D(filters_out, 1, padding="same", use_bias=False, kernel_initializer=_conv_initializer(),
                            name=f"{name}_project_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_project_bn")(x)
    if stride == 1 and filters_in == filters_out:
        if drop_rate > 0:
            # Drop-connect (stochastic depth): drops the whole residual branch per sample.
            x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop_path")(x)
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x


def _check_weights(owner, variant, weights, input_shape, num_classes, include_top, pooling, width_coefficient,
                   depth_coefficient):
    """Refuses, before anything is built, a `weights` request the keras.applications weights cannot fill."""
    if weights is None:
        return
    if not isinstance(weights, str) or (weights != "imagenet" and not os.path.exists(weights)):
        raise errors.invalid(owner, "weights", "None, 'imagenet' or the path of an existing weights file", weights)
    width, depth, resolution = _VARIANTS[variant][:3]
    if (width_coefficient, depth_coefficient) != (width, depth):
        raise errors.invalid(owner, "weights", f"None for width_coefficient={width_coefficient}, depth_coefficient="
                             f"{depth_coefficient} (the pretrained weights of efficientnet_{variant} need its own "
                             f"width_coefficient={width}, depth_coefficient={depth})", weights)
    if include_top and num_classes != 1000:
        raise errors.invalid(owner, "num_classes", "1000 when weights are loaded with include_top=True (or pass "
                             "include_top=False and add your own head)", num_classes)
    if include_top and pooling != "avg":
        raise errors.invalid(owner, "pooling", "'avg' when weights are loaded with include_top=True", pooling)
    if weights == "imagenet" and input_shape[-1] != 3:
        raise errors.invalid(owner, "input_shape", "3 channels (RGB) with weights='imagenet'", input_shape)
    if weights == "imagenet" and include_top and input_shape != (resolution, resolution, 3):
        raise errors.invalid(owner, "input_shape", f"({resolution}, {resolution}, 3) with weights='imagenet' and "
                             "include_top=True (or pass include_top=False)", input_shape)


def _efficientnet(
    input_shape=(224, 224, 3),
    num_classes=1000,
    width_coefficient=1.0,
    depth_coefficient=1.0,
    include_top=True,
    pooling="avg",
    dropout=0.2,
    drop_path_rate=0.2,
    classifier_activation=None,
    weights=None,
    name="efficientnet_b0",
    variant="b0",
):
    """The EfficientNet builder: the B0 block table scaled by `width_coefficient` and `depth_coefficient`.

    See `efficientnet_b0` for the arguments. `variant` (`"b0"` .. `"b7"`, fixed by each registered variant) names
    the keras.applications model whose weights `weights` loads.
    """
    owner = name if isinstance(name, str) and name else f"efficientnet_{variant}"
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    if any(d is not None and d < _SMALLEST for d in input_shape[:2]):
        raise errors.invalid(owner, "input_shape", f"at least {_SMALLEST}x{_SMALLEST} (the network downsamples by "
                             f"{_SMALLEST}; resize smaller images)", input_shape)
    width_coefficient = errors.check_positive_float(owner, "width_coefficient", width_coefficient)
    depth_coefficient = errors.check_positive_float(owner, "depth_coefficient", depth_coefficient)
    if not isinstance(include_top, bool):
        raise errors.invalid(owner, "include_top", "True or False", include_top)
    check_head_arguments(owner, num_classes, include_top, pooling, dropout)
    if include_top and pooling in ("flatten", None) and None in input_shape[:2]:
        raise errors.invalid(owner, "pooling", "'avg' or 'max' with include_top=True and an input of unknown "
                             "height or width (flattening needs a fixed size)", pooling)
    drop_path_rate = errors.check_rate(owner, "drop_path_rate", drop_path_rate)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    if not isinstance(name, str) or not name:
        raise errors.invalid(owner, "name", "a non-empty string", name)
    _check_weights(owner, variant, weights, input_shape, num_classes, include_top, pooling, width_coefficient,
                   depth_coefficient)
    import keras

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = keras.layers.Rescaling(1.0 / 255.0, name=f"{name}_rescaling")(inputs)
    # Not adapted here (mean 0, variance 1: the identity); pretrained weights bring the ImageNet statistics.
    x = keras.layers.Normalization(axis=-1, name=f"{name}_normalization")(x)
    if weights == "imagenet":
        # The checkpoint's Normalization holds the standard deviation as its variance; keras.applications divides
        # once more by its square root to get the original (x - mean) / std, and so do we.
        x = keras.layers.Rescaling([1.0 / math.sqrt(s) for s in _IMAGENET_STDDEV_RGB],
                                   name=f"{name}_std_rescaling")(x)

    x = _downsampling_pad(x, 3, name=f"{name}_stem_pad")
    x = keras.layers.Conv2D(_round_filters(_STEM_FILTERS, width_coefficient), 3, strides=2, padding="valid",
                            use_bias=False, kernel_initializer=_conv_initializer(), name=f"{name}_stem_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_stem_bn")(x)
    x = keras.layers.Activation("swish", name=f"{name}_stem_act")(x)

    total_blocks = sum(_round_repeats(stage[1], depth_coefficient) for stage in _BASE_STAGES)
    block_index = 0
    for i, (kernel_size, repeats, filters_in, filters_out, expand_ratio, stride) in enumerate(_BASE_STAGES, start=1):
        filters_in = _round_filters(filters_in, width_coefficient)
        filters_out = _round_filters(filters_out, width_coefficient)
        for j in range(1, _round_repeats(repeats, depth_coefficient) + 1):
            x = _mbconv_block(
                x,
                filters_in=filters_in if j == 1 else filters_out,
                filters_out=filters_out,
                kernel_size=kernel_size,
                stride=stride if j == 1 else 1,
                expand_ratio=expand_ratio,
                drop_rate=drop_path_rate * block_index / total_blocks,
                name=f"{name}_stage{i}_block{j}",
            )
            block_index += 1

    x = keras.layers.Conv2D(_round_filters(_TOP_FILTERS, width_coefficient), 1, padding="same", use_bias=False,
                            kernel_initializer=_conv_initializer(), name=f"{name}_top_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_top_bn")(x)
    x = keras.layers.Activation("swish", name=f"{name}_top_act")(x)
    x = classification_head(x, None, False, "flatten" if include_top and pooling is None else pooling, 0.0, None,
                            name)
    if include_top:  # the head of classification_head, with keras.applications' initialiser
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_head_dropout")(x)
        x = keras.layers.Dense(num_classes, activation=classifier_activation, kernel_initializer=_dense_initializer(),
                               name=f"{name}_predictions")(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        from blueprints._pretrained import load_keras_applications_weights

        load_keras_applications_weights(model, f"EfficientNet{variant.upper()}", weights, input_shape, num_classes,
                                        include_top, owner)
    return model


_HIDDEN = ("variant",)
_efficientnet.weights_only_arguments = _HIDDEN  # they choose pretrained weights, not layers


def _defaults(variant):
    """The registered defaults of a variant: its coefficients, resolution, top dropout and name."""
    width, depth, resolution, dropout, _ = _VARIANTS[variant]
    return {"input_shape": (resolution, resolution, 3), "width_coefficient": width, "depth_coefficient": depth,
            "dropout": dropout, "name": f"efficientnet_{variant}"}


def _variant(variant, kwargs):
    """Calls the builder with a variant's defaults, the caller's `kwargs` winning."""
    return _efficientnet(**{**_defaults(variant), **kwargs}, variant=variant)


_ARGS_DOC = """
    Args:
        input_shape: tuple. `(height, width, channels)`, pixels in [0, 255] (the rescaling and normalisation are
            in the model); at least 32x32, height and width may be `None`. Defaults to `{input_shape}`, the
            variant's resolution.
        num_classes: int. Number of classes. Defaults to `1000`.
        width_coefficient: float. Multiplies the filters of every layer (rounded to multiples of 8). Defaults to
            `{width}`.
        depth_coefficient: float. Multiplies the blocks of every stage (rounded up). Defaults to `{depth}`.
        include_top: bool. Add the output layer. Defaults to `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How the last feature map (the 1x1 top convolution's) is
            reduced; None with `include_top=False` returns the map. Defaults to `"avg"`.
        dropout: float. Dropout before the output layer. Defaults to `{dropout}`.
        drop_path_rate: float. Drop-connect: block `b` of `B` drops its residual branch per sample at rate
            `drop_path_rate * b / B` during training (keras.applications' `drop_connect_rate`). Defaults to `0.2`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        weights: None, `"imagenet"` or the path of a `keras.applications.EfficientNet{upper}` weights file; needs
            the default coefficients, and with `include_top=True` 1000 classes and `"avg"` pooling (and, for
            `"imagenet"`, the `{input_shape}` input). Defaults to `None` (random initialisation).
        name: str. Model name and layer-name prefix. Defaults to `"efficientnet_{variant}"`.
"""


def _document(variant):
    """Fills the `{ARGS}` and `{PARAMS}` placeholders of a variant's docstring."""
    width, depth, resolution, dropout, params = _VARIANTS[variant]

    def decorate(fn):
        if fn.__doc__:  # None under `python -OO`
            args = _ARGS_DOC.format(input_shape=(resolution, resolution, 3), width=width, depth=depth,
                                    dropout=dropout, upper=variant.upper(), variant=variant).strip()
            fn.__doc__ = fn.__doc__.replace("{ARGS}", args).replace("{PARAMS}", f"{params:,}")
        return fn

    return decorate


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_efficientnet, hide=_HIDDEN, **_defaults("b0"))
@_document("b0")
def efficientnet_b0(**kwargs):
    """EfficientNet-B0 (Tan and Le, 2019): the baseline MBConv network found by architecture search, 224x224.

    The same architecture as `keras.applications.EfficientNetB0`: {PARAMS} parameters at 1000 classes.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("efficientnet_b0", input_shape=(64, 64, 3), num_classes=10, width_coefficient=0.1,
                          depth_coefficient=0.1)
    model.output_shape  # (None, 10)
    ```
    """
    return _variant("b0", kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_efficientnet, hide=_HIDDEN, **_defaults("b1"))
@_document("b1")
def efficientnet_b1(**kwargs):
    """EfficientNet-B1 (Tan and Le, 2019): B0 compound-scaled to depth x1.1 at 240x240.

    The same architecture as `keras.applications.EfficientNetB1`: {PARAMS} parameters at 1000 classes.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("efficientnet_b1", input_shape=(64, 64, 3), include_top=False, pooling=None,
                          width_coefficient=0.1, depth_coefficient=0.1)
    model.output_shape  # (None, 2, 2, 128)
    ```
    """
    return _variant("b1", kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_efficientnet, hide=_HIDDEN, **_defaults("b2"))
@_document("b2")
def efficientnet_b2(**kwargs):
    """EfficientNet-B2 (Tan and Le, 2019): B0 compound-scaled to width x1.1, depth x1.2 at 260x260.

    The same architecture as `keras.applications.EfficientNetB2`: {PARAMS} parameters at 1000 classes.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("efficientnet_b2", input_shape=(64, 64, 3), include_top=False, width_coefficient=0.1,
                          depth_coefficient=0.1)
    model.output_shape  # (None, 128)
    ```
    """
    return _variant("b2", kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_efficientnet, hide=_HIDDEN, **_defaults("b3"))
@_document("b3")
def efficientnet_b3(**kwargs):
    """EfficientNet-B3 (Tan and Le, 2019): B0 compound-scaled to width x1.2, depth x1.4 at 300x300.

    The same architecture as `keras.applications.EfficientNetB3`: {PARAMS} parameters at 1000 classes.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("efficientnet_b3", input_shape=(64, 64, 3), num_classes=5, width_coefficient=0.1,
                          depth_coefficient=0.1, classifier_activation="softmax")
    model.output_shape  # (None, 5)
    ```
    """
    return _variant("b3", kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_efficientnet, hide=_HIDDEN, **_defaults("b4"))
@_document("b4")
def efficientnet_b4(**kwargs):
    """EfficientNet-B4 (Tan and Le, 2019): B0 compound-scaled to width x1.4, depth x1.8 at 380x380.

    The same architecture as `keras.applications.EfficientNetB4`: {PARAMS} parameters at 1000 classes.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("efficientnet_b4", input_shape=(None, None, 3), num_classes=10, width_coefficient=0.1,
                          depth_coefficient=0.1)
    model.output_shape  # (None, 10)
    ```
    """
    return _variant("b4", kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_efficientnet, hide=_HIDDEN, **_defaults("b5"))
@_document("b5")
def efficientnet_b5(**kwargs):
    """EfficientNet-B5 (Tan and Le, 2019): B0 compound-scaled to width x1.6, depth x2.2 at 456x456.

    The same architecture as `keras.applications.EfficientNetB5`: {PARAMS} parameters at 1000 classes.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("efficientnet_b5", input_shape=(64, 64, 3), num_classes=10, width_coefficient=0.1,
                          depth_coefficient=0.1, pooling="max")
    model.output_shape  # (None, 10)
    ```
    """
    return _variant("b5", kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_efficientnet, hide=_HIDDEN, **_defaults("b6"))
@_document("b6")
def efficientnet_b6(**kwargs):
    """EfficientNet-B6 (Tan and Le, 2019): B0 compound-scaled to width x1.8, depth x2.6 at 528x528.

    The same architecture as `keras.applications.EfficientNetB6`: {PARAMS} parameters at 1000 classes.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("efficientnet_b6", input_shape=(96, 64, 3), include_top=False, pooling=None,
                          width_coefficient=0.1, depth_coefficient=0.1)
    model.output_shape  # (None, 3, 2, 128)
    ```
    """
    return _variant("b6", kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_efficientnet, hide=_HIDDEN, **_defaults("b7"))
@_document("b7")
def efficientnet_b7(**kwargs):
    """EfficientNet-B7 (Tan and Le, 2019): B0 compound-scaled to width x2.0, depth x3.1 at 600x600.

    The same architecture as `keras.applications.EfficientNetB7`: {PARAMS} parameters at 1000 classes.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("efficientnet_b7", input_shape=(64, 64, 3), num_classes=10, width_coefficient=0.1,
                          depth_coefficient=0.1)
    model.output_shape  # (None, 10)
    ```
    """
    return _variant("b7", kwargs)
