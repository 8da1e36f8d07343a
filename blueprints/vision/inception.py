"""Inception: GoogLeNet (Inception v1) and Inception v3.

- `googlenet`: Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke and Rabinovich, "Going Deeper with
  Convolutions", CVPR 2015, arXiv:1409.4842. As torchvision's `googlenet(aux_logits=False)`: every convolution is
  torchvision's `BasicConv2d` (no bias, batch norm with epsilon 0.001, ReLU; the paper predates batch norm), and, as
  in torchvision, the "5x5" branch of every inception module uses a 3x3 kernel (a known torchvision quirk kept for
  its pretrained weights; `branch_kernel=5` gives the paper's 5x5). torchvision's 6,624,904 parameters: the
  trainable weights here plus the batch-norm gammas and betas (Keras's `count_params()` also counts the moving means
  and variances). torchvision's max pooling uses `ceil_mode=True`; here a zero row and column are added at the
  bottom and right before each strided pooling, which gives the same windows and sizes for any input (224 -> 112 ->
  56 -> 28 -> 14 -> 7); the zeros never win since every pooled tensor comes out of a ReLU. No auxiliary heads and
  no pretrained weights (keras.applications has no GoogLeNet).
- `inception_v3`: Szegedy, Vanhoucke, Ioffe, Shlens and Wojna, "Rethinking the Inception Architecture for Computer
  Vision", CVPR 2016, arXiv:1512.00567. Exactly `keras.applications.InceptionV3` (23,851,784 parameters; convolutions
  without bias, batch norm without scale, "valid" stem, the eleven `mixed` modules), with the same weighted layers in
  the same order, so `weights="imagenet"` loads keras.applications' ImageNet weights. As there, the preprocessing
  (`keras.applications.inception_v3.preprocess_input`: pixels scaled to [-1, 1]) stays outside the model.

Both take a `width` multiplier (every filter count, rounded, at least 1) and `depths` (fewer inception modules per
stage) for small, fast models. Neither has residual branches, so there is no `drop_path_rate`.
"""

import os

from blueprints._heads import check_head_arguments, classification_head
from kerakit import errors
from kerakit.registry import blueprint, variant_of

# torchvision's GoogLeNet inception modules: (1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool projection), by stage.
_GOOGLENET_MODULES = (
    (("3a", (64, 96, 128, 16, 32, 32)), ("3b", (128, 128, 192, 32, 96, 64))),
    (("4a", (192, 96, 208, 16, 48, 64)), ("4b", (160, 112, 224, 24, 64, 64)), ("4c", (128, 128, 256, 24, 64, 64)),
     ("4d", (112, 144, 288, 32, 64, 64)), ("4e", (256, 160, 320, 32, 128, 128))),
    (("5a", (256, 160, 320, 32, 128, 128)), ("5b", (384, 192, 384, 48, 128, 128))),
)
_GOOGLENET_EPSILON = 1e-3
GOOGLENET_DEPTHS = tuple(len(modules) for modules in _GOOGLENET_MODULES)  # (2, 5, 2)
BRANCH_KERNELS = (3, 5)
# keras.applications' InceptionV3 modules by stage: the 35x35 ones' pool projections (mixed0-2), the 17x17 ones'
# 7x7-branch widths (mixed4-7), the 8x8 ones (mixed9-10).
_V3_POOL_FILTERS = (32, 64, 64)
_V3_CHANNELS_7X7 = (128, 160, 160, 192)
INCEPTION_V3_DEPTHS = (3, 4, 2)
_INCEPTION_V3_MIN_SIZE = 75


def _scaled(filters, width):
    return max(1, round(filters * width))


def _check_common(owner, input_shape, smallest, why, num_classes, include_top, pooling, dropout,
                  classifier_activation, width, name):
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    if any(d is not None and d < smallest for d in input_shape[:2]):
        raise errors.invalid(owner, "input_shape", f"at least {smallest}x{smallest} ({why})", input_shape)
    if not isinstance(include_top, bool):
        raise errors.invalid(owner, "include_top", "True or False", include_top)
    check_head_arguments(owner, num_classes, include_top, pooling, dropout)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    errors.check_positive_float(owner, "width", width)
    if not isinstance(name, str) or not name:
        raise errors.invalid(owner, "name", "a non-empty string", name)
    return input_shape


