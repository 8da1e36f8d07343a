"""ResNet (He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, arXiv:1512.03385).

Two builders:

- `_resnet`, the ImageNet networks (paper section 3.4, table 1): a 7x7 stride-2 stem and 3x3 max pooling, four
  stages of residual blocks with 64/128/256/512 filters (x4 at the output of a bottleneck block), global average
  pooling and a dense head. The bottleneck variants (`resnet50`, `resnet101`, `resnet152`) are exactly
  keras.applications `ResNet50`/`ResNet101`/`ResNet152` (v1: biases on the convolutions, the stride on the first 1x1
  convolution, a projection shortcut on the first block of every stage, batch-norm epsilon 1.001e-5), with the same
  weighted layers in the same order, so their ImageNet weights load (`weights="imagenet"`). As there, the input
  preprocessing (`keras.applications.resnet.preprocess_input`: RGB->BGR, ImageNet mean subtraction) stays outside
  the model. The basic-block variants (`resnet18`, `resnet34`) have no keras.applications counterpart and follow
  torchvision (no convolution biases, epsilon 1e-5, symmetric padding before every strided convolution, a projection
  shortcut where the shape changes).
- `_cifar_resnet`, the CIFAR-10 networks (paper section 4.2): a 3x3 convolution with 16 filters, three stages of `n`
  basic blocks with 16/32/64 filters (depth `6n + 2`), global average pooling and a dense head. Shortcuts follow the
  paper's option A by default: identity, or on a downsampling block the input subsampled by 2 and zero-padded in
  the channels (parameter free, written with `keras.ops`, no `Lambda` layer); option B (a 1x1 projection) is
  `shortcut="B"`.

Stochastic depth (Huang et al., "Deep Networks with Stochastic Depth", 2016) is `drop_path_rate`: the residual
branch of block `k` of `K` is dropped per sample with rate `drop_path_rate * k / (K - 1)` during training, using
`keras.layers.Dropout` with `noise_shape=(None, 1, 1, 1)` (no custom layer; it has no weights, so the layer order
that `copy_weights_in_order` sees does not change).
"""


from blueprints._heads import check_head_arguments, classification_head
from blueprints._pretrained import load_keras_applications_weights
from kerakit import errors
from kerakit.registry import blueprint, variant_of

BLOCKS = ("basic", "bottleneck")
SHORTCUTS = ("A", "B")

# (block, depths) -> the keras.applications class whose weights fit, at width 1.
_APPLICATIONS = {
    ("bottleneck", (3, 4, 6, 3)): "ResNet50",
    ("bottleneck", (3, 4, 23, 3)): "ResNet101",
    ("bottleneck", (3, 8, 36, 3)): "ResNet152",
}


def _scaled(filters, width):
    return max(1, int(round(filters * width)))


def _conv(x, filters, kernel_size, stride, use_bias, name):
    """A convolution padded like PyTorch's `padding=k // 2`: "same" at stride 1, explicit zero padding otherwise."""
    import keras

    if stride == 1 or kernel_size == 1:
        padding = "same" if kernel_size > 1 else "valid"
    else:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    return keras.layers.Conv2D(filters, kernel_size, strides=stride, padding=padding, use_bias=use_bias,
                               name=name)(x)


def _drop_path(x, rate, name):
    import keras

    if not rate:
        return x
    return keras.layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop_path")(x)


