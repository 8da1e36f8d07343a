"""U-Net (Ronneberger, Fischer and Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation", MICCAI
2015, arXiv:1505.04597), with the paper's encoder or any kerakit image blueprint as encoder.

The paper's network: a contracting path of levels of two 3x3 convolutions + ReLU, 2x2 max pooling between levels,
filters doubling from 64 to 1024; an expansive path that, level by level, upsamples with a 2x2 "up-convolution"
halving the filters, concatenates the encoder's feature map of the same resolution (the skip connection) and applies
two 3x3 convolutions; a 1x1 convolution to the classes. As in most modern uses, the convolutions are "same" padded
(the paper's are "valid", cropping the skips), so the output has the input's height and width.

With `encoder="resnet50"` (or any registered image blueprint) the contracting path is that blueprint's backbone
(`kerakit.backbone`): its feature maps at strides 2, 4, 8, 16 and 32 (those it has) are the skips, the deepest is the
bottleneck, and the decoder upsamples back to the input resolution, the way segmentation_models' U-Net does.
`encoder_args={"weights": "imagenet"}` starts from the blueprint's pretrained weights.
"""

from kerakit import errors
from kerakit.registry import blueprint

_SKIP_STRIDES = (1, 2, 4, 8, 16, 32)


def _conv_block(x, filters, batch_norm, name):
    """Two 3x3 convolutions, each followed by (batch norm and) ReLU."""
    import keras

    for i in (1, 2):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, name=f"{name}_conv{i}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"{name}_conv{i}_bn")(x)
        x = keras.layers.Activation("relu", name=f"{name}_conv{i}_relu")(x)
    return x


def _upsample(x, filters, upsampling, name):
    import keras

    if upsampling == "transpose":
        return keras.layers.Conv2DTranspose(filters, 2, strides=2, name=f"{name}_upconv")(x)
    x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_upsample")(x)
    return keras.layers.Conv2D(filters, 1, name=f"{name}_upsample_conv")(x)


def _plain_encoder(inputs, filters, batch_norm, dropout, name):
    """The paper's contracting path; returns the feature maps by stride, the deepest last."""
    import keras

    features, x = {}, inputs
    for level, level_filters in enumerate(filters):
        if level:
            x = keras.layers.MaxPooling2D(2, name=f"{name}_encoder{level}_pool")(x)
        x = _conv_block(x, level_filters, batch_norm, f"{name}_encoder{level + 1}")
        if dropout and level >= len(filters) - 2:  # the paper's drop-out layers end the contracting path
            x = keras.layers.Dropout(dropout, name=f"{name}_encoder{level + 1}_dropout")(x)
        features[2 ** level] = x
    return features


def _check_encoder(owner, encoder):
    """Returns the encoder's blueprint name, or None for the plain encoder; refuses an unknown one by name."""
    from kerakit.registry import list_blueprints

    if encoder == "plain":
        return None
    candidates = list_blueprints(family="vision", task="image_classification")
    if not isinstance(encoder, str) or encoder not in candidates:
        near = errors.closest(str(encoder), candidates)
        raise errors.invalid(owner, "encoder", "'plain' or a registered image classification blueprint"
                             + (f" (closest: {', '.join(near)})" if near else f" ({', '.join(candidates)})"),
                             encoder)
    return encoder


@blueprint(family="vision", task="image_segmentation",
           tiny={"input_shape": (16, 16, 1), "num_classes": 3, "filters": (4, 8)})