def _check_depths(owner, depths, full, what):
    depths = errors.check_int_sequence(owner, "depths", depths)
    if len(depths) != len(full) or any(d > f for d, f in zip(depths, full)):
        raise errors.invalid(owner, "depths", f"{len(full)} integers between 1 and {full} ({what})", depths)
    return depths


# ---------------------------------------------------------------------------------------------------------------------
# GoogLeNet


def _basic_conv(x, filters, kernel_size, name, strides=1):
    """torchvision's `BasicConv2d`: convolution without bias ("same" padding = PyTorch's `k // 2` at stride 1),
    batch norm (epsilon 0.001), ReLU."""
    import keras

    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same" if strides == 1 else "valid",
                            use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=_GOOGLENET_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def _ceil_max_pool(x, pool_size, name):
    """PyTorch's `MaxPool2d(pool_size, 2, ceil_mode=True)` for inputs >= 0: one zero row/column at the bottom/right,
    then a "valid" pooling. Output size `ceil((n - k) / 2) + 1` for any `n`, the same windows as PyTorch."""
    import keras

    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
    return keras.layers.MaxPooling2D(pool_size, strides=2, name=name)(x)


def _googlenet_module(x, filters, branch_kernel, name):
    """One inception module: 1x1 | 1x1 -> 3x3 | 1x1 -> `branch_kernel` | 3x3 max pool -> 1x1, concatenated."""
    import keras

    b1x1, b3x3_reduce, b3x3, b5x5_reduce, b5x5, pool_projection = filters
    branch1 = _basic_conv(x, b1x1, 1, f"{name}_branch1")
    branch2 = _basic_conv(x, b3x3_reduce, 1, f"{name}_branch2_reduce")
    branch2 = _basic_conv(branch2, b3x3, 3, f"{name}_branch2")
    branch3 = _basic_conv(x, b5x5_reduce, 1, f"{name}_branch3_reduce")
    branch3 = _basic_conv(branch3, b5x5, branch_kernel, f"{name}_branch3")
    branch4 = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_branch4_pool")(x)
    branch4 = _basic_conv(branch4, pool_projection, 1, f"{name}_branch4")
    return keras.layers.Concatenate(name=name)([branch1, branch2, branch3, branch4])


def _googlenet(
    input_shape=(224, 224, 3),
    num_classes=1000,
    width=1.0,
    depths=(2, 5, 2),
    branch_kernel=3,
    include_top=True,
    pooling="avg",
    dropout=0.2,
    classifier_activation=None,
    weights=None,
    name="googlenet",
):
    owner = name if isinstance(name, str) and name else "googlenet"
    input_shape = _check_common(owner, input_shape, 32, "the network downsamples by 32; resize smaller images",
                                num_classes, include_top, pooling, dropout, classifier_activation, width, name)
    depths = _check_depths(owner, depths, GOOGLENET_DEPTHS, "inception modules in stages 3, 4 and 5; fewer keep "
                           "the first ones of each stage")
    errors.check_choice(owner, "branch_kernel", branch_kernel, BRANCH_KERNELS)
    if weights is not None:
        raise errors.invalid(owner, "weights", "None (keras.applications has no GoogLeNet, so there are no "
                             "pretrained weights to load; torchvision's are PyTorch checkpoints)", weights)
    import keras

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = keras.layers.ZeroPadding2D(3, name=f"{name}_conv1_pad")(inputs)
    x = _basic_conv(x, _scaled(64, width), 7, f"{name}_conv1", strides=2)
    x = _ceil_max_pool(x, 3, f"{name}_pool1")
    x = _basic_conv(x, _scaled(64, width), 1, f"{name}_conv2")
    x = _basic_conv(x, _scaled(192, width), 3, f"{name}_conv3")
    x = _ceil_max_pool(x, 3, f"{name}_pool2")
    for stage, (modules, depth) in enumerate(zip(_GOOGLENET_MODULES, depths)):
        if stage:
            x = _ceil_max_pool(x, 3 if stage == 1 else 2, f"{name}_pool{stage + 2}")
        for label, filters in modules[:depth]:
            x = _googlenet_module(x, [_scaled(f, width) for f in filters], branch_kernel, f"{name}_inception{label}")
    outputs = classification_head(x, num_classes, include_top, pooling, dropout, classifier_activation, name)
    return keras.Model(inputs, outputs, name=name)