def _basic_block(x, filters, stride, shortcut, drop_rate, use_bias, epsilon, name):
    """Two 3x3 convolutions (the first strided) with batch norm, added to the shortcut, then ReLU.

    `shortcut`: `"identity"`, `"projection"` (1x1 strided convolution + batch norm) or `"pad"` (option A: the input
    subsampled by `stride` and zero-padded to `filters` channels).
    """
    import keras

    if shortcut == "projection":
        residual = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=use_bias, name=f"{name}_shortcut_conv")(x)
        residual = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{name}_shortcut_bn")(residual)
    elif shortcut == "pad":
        residual = x[:, ::stride, ::stride, :] if stride > 1 else x
        extra = filters - x.shape[-1]
        residual = keras.ops.pad(residual, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
    else:
        residual = x
    x = _conv(x, filters, 3, stride, use_bias, f"{name}_conv1")
    x = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{name}_bn1")(x)
    x = keras.layers.Activation("relu", name=f"{name}_relu1")(x)
    x = _conv(x, filters, 3, 1, use_bias, f"{name}_conv2")
    x = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{name}_bn2")(x)
    x = _drop_path(x, drop_rate, name)
    x = keras.layers.Add(name=f"{name}_add")([residual, x])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def _bottleneck_block(x, filters, stride, projection, drop_rate, name):
    """keras.applications' ResNet v1 bottleneck: 1x1 (strided) -> 3x3 -> 1x1 to `4 * filters`, with biases.

    The projection shortcut (1x1 strided convolution + batch norm) comes first, as in keras.applications, so the
    weighted layers line up for `copy_weights_in_order`.
    """
    import keras

    epsilon = 1.001e-5
    if projection:
        residual = keras.layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_shortcut_conv")(x)
        residual = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{name}_shortcut_bn")(residual)
    else:
        residual = x
    x = keras.layers.Conv2D(filters, 1, strides=stride, name=f"{name}_conv1")(x)
    x = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{name}_bn1")(x)
    x = keras.layers.Activation("relu", name=f"{name}_relu1")(x)
    x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(x)
    x = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{name}_bn2")(x)
    x = keras.layers.Activation("relu", name=f"{name}_relu2")(x)
    x = keras.layers.Conv2D(4 * filters, 1, name=f"{name}_conv3")(x)
    x = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{name}_bn3")(x)
    x = _drop_path(x, drop_rate, name)
    x = keras.layers.Add(name=f"{name}_add")([residual, x])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def _check_input(owner, input_shape, smallest):
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    if any(d is not None and d < smallest for d in input_shape[:2]):
        raise errors.invalid(owner, "input_shape", f"at least {smallest}x{smallest} (the network downsamples by "
                             f"{smallest}; resize smaller images)", input_shape)
    return input_shape


def _check_common(owner, num_classes, include_top, pooling, dropout, drop_path_rate, classifier_activation, width):
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    check_head_arguments(owner, num_classes, include_top, pooling, dropout)
    errors.check_rate(owner, "drop_path_rate", drop_path_rate)
    errors.check_positive_float(owner, "width", width)


def _block_rates(drop_path_rate, depths):
    total = sum(depths)
    return [drop_path_rate * k / max(total - 1, 1) for k in range(total)]


def _resnet(
    block="bottleneck",
    depths=(3, 4, 6, 3),
    input_shape=(224, 224, 3),
    num_classes=1000,
    width=1.0,
    include_top=True,
    pooling="avg",
    dropout=0.0,
    drop_path_rate=0.0,
    classifier_activation=None,
    weights=None,
    name="resnet",
):
    """The ImageNet ResNet: 7x7/2 stem, 3x3/2 max pooling, four stages of residual blocks, pooling and a head.

    Args:
        block: `"basic"` (two 3x3 convolutions) or `"bottleneck"` (1x1 -> 3x3 -> 1x1, four times wider output).
            Defaults to `"bottleneck"`.
        depths: sequence of int. Blocks in each stage; stage `i` has `64 * 2**i` filters and all but the first
            halve the resolution. Defaults to `(3, 4, 6, 3)` (ResNet-50).
        input_shape: tuple. `(height, width, channels)`, at least 32x32 (the network downsamples by 32); height and
            width may be `None`. Defaults to `(224, 224, 3)`.
        num_classes: int. Number of classes. Defaults to `1000`.
        width: float. Multiplies the filters of every convolution (`1.0` is the paper's network; use e.g. `0.25` for
            a small, fast model). Defaults to `1.0`.
        include_top: bool. Add the output layer. Defaults to `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How the last feature map is reduced (`"avg"` is the paper's
            and keras.applications' head; None with `include_top=False` returns the feature map). Defaults to
            `"avg"`.
        dropout: float. Dropout before the output layer. Defaults to `0.0`.
        drop_path_rate: float. Stochastic depth: the largest rate at which a residual branch is dropped, reached by
            the last block (linear from 0 at the first). Defaults to `0.0`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        weights: None, `"imagenet"` or the path of a keras.applications weights file. Only for the keras.applications
            architectures (bottleneck blocks, depths of ResNet-50/101/152, width 1); with `include_top=True` it needs
            `num_classes=1000`. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"resnet"`.
    """
    owner = name if isinstance(name, str) else "resnet"
    errors.check_choice(owner, "block", block, BLOCKS)
    depths = errors.check_int_sequence(owner, "depths", depths)
    input_shape = _check_input(owner, input_shape, 32)
    _check_common(owner, num_classes, include_top, pooling, dropout, drop_path_rate, classifier_activation, width)
    application = _APPLICATIONS.get((block, depths)) if width == 1 else None
    if weights is not None:
        if not isinstance(weights, str):
            raise errors.invalid(owner, "weights", "None, 'imagenet' or the path of a weights file", weights)
        if application is None:
            raise errors.invalid(owner, "weights", "None for this configuration (pretrained weights exist only for "
                                 "the keras.applications ResNet-50/101/152: bottleneck blocks, their depths and "
                                 f"width 1; received block={block!r}, depths={depths}, width={width})", weights)
        if include_top and num_classes != 1000:
            raise errors.invalid(owner, "num_classes", "1000 when weights are loaded with include_top=True (or pass "
                                 "include_top=False and add your own head)", num_classes)
        if include_top and pooling != "avg":
            raise errors.invalid(owner, "pooling", "'avg' when weights are loaded with include_top=True", pooling)
    import keras

    basic = block == "basic"
    epsilon = 1e-5 if basic else 1.001e-5
    rates = _block_rates(drop_path_rate, depths)
    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = keras.layers.ZeroPadding2D(3, name=f"{name}_stem_pad")(inputs)
    x = keras.layers.Conv2D(_scaled(64, width), 7, strides=2, use_bias=not basic, name=f"{name}_stem_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{name}_stem_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_stem_relu")(x)
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_stem_pool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}_stem_pool")(x)
    k = 0
    for i, depth in enumerate(depths, start=1):
        filters = _scaled(64 * 2 ** (i - 1), width)
        for j in range(1, depth + 1):
            stride = 2 if i > 1 and j == 1 else 1
            prefix = f"{name}_stage{i}_block{j}"
            if basic:
                projection = stride != 1 or x.shape[-1] != filters
                x = _basic_block(x, filters, stride, "projection" if projection else "identity", rates[k],
                                 use_bias=False, epsilon=epsilon, name=prefix)
            else:
                x = _bottleneck_block(x, filters, stride, j == 1, rates[k], prefix)
            k += 1
    outputs = classification_head(x, num_classes, include_top, pooling, dropout, classifier_activation, name)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_keras_applications_weights(model, application, weights, input_shape, num_classes, include_top, owner)
    return model


