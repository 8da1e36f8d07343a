"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, "Gradient-based learning applied to document recognition",
Proc. IEEE 1998)."""

from blueprints._heads import check_head_arguments, classification_head
from kerakit import errors
from kerakit.registry import blueprint


def _smallest_input(padding):
    """The smallest square input LeNet-5 accepts: two 5x5 convolutions and two 2x2 subsamplings must fit."""
    for size in range(1, 64):
        after_c1 = size if padding == "same" else size - 4
        after_c3 = after_c1 // 2 - 4
        if after_c3 // 2 >= 1:
            return size
    return None


@blueprint(family="vision", task="image_classification", tiny={"input_shape": (16, 16, 1), "num_classes": 3})
def lenet5(
    input_shape=(32, 32, 1),
    num_classes=10,
    activation="tanh",
    subsampling="avg",
    padding="valid",
    dropout=0.0,
    include_top=True,
    pooling=None,
    classifier_activation=None,
    name="lenet5",
):
    """LeNet-5: conv(6, 5x5) -> subsample -> conv(16, 5x5) -> subsample -> dense 120 -> dense 84 -> output.

    The common modern reading of the paper: C3 connects to all six C1 maps (the paper's sparse connection table is
    dropped), subsampling is plain pooling without trainable coefficients, the output is a Dense layer rather than
    RBF units, and C5 (a 5x5 convolution over 5x5 maps) is the equivalent Dense layer. With a 32x32x1 input and 10
    classes this has 61,706 parameters.

    Args:
        input_shape: tuple. `(height, width, channels)`; at least 16x16, or 12x12 with `padding="same"`. Defaults to
            `(32, 32, 1)`, the paper's input.
        num_classes: int. Number of classes. Defaults to `10`.
        activation: str. Hidden activation; the paper used a scaled tanh. Defaults to `"tanh"`.
        subsampling: `"avg"` or `"max"`. The pooling of S2 and S4. Defaults to `"avg"`.
        padding: `"valid"` (the paper) or `"same"` (for 28x28 MNIST without the paper's padding to 32x32). The
            padding of C1. Defaults to `"valid"`.
        dropout: float. Dropout before the output layer. Defaults to `0.0`.
        include_top: bool. Add the dense layers and the output. Defaults to `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How to reduce the S4 maps when `include_top=False`.
            Defaults to `None` (return the maps).
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"lenet5"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("lenet5", input_shape=(32, 32, 1), num_classes=10)
    model.count_params()  # 61706
    ```
    """
    owner = "lenet5"
    errors.check_choice(owner, "padding", padding, ("valid", "same"))
    errors.check_choice(owner, "subsampling", subsampling, ("avg", "max"))
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    smallest = _smallest_input(padding)
    if any(d is not None and d < smallest for d in input_shape[:2]):
        raise errors.invalid(
            owner, "input_shape", f"at least {smallest}x{smallest} with padding={padding!r} "
            "(resize smaller images, or use 'convnet', which takes any size)", input_shape)
    errors.check_activation(owner, "activation", activation)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    check_head_arguments(owner, num_classes, include_top, pooling, dropout)
    import keras

    pool = keras.layers.AveragePooling2D if subsampling == "avg" else keras.layers.MaxPooling2D
    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = keras.layers.Conv2D(6, 5, padding=padding, activation=activation, name=f"{name}_c1")(inputs)
    x = pool(2, name=f"{name}_s2")(x)
    x = keras.layers.Conv2D(16, 5, activation=activation, name=f"{name}_c3")(x)
    x = pool(2, name=f"{name}_s4")(x)
    if include_top:
        x = keras.layers.Flatten(name=f"{name}_flatten")(x)
        x = keras.layers.Dense(120, activation=activation, name=f"{name}_c5")(x)
        x = keras.layers.Dense(84, activation=activation, name=f"{name}_f6")(x)
    outputs = classification_head(x, num_classes, include_top, pooling, dropout, classifier_activation, name)
    return keras.Model(inputs, outputs, name=name)