# The tiny configs keep the last feature map at 2x2: at 1x1 (32x32 GoogLeNet, 75x75 Inception v3) batch norm over a
# training batch of 2 single values makes one SGD step blow the inference outputs up by 10-1000x for some seeds.
@blueprint(family="vision", task="image_classification",
           tiny={"input_shape": (64, 64, 3), "num_classes": 3, "width": 0.125, "depths": (1, 1, 1)})
@variant_of(_googlenet, name="googlenet")
def googlenet(**kwargs):
    """GoogLeNet / Inception v1 (Szegedy et al. 2014, "Going Deeper with Convolutions"), as torchvision's googlenet.

    torchvision's `googlenet(aux_logits=False)`: a 7x7/2 stem, nine inception modules (3a-3b, 4a-4e, 5a-5b) between
    max poolings, global average pooling, dropout 0.2 and a dense head; its 6,624,904 parameters at 224x224x3 with
    1,000 classes are the trainable weights plus the batch-norm gammas and betas (`count_params()` also counts the
    batch-norm moving means and variances: 6,639,464). The "5x5" branch has a 3x3 kernel as in torchvision
    (`branch_kernel=5` for the paper's). No auxiliary classifiers and no pretrained weights.

    Args:
        input_shape: tuple. `(height, width, channels)`, at least 32x32 (the network downsamples by 32); height and
            width may be `None`. Defaults to `(224, 224, 3)`.
        num_classes: int. Number of classes. Defaults to `1000`.
        width: float. Multiplies the filters of every convolution (`1.0` is the paper's network; e.g. `0.125` for a
            small, fast model). Defaults to `1.0`.
        depths: 3 ints. Inception modules in stages 3, 4 and 5, at most torchvision's `(2, 5, 2)`; fewer keep the
            first ones of each stage (e.g. `(1, 1, 1)`: 3a, 4a, 5a), for small, fast models. Defaults to `(2, 5, 2)`.
        branch_kernel: `3` (torchvision) or `5` (the paper). Kernel of the third branch of every inception module.
            Defaults to `3`.
        include_top: bool. Add the output layer. Defaults to `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How the last feature map is reduced (None with
            `include_top=False` returns the stride-32 feature map). Defaults to `"avg"`.
        dropout: float. Dropout before the output layer (torchvision: 0.2, the paper: 0.4). Defaults to `0.2`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        weights: None. keras.applications has no GoogLeNet, so there are no weights to load. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"googlenet"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("googlenet", input_shape=(32, 32, 3), num_classes=10, width=0.125, depths=(1, 1, 1))
    model.output_shape  # (None, 10)
    model.get_layer("googlenet_inception3a_branch3_conv").kernel_size  # (3, 3)
    ```
    """
    return _googlenet(**{"name": "googlenet", **kwargs})


# ---------------------------------------------------------------------------------------------------------------------
# Inception v3


