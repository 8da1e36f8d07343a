"""MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov and Chen, "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
CVPR 2018).

Inverted residual blocks: a 1x1 convolution expands the channels `t` times, a 3x3 depthwise convolution filters
them (ReLU6 after both), and a linear 1x1 convolution projects back to a narrow bottleneck; a residual connection
joins bottlenecks of equal shape. The width multiplier `alpha` scales every layer's channels (rounded to multiples
of 8) except the last 1x1 convolution, which keeps 1280 channels unless `alpha > 1`.

The layers, their weights and their order are those of `keras.applications.MobileNetV2`, so its ImageNet weights
load into this model (`weights="imagenet"`). Like it, the model holds no preprocessing: feed images scaled to
[-1, 1] (`keras.applications.mobilenet_v2.preprocess_input`).
"""

from blueprints._heads import check_head_arguments, classification_head
from kerakit import errors
from kerakit.registry import blueprint

# The paper's Table 2: expansion t, output channels c, repeats n, stride of the first repeat s.
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
_PRETRAINED_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
_PRETRAINED_SIZES = (96, 128, 160, 192, 224)
_BN = {"epsilon": 1e-3, "momentum": 0.999}


def _round_channels(channels, divisor=8):
    """Rounds `channels` to the nearest multiple of `divisor` (at least `divisor`), never more than 10% down.

    The rounding of the reference implementation (and keras.applications), which the ImageNet weights assume.
    """
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def _stride2_padding(x):
    """Zero padding before a "valid" 3x3 stride-2 depthwise convolution: 1 pixel after, and 1 before odd sides."""
    padding = []
    for size in x.shape[1:3]:
        before = 1 if size is not None and size % 2 == 1 else 0
        padding.append((before, 1))
    return tuple(padding)


def _inverted_residual(x, expansion, filters, stride, name):
    """Expand (1x1, ReLU6) -> depthwise 3x3 (ReLU6) -> project (1x1, linear), plus the input when shapes agree."""
    import keras

    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = keras.layers.Conv2D(expansion * in_channels, 1, use_bias=False, name=f"{name}_expand")(y)
        y = keras.layers.BatchNormalization(**_BN, name=f"{name}_expand_bn")(y)
        y = keras.layers.ReLU(6.0, name=f"{name}_expand_relu")(y)
    if stride == 2:
        y = keras.layers.ZeroPadding2D(_stride2_padding(y), name=f"{name}_pad")(y)
    y = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same" if stride == 1 else "valid", use_bias=False,
                                     name=f"{name}_depthwise")(y)
    y = keras.layers.BatchNormalization(**_BN, name=f"{name}_depthwise_bn")(y)
    y = keras.layers.ReLU(6.0, name=f"{name}_depthwise_relu")(y)
    y = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(y)
    y = keras.layers.BatchNormalization(**_BN, name=f"{name}_project_bn")(y)
    if stride == 1 and in_channels == filters:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


@blueprint(
    family="vision",
    task="image_classification",
    tiny={"input_shape": (32, 32, 3), "num_classes": 3, "alpha": 0.35},
)
def mobilenet_v2(
    input_shape=(224, 224, 3),
    num_classes=1000,
    alpha=1.0,
    include_top=True,
    pooling="avg",
    dropout=0.0,
    classifier_activation=None,
    weights=None,
    name="mobilenet_v2",
):
    """MobileNetV2: a 3x3 stem, 17 inverted residual blocks and a 1x1 convolution to 1280 channels; 3.54 M parameters.

    The same layers, in the same order, as `keras.applications.MobileNetV2` (3,538,984 parameters at 224x224x3,
    1000 classes and `alpha=1.0`), so `weights="imagenet"` loads its ImageNet weights. Any input size works: the
    stride-2 layers pad so that every side is halved rounding up (the last map is `ceil(side / 32)`), so a 32x32
    image ends in a 1x1 map.

    Args:
        input_shape: tuple. `(height, width, channels)`; height and width may be `None`. Defaults to
            `(224, 224, 3)`.
        num_classes: int. Number of classes. Defaults to `1000`.
        alpha: float. Width multiplier: the channels of every layer but the last 1x1 convolution are multiplied by
            it and rounded to a multiple of 8; the last keeps 1280 channels unless `alpha > 1`. The paper uses
            0.35 to 1.4. Defaults to `1.0`.
        include_top: bool. Add the output layer. Defaults to `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How the last feature map is reduced; `None` without the top
            returns the map. Defaults to `"avg"` (the paper's global average pooling).
        dropout: float. Dropout before the output layer (not in keras.applications). Defaults to `0.0`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        weights: None, `"imagenet"` or the path of a keras.applications MobileNetV2 weights file. ImageNet weights
            exist for `alpha` in 0.35, 0.5, 0.75, 1.0, 1.3 and 1.4; those trained at the input's side are used
            when it is square and one of 96, 128, 160, 192 or 224, those trained at 224 otherwise. Defaults to
            `None`.
        name: str. Model name and layer-name prefix. Defaults to `"mobilenet_v2"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("mobilenet_v2", input_shape=(32, 32, 3), num_classes=10, alpha=0.35)
    model.output_shape  # (None, 10)
    model.get_layer("mobilenet_v2_top_conv").filters  # 1280
    ```
    """
    import os

    owner = name if isinstance(name, str) else "mobilenet_v2"
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    alpha = errors.check_positive_float(owner, "alpha", alpha)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    check_head_arguments(owner, num_classes, include_top, pooling, dropout)
    if weights is not None:
        if not (weights == "imagenet" or (isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights))):
            raise errors.invalid(owner, "weights", "None, 'imagenet' or the path of an existing weights file", weights)
        if weights == "imagenet" and alpha not in _PRETRAINED_ALPHAS:
            raise errors.invalid(owner, "alpha", f"one of {list(_PRETRAINED_ALPHAS)} with weights='imagenet'", alpha)
        if include_top and num_classes != 1000:
            raise errors.invalid(owner, "num_classes", "1000 when weights are loaded with include_top=True (or pass "
                                 "include_top=False and add your own head)", num_classes)
        if input_shape[-1] != 3:
            raise errors.invalid(owner, "input_shape", "3 channels (RGB) when weights are loaded", input_shape)
    import keras

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = keras.layers.Conv2D(_round_channels(32 * alpha), 3, strides=2, padding="same", use_bias=False,
                            name=f"{name}_stem_conv")(inputs)
    x = keras.layers.BatchNormalization(**_BN, name=f"{name}_stem_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_stem_relu")(x)
    for i, (expansion, channels, repeats, stride) in enumerate(_STAGES, start=1):
        filters = _round_channels(int(channels * alpha))
        for j in range(1, repeats + 1):
            x = _inverted_residual(x, expansion, filters, stride if j == 1 else 1, name=f"{name}_stage{i}_block{j}")
    top_filters = _round_channels(1280 * alpha) if alpha > 1.0 else 1280
    x = keras.layers.Conv2D(top_filters, 1, use_bias=False, name=f"{name}_top_conv")(x)
    x = keras.layers.BatchNormalization(**_BN, name=f"{name}_top_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_top_relu")(x)
    outputs = classification_head(x, num_classes, include_top, pooling, dropout, classifier_activation, name)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        from blueprints._pretrained import load_keras_applications_weights

        # The weights do not depend on the input size; keras.applications picks the file by its input side.
        side = input_shape[0] if input_shape[0] == input_shape[1] and input_shape[0] in _PRETRAINED_SIZES else 224
        load_keras_applications_weights(model, "MobileNetV2", weights, (side, side, 3), num_classes, include_top,
                                        name, alpha=alpha)
    return model
