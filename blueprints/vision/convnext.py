"""ConvNeXt (Liu, Mao, Wu, Feichtenhofer, Darrell and Xie, "A ConvNet for the 2020s", CVPR 2022).

A ResNet modernised step by step towards the Swin Transformer: a 4x4 stride-4 "patchify" stem, four stages at
strides 4, 8, 16 and 32 separated by LayerNorm + 2x2 stride-2 convolutions, and inverted-bottleneck blocks
`7x7 depthwise conv -> LayerNorm -> pointwise 4x expansion -> GELU -> pointwise projection -> layer scale`, with
stochastic depth on the residual branch (rates rising linearly from 0 to `drop_path_rate` over the blocks).

The architecture reproduces `keras.applications.ConvNeXtTiny/Small/Base/Large` exactly (parameter counts, weighted
layers in the same order and shapes, the ImageNet normalisation inside the model), so `weights="imagenet"` copies
those weights in.
"""

import os

from blueprints._heads import check_head_arguments, classification_head
from kerakit import errors
from kerakit.registry import blueprint, variant_of

_EPSILON = 1e-6
# The ImageNet-1k mean and variance on the 0-255 scale, as keras.applications' ConvNeXt bakes into its models.
_IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
_IMAGENET_VARIANCE = ((0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2)
_TINY = {"input_shape": (32, 32, 3), "num_classes": 3, "depths": (1, 1, 1, 1), "widths": (8, 16, 32, 64),
         "drop_path_rate": 0.1}


def _convnext_block(x, width, drop_path_rate, layer_scale_init_value, name):
    """One ConvNeXt block: depthwise 7x7 -> LN -> Dense 4w -> GELU -> Dense w -> layer scale -> drop path, + x."""
    import keras

    from kerakit.layers.vision import LayerScale, StochasticDepth

    shortcut = x
    x = keras.layers.Conv2D(width, 7, padding="same", groups=width, name=f"{name}_depthwise_conv")(x)
    x = keras.layers.LayerNormalization(epsilon=_EPSILON, name=f"{name}_layernorm")(x)
    x = keras.layers.Dense(4 * width, name=f"{name}_pointwise_conv1")(x)
    x = keras.layers.Activation("gelu", name=f"{name}_gelu")(x)
    x = keras.layers.Dense(width, name=f"{name}_pointwise_conv2")(x)
    if layer_scale_init_value is not None:
        x = LayerScale(layer_scale_init_value, name=f"{name}_layer_scale")(x)
    if drop_path_rate > 0:
        x = StochasticDepth(drop_path_rate, name=f"{name}_drop_path")(x)
    return keras.layers.Add(name=f"{name}_add")([shortcut, x])


def _downsampling(width, stage, name):
    """The layers that open a stage: the stem (stage 1), else LN + 2x2 stride-2 conv; one nested `Sequential`.

    Nesting keeps the weighted layers in keras.applications' order for `copy_weights_in_order`.
    """
    import keras

    prefix = f"{name}_stem" if stage == 1 else f"{name}_stage{stage}_downsample"
    if stage == 1:
        layers = [keras.layers.Conv2D(width, 4, strides=4, name=f"{prefix}_conv"),
                  keras.layers.LayerNormalization(epsilon=_EPSILON, name=f"{prefix}_layernorm")]
    else:
        layers = [keras.layers.LayerNormalization(epsilon=_EPSILON, name=f"{prefix}_layernorm"),
                  keras.layers.Conv2D(width, 2, strides=2, name=f"{prefix}_conv")]
    return keras.Sequential(layers, name=prefix)


def _check_weights(owner, weights, input_shape, num_classes, include_top, pooling, depths, widths,
                   layer_scale_init_value, default_depths, default_widths):
    """Refuses, before anything is built, a `weights` request the keras.applications weights cannot fill."""
    if weights is None:
        return
    if not isinstance(weights, str) or (weights != "imagenet" and not os.path.exists(weights)):
        raise errors.invalid(owner, "weights", "None, 'imagenet' or the path of an existing weights file", weights)
    if include_top and num_classes != 1000:
        raise errors.invalid(owner, "num_classes", "1000 when weights are loaded with include_top=True (or pass "
                             "include_top=False and add your own head)", num_classes)
    if include_top and input_shape != (224, 224, 3):
        raise errors.invalid(owner, "input_shape", "(224, 224, 3) when weights are loaded with include_top=True",
                             input_shape)
    if input_shape[-1] != 3:
        raise errors.invalid(owner, "input_shape", "3 channels (RGB) when weights are loaded", input_shape)
    if include_top and pooling != "avg":
        raise errors.invalid(owner, "pooling", "'avg' when weights are loaded with include_top=True", pooling)
    if depths != default_depths:
        raise errors.invalid(owner, "depths", f"{default_depths} when weights are loaded", depths)
    if widths != default_widths:
        raise errors.invalid(owner, "widths", f"{default_widths} when weights are loaded", widths)
    if layer_scale_init_value is None:
        raise errors.invalid(owner, "layer_scale_init_value", "a number when weights are loaded", None)


def _convnext(
    input_shape=(224, 224, 3),
    num_classes=1000,
    depths=(3, 3, 9, 3),
    widths=(96, 192, 384, 768),
    drop_path_rate=0.0,
    layer_scale_init_value=1e-6,
    include_preprocessing=True,
    include_top=True,
    pooling="avg",
    dropout=0.0,
    classifier_activation=None,
    weights=None,
    name="convnext",
    application="ConvNeXtTiny",
    default_depths=(3, 3, 9, 3),
    default_widths=(96, 192, 384, 768),
):
    """The configurable ConvNeXt builder behind the registered variants (see `convnext_tiny` for the arguments)."""
    owner = name if isinstance(name, str) else "convnext"
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    if any(d is not None and d < 32 for d in input_shape[:2]):
        raise errors.invalid(owner, "input_shape", "at least 32x32 (the stem and three downsamplings divide the "
                             "size by 32)", input_shape)
    depths = errors.check_int_sequence(owner, "depths", depths)
    widths = errors.check_int_sequence(owner, "widths", widths)
    if len(depths) != 4:
        raise errors.invalid(owner, "depths", "4 integers >= 1 (blocks in each of the 4 stages)", depths)
    if len(widths) != 4:
        raise errors.invalid(owner, "widths", "4 integers >= 1 (channels of each of the 4 stages)", widths)
    drop_path_rate = errors.check_rate(owner, "drop_path_rate", drop_path_rate)
    if layer_scale_init_value is not None:
        layer_scale_init_value = errors.check_positive_float(owner, "layer_scale_init_value", layer_scale_init_value)
    if not isinstance(include_preprocessing, bool):
        raise errors.invalid(owner, "include_preprocessing", "True or False", include_preprocessing)
    if not isinstance(include_top, bool):
        raise errors.invalid(owner, "include_top", "True or False", include_top)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    check_head_arguments(owner, num_classes, include_top, pooling, dropout)
    if not isinstance(name, str) or not name:
        raise errors.invalid("convnext", "name", "a non-empty string", name)
    _check_weights(owner, weights, input_shape, num_classes, include_top, pooling, depths, widths,
                   layer_scale_init_value, default_depths, default_widths)
    import keras

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    if include_preprocessing and input_shape[-1] == 3:
        x = keras.layers.Normalization(mean=_IMAGENET_MEAN, variance=_IMAGENET_VARIANCE,
                                       name=f"{name}_normalization")(x)
    total = sum(depths)
    rates = [drop_path_rate * k / (total - 1) if total > 1 else 0.0 for k in range(total)]
    for i, (depth, width) in enumerate(zip(depths, widths), start=1):
        x = _downsampling(width, i, name)(x)
        for j in range(1, depth + 1):
            x = _convnext_block(x, width, rates.pop(0), layer_scale_init_value, f"{name}_stage{i}_block{j}")
    head_pooling = "flatten" if include_top and pooling is None else pooling
    x = classification_head(x, num_classes, False, head_pooling, 0.0, None, name)
    x = keras.layers.LayerNormalization(epsilon=_EPSILON, name=f"{name}_head_layernorm")(x)
    outputs = classification_head(x, num_classes, include_top, None, dropout, classifier_activation, name)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        from blueprints._pretrained import load_keras_applications_weights

        load_keras_applications_weights(model, application, weights, input_shape, num_classes, include_top, owner)
    return model


_ARGS_DOC = """
    Args:
        input_shape: tuple. `(height, width, channels)`, at least 32x32; height and width may be `None`. With
            `include_preprocessing`, 3-channel pixel values in `[0, 255]`. Defaults to `(224, 224, 3)`.
        num_classes: int. Number of classes. Defaults to `1000`.
        depths: sequence of 4 int. Blocks in each stage. Defaults to `{depths}`.
        widths: sequence of 4 int. Channels of each stage. Defaults to `{widths}`.
        drop_path_rate: float. Stochastic depth rate of the last block; the rates rise linearly from 0 over the
            blocks (the paper trains ImageNet-1k models with 0.1 to 0.5). Defaults to `0.0`.
        layer_scale_init_value: float or None. Initial value of the per-channel layer scale; `None` removes it.
            Defaults to `1e-6`.
        include_preprocessing: bool. Normalise 3-channel inputs in the model with the ImageNet mean and standard
            deviation on the 0-255 scale, as keras.applications does (ignored for other channel counts). Defaults
            to `True`.
        include_top: bool. Add the output layer. Defaults to `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How the last feature map is reduced before the final
            LayerNorm; `None` keeps the map (`"flatten"` with `include_top`). Defaults to `"avg"`.
        dropout: float. Dropout before the output layer. Defaults to `0.0`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        weights: None, `"imagenet"` or the path of a weights file of `keras.applications.{application}`. Loaded
            weights need the default `depths` and `widths`, and 224x224x3 inputs with 1000 classes when
            `include_top`. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"{name}"`.
"""


_HIDDEN = ("application", "default_depths", "default_widths")  # fixed by each variant
_convnext.weights_only_arguments = _HIDDEN  # they choose pretrained weights, not layers


def _variant(name, application, depths, widths, kwargs):
    """Calls the builder with a variant's defaults (the caller's `kwargs` winning) and the keras.applications model
    it reproduces."""
    arguments = {"depths": depths, "widths": widths, "name": name, **kwargs}
    return _convnext(**arguments, application=application, default_depths=depths, default_widths=widths)


def _document(name, application, depths, widths):
    """Fills the `{ARGS}` placeholder of a variant's docstring with the builder's `Args:` section."""

    def decorate(fn):
        if fn.__doc__:  # None under `python -OO`
            fn.__doc__ = fn.__doc__.replace("{ARGS}", _ARGS_DOC.format(
                depths=depths, widths=widths, application=application, name=name).strip())
        return fn

    return decorate


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_convnext, hide=_HIDDEN, depths=(3, 3, 9, 3), widths=(96, 192, 384, 768), name="convnext_tiny")
@_document("convnext_tiny", "ConvNeXtTiny", (3, 3, 9, 3), (96, 192, 384, 768))
def convnext_tiny(**kwargs):
    """ConvNeXt-T: stages of 3, 3, 9, 3 blocks, 96 to 768 channels; 28,589,128 parameters at 1000 classes.

    The same architecture as `keras.applications.ConvNeXtTiny`; the arguments are the ConvNeXt builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("convnext_tiny", input_shape=(32, 32, 3), num_classes=10, widths=(8, 16, 32, 64))
    model.output_shape  # (None, 10)
    ```
    """
    return _variant("convnext_tiny", "ConvNeXtTiny", (3, 3, 9, 3), (96, 192, 384, 768), kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_convnext, hide=_HIDDEN, depths=(3, 3, 27, 3), widths=(96, 192, 384, 768), name="convnext_small")
