"""MobileViT (Mehta and Rastegari, "MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision
Transformer", ICLR 2022, arXiv:2110.02178).

A MobileNetV2 body (a 3x3 stride-2 stem and inverted residual "MV2" blocks, SiLU activations) whose last three
stages, at strides 8, 16 and 32, each end in a MobileViT block that mixes local and global information:

    local:  3x3 conv (BN, SiLU) -> 1x1 conv to d channels (no norm, no activation)
    global: unfold into p x p patches -> L transformer blocks over the patches, one sequence per pixel place in the
            patch (LayerNorm, multi-head attention, SiLU MLP of width 2d) -> LayerNorm -> fold back
    fusion: 1x1 conv back to C channels (BN, SiLU) -> concatenate with the block's input -> 3x3 conv to C (BN, SiLU)

then a 1x1 convolution (BN, SiLU), global average pooling and the classifier. The layers, their sizes and their
parameter counts are those of timm's `mobilevit_xs` / `mobilevit_s` (the configurations of the paper's table 4;
convolutions without bias, batch-norm epsilon 1e-5, LayerNorm epsilon 1e-5, 4 attention heads, symmetric padding
before the stride-2 3x3 convolutions as PyTorch's `padding=1`). Unlike timm, which resizes a map whose side is not
a multiple of the patch size, the model refuses such input sizes: the maps at strides 8, 16 and 32 (each side
halved rounding up) must be multiples of `patch_size` — 256x256 (the paper's size) works, 224x224 does not.
The model holds no preprocessing: feed images scaled to [0, 1], as the paper and timm do. kerakit ships no
pretrained MobileViT weights.
"""

from blueprints._heads import check_head_arguments, classification_head
from blueprints.vision.vit import check_weights, linear_rates, transformer_block
from kerakit import errors
from kerakit.registry import blueprint, variant_of

_BN = {"epsilon": 1e-5, "momentum": 0.9}
_LN_EPSILON = 1e-5
_STRIDES = (1, 2, 2, 2, 2)  # of the first block of each stage; the stem halves the image first
_TINY = {"input_shape": (64, 64, 3), "num_classes": 3, "stem_width": 16, "widths": (16, 16, 16, 16, 16),
         "depths": (1, 1, 1, 1, 1), "transformer_dims": (16, 16, 16), "transformer_depths": (1, 1, 1),
         "top_width": 16, "expansion": 2, "num_heads": 2}  # few distinct weight shapes: few JAX compilations