def _conv_bn(x, filters, kernel_size, name, strides=1, padding="same"):
    """keras.applications' `conv2d_bn`: convolution without bias, batch norm without scale (epsilon 0.001), ReLU."""
    import keras

    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False,
                            name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(scale=False, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def _avg_pool_branch(x, filters, name):
    import keras

    x = keras.layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    return _conv_bn(x, filters, 1, f"{name}_pool_proj")


def _module_a(x, pool_filters, f, name):
    """35x35 module (mixed0-2): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1."""
    import keras

    branch1x1 = _conv_bn(x, f(64), 1, f"{name}_b1x1")
    branch5x5 = _conv_bn(x, f(48), 1, f"{name}_b5x5_1")
    branch5x5 = _conv_bn(branch5x5, f(64), 5, f"{name}_b5x5_2")
    branch3x3dbl = _conv_bn(x, f(64), 1, f"{name}_b3x3dbl_1")
    branch3x3dbl = _conv_bn(branch3x3dbl, f(96), 3, f"{name}_b3x3dbl_2")
    branch3x3dbl = _conv_bn(branch3x3dbl, f(96), 3, f"{name}_b3x3dbl_3")
    branch_pool = _avg_pool_branch(x, f(pool_filters), name)
    return keras.layers.Concatenate(name=name)([branch1x1, branch5x5, branch3x3dbl, branch_pool])


def _module_b(x, f, name):
    """Grid reduction 35 -> 17 (mixed3): 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | 3x3/2 max pool."""
    import keras

    branch3x3 = _conv_bn(x, f(384), 3, f"{name}_b3x3", strides=2, padding="valid")
    branch3x3dbl = _conv_bn(x, f(64), 1, f"{name}_b3x3dbl_1")
    branch3x3dbl = _conv_bn(branch3x3dbl, f(96), 3, f"{name}_b3x3dbl_2")
    branch3x3dbl = _conv_bn(branch3x3dbl, f(96), 3, f"{name}_b3x3dbl_3", strides=2, padding="valid")
    branch_pool = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return keras.layers.Concatenate(name=name)([branch3x3, branch3x3dbl, branch_pool])


def _module_c(x, channels, f, name):
    """17x17 module (mixed4-7), factorised 7x7: 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 |
    avg pool -> 1x1; `channels` is the width inside the 7x7 branches (128, 160, 160, 192)."""
    import keras

    branch1x1 = _conv_bn(x, f(192), 1, f"{name}_b1x1")
    branch7x7 = _conv_bn(x, f(channels), 1, f"{name}_b7x7_1")
    branch7x7 = _conv_bn(branch7x7, f(channels), (1, 7), f"{name}_b7x7_2")
    branch7x7 = _conv_bn(branch7x7, f(192), (7, 1), f"{name}_b7x7_3")
    branch7x7dbl = _conv_bn(x, f(channels), 1, f"{name}_b7x7dbl_1")
    branch7x7dbl = _conv_bn(branch7x7dbl, f(channels), (7, 1), f"{name}_b7x7dbl_2")
    branch7x7dbl = _conv_bn(branch7x7dbl, f(channels), (1, 7), f"{name}_b7x7dbl_3")
    branch7x7dbl = _conv_bn(branch7x7dbl, f(channels), (7, 1), f"{name}_b7x7dbl_4")
    branch7x7dbl = _conv_bn(branch7x7dbl, f(192), (1, 7), f"{name}_b7x7dbl_5")
    branch_pool = _avg_pool_branch(x, f(192), name)
    return keras.layers.Concatenate(name=name)([branch1x1, branch7x7, branch7x7dbl, branch_pool])


def _module_d(x, f, name):
    """Grid reduction 17 -> 8 (mixed8): 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | 3x3/2 max pool."""
    import keras

    branch3x3 = _conv_bn(x, f(192), 1, f"{name}_b3x3_1")
    branch3x3 = _conv_bn(branch3x3, f(320), 3, f"{name}_b3x3_2", strides=2, padding="valid")
    branch7x7x3 = _conv_bn(x, f(192), 1, f"{name}_b7x7x3_1")
    branch7x7x3 = _conv_bn(branch7x7x3, f(192), (1, 7), f"{name}_b7x7x3_2")
    branch7x7x3 = _conv_bn(branch7x7x3, f(192), (7, 1), f"{name}_b7x7x3_3")
    branch7x7x3 = _conv_bn(branch7x7x3, f(192), 3, f"{name}_b7x7x3_4", strides=2, padding="valid")
    branch_pool = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return keras.layers.Concatenate(name=name)([branch3x3, branch7x7x3, branch_pool])


def _module_e(x, f, name):
    """8x8 module (mixed9-10), expanded filter bank: 1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) |
    avg pool -> 1x1."""
    import keras

    branch1x1 = _conv_bn(x, f(320), 1, f"{name}_b1x1")
    branch3x3 = _conv_bn(x, f(384), 1, f"{name}_b3x3_1")
    branch3x3_a = _conv_bn(branch3x3, f(384), (1, 3), f"{name}_b3x3_2a")
    branch3x3_b = _conv_bn(branch3x3, f(384), (3, 1), f"{name}_b3x3_2b")
    branch3x3 = keras.layers.Concatenate(name=f"{name}_b3x3")([branch3x3_a, branch3x3_b])
    branch3x3dbl = _conv_bn(x, f(448), 1, f"{name}_b3x3dbl_1")
    branch3x3dbl = _conv_bn(branch3x3dbl, f(384), 3, f"{name}_b3x3dbl_2")
    branch3x3dbl_a = _conv_bn(branch3x3dbl, f(384), (1, 3), f"{name}_b3x3dbl_3a")
    branch3x3dbl_b = _conv_bn(branch3x3dbl, f(384), (3, 1), f"{name}_b3x3dbl_3b")
    branch3x3dbl = keras.layers.Concatenate(name=f"{name}_b3x3dbl")([branch3x3dbl_a, branch3x3dbl_b])
    branch_pool = _avg_pool_branch(x, f(192), name)
    return keras.layers.Concatenate(name=name)([branch1x1, branch3x3, branch3x3dbl, branch_pool])


def _check_inception_v3_weights(owner, weights, input_shape, num_classes, include_top, pooling, width, depths):
    """Refuses, before anything is built, a `weights` request keras.applications' InceptionV3 weights cannot fill."""
    if weights is None:
        return
    if not isinstance(weights, str) or (weights != "imagenet" and not os.path.exists(weights)):
        raise errors.invalid(owner, "weights", "None, 'imagenet' or the path of an existing weights file", weights)
    if width != 1:
        raise errors.invalid(owner, "width", "1.0 when weights are loaded (keras.applications' InceptionV3)", width)
    if depths != INCEPTION_V3_DEPTHS:
        raise errors.invalid(owner, "depths", f"{INCEPTION_V3_DEPTHS} when weights are loaded", depths)
    if include_top and num_classes != 1000:
        raise errors.invalid(owner, "num_classes", "1000 when weights are loaded with include_top=True (or pass "
                             "include_top=False and add your own head)", num_classes)
    if include_top and pooling != "avg":
        raise errors.invalid(owner, "pooling", "'avg' when weights are loaded with include_top=True", pooling)
    if weights == "imagenet" and include_top and input_shape != (299, 299, 3):
        raise errors.invalid(owner, "input_shape", "(299, 299, 3) when the ImageNet weights are loaded with "
                             "include_top=True", input_shape)
    if input_shape[-1] != 3:
        raise errors.invalid(owner, "input_shape", "3 channels (RGB) when weights are loaded", input_shape)


def _inception_v3(
    input_shape=(299, 299, 3),
    num_classes=1000,
    width=1.0,
    depths=INCEPTION_V3_DEPTHS,
    include_top=True,
    pooling="avg",
    dropout=0.0,
    classifier_activation=None,
    weights=None,
    name="inception_v3",
):
    owner = name if isinstance(name, str) and name else "inception_v3"
    input_shape = _check_common(owner, input_shape, _INCEPTION_V3_MIN_SIZE, "the \"valid\" stem and grid "
                                "reductions need it; resize smaller images", num_classes, include_top, pooling,
                                dropout, classifier_activation, width, name)
    depths = _check_depths(owner, depths, INCEPTION_V3_DEPTHS, "modules at the 35x35, 17x17 and 8x8 grids; fewer "
                           "keep the first ones of each")
    _check_inception_v3_weights(owner, weights, input_shape, num_classes, include_top, pooling, width, depths)
    import keras

    def f(filters):
        return _scaled(filters, width)

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = _conv_bn(inputs, f(32), 3, f"{name}_stem1", strides=2, padding="valid")
    x = _conv_bn(x, f(32), 3, f"{name}_stem2", padding="valid")
    x = _conv_bn(x, f(64), 3, f"{name}_stem3")
    x = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}_stem_pool1")(x)
    x = _conv_bn(x, f(80), 1, f"{name}_stem4", padding="valid")
    x = _conv_bn(x, f(192), 3, f"{name}_stem5", padding="valid")
    x = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}_stem_pool2")(x)
    # Modules keep keras.applications' names (mixed0-10) when `depths` drops some.
    for i, pool_filters in enumerate(_V3_POOL_FILTERS[:depths[0]]):
        x = _module_a(x, pool_filters, f, f"{name}_mixed{i}")
    x = _module_b(x, f, f"{name}_mixed3")
    for i, channels in enumerate(_V3_CHANNELS_7X7[:depths[1]], start=4):
        x = _module_c(x, channels, f, f"{name}_mixed{i}")
    x = _module_d(x, f, f"{name}_mixed8")
    for i in range(9, 9 + depths[2]):
        x = _module_e(x, f, f"{name}_mixed{i}")
    outputs = classification_head(x, num_classes, include_top, pooling, dropout, classifier_activation, name)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        from blueprints._pretrained import load_keras_applications_weights

        load_keras_applications_weights(model, "InceptionV3", weights, input_shape, num_classes, include_top, owner)
    return model


