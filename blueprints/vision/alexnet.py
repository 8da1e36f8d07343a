"""AlexNet (Krizhevsky, Sutskever and Hinton, "ImageNet Classification with Deep Convolutional Neural Networks",
NeurIPS 2012), in its one-tower form (Krizhevsky, "One weird trick for parallelizing convolutional neural networks",
2014) as torchvision builds it: 64-192-384-256-256 filters, no local response normalisation, an adaptive 6x6
average pool before the classifier. 61,100,840 parameters at 224x224x3 with 1000 classes, as torchvision's
`alexnet`; keras.applications has no AlexNet.
"""

from blueprints._heads import check_head_arguments, classification_head
from kerakit import errors
from kerakit.registry import blueprint

# (filters, kernel, stride, padding, max pool after it) of the five convolutions.
_CONVS = ((64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False), (256, 3, 1, 1, False),
          (256, 3, 1, 1, True))
_POOLED = 6  # side of the feature map the classic head flattens


def _feature_size(size):
    """Side of the last feature map for an input side `size`, or None when a pooling window no longer fits."""
    for _, kernel, stride, padding, pools in _CONVS:
        size = (size + 2 * padding - kernel) // stride + 1
        if size < 1:
            return None
        if pools:
            if size < 3:
                return None
            size = (size - 3) // 2 + 1
    return size


def _smallest_input(feature_side):
    """The smallest input side whose last feature map is at least `feature_side` wide."""
    size = 1
    while (_feature_size(size) or 0) < feature_side:
        size += 1
    return size


def _fixed_adaptive_pool(side):
    """`(pool_size, stride)` of the fixed average pool that turns a `side`-wide map into a 6-wide one.

    torchvision pools adaptively (window `i` spans `floor(i * side / 6)` to `ceil((i + 1) * side / 6)`); windows
    of `side - 5 * stride` with stride `side // 6` give the same result whenever `side` is a multiple of 6 (the 6x6
    map of a 224x224 input: pool 1, stride 1, the identity) and evenly spread windows otherwise.
    """
    stride = side // _POOLED
    return side - (_POOLED - 1) * stride, stride


@blueprint(
    family="vision",
    task="image_classification",
    tiny={"input_shape": (64, 64, 3), "num_classes": 3, "width": 0.0625, "fc_units": 16, "pooling": "avg"},
)
def alexnet(
    input_shape=(224, 224, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    dropout=0.5,
    fc_units=4096,
    width=1.0,
    classifier_activation=None,
    weights=None,
    name="alexnet",
):
    """AlexNet: five convolutions (11x11 stride 4, 5x5, three 3x3) with three 3x3 max pools, then fc -> fc -> output.

    The torchvision architecture: conv 64 (11x11, stride 4, padding 2) -> max pool -> conv 192 (5x5) -> max pool ->
    conv 384 -> conv 256 -> conv 256 (3x3) -> max pool -> average pool to 6x6 -> flatten -> dropout -> fc 4096 ->
    dropout -> fc 4096 -> output, ReLU after every convolution and hidden fc layer. At 224x224 the last map is
    already 6x6, so the average pool is the identity; larger inputs are pooled down to 6x6 by a fixed pooling layer
    (exactly torchvision's adaptive pool when the map's side is a multiple of 6). The features need at least a
    63x63 input; the flattened 6x6 head needs 223x223, and `pooling="avg"` or `"max"` takes any size from 63x63
    (small images such as CIFAR's 32x32 must be resized up).

    Args:
        input_shape: tuple. `(height, width, channels)`. Defaults to `(224, 224, 3)`.
        num_classes: int. Number of classes. Defaults to `1000`.
        include_top: bool. Add the fully connected head. Defaults to `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How the last feature map is reduced. With `include_top`,
            `None` (or `"flatten"`) is the classic head (average pool to 6x6, then flatten); `"avg"` or `"max"`
            pools globally before the first fully connected layer. Without it, `None` returns the feature map.
            Defaults to `None`.
        dropout: float. Dropout before each of the two hidden fully connected layers, as torchvision. Defaults to
            `0.5`.
        fc_units: int. Width of the two hidden fully connected layers. Defaults to `4096`.
        width: float. Multiplier of every convolution's filters (for small variants). Defaults to `1.0`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        weights: None. There are no keras.applications AlexNet weights; only `None` is accepted. Defaults to
            `None`.
        name: str. Model name and layer-name prefix. Defaults to `"alexnet"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("alexnet", input_shape=(64, 64, 3), num_classes=10, pooling="avg", fc_units=64)
    model.output_shape  # (None, 10)
    kerakit.build("alexnet", include_top=False).output_shape  # (None, 6, 6, 256)
    ```
    """
    owner = "alexnet"
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    check_head_arguments(owner, num_classes, include_top, pooling, dropout)
    flattens = pooling == "flatten" or (include_top and pooling is None)
    classic = include_top and pooling in (None, "flatten")
    smallest = _smallest_input(_POOLED if classic else 1)
    if any(d is not None and d < smallest for d in input_shape[:2]):
        hint = (" for the classic 6x6 head (pass pooling='avg' or 'max' for inputs down to "
                f"{_smallest_input(1)}x{_smallest_input(1)})") if classic else ""
        raise errors.invalid(owner, "input_shape", f"at least {smallest}x{smallest}{hint}", input_shape)
    if flattens and None in input_shape[:2]:
        raise errors.invalid(owner, "input_shape", "fully known (no None) when the features are flattened "
                             "(include_top=True with pooling=None, or pooling='flatten'); pass pooling='avg' or "
                             "'max' for any input size", input_shape)
    if include_top:
        fc_units = errors.check_int(owner, "fc_units", fc_units)
    width = errors.check_positive_float(owner, "width", width)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    if weights is not None:
        raise errors.invalid(owner, "weights", "None: keras.applications has no AlexNet weights", weights)
    import keras

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    pools = 0
    for i, (filters, kernel, stride, padding, pool_after) in enumerate(_CONVS, start=1):
        if stride > 1:  # Keras' "same" padding does not pad a strided convolution as torchvision's padding=2 does
            x = keras.layers.ZeroPadding2D(padding, name=f"{name}_conv{i}_pad")(x)
        x = keras.layers.Conv2D(max(1, int(round(filters * width))), kernel, strides=stride,
                                padding="valid" if stride > 1 else "same", activation="relu",
                                name=f"{name}_conv{i}")(x)
        if pool_after:
            pools += 1
            x = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}_pool{pools}")(x)
    if include_top:
        if classic:
            sides = [_fixed_adaptive_pool(_feature_size(d)) for d in input_shape[:2]]
            x = keras.layers.AveragePooling2D(pool_size=tuple(s[0] for s in sides), strides=tuple(s[1] for s in sides),
                                              name=f"{name}_avgpool")(x)
        x = classification_head(x, None, False, pooling or "flatten", 0.0, None, name)
        for j in (1, 2):
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"{name}_fc{j}_dropout")(x)
            x = keras.layers.Dense(fc_units, activation="relu", name=f"{name}_fc{j}")(x)
    outputs = classification_head(x, num_classes, include_top, pooling, 0.0, classifier_activation, name)
    return keras.Model(inputs, outputs, name=name)
