"""Weights from keras.applications, copied into a blueprint that reproduces the same architecture.

A blueprint that reproduces a keras.applications model creates its weighted layers in the same order, with the
same weight shapes; `copy_weights_in_order` then maps layer to layer by position and refuses any mismatch. With
`weights="imagenet"`, `load_keras_applications_weights` builds the keras.applications model (Keras downloads its
ImageNet weights on the user's machine) and copies them in.
"""

from kerakit.errors import KerakitError, invalid


def _weighted_layers(model):
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if layer.weights and not layer._layers]


def copy_weights_in_order(source, target):
    """Copies every weight of `source` into `target`, pairing the layers that hold weights by position.

    Args:
        source: keras.Model. The model to copy from (e.g. a keras.applications model).
        target: keras.Model. A model with the same weighted layers in the same order and with the same shapes.

    Returns:
        int. The number of weight tensors copied.

    Raises:
        KerakitError: when the layer counts or any weight shape differ; nothing is copied then.

    Example:

    ```python
    import keras
    from blueprints._pretrained import copy_weights_in_order
    a = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    b = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    copy_weights_in_order(a, b)  # 2
    ```
    """
    source_layers, target_layers = _weighted_layers(source), _weighted_layers(target)
    if len(source_layers) != len(target_layers):
        raise KerakitError(f"Cannot copy weights from {source.name} ({len(source_layers)} layers with weights) into "
                           f"{target.name} ({len(target_layers)}).")
    pairs = []
    for s, t in zip(source_layers, target_layers):
        s_shapes = [tuple(w.shape) for w in s.weights]
        t_shapes = [tuple(w.shape) for w in t.weights]
        if s_shapes != t_shapes:
            raise KerakitError(f"Cannot copy weights from layer {s.name} {s_shapes} into {t.name} {t_shapes}.")
        pairs.append((s, t))
    for s, t in pairs:
        t.set_weights(s.get_weights())
        if hasattr(t, "finalize_state"):  # e.g. an adapted Normalization caches mean/variance from its weights
            t.finalize_state()
    return sum(len(s.weights) for s, _ in pairs)


def load_keras_applications_weights(model, application, weights, input_shape, num_classes, include_top, owner,
                                    **application_kwargs):
    """Copies `weights` (`"imagenet"` or a path) of `keras.applications.<application>` into `model`.

    Args:
        model: keras.Model. The blueprint's model.
        application: str. The keras.applications class name, e.g. `"ResNet50"`.
        weights: str. `"imagenet"` or the path of a weights file of that keras.applications model.
        input_shape: tuple. The blueprint's input shape.
        num_classes: int. The blueprint's number of classes.
        include_top: bool. Whether the blueprint has the classification layer.
        owner: str. The blueprint's name, for error messages.
        **application_kwargs: more arguments of the keras.applications class (e.g. MobileNetV2's `alpha`).
    """
    if include_top and num_classes != 1000:
        raise invalid(owner, "num_classes", "1000 when weights are loaded with include_top=True (or pass "
                      "include_top=False and add your own head)", num_classes)
    import keras

    reference = getattr(keras.applications, application)(
        weights=weights, include_top=include_top, input_shape=input_shape, classes=num_classes, **application_kwargs)
    copy_weights_in_order(reference, model)
    return model