def unet(
    input_shape=(256, 256, 3),
    num_classes=2,
    encoder="plain",
    encoder_args=None,
    filters=(64, 128, 256, 512, 1024),
    decoder_filters=None,
    batch_norm=False,
    upsampling="transpose",
    dropout=0.0,
    classifier_activation=None,
    name="unet",
):
    """U-Net (Ronneberger et al. 2015): an encoder, a decoder with skip connections, per-pixel class logits.

    With the paper's filters, `input_shape=(572, 572, 1)` (any size divisible by 16 works), 2 classes and "same"
    padding it has 31,030,658 parameters.

    Args:
        input_shape: tuple. `(height, width, channels)`; height and width must be divisible by the encoder's deepest
            stride (16 for the paper's five levels, 32 for most blueprints) and may be `None`. Defaults to
            `(256, 256, 3)`.
        num_classes: int. Channels of the output, one logit per class and pixel. Defaults to `2`.
        encoder: str. `"plain"` (the paper's contracting path) or the name of a registered image classification
            blueprint (e.g. `"resnet50"`, `"convnext_tiny"`, `"efficientnet_b0"`), used without its head.
            Defaults to `"plain"`.
        encoder_args: dict or None. More arguments of the encoder blueprint (e.g. `{"weights": "imagenet"}`,
            `{"width": 0.25}`). Defaults to `None`.
        filters: sequence of int. The plain encoder's filters per level (each level after the first halves the
            resolution). Defaults to `(64, 128, 256, 512, 1024)`.
        decoder_filters: sequence of int or None. Filters of the decoder levels, deepest first. Defaults to `None`:
            `filters` reversed (without the bottleneck) for the plain encoder, `(256, 128, 64, 32, 16)` trimmed to
            the levels needed for a blueprint encoder.
        batch_norm: bool. Batch normalisation after every decoder (and plain encoder) convolution. Defaults to
            `False` (the paper).
        upsampling: `"transpose"` (the paper's 2x2 up-convolution) or `"bilinear"` (bilinear upsampling then a 1x1
            convolution, free of checkerboard artefacts). Defaults to `"transpose"`.
        dropout: float. Dropout at the end of the plain encoder's two deepest levels (the paper uses 0.5).
            Defaults to `0.0`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"unet"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("unet", input_shape=(32, 32, 3), num_classes=4, filters=(8, 16, 32))
    model.output_shape  # (None, 32, 32, 4)
    deep = kerakit.build("unet", input_shape=(64, 64, 3), num_classes=4, encoder="resnet20")
    deep.output_shape  # (None, 64, 64, 4)
    ```
    """
    owner = name if isinstance(name, str) else "unet"
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    errors.check_int(owner, "num_classes", num_classes)
    spec = _check_encoder(owner, encoder)
    if encoder_args is not None and not isinstance(encoder_args, dict):
        raise errors.invalid(owner, "encoder_args", "a dict of the encoder blueprint's arguments or None",
                             encoder_args)
    encoder_args = dict(encoder_args or {})
    if spec is None and encoder_args:
        raise errors.invalid(owner, "encoder_args", "None with encoder='plain' (use `filters`)", encoder_args)
    for key in ("input_shape", "include_top", "pooling", "name"):
        if key in encoder_args:
            raise errors.invalid(owner, "encoder_args", f"no {key!r} (the U-Net sets it)", encoder_args)
    filters = errors.check_int_sequence(owner, "filters", filters)
    if decoder_filters is not None:
        decoder_filters = errors.check_int_sequence(owner, "decoder_filters", decoder_filters)
    errors.check_choice(owner, "upsampling", upsampling, ("transpose", "bilinear"))
    errors.check_rate(owner, "dropout", dropout)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    import keras

    from kerakit import backbones

    if spec is None:
        deepest = 2 ** (len(filters) - 1)
        _check_divisible(owner, input_shape, deepest, "the plain encoder's deepest level")
        inputs = keras.Input(shape=input_shape, name=f"{name}_input")
        features = _plain_encoder(inputs, filters, batch_norm, dropout, name)
        default_decoder = tuple(reversed(filters[:-1]))
    else:
        model, by_stride = backbones.build_headless(spec, **encoder_args, input_shape=input_shape,
                                                    name=f"{name}_{encoder}")
        by_stride = {s: n for s, n in by_stride.items() if s in _SKIP_STRIDES}
        deepest = max(by_stride)
        _check_divisible(owner, input_shape, deepest, f"the deepest stride of encoder {encoder!r}")
        inputs = model.inputs[0]
        features = {s: model.get_layer(n).output for s, n in by_stride.items()}
        default_decoder = (256, 128, 64, 32, 16)[-(deepest.bit_length() - 1):]
    levels = deepest.bit_length() - 1  # upsampling steps from the deepest stride back to stride 1
    decoder_filters = decoder_filters or default_decoder
    if len(decoder_filters) != levels:
        raise errors.invalid(owner, "decoder_filters", f"{levels} values, one per upsampling step from stride "
                             f"{deepest} to 1", decoder_filters)
    x = features[deepest]
    for step, level_filters in enumerate(decoder_filters, start=1):
        stride = deepest // 2 ** step
        prefix = f"{name}_decoder{step}"
        x = _upsample(x, level_filters, upsampling, prefix)
        if stride in features:
            x = keras.layers.Concatenate(name=f"{prefix}_concat")([features[stride], x])
        x = _conv_block(x, level_filters, batch_norm, prefix)
    outputs = keras.layers.Conv2D(num_classes, 1, activation=classifier_activation, name=f"{name}_classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def _check_divisible(owner, input_shape, stride, what):
    for size in input_shape[:2]:
        if size is not None and size % stride:
            raise errors.invalid(owner, "input_shape", f"height and width divisible by {stride} ({what})",
                                 input_shape)