def _cifar_resnet(
    blocks_per_stage=3,
    filters=(16, 32, 64),
    shortcut="A",
    input_shape=(32, 32, 3),
    num_classes=10,
    width=1.0,
    include_top=True,
    pooling="avg",
    dropout=0.0,
    drop_path_rate=0.0,
    classifier_activation=None,
    weights=None,
    name="cifar_resnet",
):
    """The CIFAR ResNet: a 3x3 convolution, stages of `n` basic blocks (all but the first halve the resolution).

    Args:
        blocks_per_stage: int. `n`, the basic blocks in each stage; the depth is `2 * n * len(filters) + 2`.
            Defaults to `3` (ResNet-20).
        filters: sequence of int. Filters of each stage; the stem has `filters[0]`. Defaults to `(16, 32, 64)`.
        shortcut: `"A"` (the paper's CIFAR choice: identity, or subsample and zero-pad the channels; no parameters)
            or `"B"` (a 1x1 strided projection with batch norm where the shape changes). Defaults to `"A"`.
        input_shape: tuple. `(height, width, channels)`, at least `2**(len(filters) - 1)` in each spatial dimension
            (4x4 for three stages, so 8x8 digits work); height and width may be `None`. Defaults to `(32, 32, 3)`.
        num_classes: int. Number of classes. Defaults to `10`.
        width: float. Multiplies every stage's filters. Defaults to `1.0`.
        include_top: bool. Add the output layer. Defaults to `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How the last feature map is reduced. Defaults to `"avg"`.
        dropout: float. Dropout before the output layer. Defaults to `0.0`.
        drop_path_rate: float. Stochastic depth: the largest rate at which a residual branch is dropped, reached by
            the last block (linear from 0 at the first). Defaults to `0.0`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        weights: None. There are no pretrained CIFAR weights; kept for a uniform interface. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"cifar_resnet"`.
    """
    owner = name if isinstance(name, str) else "cifar_resnet"
    blocks_per_stage = errors.check_int(owner, "blocks_per_stage", blocks_per_stage)
    filters = errors.check_int_sequence(owner, "filters", filters)
    errors.check_choice(owner, "shortcut", shortcut, SHORTCUTS)
    input_shape = _check_input(owner, input_shape, 2 ** (len(filters) - 1))
    _check_common(owner, num_classes, include_top, pooling, dropout, drop_path_rate, classifier_activation, width)
    if weights is not None:
        raise errors.invalid(owner, "weights", "None (there are no pretrained weights for the CIFAR ResNets)",
                             weights)
    filters = tuple(_scaled(f, width) for f in filters)
    import keras

    epsilon = 1e-5
    rates = _block_rates(drop_path_rate, (blocks_per_stage,) * len(filters))
    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = _conv(inputs, filters[0], 3, 1, False, f"{name}_stem_conv")
    x = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{name}_stem_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_stem_relu")(x)
    k = 0
    for i, stage_filters in enumerate(filters, start=1):
        for j in range(1, blocks_per_stage + 1):
            stride = 2 if i > 1 and j == 1 else 1
            if stride == 1 and x.shape[-1] == stage_filters:
                kind = "identity"
            else:
                kind = "pad" if shortcut == "A" and stage_filters >= x.shape[-1] else "projection"
            x = _basic_block(x, stage_filters, stride, kind, rates[k], use_bias=False, epsilon=epsilon,
                             name=f"{name}_stage{i}_block{j}")
            k += 1
    outputs = classification_head(x, num_classes, include_top, pooling, dropout, classifier_activation, name)
    return keras.Model(inputs, outputs, name=name)


