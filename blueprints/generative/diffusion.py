"""Diffusion: the DDPM U-Net denoiser (`diffusion_unet`) and the full model that trains and samples it (`ddpm`).

The denoiser follows Ho, Jain and Abbeel, "Denoising Diffusion Probabilistic Models" (NeurIPS 2020,
arXiv:2006.11239), itself a PixelCNN++-style U-Net: a 3x3 stem convolution; levels of residual blocks (GroupNorm,
swish, the time embedding added in every block) with self-attention at chosen levels, a strided 3x3 convolution
between levels; a middle of residual block, attention, residual block; an upward path that concatenates the skip
connection of every downward block before each of its residual blocks and upsamples (nearest, then a 3x3
convolution) between levels; GroupNorm, swish and a 3x3 convolution back to the image's channels. The step `t` enters
as sinusoidal features and a two-layer MLP (`kerakit.layers.diffusion.TimeEmbedding`); a class-conditional U-Net adds
a learned label embedding to it, with one extra "null" label for classifier-free guidance.

`ddpm` wraps that U-Net in `kerakit.models.diffusion.DiffusionModel` (schedule, EMA, DDPM/DDIM sampling).
"""

from kerakit import errors
from kerakit.registry import blueprint

# Two levels (one halving), attention in the middle only: every kind of block, few weights.
_TINY_UNET = {"input_shape": (8, 8, 1), "base_width": 8, "width_multipliers": (1, 2), "blocks_per_level": 1,
              "attention_levels": (), "groups": 4}


def _check_unet(owner, input_shape, base_width, width_multipliers, blocks_per_level, attention_levels, num_heads,
                groups, dropout, num_classes, activation):
    """Checks the U-Net's arguments before anything is built; returns the normalised ones."""
    input_shape = errors.check_input_shape(owner, input_shape, rank=3)
    if None in input_shape:
        raise errors.invalid(owner, "input_shape", "a tuple of 3 known sizes (height, width, channels)", input_shape)
    base_width = errors.check_int(owner, "base_width", base_width)
    width_multipliers = errors.check_int_sequence(owner, "width_multipliers", width_multipliers)
    errors.check_int(owner, "blocks_per_level", blocks_per_level)
    levels = len(width_multipliers)
    if attention_levels is None:
        attention_levels = (levels - 1,)
    attention_levels = errors.check_int_sequence(owner, "attention_levels", attention_levels, minimum=0,
                                                 allow_empty=True)
    if any(level >= levels for level in attention_levels):
        raise errors.invalid(owner, "attention_levels", f"level indices in [0, {levels}) (one level per entry of "
                             f"width_multipliers={width_multipliers})", attention_levels)
    errors.check_int(owner, "num_heads", num_heads)
    groups = errors.check_int(owner, "groups", groups)
    widths = (base_width, *(base_width * m for m in width_multipliers))
    for width in widths:
        if width % groups:
            raise errors.invalid(owner, "groups", f"a divisor of every level's width {sorted(set(widths))} "
                                 "(GroupNormalization)", groups)
        if width % num_heads:
            raise errors.invalid(owner, "num_heads", f"a divisor of every level's width {sorted(set(widths))}",
                                 num_heads)
    errors.check_rate(owner, "dropout", dropout)
    if num_classes is not None:
        errors.check_int(owner, "num_classes", num_classes)
    errors.check_activation(owner, "activation", activation)
    factor = 2 ** (levels - 1)
    if input_shape[0] % factor or input_shape[1] % factor:
        raise errors.invalid(owner, "input_shape", f"a height and width divisible by {factor} (the U-Net halves "
                             f"them {levels - 1} times: once between each of the {levels} levels of "
                             f"width_multipliers={width_multipliers})", input_shape)
    return input_shape, width_multipliers, attention_levels