@blueprint(family="vision", task="image_classification",
           tiny={"input_shape": (107, 107, 3), "num_classes": 3, "width": 0.125, "depths": (1, 1, 1)})
@variant_of(_inception_v3, name="inception_v3")
def inception_v3(**kwargs):
    """Inception v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture"), exactly keras.applications'.

    `keras.applications.InceptionV3`: a "valid" convolutional stem, three 35x35 modules, a grid reduction, four
    17x17 modules with factorised 7x7 convolutions, a grid reduction, two 8x8 modules (at 299x299), global average
    pooling and a dense head; 23,851,784 parameters at any input size with 1,000 classes, the same weighted layers in
    the same order. `weights="imagenet"` loads keras.applications' ImageNet weights (downloaded by Keras); feed it
    images prepared by `keras.applications.inception_v3.preprocess_input` (pixels scaled to [-1, 1]).

    Args:
        input_shape: tuple. `(height, width, channels)`, at least 75x75 (as keras.applications); height and width
            may be `None`. Defaults to `(299, 299, 3)`.
        num_classes: int. Number of classes. Defaults to `1000`.
        width: float. Multiplies the filters of every convolution (`1.0` is the paper's network; e.g. `0.125` for a
            small, fast model). Defaults to `1.0`.
        depths: 3 ints. Modules at the 35x35, 17x17 and 8x8 grids, at most keras.applications' `(3, 4, 2)`; fewer
            keep the first ones of each grid (with their keras.applications names, e.g. `(1, 1, 1)`: mixed0, mixed4,
            mixed9, besides the grid reductions mixed3 and mixed8), for small, fast models. Defaults to `(3, 4, 2)`.
        include_top: bool. Add the output layer. Defaults to `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How the last feature map is reduced (`"avg"` is
            keras.applications' head; None with `include_top=False` returns the last feature map). Defaults to
            `"avg"`.
        dropout: float. Dropout before the output layer (keras.applications has none). Defaults to `0.0`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        weights: None, `"imagenet"` or the path of a keras.applications InceptionV3 weights file. Needs `width=1`,
            the default `depths`, 3 input channels, and with `include_top=True` 1,000 classes, `pooling="avg"` and (for `"imagenet"`)
            299x299 inputs. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"inception_v3"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("inception_v3", input_shape=(75, 75, 3), num_classes=10, width=0.125, depths=(1, 1, 1))
    model.output_shape  # (None, 10)
    model.get_layer("inception_v3_mixed9").output.shape  # (None, 1, 1, 256)
    ```
    """
    return _inception_v3(**{"name": "inception_v3", **kwargs})
