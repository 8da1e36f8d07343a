"""Multilayer perceptron (Rumelhart, Hinton and Williams, "Learning representations by back-propagating errors",
Nature 1986)."""

from blueprints._heads import check_head_arguments, classification_head
from kerakit import errors
from kerakit.registry import blueprint


@blueprint(family="dense", task="classification", tiny={"input_shape": (6,), "num_classes": 3, "hidden_units": (8,)})
def mlp(
    input_shape,
    num_classes=10,
    hidden_units=(256, 128),
    activation="relu",
    batch_norm=False,
    dropout=0.0,
    include_top=True,
    classifier_activation=None,
    name="mlp",
):
    """A multilayer perceptron: Dense (-> BatchNorm) -> activation (-> Dropout) per hidden layer.

    Inputs of rank above one (e.g. 8x8x1 images) are flattened first.

    Args:
        input_shape: tuple. Shape of one example, without the batch dimension.
        num_classes: int. Width of the output layer (classes, or regression targets). Defaults to `10`.
        hidden_units: sequence of int. Width of each hidden layer. Defaults to `(256, 128)`.
        activation: str. Activation of the hidden layers. Defaults to `"relu"`.
        batch_norm: bool. Batch normalisation after each hidden Dense layer. Defaults to `False`.
        dropout: float. Dropout after each hidden layer and before the output. Defaults to `0.0`.
        include_top: bool. Add the output layer. Defaults to `True`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"mlp"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("mlp", input_shape=(8, 8, 1), num_classes=10, hidden_units=(64,), dropout=0.1)
    model.output_shape  # (None, 10)
    ```
    """
    owner = "mlp"
    input_shape = errors.check_input_shape(owner, input_shape)
    hidden_units = errors.check_int_sequence(owner, "hidden_units", hidden_units, allow_empty=True)
    errors.check_activation(owner, "activation", activation)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    check_head_arguments(owner, num_classes, include_top, None, dropout)
    import keras

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = keras.layers.Flatten(name=f"{name}_flatten")(inputs) if len(input_shape) > 1 else inputs
    for i, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, use_bias=not batch_norm, name=f"{name}_dense{i}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = keras.layers.Activation(activation, name=f"{name}_act{i}")(x)
        if dropout and i < len(hidden_units):
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout{i}")(x)
    outputs = classification_head(x, num_classes, include_top, None, dropout, classifier_activation, name)
    return keras.Model(inputs, outputs, name=name)