@blueprint(family="generative", task="denoising", tiny=_TINY_UNET)
def diffusion_unet(
    input_shape=(8, 8, 1),
    base_width=32,
    width_multipliers=(1, 2, 2),
    blocks_per_level=2,
    attention_levels=None,
    middle_attention=True,
    num_heads=1,
    groups=8,
    dropout=0.0,
    num_classes=None,
    activation="swish",
    name="diffusion_unet",
):
    """DDPM's U-Net denoiser (Ho et al. 2020): `[noisy_images, timesteps (, labels)]` -> predicted noise.

    DDPM's CIFAR-10 network is `input_shape=(32, 32, 3)`, `base_width=128`, `width_multipliers=(1, 2, 2, 2)`,
    `blocks_per_level=2`, `attention_levels=(1,)` (16x16), `dropout=0.1`: 35,746,307 parameters here, the paper's
    35.7M.

    Args:
        input_shape: tuple. `(height, width, channels)` of the images; height and width must be divisible by
            `2 ** (len(width_multipliers) - 1)`. Defaults to `(8, 8, 1)` (the bundled digits).
        base_width: int. Channels of the first level; the time embedding has `4 * base_width`. Defaults to `32`.
        width_multipliers: sequence of int. One entry per level: its width is `base_width` times it; the
            resolution halves between levels. Defaults to `(1, 2, 2)`.
        blocks_per_level: int. Residual blocks per level on the way down (one more on the way up). Defaults to `2`.
        attention_levels: sequence of int or None. Indices of the levels whose blocks are followed by
            self-attention; `None` means the last (lowest-resolution) level. Defaults to `None`.
        middle_attention: bool. Self-attention between the middle's two residual blocks. Defaults to `True`.
        num_heads: int. Attention heads. Defaults to `1`.
        groups: int. GroupNormalization groups; must divide every level's width. Defaults to `8`.
        dropout: float. Dropout inside the residual blocks. Defaults to `0.0`.
        num_classes: int or None. Add a `labels` input (ids `0 .. num_classes - 1`, and `num_classes` for "no
            label") for classifier-free guidance. Defaults to `None`.
        activation: str. Defaults to `"swish"`.
        name: str. Model name and layer-name prefix. Defaults to `"diffusion_unet"`.

    Returns:
        A functional `keras.Model` with inputs `[noisy_images (batch, H, W, C) float32, timesteps (batch,) float32
        (, labels (batch,) int32)]` and output the predicted noise `(batch, H, W, C)`.

    Example:

    ```python
    import numpy as np
    import blueprints.generative.diffusion
    import kerakit
    unet = kerakit.build("diffusion_unet", base_width=8, width_multipliers=(1, 2), blocks_per_level=1, groups=4)
    [tuple(i.shape) for i in unet.inputs], unet.output_shape  # ([(None, 8, 8, 1), (None,)], (None, 8, 8, 1))
    noise = unet.predict([np.zeros((2, 8, 8, 1)), np.array([0.0, 999.0])], verbose=0)
    noise.shape  # (2, 8, 8, 1)
    ```
    """
    owner = name if isinstance(name, str) else "diffusion_unet"
    input_shape, width_multipliers, attention_levels = _check_unet(
        owner, input_shape, base_width, width_multipliers, blocks_per_level, attention_levels, num_heads, groups,
        dropout, num_classes, activation)
    import keras

    from kerakit.layers.diffusion import AttentionBlock, ResidualBlock, TimeEmbedding

    images = keras.Input(input_shape, name=f"{name}_noisy_images")
    timesteps = keras.Input((), name=f"{name}_timesteps")
    inputs = [images, timesteps]
    embedding_dim = 4 * base_width
    embedding = TimeEmbedding(base_width, output_dim=embedding_dim, activation=activation,
                              name=f"{name}_time_embedding")(timesteps)
    if num_classes is not None:
        labels = keras.Input((), dtype="int32", name=f"{name}_labels")
        inputs.append(labels)
        label_embedding = keras.layers.Embedding(num_classes + 1, embedding_dim, name=f"{name}_label_embedding")(
            labels)
        embedding = keras.layers.Add(name=f"{name}_time_and_label")([embedding, label_embedding])

    def residual(x, width, block_name):
        return ResidualBlock(width, groups=groups, dropout=dropout, activation=activation, name=block_name)(
            x, embedding)

    def attention(x, block_name):
        return AttentionBlock(num_heads=num_heads, groups=groups, name=f"{block_name}_attention")(x)

    x = keras.layers.Conv2D(base_width, 3, padding="same", name=f"{name}_stem")(images)
    skips = [x]
    last = len(width_multipliers) - 1
    for level, multiplier in enumerate(width_multipliers):
        for block in range(blocks_per_level):
            prefix = f"{name}_down{level}_block{block}"
            x = residual(x, base_width * multiplier, prefix)
            if level in attention_levels:
                x = attention(x, prefix)
            skips.append(x)
        if level < last:
            x = keras.layers.Conv2D(base_width * multiplier, 3, strides=2, padding="same",
                                    name=f"{name}_down{level}_downsample")(x)
            skips.append(x)
    width = base_width * width_multipliers[-1]
    x = residual(x, width, f"{name}_middle_block0")
    if middle_attention:
        x = attention(x, f"{name}_middle")
    x = residual(x, width, f"{name}_middle_block1")
    for level in range(last, -1, -1):
        for block in range(blocks_per_level + 1):
            prefix = f"{name}_up{level}_block{block}"
            x = keras.layers.Concatenate(name=f"{prefix}_concat")([x, skips.pop()])
            x = residual(x, base_width * width_multipliers[level], prefix)
            if level in attention_levels:
                x = attention(x, prefix)
        if level > 0:
            x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_up{level}_upsample")(x)
            x = keras.layers.Conv2D(base_width * width_multipliers[level], 3, padding="same",
                                    name=f"{name}_up{level}_upsample_conv")(x)
    x = keras.layers.GroupNormalization(groups, name=f"{name}_output_norm")(x)
    x = keras.layers.Activation(activation, name=f"{name}_output_activation")(x)
    outputs = keras.layers.Conv2D(input_shape[-1], 3, padding="same", name=f"{name}_output")(x)
    return keras.Model(inputs, outputs, name=name)


