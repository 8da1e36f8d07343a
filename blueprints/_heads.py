"""The pieces every classifier blueprint shares: argument checks and the classification head."""

from kerakit import errors

POOLINGS = ("avg", "max", "flatten", None)


def check_head_arguments(owner, num_classes, include_top, pooling, dropout):
    """Checks the common head arguments of a blueprint (see DESIGN.md, "Blueprints")."""
    if include_top:
        errors.check_int(owner, "num_classes", num_classes)
    errors.check_choice(owner, "pooling", pooling, POOLINGS)
    errors.check_rate(owner, "dropout", dropout)


def classification_head(x, num_classes, include_top, pooling, dropout, classifier_activation, name):
    """Pools a feature map and, with `include_top`, adds dropout and the output layer.

    Args:
        x: KerasTensor. Features of rank 2 (already flat) or more (a feature map, channels last).
        num_classes: int. Width of the output layer.
        include_top: bool. Add the output layer; otherwise return the pooled (or raw) features.
        pooling: `"avg"`, `"max"`, `"flatten"` or `None`. How to reduce a feature map. With `include_top`, `None`
            means `"flatten"`.
        dropout: float. Dropout rate before the output layer.
        classifier_activation: str or None. Activation of the output layer; `None` returns logits.
        name: str. Prefix of the layer names.
    """
    import keras

    if len(x.shape) > 2:
        if pooling == "avg":
            x = keras.layers.GlobalAveragePooling2D(name=f"{name}_avg_pool")(x) if len(x.shape) == 4 else (
                keras.layers.GlobalAveragePooling1D(name=f"{name}_avg_pool")(x))
        elif pooling == "max":
            x = keras.layers.GlobalMaxPooling2D(name=f"{name}_max_pool")(x) if len(x.shape) == 4 else (
                keras.layers.GlobalMaxPooling1D(name=f"{name}_max_pool")(x))
        elif pooling == "flatten" or include_top:
            x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    if not include_top:
        return x
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_head_dropout")(x)
    return keras.layers.Dense(num_classes, activation=classifier_activation, name=f"{name}_predictions")(x)
