"""A plain configurable CNN: the VGG recipe (Simonyan and Zisserman, "Very Deep Convolutional Networks for
Large-Scale Image Recognition", 2014) with batch normalisation (Ioffe and Szegedy, 2015) and a global-average-pooling
head (Lin, Chen and Yan, "Network In Network", 2013)."""

from blueprints._heads import check_head_arguments, classification_head
from kerakit import errors
from kerakit.registry import blueprint


@blueprint(
    family="vision",
    task="image_classification",
    tiny={"input_shape": (8, 8, 1), "num_classes": 3, "filters": (4, 8), "convs_per_block": 1},
)
def convnet(
    input_shape=(32, 32, 3),
    num_classes=10,
    filters=(32, 64, 128),
    convs_per_block=2,
    kernel_size=3,
    activation="relu",
    batch_norm=True,
    block_pooling="max",
    dropout=0.3,
    include_top=True,
    pooling="avg",
    classifier_activation=None,
    name="convnet",
):
    """A stack of conv -> batch norm -> ReLU blocks, each closed by 2x2 pooling, then global pooling and a head.

    Pooling uses "same" padding, so any input size works, down to 1x1 maps; the kit's default blueprint.

    Args:
        input_shape: tuple. `(height, width, channels)`; height and width may be `None`. Defaults to `(32, 32, 3)`.
        num_classes: int. Number of classes. Defaults to `10`.
        filters: sequence of int. Filters of each block; one block per entry. Defaults to `(32, 64, 128)`.
        convs_per_block: int. Convolutions in each block. Defaults to `2`.
        kernel_size: int. Side of the square kernels. Defaults to `3`.
        activation: str. Activation after each convolution. Defaults to `"relu"`.
        batch_norm: bool. Batch normalisation after each convolution. Defaults to `True`.
        block_pooling: `"max"`, `"avg"` or None. The 2x2 pooling that closes each block. Defaults to `"max"`.
        dropout: float. Dropout before the output layer. Defaults to `0.3`.
        include_top: bool. Add the output layer. Defaults to `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How the last feature map is reduced. Defaults to `"avg"`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"convnet"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("convnet", input_shape=(8, 8, 1), num_classes=10, filters=(16, 32))
    model.output_shape  # (None, 10)
    ```
    """
    owner = "convnet"
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    filters = errors.check_int_sequence(owner, "filters", filters)
    convs_per_block = errors.check_int(owner, "convs_per_block", convs_per_block)
    kernel_size = errors.check_int(owner, "kernel_size", kernel_size)
    errors.check_activation(owner, "activation", activation)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    errors.check_choice(owner, "block_pooling", block_pooling, ("max", "avg", None))
    check_head_arguments(owner, num_classes, include_top, pooling, dropout)
    import keras

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    for i, block_filters in enumerate(filters, start=1):
        for j in range(1, convs_per_block + 1):
            prefix = f"{name}_block{i}_conv{j}"
            x = keras.layers.Conv2D(block_filters, kernel_size, padding="same", use_bias=not batch_norm, name=prefix)(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(name=f"{prefix}_bn")(x)
            x = keras.layers.Activation(activation, name=f"{prefix}_act")(x)
        if block_pooling == "max":
            x = keras.layers.MaxPooling2D(2, padding="same", name=f"{name}_block{i}_pool")(x)
        elif block_pooling == "avg":
            x = keras.layers.AveragePooling2D(2, padding="same", name=f"{name}_block{i}_pool")(x)
    outputs = classification_head(x, num_classes, include_top, pooling, dropout, classifier_activation, name)
    return keras.Model(inputs, outputs, name=name)