@_document("convnext_small", "ConvNeXtSmall", (3, 3, 27, 3), (96, 192, 384, 768))
def convnext_small(**kwargs):
    """ConvNeXt-S: stages of 3, 3, 27, 3 blocks, 96 to 768 channels; 50,223,688 parameters at 1000 classes.

    The same architecture as `keras.applications.ConvNeXtSmall`; the arguments are the ConvNeXt builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("convnext_small", input_shape=(32, 32, 3), num_classes=10, depths=(1, 1, 3, 1),
                          widths=(8, 16, 32, 64), drop_path_rate=0.1)
    model.output_shape  # (None, 10)
    ```
    """
    return _variant("convnext_small", "ConvNeXtSmall", (3, 3, 27, 3), (96, 192, 384, 768), kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_convnext, hide=_HIDDEN, depths=(3, 3, 27, 3), widths=(128, 256, 512, 1024), name="convnext_base")
@_document("convnext_base", "ConvNeXtBase", (3, 3, 27, 3), (128, 256, 512, 1024))
def convnext_base(**kwargs):
    """ConvNeXt-B: stages of 3, 3, 27, 3 blocks, 128 to 1024 channels; 88,591,464 parameters at 1000 classes.

    The same architecture as `keras.applications.ConvNeXtBase`; the arguments are the ConvNeXt builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("convnext_base", input_shape=(32, 32, 3), include_top=False, depths=(1, 1, 1, 1),
                          widths=(8, 16, 32, 64))
    model.output_shape  # (None, 64)
    ```
    """
    return _variant("convnext_base", "ConvNeXtBase", (3, 3, 27, 3), (128, 256, 512, 1024), kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_convnext, hide=_HIDDEN, depths=(3, 3, 27, 3), widths=(192, 384, 768, 1536), name="convnext_large")
@_document("convnext_large", "ConvNeXtLarge", (3, 3, 27, 3), (192, 384, 768, 1536))
def convnext_large(**kwargs):
    """ConvNeXt-L: stages of 3, 3, 27, 3 blocks, 192 to 1536 channels; 197,767,336 parameters at 1000 classes.

    The same architecture as `keras.applications.ConvNeXtLarge`; the arguments are the ConvNeXt builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("convnext_large", input_shape=(64, 64, 3), num_classes=5, depths=(1, 1, 1, 1),
                          widths=(8, 16, 32, 64), pooling="max")
    model.output_shape  # (None, 5)
    ```
    """
    return _variant("convnext_large", "ConvNeXtLarge", (3, 3, 27, 3), (192, 384, 768, 1536), kwargs)
