"""ViT (blueprints/vision/vit.py) and MobileViT (blueprints/vision/mobilevit.py).

Parameter counts against timm and torchvision (full-size models built inside a `keras.StatelessScope` that does not
initialise their variables: shapes only, fast), outputs against a NumPy transcription of the ViT forward pass and of
timm's MobileViT unfolding, position embeddings interpolated to other image sizes, weights loaded across sizes,
structure, the backbone contract, argument errors, and the shared blueprint test on every variant's tiny config.
"""

import math

import keras
import numpy as np
import pytest

import kerakit
from blueprints.vision import mobilevit, vit  # importing registers the blueprints
from kerakit.errors import KerakitError
from kerakit.layers.vision import FoldPatches, StochasticDepth, UnfoldPatches
from tests.helpers import infer, run_blueprint_test

VIT_VARIANTS = ("vit_ti16", "vit_s16", "vit_b16", "vit_b32", "vit_l16")
MOBILEVIT_VARIANTS = ("mobilevit_xs", "mobilevit_s")
# A small ViT: 8-pixel patches, width 16, 2 blocks of 2 heads.
SMALL_VIT = {"patch_size": 8, "hidden_dim": 16, "depth": 2, "num_heads": 2, "mlp_dim": 32}


def _shapes_only(name, **kwargs):
    """The blueprint built without initialising any variable (shapes only): enough to count 300M parameters fast."""
    with keras.StatelessScope(initialize_variables=False):
        return kerakit.build(name, **kwargs)


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _images(size, batch=2, seed=0, channels=3):
    rows, cols = (size, size) if isinstance(size, int) else size
    return np.random.default_rng(seed).normal(size=(batch, rows, cols, channels)).astype("float32")


# ----------------------------------------------------------------------------------------------------------- ViT


def _vit_count(patch, width, depth, mlp, classes=1000, grid=14 * 14, channels=3):
    """ViT's parameters from its layout: patch conv, class token, position embeddings (class + grid), blocks (2 LN,
    Q/K/V/output projections with biases, 2-layer MLP), final LN and the classifier."""
    block = 2 * 2 * width + 4 * (width * width + width) + (width * mlp + mlp) + (mlp * width + width)
    return ((patch * patch * channels * width + width) + width + (1 + grid) * width + depth * block + 2 * width
            + width * classes + classes)


@pytest.mark.parametrize("name, expected", [
    ("vit_ti16", 5_717_416),  # timm vit_tiny_patch16_224 (DeiT-Ti)
    ("vit_s16", 22_050_664),  # timm vit_small_patch16_224 (DeiT-S)
    ("vit_b16", 86_567_656),  # torchvision vit_b_16, timm vit_base_patch16_224
    ("vit_b32", 88_224_232),  # torchvision vit_b_32
    ("vit_l16", 304_326_632),  # torchvision vit_l_16
])
def test_full_size_vit_parameter_counts_match_timm_and_torchvision(name, expected):
    model = _shapes_only(name)  # 224x224x3, 1000 classes
    assert model.count_params() == expected
    assert model.non_trainable_weights == []
    assert model.output_shape == (None, 1000)
    patch, width, depth, _, mlp = vit._CONFIGS[name]
    assert _vit_count(patch, width, depth, mlp, grid=(224 // patch) ** 2) == expected  # the arithmetic agrees


def test_vit_b16_structure_at_full_size():
    model = _shapes_only("vit_b16", input_shape=(384, 384, 3), position_grid=14)
    assert model.count_params() == 86_567_656  # weights trained at 224 fit a 384 model: the grid is 14x14 still
    assert model.get_layer("vit_b16_position_embedding").embeddings.shape == (14, 14, 768)
    assert model.get_layer("vit_b16_class_token").output.shape == (None, 24 * 24 + 1, 768)
    attention = model.get_layer("vit_b16_block12_attention")
    assert (attention.num_heads, attention.key_dim) == (12, 64)
    assert model.get_layer("vit_b16_block1_mlp_dense1").units == 3072
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.LayerNormalization)]
    assert len(norms) == 25 and all(layer.epsilon == 1e-6 for layer in norms)


