"""Any image blueprint as a backbone: its multi-scale feature maps, and its stages for transfer learning.

The feature map at stride `s` is the output of the last layer (in the functional graph's order) whose spatial size is
the input's divided by `s` (rounded to the nearest power of two, so that "valid" convolutions and padding layers
count at the stride they belong to; padding layers are skipped) — the end of the stage at that resolution, as timm's `features_only` returns
it. This needs nothing from the blueprint beyond the contract every kerakit image blueprint keeps: with
`include_top=False, pooling=None` its output is its last feature map, channels last, and its stages are layers of
the graph. Token models (ViT) return their patch tokens as a map at the patch stride. In inverted-residual networks
(MobileNetV2, EfficientNet, MobileViT) the last layer at a resolution is the expansion of the next stage's first
block, before its strided depthwise convolution: the wider map timm returns with `feature_location="expansion"`.

```python
import kerakit
features = kerakit.backbone("resnet20", input_shape=(32, 32, 3), strides=(1, 2, 4))
[tuple(shape) for shape in features.output_shape]  # [(None, 32, 32, 16), (None, 16, 16, 32), (None, 8, 8, 64)]
```
"""

import math

from kerakit import errors

DEFAULT_STRIDES = (4, 8, 16, 32)
_PROBE_SIZE = 224  # the spatial size used to find the feature layers of a model built for any input size


def _padding_layers(keras):
    return (keras.layers.ZeroPadding2D, keras.layers.Cropping2D)


def _spatial_size(tensor_shape):
    if len(tensor_shape) != 4 or tensor_shape[1] is None:
        return None
    return tensor_shape[1]


def _layer_output_shape(layer):
    try:
        output = layer.output
    except (AttributeError, ValueError):  # a layer used several times, or one without a node in this graph
        return None
    if isinstance(output, (list, tuple, dict)):
        return None
    return tuple(output.shape)


def layer_strides(model):
    """The stride of every layer of a functional image model, in graph order.

    Args:
        model: keras.Model. A functional model with one image input of static height.

    Returns:
        list of (layer, stride or None): `stride` is the power of two closest to input height / output height for
        layers with a 4D output; layers with another output rank inherit the stride of the closest 4D layer before
        them (e.g. transformer blocks after a patch embedding); `None` before any 4D layer.
    """
    input_shape = tuple(model.inputs[0].shape) if len(model.inputs) == 1 else ()
    height = _spatial_size(input_shape)
    if height is None:
        raise errors.invalid("backbone", "model", "a functional model with one image input of static height "
                             "(batch, height, width, channels)", f"{model.name} with inputs "
                             f"{[tuple(i.shape) for i in model.inputs]}")
    strides, current = [], None
    for layer in model.layers:
        shape = _layer_output_shape(layer)
        size = _spatial_size(shape) if shape else None
        if size:
            current = 2 ** round(math.log2(height / size))
        strides.append((layer, current))
    return strides


def feature_maps_by_stride(model):
    """`{stride: layer name}` of the feature map at every stride `model` has, from its first learned layer on."""
    import keras

    last, learning = {}, False
    for layer, stride in layer_strides(model):
        shape = _layer_output_shape(layer)
        learning = learning or bool(layer.trainable_weights)
        if not learning or isinstance(layer, _padding_layers(keras)):
            # Before the stem's first learned layer (the input, a fixed normalisation) there is no feature map;
            # padding before a strided layer belongs to the next stage, not the end of this one.
            continue
        if stride is not None and shape is not None and len(shape) == 4:
            last[stride] = layer.name
    return dict(sorted(last.items()))


def feature_layer_names(model, strides=DEFAULT_STRIDES):
    """The names of the layers whose outputs are `model`'s feature maps at `strides`.

    Raises:
        KerakitError: when a stride has no feature map (the message lists the strides the model has).
    """
    return _pick(model, feature_maps_by_stride(model), strides)


def _pick(model, by_stride, strides):
    missing = [s for s in strides if s not in by_stride]
    if missing:
        raise errors.invalid("backbone", "strides", f"strides {model.name} has feature maps at: {sorted(by_stride)}",
                             tuple(strides))
    return [by_stride[s] for s in strides]


