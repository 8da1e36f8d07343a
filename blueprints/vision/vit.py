"""Vision Transformer (Dosovitskiy, Beyer, Kolesnikov, Weissenborn, Zhai, Unterthiner, Dehghani, Minderer, Heigold,
Gelly, Uszkoreit and Houlsby, "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale", ICLR
2021, arXiv:2010.11929).

The image is cut into `p x p` patches, each projected linearly to `hidden_dim` channels (a strided convolution,
`PatchEmbedding`); learned position embeddings are added (`PositionEmbedding`, a grid interpolated bilinearly when
the image gives another grid than the one they were made for), a learned class token is prepended (`ClassToken`,
with its own position embedding), and `depth` pre-norm transformer encoder blocks follow:

    x = x + DropPath(Dropout(MultiHeadAttention(LayerNorm(x))))
    x = x + DropPath(Dropout(Dense(hidden_dim)(Dropout(GELU(Dense(mlp_dim)(LayerNorm(x)))))))

then a final LayerNorm. The classifier reads the class token (`pooling="token"`) or the mean of the patch tokens
(`"avg"`); without the top and `pooling=None` the patch tokens are reshaped to a feature map `(H/p, W/p, C)`.
The layout, initial values aside, is that of timm's `VisionTransformer` and torchvision's `vit_b_16` (LayerNorm
epsilon 1e-6, exact GELU, biases on the query/key/value projections); the parameter counts match theirs exactly.
The variants are the paper's Base and Large (table 1) and DeiT's Tiny and Small (Touvron et al., "Training
data-efficient image transformers & distillation through attention", ICML 2021).

kerakit ships no pretrained ViT weights (keras.applications has none): `weights` takes the path of a
`.weights.h5` file saved from a kerakit ViT of the same configuration. Weights trained at one size load into a
model built for another size with `position_grid` set to the grid they were trained at (for instance 14 for
224x224 images of 16-pixel patches); the position embeddings are then interpolated to the new grid.
"""

import numbers
import os

from kerakit import errors
from kerakit.registry import blueprint, variant_of

_EPSILON = 1e-6
POOLINGS = ("token", "avg", None)
_TINY = {"input_shape": (16, 16, 3), "num_classes": 3, "patch_size": 4, "hidden_dim": 32, "depth": 1,
         "num_heads": 2, "mlp_dim": 64}


def check_weights(owner, weights):
    """Accepts None or the path of an existing kerakit `.weights.h5` file; refuses anything else (no download)."""
    if weights is None:
        return
    if not (isinstance(weights, (str, os.PathLike)) and str(weights).endswith(".weights.h5")
            and os.path.isfile(weights)):
        raise errors.invalid(owner, "weights", "None or the path of an existing `.weights.h5` file saved from a "
                             "kerakit model of the same configuration (kerakit has no pretrained weights to "
                             "download for this model)", weights)


def transformer_block(x, num_heads, mlp_dim, activation, epsilon, dropout, attention_dropout, drop_path_rate, name,
                      attention_axes=None):
    """One pre-norm transformer encoder block: `x + attention(LN(x))`, then `x + MLP(LN(x))`.

    Args:
        x: KerasTensor. Tokens `(batch, ..., tokens, channels)`.
        num_heads: int. Attention heads; `channels` must be a multiple of it.
        mlp_dim: int. Hidden width of the two-layer MLP.
        activation: str. Activation of the MLP's hidden layer (`"gelu"` in ViT, `"silu"` in MobileViT).
        epsilon: float. LayerNorm epsilon.
        dropout: float. Dropout after the attention, in the MLP and after it.
        attention_dropout: float. Dropout on the attention weights.
        drop_path_rate: float. Stochastic depth rate of both residual branches.
        name: str. Layer-name prefix.
        attention_axes: tuple or None. The token axes attention runs over (`MultiHeadAttention`); `None`: all axes
            between the batch and the channels.
    """
    import keras

    from kerakit.layers.vision import StochasticDepth

    channels = x.shape[-1]
    y = keras.layers.LayerNormalization(epsilon=epsilon, name=f"{name}_norm1")(x)
    y = keras.layers.MultiHeadAttention(num_heads, channels // num_heads, dropout=attention_dropout,
                                        attention_axes=attention_axes, name=f"{name}_attention")(y, y)
    if dropout:
        y = keras.layers.Dropout(dropout, name=f"{name}_attention_dropout")(y)
    if drop_path_rate > 0:
        y = StochasticDepth(drop_path_rate, name=f"{name}_drop_path1")(y)
    x = keras.layers.Add(name=f"{name}_add1")([x, y])
    y = keras.layers.LayerNormalization(epsilon=epsilon, name=f"{name}_norm2")(x)
    y = keras.layers.Dense(mlp_dim, activation=activation, name=f"{name}_mlp_dense1")(y)
    if dropout:
        y = keras.layers.Dropout(dropout, name=f"{name}_mlp_dropout1")(y)
    y = keras.layers.Dense(channels, name=f"{name}_mlp_dense2")(y)
    if dropout:
        y = keras.layers.Dropout(dropout, name=f"{name}_mlp_dropout2")(y)
    if drop_path_rate > 0:
        y = StochasticDepth(drop_path_rate, name=f"{name}_drop_path2")(y)
    return keras.layers.Add(name=f"{name}_add2")([x, y])