@blueprint(family="generative", task="generation",
           tiny={**_TINY_UNET, "timesteps": 10, "schedule": "cosine"})
def ddpm(
    input_shape=(8, 8, 1),
    timesteps=1000,
    schedule="linear",
    num_classes=None,
    label_dropout=0.1,
    ema=0.999,
    base_width=32,
    width_multipliers=(1, 2, 2),
    blocks_per_level=2,
    attention_levels=None,
    middle_attention=True,
    num_heads=1,
    groups=8,
    dropout=0.0,
    seed=None,
    name="ddpm",
):
    """DDPM (Ho et al. 2020): a `DiffusionModel` around `diffusion_unet`, sampled with DDIM or DDPM.

    Train it with `compile(optimizer=...)` and `fit` on images in `[0, 1]` (with labels when `num_classes` is set),
    then `generate(n, seed=...)`. See `kerakit.models.diffusion.DiffusionModel` for the loss, the EMA weights and
    classifier-free guidance, and `diffusion_unet` for the network's arguments.

    Args:
        input_shape: tuple. `(height, width, channels)` of the images. Defaults to `(8, 8, 1)`.
        timesteps: int. `T`, the number of diffusion steps, at least 2. Defaults to `1000`.
        schedule: str. `"linear"` or `"cosine"`. Defaults to `"linear"`.
        num_classes: int or None. Class-conditional with classifier-free guidance. Defaults to `None`.
        label_dropout: float. Probability of training without the label. Defaults to `0.1`.
        ema: float or None. Momentum of the optimizer's weight average; `None` turns it off. Defaults to `0.999`.
        base_width, width_multipliers, blocks_per_level, attention_levels, middle_attention, num_heads, groups,
            dropout: the U-Net's, see `diffusion_unet`.
        seed: int or None. Seed of the training noise. Defaults to `None`.
        name: str. The model's name; the denoiser is `f"{name}_denoiser"`. Defaults to `"ddpm"`.

    Example:

    ```python
    import blueprints.generative.diffusion
    import kerakit
    model = kerakit.build("ddpm", timesteps=10, schedule="cosine", base_width=8, width_multipliers=(1, 2),
                          blocks_per_level=1, groups=4)
    model.compile(optimizer="adam")  # then model.fit(images in [0, 1]) or model.fit((images, labels))
    model.generate(2, seed=0, steps=4).shape, model.generating_network.name  # ((2, 8, 8, 1), 'ddpm_denoiser')
    ```
    """
    owner = name if isinstance(name, str) else "ddpm"
    from kerakit.models.diffusion import SCHEDULES, DiffusionModel

    errors.check_int(owner, "timesteps", timesteps, minimum=2)
    errors.check_choice(owner, "schedule", schedule, SCHEDULES)
    errors.check_rate(owner, "label_dropout", label_dropout)
    if ema is not None and (errors.check_rate(owner, "ema", ema) == 0.0):
        raise errors.invalid(owner, "ema", "a float in (0, 1) or None", ema)
    if seed is not None:
        errors.check_int(owner, "seed", seed, minimum=0)
    _check_unet(owner, input_shape, base_width, width_multipliers, blocks_per_level, attention_levels, num_heads,
                groups, dropout, num_classes, "swish")
    denoiser = diffusion_unet(input_shape=input_shape, base_width=base_width, width_multipliers=width_multipliers,
                              blocks_per_level=blocks_per_level, attention_levels=attention_levels,
                              middle_attention=middle_attention, num_heads=num_heads, groups=groups, dropout=dropout,
                              num_classes=num_classes, name=f"{name}_denoiser")
    return DiffusionModel(denoiser, timesteps=timesteps, schedule=schedule, ema=ema, num_classes=num_classes,
                          label_dropout=label_dropout, seed=seed, name=name)