def feature_extractor(model, strides=DEFAULT_STRIDES, layer_names=None, name=None):
    """A model that returns `model`'s feature maps at `strides` (a list, smallest stride first), sharing weights.

    Args:
        model: keras.Model. A functional image model (e.g. a blueprint built with `include_top=False, pooling=None`).
        strides: sequence of int. Powers of two. Defaults to `(4, 8, 16, 32)`.
        layer_names: list of str or None. The feature layers, when already known (see `feature_layer_names`).
        name: str or None. The new model's name. Defaults to `"<model.name>_features"`.
    """
    import keras

    names = layer_names or feature_layer_names(model, strides)
    outputs = [model.get_layer(n).output for n in names]
    return keras.Model(model.inputs, outputs, name=name or f"{model.name}_features")


def backbone(blueprint_name, /, strides=DEFAULT_STRIDES, **kwargs):
    """Builds a registered image blueprint without its head and returns its multi-scale feature maps.

    Like timm's `features_only=True`: the model's outputs are the feature maps at `strides` (smallest first), each
    `(batch, height / stride, width / stride, channels)`. Works for any input size the blueprint allows, including
    `None` height and width (the feature layers are found on a 224x224 probe build, then taken from the real one).

    Args:
        blueprint_name: str. A registered image blueprint, e.g. `"resnet50"`, `"convnext_tiny"`, `"vit_s16"`.
        strides: sequence of int. Which feature maps. Defaults to `(4, 8, 16, 32)`; ViTs have one stride, their patch
            size.
        **kwargs: the blueprint's arguments (`input_shape`, `weights`, `width`...). `include_top` and `pooling` are
            set for you.

    Example:

    ```python
    import kerakit
    model = kerakit.backbone("resnet50", input_shape=(64, 64, 3), width=0.125, depths=(1, 1, 1, 1))
    [shape[1] for shape in model.output_shape]  # [16, 8, 4, 2]
    ```
    """
    strides = errors.check_int_sequence("backbone", "strides", strides)
    if any(s & (s - 1) for s in strides):
        raise errors.invalid("backbone", "strides", "powers of two such as (4, 8, 16, 32)", strides)
    for key in ("include_top", "pooling"):
        if key in kwargs:
            raise errors.invalid("backbone", key, "not given (a backbone has no head: include_top=False, "
                                 "pooling=None)", kwargs[key])
    model, by_stride = build_headless(blueprint_name, **kwargs)
    return feature_extractor(model, strides, _pick(model, by_stride, strides), name=f"{model.name}_backbone")


def build_headless(blueprint_name, **kwargs):
    """Builds a blueprint with `include_top=False, pooling=None`; returns it and `{stride: feature layer name}`.

    For height or width `None`, the feature layers are found on a 224x224 probe build (without pretrained weights:
    only the layer names matter), then taken from the real model.
    """
    from kerakit.registry import build

    model = build(blueprint_name, **kwargs, include_top=False, pooling=None)
    input_shape = tuple(model.inputs[0].shape)[1:]
    probe = model
    if len(input_shape) == 3 and (input_shape[0] is None or input_shape[1] is None):
        probe_kwargs = {**kwargs, "input_shape": (_PROBE_SIZE, _PROBE_SIZE, input_shape[2])}
        probe_kwargs.pop("weights", None)
        probe = build(blueprint_name, **probe_kwargs, include_top=False, pooling=None)
    return model, feature_maps_by_stride(probe)


def stages(model):
    """`model`'s layers with weights grouped into stages by stride, for freezing and unfreezing.

    Returns:
        (stages, head): `stages` is a list of lists of layers, lowest stride first (the stem, then one stage per
        resolution); `head` is the list of layers after the last layer with a feature map or token output (pooling,
        dropout, the output layer). Layers without weights are left out.

    Raises:
        KerakitError: for a model without image input (there is no backbone to speak of).
    """
    ordered = layer_strides(model)
    last_spatial = max((i for i, (layer, _) in enumerate(ordered)
                        if (_layer_output_shape(layer) or ()) and len(_layer_output_shape(layer)) >= 3), default=-1)
    groups, head = {}, []
    for i, (layer, stride) in enumerate(ordered):
        if not layer.weights:
            continue
        if i > last_spatial:
            head.append(layer)
        else:
            groups.setdefault(stride or 1, []).append(layer)
    return [groups[s] for s in sorted(groups)], head