def linear_rates(rate, count):
    """Stochastic depth rates rising linearly from 0 to `rate` over `count` blocks (timm, DeiT)."""
    return [rate * k / (count - 1) if count > 1 else 0.0 for k in range(count)]


def _check_grid(owner, position_grid):
    """None, an integer >= 1 (a square grid) or a pair `(rows, cols)` of them; returns None or a pair."""
    if position_grid is None:
        return None
    grid = tuple(position_grid) if isinstance(position_grid, (list, tuple)) else (position_grid, position_grid)
    if len(grid) != 2 or any(isinstance(g, bool) or not isinstance(g, numbers.Integral) or g < 1 for g in grid):
        raise errors.invalid(owner, "position_grid", "None, an integer >= 1 or a pair (rows, cols) of them",
                             position_grid)
    return tuple(int(g) for g in grid)


def _vit(
    input_shape=(224, 224, 3),
    num_classes=1000,
    patch_size=16,
    hidden_dim=768,
    depth=12,
    num_heads=12,
    mlp_dim=3072,
    position_grid=None,
    transformer_dropout=0.0,
    attention_dropout=0.0,
    drop_path_rate=0.0,
    include_top=True,
    pooling="token",
    dropout=0.0,
    classifier_activation=None,
    weights=None,
    name="vit",
):
    """The configurable ViT builder behind the registered variants (see `vit_b16` for the arguments)."""
    owner = name if isinstance(name, str) else "vit"
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    patch_size = errors.check_int(owner, "patch_size", patch_size)
    hidden_dim = errors.check_int(owner, "hidden_dim", hidden_dim)
    depth = errors.check_int(owner, "depth", depth)
    num_heads = errors.check_int(owner, "num_heads", num_heads)
    mlp_dim = errors.check_int(owner, "mlp_dim", mlp_dim)
    if hidden_dim % num_heads:
        raise errors.invalid(owner, "hidden_dim", f"a multiple of num_heads={num_heads}", hidden_dim)
    if any(d is not None and d % patch_size for d in input_shape[:2]):
        raise errors.invalid(owner, "input_shape", f"a height and width that are multiples of patch_size="
                             f"{patch_size}", input_shape)
    position_grid = _check_grid(owner, position_grid)
    if position_grid is None:  # the input's own grid; that of a 224x224 image where the size is not known
        position_grid = tuple((224 if d is None else d) // patch_size or 1 for d in input_shape[:2])
    for argument, value in (("transformer_dropout", transformer_dropout), ("attention_dropout", attention_dropout),
                            ("drop_path_rate", drop_path_rate), ("dropout", dropout)):
        errors.check_rate(owner, argument, value)
    if not isinstance(include_top, bool):
        raise errors.invalid(owner, "include_top", "True or False", include_top)
    if include_top:
        errors.check_int(owner, "num_classes", num_classes)
    errors.check_choice(owner, "pooling", pooling, POOLINGS)
    if include_top and pooling is None:
        raise errors.invalid(owner, "pooling", "'token' or 'avg' when include_top=True (None, the patch-token "
                             "feature map, needs include_top=False)", pooling)
    errors.check_activation(owner, "classifier_activation", classifier_activation)
    if not isinstance(name, str) or not name:
        raise errors.invalid("vit", "name", "a non-empty string", name)
    check_weights(owner, weights)
    import keras

    from kerakit.layers.vision import ClassToken, PatchEmbedding, PositionEmbedding, TokenPooling, TokensToMap

    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    grid = PatchEmbedding(patch_size, hidden_dim, name=f"{name}_patch_embedding")(inputs)
    grid = PositionEmbedding(position_grid, name=f"{name}_position_embedding")(grid)
    x = ClassToken(position_embedding=True, name=f"{name}_class_token")(grid)  # flattens the grid, row-major
    if transformer_dropout:
        x = keras.layers.Dropout(transformer_dropout, name=f"{name}_embedding_dropout")(x)
    for i, rate in enumerate(linear_rates(drop_path_rate, depth), start=1):
        x = transformer_block(x, num_heads, mlp_dim, "gelu", _EPSILON, transformer_dropout, attention_dropout, rate,
                              f"{name}_block{i}")
    x = keras.layers.LayerNormalization(epsilon=_EPSILON, name=f"{name}_norm")(x)
    if pooling is None:
        x = TokensToMap(num_prefix_tokens=1, name=f"{name}_feature_map")([x, grid])
    else:
        x = TokenPooling(pooling, num_prefix_tokens=1, name=f"{name}_{pooling}_pool")(x)
    if include_top:
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_head_dropout")(x)
        x = keras.layers.Dense(num_classes, activation=classifier_activation, name=f"{name}_predictions")(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


_ARGS_DOC = """
    Args:
        input_shape: tuple. `(height, width, channels)`; height and width multiples of `patch_size`, or `None`
            (any multiple at run time). The model holds no preprocessing. Defaults to `(224, 224, 3)`.
        num_classes: int. Number of classes. Defaults to `1000`.
        patch_size: int. Side of the square patches (the feature map's stride). Defaults to `{patch_size}`.
        hidden_dim: int. Token width. Defaults to `{hidden_dim}`.
        depth: int. Transformer encoder blocks. Defaults to `{depth}`.
        num_heads: int. Attention heads; `hidden_dim` must be a multiple of it. Defaults to `{num_heads}`.
        mlp_dim: int. Hidden width of each block's MLP. Defaults to `{mlp_dim}`.
        position_grid: int, `(rows, cols)` or None. The patch grid the learned position embeddings are made for;
            other grids get them interpolated bilinearly. Set it to the grid of the images the weights were trained
            on (14 for 224x224 images and 16-pixel patches) to load them into a model for other sizes. `None`: the
            input's grid, or that of a 224x224 image when the size is `None`. Defaults to `None`.
        transformer_dropout: float. Dropout after the embeddings, after attention and in the MLPs (the paper's 0.1
            for ImageNet-1k from scratch). Defaults to `0.0`.
        attention_dropout: float. Dropout on the attention weights. Defaults to `0.0`.
        drop_path_rate: float. Stochastic depth rate of the last block; the rates rise linearly from 0 over the
            blocks (DeiT trains with 0.1). Defaults to `0.0`.
        include_top: bool. Add the output layer. Defaults to `True`.
        pooling: `"token"`, `"avg"` or None. What the classifier reads: the class token, or the mean of the patch
            tokens; `None` (without the top) returns the patch tokens as a feature map
            `(height / patch_size, width / patch_size, hidden_dim)`. Defaults to `"token"`.
        dropout: float. Dropout before the output layer. Defaults to `0.0`.
        classifier_activation: str or None. Output activation; `None` returns logits. Defaults to `None`.
        weights: None or the path of a `.weights.h5` file saved (`model.save_weights`) from a kerakit ViT of the
            same configuration; no pretrained weights are downloaded. Defaults to `None`.
        name: str. Model name and layer-name prefix. Defaults to `"{name}"`.
"""

_CONFIGS = {  # patch_size, hidden_dim, depth, num_heads, mlp_dim
    "vit_ti16": (16, 192, 12, 3, 768),
    "vit_s16": (16, 384, 12, 6, 1536),
    "vit_b16": (16, 768, 12, 12, 3072),
    "vit_b32": (32, 768, 12, 12, 3072),
    "vit_l16": (16, 1024, 24, 16, 4096),
}
_KEYS = ("patch_size", "hidden_dim", "depth", "num_heads", "mlp_dim")


def _defaults(name):
    return {**dict(zip(_KEYS, _CONFIGS[name])), "name": name}


def _variant(name, kwargs):
    """Calls the builder with the variant's defaults, the caller's `kwargs` winning."""
    return _vit(**{**_defaults(name), **kwargs})


def _document(name):
    """Fills the `{ARGS}` placeholder of a variant's docstring with the builder's `Args:` section."""

    def decorate(fn):
        if fn.__doc__:  # None under `python -OO`
            fn.__doc__ = fn.__doc__.replace("{ARGS}", _ARGS_DOC.format(**_defaults(name)).strip())
        return fn

    return decorate


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vit, **_defaults("vit_ti16"))
@_document("vit_ti16")
def vit_ti16(**kwargs):
    """ViT-Ti/16 (DeiT-Tiny, Touvron et al. 2021): 16-pixel patches, width 192, 12 blocks, 3 heads; 5,717,416 params.

    The count is at 224x224x3 and 1000 classes (timm's `vit_tiny_patch16_224`); the arguments are the ViT
    builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("vit_ti16", input_shape=(32, 32, 3), num_classes=10, patch_size=8, hidden_dim=24,
                          depth=2)
    model.output_shape  # (None, 10)
    ```
    """
    return _variant("vit_ti16", kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vit, **_defaults("vit_s16"))
@_document("vit_s16")
def vit_s16(**kwargs):
    """ViT-S/16 (DeiT-Small, Touvron et al. 2021): 16-pixel patches, width 384, 12 blocks, 6 heads; 22,050,664 params.

    The count is at 224x224x3 and 1000 classes (timm's `vit_small_patch16_224`); the arguments are the ViT
    builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("vit_s16", input_shape=(32, 32, 3), include_top=False, pooling="avg", patch_size=8,
                          hidden_dim=24, depth=1)
    model.output_shape  # (None, 24)
    ```
    """
    return _variant("vit_s16", kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vit, **_defaults("vit_b16"))
@_document("vit_b16")
def vit_b16(**kwargs):
    """ViT-B/16 (Dosovitskiy et al. 2021): 16-pixel patches, width 768, 12 blocks, 12 heads; 86,567,656 params.

    The count is at 224x224x3 and 1000 classes, as torchvision's `vit_b_16` and timm's `vit_base_patch16_224`;
    the arguments are the ViT builder's.

    {ARGS}

    Example:

    ```python
    import numpy as np
    import kerakit
    model = kerakit.build("vit_b16", input_shape=(None, None, 3), include_top=False, pooling=None, patch_size=8,
                          hidden_dim=24, depth=1, num_heads=2)
    model.output_shape  # (None, None, None, 24)
    tuple(model.predict(np.zeros((1, 32, 48, 3)), verbose=0).shape)  # (1, 4, 6, 24)
    ```
    """
    return _variant("vit_b16", kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vit, **_defaults("vit_b32"))
@_document("vit_b32")
def vit_b32(**kwargs):
    """ViT-B/32 (Dosovitskiy et al. 2021): 32-pixel patches, width 768, 12 blocks, 12 heads; 88,224,232 params.

    The count is at 224x224x3 and 1000 classes, as torchvision's `vit_b_32`; the arguments are the ViT builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("vit_b32", input_shape=(64, 64, 3), num_classes=5, hidden_dim=24, depth=1, num_heads=2)
    model.get_layer("vit_b32_position_embedding").embeddings.shape  # (2, 2, 24)
    ```
    """
    return _variant("vit_b32", kwargs)


@blueprint(family="vision", task="image_classification", tiny=_TINY)
@variant_of(_vit, **_defaults("vit_l16"))
@_document("vit_l16")
def vit_l16(**kwargs):
    """ViT-L/16 (Dosovitskiy et al. 2021): 16-pixel patches, width 1024, 24 blocks, 16 heads; 304,326,632 params.

    The count is at 224x224x3 and 1000 classes, as torchvision's `vit_l_16`; the arguments are the ViT builder's.

    {ARGS}

    Example:

    ```python
    import kerakit
    model = kerakit.build("vit_l16", input_shape=(32, 32, 3), num_classes=3, patch_size=8, hidden_dim=32, depth=2,
                          num_heads=4, mlp_dim=64, drop_path_rate=0.1)
    model.output_shape  # (None, 3)
    ```
    """
    return _variant("vit_l16", kwargs)


def layout_map(mesh):
    """Model-parallel layouts of the ViTs' weights (attention heads and MLP units split over the mesh's `"model"`
    axis); used by `kerakit.distribute.model_parallel`."""
    from kerakit.distribute import transformer_layout_map

    return transformer_layout_map(mesh, intermediate=r"_mlp_dense1", output=r"_mlp_dense2")