# The registry-wide tests (tests/test_blueprints.py, tests/test_docstrings.py) run every variant's tiny configuration
# through the shared blueprint test and every docstring example.


def _layer_norm(x, layer):
    gamma, beta = (np.asarray(w, "float64") for w in layer.weights)
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + layer.epsilon) * gamma + beta


def _dense(x, layer):
    kernel, bias = (np.asarray(w, "float64") for w in layer.weights)
    return x @ kernel + bias


def _attention(x, layer):
    """Multi-head self-attention from the Keras layer's weights: softmax(q k^T / sqrt(d)) v, heads concatenated."""
    wq, bq, wk, bk, wv, bv, wo, bo = (np.asarray(w, "float64") for w in layer.weights)
    q = np.einsum("btc,chd->bhtd", x, wq) + bq[None, :, None]
    k = np.einsum("btc,chd->bhtd", x, wk) + bk[None, :, None]
    v = np.einsum("btc,chd->bhtd", x, wv) + bv[None, :, None]
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1])
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    weights = scores / scores.sum(-1, keepdims=True)
    return np.einsum("bhtd,hdc->btc", weights @ v, wo) + bo


def _gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def _reference_vit(model, images, patch, depth):
    """ViT's forward pass in NumPy (float64) from the model's weights: eq. 1-4 of Dosovitskiy et al."""
    name = model.name
    batch, rows, cols, channels = images.shape
    grid_rows, grid_cols = rows // patch, cols // patch
    patches = images.astype("float64").reshape(batch, grid_rows, patch, grid_cols, patch, channels)
    patches = patches.transpose(0, 1, 3, 2, 4, 5).reshape(batch, grid_rows * grid_cols, -1)
    kernel, bias = (np.asarray(w, "float64") for w in model.get_layer(f"{name}_patch_embedding").weights)
    x = patches @ kernel.reshape(-1, kernel.shape[-1]) + bias
    positions = np.asarray(model.get_layer(f"{name}_position_embedding").embeddings)
    if positions.shape[:2] != (grid_rows, grid_cols):  # an independent resize: Keras's own image op
        positions = keras.ops.image.resize(positions, (grid_rows, grid_cols), interpolation="bilinear")
    x = x + np.asarray(positions, "float64").reshape(1, grid_rows * grid_cols, -1)
    token, position = (np.asarray(w, "float64") for w in model.get_layer(f"{name}_class_token").weights)
    x = np.concatenate([np.broadcast_to(token + position, (batch, 1, x.shape[-1])), x], axis=1)
    for i in range(1, depth + 1):
        block = f"{name}_block{i}"
        x = x + _attention(_layer_norm(x, model.get_layer(f"{block}_norm1")), model.get_layer(f"{block}_attention"))
        hidden = _gelu(_dense(_layer_norm(x, model.get_layer(f"{block}_norm2")), model.get_layer(
            f"{block}_mlp_dense1")))
        x = x + _dense(hidden, model.get_layer(f"{block}_mlp_dense2"))
    x = _layer_norm(x, model.get_layer(f"{name}_norm"))
    return _dense(x[:, 0], model.get_layer(f"{name}_predictions"))