def _conv_bn(x, filters, kernel_size, name, stride=1, groups=1, activation="silu"):
    """Conv (no bias, PyTorch-style symmetric padding) -> BatchNorm -> optional SiLU."""
    import keras

    if stride > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
    padding = "valid" if stride > 1 or kernel_size == 1 else "same"
    if groups == x.shape[-1] and groups > 1:
        x = keras.layers.DepthwiseConv2D(kernel_size, strides=stride, padding=padding, use_bias=False, name=name)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel_size, strides=stride, padding=padding, use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(**_BN, name=f"{name}_bn")(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def _make_divisible(channels, divisor=8):
    """timm's `make_divisible`: the nearest multiple of `divisor` (at least `divisor`), never more than 10% down."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def _inverted_residual(x, filters, stride, expansion, drop_path_rate, name):
    """MV2: 1x1 expand (SiLU) -> 3x3 depthwise (SiLU) -> 1x1 project (linear), plus the input when shapes agree."""
    import keras

    from kerakit.layers.vision import StochasticDepth

    in_channels = x.shape[-1]
    hidden = _make_divisible(in_channels * expansion)
    y = _conv_bn(x, hidden, 1, f"{name}_expand")
    y = _conv_bn(y, hidden, 3, f"{name}_depthwise", stride=stride, groups=hidden)
    y = _conv_bn(y, filters, 1, f"{name}_project", activation=None)
    if stride != 1 or in_channels != filters:
        return y
    if drop_path_rate > 0:
        y = StochasticDepth(drop_path_rate, name=f"{name}_drop_path")(y)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def _mobilevit_block(x, dim, depth, num_heads, patch_size, dropout, attention_dropout, rates, name):
    """Local 3x3 + 1x1 convs, `depth` transformer blocks over unfolded patches, fold, 1x1 back, concat, 3x3 fuse."""
    import keras

    from kerakit.layers.vision import FoldPatches, UnfoldPatches

    channels = x.shape[-1]
    y = _conv_bn(x, channels, 3, f"{name}_local_conv")
    y = keras.layers.Conv2D(dim, 1, use_bias=False, name=f"{name}_local_project")(y)
    y = UnfoldPatches(patch_size, name=f"{name}_unfold")(y)  # (batch, p * p, rows / p, cols / p, dim)
    for k, rate in enumerate(rates, start=1):
        y = transformer_block(y, num_heads, 2 * dim, "silu", _LN_EPSILON, dropout, attention_dropout, rate,
                              f"{name}_transformer{k}", attention_axes=(2, 3))
    y = keras.layers.LayerNormalization(epsilon=_LN_EPSILON, name=f"{name}_transformer_norm")(y)
    y = FoldPatches(patch_size, name=f"{name}_fold")(y)
    y = _conv_bn(y, channels, 1, f"{name}_global_project")
    y = keras.layers.Concatenate(name=f"{name}_concat")([x, y])
    return _conv_bn(y, channels, 3, f"{name}_fusion")


def _stage_sizes(size):
    """The side of the map after the stem and each stage's stride (each stride-2 layer halves it rounding up)."""
    sizes = []
    for stride in (2,) + _STRIDES:
        size = -(-size // stride)
        sizes.append(size)
    return sizes[1:]


def _mobilevit(
    input_shape=(256, 256, 3),
    num_classes=1000,
    stem_width=16,
    widths=(32, 64, 96, 128, 160),
    depths=(1, 3, 1, 1, 1),
    transformer_dims=(144, 192, 240),
    transformer_depths=(2, 4, 3),
    top_width=640,
    expansion=4,
    num_heads=4,
    patch_size=2,
    transformer_dropout=0.0,
    attention_dropout=0.0,
    drop_path_rate=0.0,
    include_top=True,
    pooling="avg",
    dropout=0.0,
    classifier_activation=None,
    weights=None,
    name="mobilevit",
):
    """The configurable MobileViT builder behind the registered variants (see `mobilevit_s` for the arguments)."""
    owner = name if isinstance(name, str) else "mobilevit"
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    stem_width = errors.check_int(owner, "stem_width", stem_width)
    widths = errors.check_int_sequence(owner, "widths", widths)
    depths = errors.check_int_sequence(owner, "depths", depths)
    transformer_dims = errors.check_int_sequence(owner, "transformer_dims", transformer_dims)
    transformer_depths = errors.check_int_sequence(owner, "transformer_depths", transformer_depths)
    if len(widths) != 5:
        raise errors.invalid(owner, "widths", "5 integers >= 1 (channels of each of the 5 stages)", widths)
    if len(depths) != 5:
        raise errors.invalid(owner, "depths", "5 integers >= 1 (MV2 blocks in each of the 5 stages)", depths)
    if len(transformer_dims) != 3:
        raise errors.invalid(owner, "transformer_dims", "3 integers >= 1 (token width of the MobileViT blocks of "
                             "stages 3, 4 and 5)", transformer_dims)
    if len(transformer_depths) != 3:
        raise errors.invalid(owner, "transformer_depths", "3 integers >= 1 (transformer blocks in the MobileViT "
                             "blocks of stages 3, 4 and 5)", transformer_depths)
    top_width = errors.check_int(owner, "top_width", top_width)
    expansion = errors.check_positive_float(owner, "expansion", expansion)
    num_heads = errors.check_int(owner, "num_heads", num_heads)
    for dim in transformer_dims:
        if dim % num_heads:
            raise errors.invalid(owner, "transformer_dims", f"multiples of num_heads={num_heads}", transformer_dims)
    patch_size = errors.check_int(owner, "patch_size", patch_size)
    for side in input_shape[:2]:
        if side is not None and any(s % patch_size for s in _stage_sizes(side)[2:]):
            raise errors.invalid(owner, "input_shape", f"a height and width whose maps at strides 8, 16 and 32 are "
                                 f"multiples of patch_size={patch_size} (e.g. multiples of {32 * patch_size}; "
                                 f"a side of {side} gives {_stage_sizes(side)[2:]})", input_shape)
    for argument, value in (("transformer_dropout", transformer_dropout), ("attention_dropout", attention_dropout),
                            ("drop_path_rate", drop_path_rate)):
        errors.check_rate(owner, argument, value)
    if not isinstance(include_top, bool):
        raise errors.invalid(owner, "include_top", "True or False", include_top)
    check_head_arguments(owner, num_classes, include_top, pooling, dropout)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    if not isinstance(name, str) or not name:
        raise errors.invalid("mobilevit", "name", "a non-empty string", name)
    check_weights(owner, weights)
    import keras

    # Stochastic depth over every residual branch: MV2 blocks with a shortcut and the transformer blocks.
    residual = [j > 1 or (_STRIDES[i] == 1 and (widths[i - 1] if i else stem_width) == widths[i])
                for i in range(5) for j in range(1, depths[i] + 1)]
    rates = linear_rates(drop_path_rate, sum(residual) + sum(transformer_depths))

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = _conv_bn(inputs, stem_width, 3, f"{name}_stem_conv", stride=2)
    for i, (width, depth) in enumerate(zip(widths, depths), start=1):
        for j in range(1, depth + 1):
            stride = _STRIDES[i - 1] if j == 1 else 1
            rate = rates.pop(0) if stride == 1 and x.shape[-1] == width else 0.0
            x = _inverted_residual(x, width, stride, expansion, rate, f"{name}_stage{i}_block{j}")
        if i >= 3:
            depth = transformer_depths[i - 3]
            x = _mobilevit_block(x, transformer_dims[i - 3], depth, num_heads, patch_size, transformer_dropout,
                                 attention_dropout, [rates.pop(0) for _ in range(depth)], f"{name}_stage{i}_mobilevit")
    x = _conv_bn(x, top_width, 1, f"{name}_top_conv")
    outputs = classification_head(x, num_classes, include_top, pooling, dropout, classifier_activation, name)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


_ARGS_DOC = """
    Args:
        input_shape: tuple. `(height, width, channels)`; the maps at strides 8, 16 and 32 (each side halved rounding
            up) must be multiples of `patch_size` (multiples of 64 work with 2x2 patches); height and width may be
            `None`. Images scaled to [0, 1]. Defaults to `(256, 256, 3)`.
        num_classes: int. Number of classes. Defaults to `1000`.
        stem_width: int. Channels of the 3x3 stride-2 stem. Defaults to `16`.
        widths: sequence of 5 int. Output channels of each stage (strides 2, 4, 8, 16, 32). Defaults to
            `{widths}`.
        depths: sequence of 5 int. MV2 blocks in each stage; stages 3 to 5 end with a MobileViT block. Defaults to
            `(1, 3, 1, 1, 1)`.
        transformer_dims: sequence of 3 int. Token width `d` of the MobileViT blocks of stages 3 to 5. Defaults to
            `{transformer_dims}`.
        transformer_depths: sequence of 3 int. Transformer blocks `L` in each MobileViT block. Defaults to
            `(2, 4, 3)`.
        top_width: int. Channels of the last 1x1 convolution. Defaults to `{top_width}`.
        expansion: float. Expansion factor of the MV2 blocks: their hidden width is the input's channels times it,
            rounded to a multiple of 8 (as timm). Defaults to `4`.
        num_heads: int. Attention heads; every transformer dim must be a multiple of it. Defaults to `4`.
        patch_size: int. Side of the patches the MobileViT blocks unfold. Defaults to `2`.
        transformer_dropout: float. Dropout after attention and in the MLPs of the transformer blocks (the paper:
            0.1). Defaults to `0.0`.
        attention_dropout: float. Dropout on the attention weights. Defaults to `0.0`.
        drop_path_rate: float. Stochastic depth rate of the last residual branch; the rates rise linearly from 0
            over the MV2 blocks with a shortcut and the transformer blocks. A transformer block's branch is
            dropped per image (timm drops it per image and pixel place). Defaults to `0.0`.
        include_top: bool. Add the output layer. Defaults to `True`.
        pooling: `"avg"`, `"max"`, `"flatten"` or None. How the last feature map is reduced; `None` without the top
            returns the map (stride 32). Defaults to `"avg"`.
        dropout: float. Dropout before the output layer (the paper: 0.1). Defaults to `0.0`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        weights: None or the path of a `.weights.h5` file saved from a kerakit MobileViT of the same
            configuration; no pretrained weights are downloaded. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"{name}"`.
"""

_CONFIGS = {  # the paper's table 4 / timm: widths, transformer_dims, top_width
    "mobilevit_xs": ((32, 48, 64, 80, 96), (96, 120, 144), 384),
    "mobilevit_s": ((32, 64, 96, 128, 160), (144, 192, 240), 640),
}


def _defaults(name):
    widths, dims, top = _CONFIGS[name]
    return {"widths": widths, "transformer_dims": dims, "top_width": top, "name": name}


def _document(name):
    """Fills the `{ARGS}` placeholder of a variant's docstring with the builder's `Args:` section."""

    def decorate(fn):
        if fn.__doc__:  # None under `python -OO`
            fn.__doc__ = fn.__doc__.replace("{ARGS}", _ARGS_DOC.format(**_defaults(name)).strip())
        return fn

    return decorate


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_mobilevit, **_defaults("mobilevit_xs"))
@_document("mobilevit_xs")
def mobilevit_xs(**kwargs):
    """MobileViT-XS (Mehta and Rastegari 2022): stages of 32 to 96 channels, d = 96/120/144; 2,317,848 params.

    The count is at 1000 classes without the batch-norm moving statistics, as timm's `mobilevit_xs` (Keras's
    `count_params()` adds them: 2,326,296); the arguments are the MobileViT builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("mobilevit_xs", input_shape=(64, 64, 3), num_classes=10, widths=(8, 8, 16, 16, 16),
                          transformer_dims=(16, 16, 16), transformer_depths=(1, 1, 1), top_width=32)
    model.output_shape  # (None, 10)
    ```
    """
    return _mobilevit(**{**_defaults("mobilevit_xs"), **kwargs})


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_mobilevit, **_defaults("mobilevit_s"))
@_document("mobilevit_s")
def mobilevit_s(**kwargs):
    """MobileViT-S (Mehta and Rastegari 2022): stages of 32 to 160 channels, d = 144/192/240; 5,578,632 params.

    The count is at 1000 classes without the batch-norm moving statistics, as timm's `mobilevit_s` (Keras's
    `count_params()` adds them: 5,590,888); the arguments are the MobileViT builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("mobilevit_s", input_shape=(64, 64, 3), include_top=False, pooling=None,
                          widths=(8, 8, 16, 16, 16), transformer_dims=(16, 16, 16), transformer_depths=(1, 1, 1),
                          top_width=32)
    model.output_shape  # (None, 2, 2, 32)
    ```
    """
    return _mobilevit(**{**_defaults("mobilevit_s"), **kwargs})