# 64x64, not 32x32: at 32x32 the last stage sees 1x1 maps, and batch norm over a batch of 2 single values is unstable.
_IMAGENET_TINY = {"input_shape": (64, 64, 3), "num_classes": 3, "width": 0.125}


@blueprint(family="vision", task="image_classification", tiny={**_IMAGENET_TINY, "depths": (1, 1, 1, 1)})
@variant_of(_resnet, block="basic", depths=(2, 2, 2, 2), name="resnet18")
def resnet18(**kwargs):
    """ResNet-18 (He et al. 2015): basic blocks, depths (2, 2, 2, 2); torchvision's 11,689,512 parameters.

    Keras also counts the batch-norm moving means and variances (9,600 more), so `count_params()` at 224x224x3 and
    1,000 classes is 11,699,112.

    Args:
        **kwargs: the arguments of the ImageNet builder `_resnet` (`input_shape`, `num_classes`, `width`,
            `include_top`, `pooling`, `dropout`, `drop_path_rate`, `classifier_activation`, `name`, and `block`,
            `depths` to change the architecture). No pretrained weights.

    Example:

    ```python
    import kerakit
    model = kerakit.build("resnet18", input_shape=(32, 32, 3), num_classes=10, width=0.25)
    model.output_shape  # (None, 10)
    ```
    """
    return _resnet(**{"block": "basic", "depths": (2, 2, 2, 2), "name": "resnet18", **kwargs})


@blueprint(family="vision", task="image_classification", tiny={**_IMAGENET_TINY, "depths": (1, 1, 1, 1)})
@variant_of(_resnet, block="basic", depths=(3, 4, 6, 3), name="resnet34")
def resnet34(**kwargs):
    """ResNet-34 (He et al. 2015): basic blocks, depths (3, 4, 6, 3); torchvision's 21,797,672 parameters.

    Keras also counts the batch-norm moving means and variances (17,024 more), so `count_params()` at 224x224x3 and
    1,000 classes is 21,814,696.

    Args:
        **kwargs: the arguments of the ImageNet builder `_resnet` (see `resnet18`). No pretrained weights.

    Example:

    ```python
    import kerakit
    model = kerakit.build("resnet34", input_shape=(32, 32, 3), num_classes=10, width=0.125, depths=(1, 1, 1, 1))
    model.get_layer("resnet34_stage2_block1_shortcut_conv").strides  # (2, 2)
    ```
    """
    return _resnet(**{"block": "basic", "depths": (3, 4, 6, 3), "name": "resnet34", **kwargs})


@blueprint(family="vision", task="image_classification", tiny={**_IMAGENET_TINY, "depths": (1, 1, 1, 1)})
@variant_of(_resnet, block="bottleneck", depths=(3, 4, 6, 3), name="resnet50")
def resnet50(**kwargs):
    """ResNet-50 (He et al. 2015), exactly keras.applications `ResNet50` (25,636,712 parameters at 224x224x3).

    `weights="imagenet"` loads keras.applications' ImageNet weights (downloaded by Keras); feed it images prepared
    by `keras.applications.resnet.preprocess_input`, as the keras.applications model.

    Args:
        **kwargs: the arguments of the ImageNet builder `_resnet` (`input_shape`, `num_classes`, `width`,
            `include_top`, `pooling`, `dropout`, `drop_path_rate`, `classifier_activation`, `weights`, `name`, and
            `block`, `depths` to change the architecture).

    Example:

    ```python
    import kerakit
    model = kerakit.build("resnet50", input_shape=(32, 32, 3), num_classes=10, width=0.125, depths=(1, 1, 1, 1))
    model.output_shape  # (None, 10)
    ```
    """
    return _resnet(**{"block": "bottleneck", "depths": (3, 4, 6, 3), "name": "resnet50", **kwargs})