def _randomize(model, seed=0):
    """Random weights everywhere (the class token is zero at first), so a misplaced weight shows."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.normal(0.0, 0.2, size=weight.shape).astype("float32"))


@pytest.mark.parametrize("size", [(32, 32), (48, 24)])
def test_vit_matches_a_numpy_transcription_of_the_paper_at_and_off_the_trained_grid(size):
    model = kerakit.build("vit_b16", input_shape=(None, None, 3), num_classes=5, position_grid=4, **SMALL_VIT)
    _randomize(model)
    x = _images(size)
    expected = _reference_vit(model, x, 8, 2)
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(infer(model, x), expected, atol=1e-4, rtol=0)


def test_dynamic_vit_runs_on_any_multiple_of_the_patch_size_and_returns_feature_maps():
    model = kerakit.build("vit_s16", input_shape=(None, None, 3), include_top=False, pooling=None, position_grid=3,
                          **SMALL_VIT)
    assert model.output_shape == (None, None, None, 16)
    for size in [(24, 24), (16, 40), (8, 8)]:
        assert infer(model, _images(size)).shape == (2, size[0] // 8, size[1] // 8, 16)
    pooled = kerakit.build("vit_s16", input_shape=(None, None, 3), include_top=False, pooling="avg", **SMALL_VIT)
    assert pooled.output_shape == (None, 16)
    assert pooled.get_layer("vit_s16_position_embedding").grid_size == (28, 28)  # that of 224x224 images


def test_a_vit_of_unknown_input_size_trains_saves_and_exports(tmp_path):
    """The shared blueprint test on 8x8 inputs (2x2 grid, embeddings of a 4x4 grid interpolated) with the sizes
    unknown to the graph: on TensorFlow the SavedModel serves any size. JAX's shape-polymorphic export (jax2tf)
    cannot prove that the flattened patch grid, `(floor((h - p) / p) + 1) * (floor((w - p) / p) + 1)`, is >= 0 for
    every symbolic `h` and `w`, so there a ViT exports with known input sizes only."""
    model = kerakit.build("vit_b16", position_grid=4, **{**vit._TINY, "input_shape": (None, None, 3)})
    run_blueprint_test(model, tmp_path, expected_output_shape=(2, 3),
                       saved_model=keras.backend.backend() == "tensorflow")


def test_backbone_contract_feature_map_at_the_patch_stride_and_avg_pool_is_its_mean():
    model = kerakit.build("vit_b32", input_shape=(32, 64, 3), include_top=False, pooling=None, **SMALL_VIT)
    assert model.output_shape == (None, 4, 8, 16)
    assert model.get_layer("vit_b32_patch_embedding").output.shape == (None, 4, 8, 16)
    pooled = keras.Model(model.input, model.get_layer("vit_b32_norm").output)
    x = _images((32, 64))
    tokens, feature_map = pooled.predict(x, verbose=0), infer(model, x)
    np.testing.assert_allclose(feature_map.reshape(2, 32, 16), tokens[:, 1:], atol=1e-6)


def test_weights_trained_at_one_size_load_into_a_model_for_another(tmp_path):
    trained = kerakit.build("vit_ti16", input_shape=(32, 32, 3), num_classes=4, **SMALL_VIT)
    _randomize(trained, seed=3)
    path = str(tmp_path / "vit.weights.h5")
    trained.save_weights(path)
    larger = kerakit.build("vit_ti16", input_shape=(48, 48, 3), num_classes=4, position_grid=4, weights=path,
                           **SMALL_VIT)
    for a, b in zip(trained.weights, larger.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x = _images(48)
    np.testing.assert_allclose(infer(larger, x), _reference_vit(larger, x, 8, 2), atol=1e-4, rtol=0)
    same = kerakit.build("vit_ti16", input_shape=(32, 32, 3), num_classes=4, weights=path, **SMALL_VIT)
    np.testing.assert_array_equal(infer(same, _images(32)), infer(trained, _images(32)))


def test_a_saved_dynamic_model_loads_and_runs_at_another_size(tmp_path):
    model = kerakit.build("vit_b16", input_shape=(None, None, 3), num_classes=3, position_grid=2, **SMALL_VIT)
    path = str(tmp_path / "vit.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    x = _images((24, 40))
    np.testing.assert_allclose(infer(restored, x), infer(model, x), atol=1e-6)


def test_layer_names_and_drop_path_schedule():
    model = kerakit.build("vit_l16", input_shape=(16, 16, 3), drop_path_rate=0.3, transformer_dropout=0.1,
                          attention_dropout=0.1, dropout=0.2, num_classes=2, **{**SMALL_VIT, "depth": 4})
    names = [layer.name for layer in model.layers]
    assert names[:5] == ["vit_l16_input", "vit_l16_patch_embedding", "vit_l16_position_embedding",
                         "vit_l16_class_token", "vit_l16_embedding_dropout"]
    assert names[-4:] == ["vit_l16_norm", "vit_l16_token_pool", "vit_l16_head_dropout", "vit_l16_predictions"]
    drops = [layer for layer in model.layers if isinstance(layer, StochasticDepth)]
    # Four blocks: rates 0, 0.1, 0.2, 0.3 on both branches; the first block (rate 0) gets none.
    assert drops[0].name == "vit_l16_block2_drop_path1"
    np.testing.assert_allclose([layer.rate for layer in drops], [0.1, 0.1, 0.2, 0.2, 0.3, 0.3])
    assert model.get_layer("vit_l16_block1_attention").dropout == 0.1
    x = _images(16, batch=4)
    inference = infer(model, x)
    np.testing.assert_allclose(inference, keras.ops.convert_to_numpy(model(x, training=False)), atol=1e-5)
    assert not np.allclose(keras.ops.convert_to_numpy(model(x, training=True)), inference)


def test_patch_embedding_refuses_a_size_that_is_not_a_multiple_of_the_patch_at_call_time():
    model = kerakit.build("vit_b16", input_shape=(None, None, 3), **SMALL_VIT)
    with pytest.raises(KerakitError, match=r"`input_shape` must be height and width that are multiples of "
                                           r"patch_size=8. Received: input_shape=\(1, 20, 16, 3\)"):
        model(np.zeros((1, 20, 16, 3), "float32"))


@pytest.mark.parametrize("kwargs, message", [
    ({"input_shape": (230, 224, 3)}, (r"vit_b16: `input_shape` must be a height and width that are multiples of "
                                      r"patch_size=16. Received: input_shape=\(230, 224, 3\)")),
    ({"input_shape": (8, 8, 3)}, r"multiples of patch_size=16"),
    ({"hidden_dim": 100}, r"`hidden_dim` must be a multiple of num_heads=12. Received: hidden_dim=100"),
    ({"pooling": "max"}, r"`pooling` must be one of \['token', 'avg', None\].*Received: pooling='max'"),
    ({"pooling": None}, r"`pooling` must be 'token' or 'avg' when include_top=True"),
    ({"weights": "imagenet"}, (r"`weights` must be None or the path of an existing `.weights.h5` file saved from "
                               r"a kerakit model .*Received: weights='imagenet'")),
    ({"weights": "no/such.weights.h5"}, r"`weights` must be None or the path of an existing"),
    ({"position_grid": (14, 14, 1)}, r"`position_grid` must be None, an integer >= 1 or a pair"),
    ({"position_grid": 0}, r"`position_grid` must be None, an integer >= 1 or a pair"),
    ({"depth": 0}, r"`depth` must be an integer >= 1. Received: depth=0"),
    ({"patch_size": 2.0}, r"`patch_size` must be an integer >= 1"),
    ({"drop_path_rate": 1.0}, r"`drop_path_rate` must be a float in \[0, 1\)"),
    ({"attention_dropout": -0.1}, r"`attention_dropout` must be a float in \[0, 1\)"),
    ({"num_classes": 0}, r"`num_classes` must be an integer >= 1"),
    ({"classifier_activation": "nope"}, r"`classifier_activation` must be a Keras activation name"),
])
def test_vit_bad_arguments_are_refused_before_anything_is_built(kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build("vit_b16", **kwargs)


# ----------------------------------------------------------------------------------------------------- MobileViT


def _bn_channels(model):
    return sum(layer.weights[0].shape[0] for layer in model.layers
               if isinstance(layer, keras.layers.BatchNormalization))


@pytest.mark.parametrize("name, timm, keras_count", [
    # timm's count has no batch-norm running mean/variance (buffers); Keras's count_params() has them.
    ("mobilevit_xs", 2_317_848, 2_326_296),
    ("mobilevit_s", 5_578_632, 5_590_888),
])
def test_full_size_mobilevit_parameter_counts_match_timm(name, timm, keras_count):
    model = _shapes_only(name)  # 256x256x3, 1000 classes
    assert _trainable_count(model) == timm
    assert model.count_params() == keras_count == timm + 2 * _bn_channels(model)
    assert model.output_shape == (None, 1000)


def test_mobilevit_s_count_by_hand():
    """The 5,578,632 of timm's mobilevit_s, added up from the paper's table 4 (conv+BN = k*k*in*out + 2*out)."""
    def conv(k, cin, cout, groups=1):
        return k * k * cin // groups * cout + 2 * cout

    def mv2(cin, cout, t=4):
        return conv(1, cin, t * cin) + conv(3, t * cin, t * cin, groups=t * cin) + conv(1, t * cin, cout)

    def transformer(d):
        return 4 * d + 4 * (d * d + d) + (d * 2 * d + 2 * d) + (2 * d * d + d)

    def block(c, d, layers):
        return conv(3, c, c) + c * d + layers * transformer(d) + 2 * d + conv(1, d, c) + conv(3, 2 * c, c)

    total = (conv(3, 3, 16) + mv2(16, 32) + mv2(32, 64) + 2 * mv2(64, 64) + mv2(64, 96) + block(96, 144, 2)
             + mv2(96, 128) + block(128, 192, 4) + mv2(128, 160) + block(160, 240, 3) + conv(1, 160, 640)
             + 640 * 1000 + 1000)
    assert total == 5_578_632
    assert _trainable_count(_shapes_only("mobilevit_s")) == total


def test_mobilevit_structure_strides_and_backbone_maps():
    model = kerakit.build("mobilevit_s", input_shape=(128, 128, 3), include_top=False, pooling=None, num_heads=2,
                          widths=(8, 8, 16, 16, 16), transformer_dims=(16, 16, 16), transformer_depths=(1, 2, 1),
                          top_width=24)
    assert model.output_shape == (None, 4, 4, 24)
    shapes = {name: model.get_layer(name).output.shape for name in (
        "mobilevit_s_stem_conv_silu", "mobilevit_s_stage1_block1_project_bn", "mobilevit_s_stage2_block3_add",
        "mobilevit_s_stage3_mobilevit_unfold", "mobilevit_s_stage3_mobilevit_fusion_silu",
        "mobilevit_s_stage4_mobilevit_fusion_silu", "mobilevit_s_stage5_mobilevit_fusion_silu")}
    assert shapes == {
        "mobilevit_s_stem_conv_silu": (None, 64, 64, 16), "mobilevit_s_stage1_block1_project_bn": (None, 64, 64, 8),
        "mobilevit_s_stage2_block3_add": (None, 32, 32, 8), "mobilevit_s_stage3_mobilevit_unfold": (None, 4, 8, 8, 16),
        "mobilevit_s_stage3_mobilevit_fusion_silu": (None, 16, 16, 16),
        "mobilevit_s_stage4_mobilevit_fusion_silu": (None, 8, 8, 16),
        "mobilevit_s_stage5_mobilevit_fusion_silu": (None, 4, 4, 16)}
    assert model.get_layer("mobilevit_s_stage4_mobilevit_transformer2_attention")._attention_axes == (2, 3)
    assert model.get_layer("mobilevit_s_stage4_mobilevit_transformer1_mlp_dense1").units == 32  # 2 d
    assert model.get_layer("mobilevit_s_stage5_mobilevit_fusion").kernel.shape == (3, 3, 32, 16)  # concat 2 C


def _timm_unfold(x, patch):
    """timm's MobileVitBlock.forward unfolding, transcribed from its PyTorch (NCHW) code into NumPy:
    [B, C, H, W] -> [B * C * n_h, n_w, p_h, p_w] -> [B, C, N, P] -> [B, P, N, C] (we keep B and P apart)."""
    batch, rows, cols, channels = x.shape
    x = x.transpose(0, 3, 1, 2)  # NCHW
    n_h, n_w = rows // patch, cols // patch
    x = x.reshape(batch * channels * n_h, patch, n_w, patch).swapaxes(1, 2)
    x = x.reshape(batch, channels, n_h * n_w, patch * patch).swapaxes(1, 3)
    return x  # (B, P, N, C)


def _timm_fold(x, patch, n_h, n_w):
    batch, channels = x.shape[0], x.shape[-1]
    x = x.swapaxes(1, 3).reshape(batch * channels * n_h, n_w, patch, patch)
    return x.swapaxes(1, 2).reshape(batch, channels, n_h * patch, n_w * patch).transpose(0, 2, 3, 1)


def test_unfolded_attention_equals_timms_per_pixel_place_attention_over_patches():
    x = _images((8, 12), channels=6)
    unfolded = np.asarray(UnfoldPatches(2)(x))
    np.testing.assert_array_equal(unfolded.reshape(2, 4, 24, 6), _timm_unfold(x, 2))
    np.testing.assert_array_equal(np.asarray(FoldPatches(2)(unfolded)), _timm_fold(_timm_unfold(x, 2), 2, 4, 6))
    # Attention over both patch axes (attention_axes=(2, 3)) == timm's attention over N = n_h * n_w patches, for each
    # of the P pixel places separately (timm folds P into the batch: [B * P, N, C]).
    attention = keras.layers.MultiHeadAttention(2, 3, attention_axes=(2, 3))
    ours = np.asarray(FoldPatches(2)(attention(unfolded, unfolded)))
    sequences = _timm_unfold(x, 2).reshape(8, 24, 6)
    theirs = _attention(sequences.astype("float64"), attention).reshape(2, 4, 24, 6)
    np.testing.assert_allclose(ours, _timm_fold(theirs, 2, 4, 6), atol=1e-5)


def test_mobilevit_runs_on_dynamic_sizes_and_drop_path_schedule():
    model = kerakit.build("mobilevit_xs", drop_path_rate=0.2,
                          **{**mobilevit._TINY, "input_shape": (None, None, 3), "depths": (1, 2, 1, 1, 1)})
    for size in [(64, 64), (64, 128)]:
        assert infer(model, _images(size)).shape == (2, 3)
    # Five residual branches in order, rates 0 to 0.2: stage 1's MV2 block (the tiny stem and stage 1 have equal
    # widths; rate 0, no layer), stage 2's second MV2 block, and the transformer blocks of stages 3, 4 and 5 (two
    # branches each).
    drops = [layer for layer in model.layers if isinstance(layer, StochasticDepth)]
    assert [layer.name for layer in drops[:3]] == ["mobilevit_xs_stage2_block2_drop_path",
                                                   "mobilevit_xs_stage3_mobilevit_transformer1_drop_path1",
                                                   "mobilevit_xs_stage3_mobilevit_transformer1_drop_path2"]
    np.testing.assert_allclose([layer.rate for layer in drops], [0.05, 0.1, 0.1, 0.15, 0.15, 0.2, 0.2])


@pytest.mark.parametrize("kwargs, message", [
    ({"input_shape": (224, 224, 3)}, (r"mobilevit_s: `input_shape` must be a height and width whose maps at "
                                      r"strides 8, 16 and 32 are multiples of patch_size=2 \(e.g. multiples of 64; "
                                      r"a side of 224 gives \[28, 14, 7\]\). Received: input_shape=\(224, 224, 3\)")),
    ({"input_shape": (32, 32, 3)}, r"a side of 32 gives \[4, 2, 1\]"),
    ({"widths": (32, 64, 96, 128)}, r"`widths` must be 5 integers >= 1"),
    ({"transformer_dims": (144, 192)}, r"`transformer_dims` must be 3 integers >= 1"),
    ({"transformer_dims": (144, 190, 240)}, r"`transformer_dims` must be multiples of num_heads=4"),
    ({"transformer_depths": (2, 0, 3)}, r"`transformer_depths` must be a sequence of integers >= 1"),
    ({"pooling": "token"}, r"`pooling` must be one of \['avg', 'max', 'flatten', None\]"),
    ({"weights": "imagenet"}, r"`weights` must be None or the path of an existing `.weights.h5` file"),
    ({"expansion": 0}, r"`expansion` must be a number > 0"),
])
def test_mobilevit_bad_arguments_are_refused_before_anything_is_built(kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build("mobilevit_s", **kwargs)