@blueprint(family="vision", task="image_classification", tiny={**_IMAGENET_TINY, "depths": (1, 1, 2, 1)})
@variant_of(_resnet, block="bottleneck", depths=(3, 4, 23, 3), name="resnet101")
def resnet101(**kwargs):
    """ResNet-101 (He et al. 2015), exactly keras.applications `ResNet101` (44,707,176 parameters at 224x224x3).

    Args:
        **kwargs: the arguments of the ImageNet builder `_resnet` (see `resnet50`); `weights="imagenet"` loads
            keras.applications' weights.

    Example:

    ```python
    import kerakit
    model = kerakit.build("resnet101", include_top=False, input_shape=(32, 32, 3), width=0.125, depths=(1, 1, 1, 1))
    model.output_shape  # (None, 256)
    ```
    """
    return _resnet(**{"block": "bottleneck", "depths": (3, 4, 23, 3), "name": "resnet101", **kwargs})


@blueprint(family="vision", task="image_classification", tiny={**_IMAGENET_TINY, "depths": (1, 1, 2, 1)})
@variant_of(_resnet, block="bottleneck", depths=(3, 8, 36, 3), name="resnet152")
def resnet152(**kwargs):
    """ResNet-152 (He et al. 2015), exactly keras.applications `ResNet152` (60,419,944 parameters at 224x224x3).

    Args:
        **kwargs: the arguments of the ImageNet builder `_resnet` (see `resnet50`); `weights="imagenet"` loads
            keras.applications' weights.

    Example:

    ```python
    import kerakit
    model = kerakit.build("resnet152", include_top=False, pooling=None, input_shape=(64, 64, 3), width=0.125,
                          depths=(1, 1, 1, 1))
    model.output_shape  # (None, 2, 2, 256)
    ```
    """
    return _resnet(**{"block": "bottleneck", "depths": (3, 8, 36, 3), "name": "resnet152", **kwargs})


@blueprint(family="vision", task="image_classification", tiny={"input_shape": (8, 8, 1), "num_classes": 3,
                                                                 "blocks_per_stage": 1, "width": 0.5})
@variant_of(_cifar_resnet, blocks_per_stage=3, name="resnet20")
def resnet20(**kwargs):
    """ResNet-20 for CIFAR-10 (He et al. 2015, section 4.2): 16/32/64 filters, 3 basic blocks per stage, option A.

    With the paper's parameter-free option A shortcuts, 32x32x3 inputs and 10 classes it has 269,722 trainable
    parameters (the paper's 0.27M); `count_params()` adds the 1,376 batch-norm moving means and variances: 271,098.
    Small inputs work down to 4x4, e.g. the bundled 8x8 digits: `input_shape=(8, 8, 1)`.

    Args:
        **kwargs: the arguments of the CIFAR builder `_cifar_resnet` (`blocks_per_stage`, `filters`, `shortcut`,
            `input_shape`, `num_classes`, `width`, `include_top`, `pooling`, `dropout`, `drop_path_rate`,
            `classifier_activation`, `name`).

    Example:

    ```python
    import kerakit
    model = kerakit.build("resnet20", input_shape=(8, 8, 1), num_classes=10)
    model.output_shape  # (None, 10)
    ```
    """
    return _cifar_resnet(**{"blocks_per_stage": 3, "name": "resnet20", **kwargs})


@blueprint(family="vision", task="image_classification", tiny={"input_shape": (8, 8, 1), "num_classes": 3,
                                                                 "blocks_per_stage": 1, "width": 0.5})
@variant_of(_cifar_resnet, blocks_per_stage=9, name="resnet56")
def resnet56(**kwargs):
    """ResNet-56 for CIFAR-10 (He et al. 2015, section 4.2): 16/32/64 filters, 9 basic blocks per stage, option A.

    With option A shortcuts, 32x32x3 inputs and 10 classes it has 853,018 trainable parameters (the paper's 0.85M);
    `count_params()` adds the 4,064 batch-norm moving means and variances: 857,082.

    Args:
        **kwargs: the arguments of the CIFAR builder `_cifar_resnet` (see `resnet20`).

    Example:

    ```python
    import kerakit
    model = kerakit.build("resnet56", input_shape=(8, 8, 1), num_classes=10, blocks_per_stage=1)
    len([layer for layer in model.layers if layer.name.endswith("_add")])  # 3
    ```
    """
    return _cifar_resnet(**{"blocks_per_stage": 9, "name": "resnet56", **kwargs})
