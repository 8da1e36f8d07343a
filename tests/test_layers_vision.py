"""kerakit.layers.vision: StochasticDepth (drop path), LayerScale and the vision-transformer layers, through the
shared layer test and by behaviour."""

import keras
import numpy as np
import pytest

from kerakit.errors import KerakitError
from kerakit.layers.vision import (
    ClassToken,
    FoldPatches,
    LayerScale,
    PatchEmbedding,
    PositionEmbedding,
    StochasticDepth,
    TokenPooling,
    TokensToMap,
    UnfoldPatches,
    resize_bilinear,
)
from tests.helpers import run_docstring_examples, run_layer_test


def test_stochastic_depth_passes_the_shared_layer_test(tmp_path):
    run_layer_test(StochasticDepth, {"rate": 0.2, "seed": 3}, (4, 5, 5, 3), (4, 5, 5, 3), tmp_path)


def test_layer_scale_passes_the_shared_layer_test(tmp_path):
    model = run_layer_test(LayerScale, {"init_value": 0.1}, (2, 4, 6), (2, 4, 6), tmp_path)
    assert [tuple(w.shape) for w in model.layers[-1].weights] == [(6,)]


@pytest.mark.parametrize("layer", [StochasticDepth, LayerScale])
def test_docstring_examples_run(layer):
    assert run_docstring_examples(layer) >= 1


def test_stochastic_depth_is_the_identity_at_inference():
    x = np.random.default_rng(0).normal(size=(64, 3, 3, 2)).astype("float32")
    layer = StochasticDepth(0.9, seed=0)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def test_stochastic_depth_drops_whole_examples_and_scales_the_others_in_training():
    x = np.random.default_rng(0).uniform(1.0, 2.0, size=(2000, 3, 2)).astype("float32")
    y = np.asarray(StochasticDepth(0.5, seed=7)(x, training=True))
    dropped = np.all(y == 0.0, axis=(1, 2))
    kept = np.all(y == 2.0 * x, axis=(1, 2))
    assert np.all(dropped | kept), "every example must be either zeroed or scaled by exactly 1 / (1 - rate) = 2"
    assert 0.45 < dropped.mean() < 0.55, f"{dropped.mean():.3f} of the examples dropped at rate 0.5"


def test_stochastic_depth_scales_by_one_over_keep_probability_and_draws_anew_each_call():
    x = np.ones((500, 4), "float32")
    layer = StochasticDepth(0.2, seed=1)
    first, second = np.asarray(layer(x, training=True)), np.asarray(layer(x, training=True))
    assert set(np.unique(first).tolist()) == {0.0, np.float32(1.0) / np.float32(0.8)}
    assert not np.array_equal(first, second), "the seed generator must advance between calls"
    assert 0.75 < np.mean(first[:, 0] > 0) < 0.85


def test_stochastic_depth_rate_zero_is_the_identity_in_training_too():
    x = np.random.default_rng(0).normal(size=(32, 5)).astype("float32")
    np.testing.assert_array_equal(np.asarray(StochasticDepth(0.0)(x, training=True)), x)


def test_stochastic_depth_same_seed_same_mask():
    x = np.ones((200, 2), "float32")
    a = np.asarray(StochasticDepth(0.5, seed=42)(x, training=True))
    b = np.asarray(StochasticDepth(0.5, seed=42)(x, training=True))
    np.testing.assert_array_equal(a, b)


def test_stochastic_depth_trains_inside_a_compiled_model():
    inputs = keras.Input((4,))
    outputs = keras.layers.Add()([inputs, StochasticDepth(0.5, seed=0)(keras.layers.Dense(4)(inputs))])
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    history = model.fit(x, x, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_layer_scale_multiplies_each_channel_by_its_own_learnable_factor():
    layer = LayerScale(1e-6)
    x = np.ones((2, 3, 3), "float32")
    np.testing.assert_allclose(np.asarray(layer(x)), np.full((2, 3, 3), 1e-6, "float32"))
    assert len(layer.trainable_weights) == 1
    layer.gamma.assign(np.array([1.0, 2.0, -3.0], "float32"))
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(layer(x)), x * np.array([1.0, 2.0, -3.0], "float32"), rtol=1e-6)


def test_models_with_the_layers_load_through_kerakit_export(tmp_path):
    import kerakit.export

    inputs = keras.Input((5, 5, 4))
    branch = StochasticDepth(0.3, seed=2)(LayerScale(0.5)(keras.layers.Conv2D(4, 3, padding="same")(inputs)))
    model = keras.Model(inputs, keras.layers.Add()([inputs, branch]))
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = kerakit.export.load_keras_model(path)
    x = np.random.default_rng(0).normal(size=(3, 5, 5, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(restored(x)), np.asarray(model(x)), atol=1e-6)
    assert {type(layer).__name__ for layer in restored.layers} >= {"StochasticDepth", "LayerScale"}


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.5", True, None])
def test_stochastic_depth_refuses_bad_rates(rate):
    with pytest.raises(KerakitError, match=r"StochasticDepth: `rate` must be a float in \[0, 1\). Received: rate="):
        StochasticDepth(rate)


def test_stochastic_depth_refuses_a_bad_seed_and_layer_scale_a_bad_init_value():
    with pytest.raises(KerakitError, match=r"StochasticDepth: `seed` must be an integer >= 0. Received: seed=-1"):
        StochasticDepth(0.1, seed=-1)
    for value in (0.0, -1e-6, "small"):
        with pytest.raises(KerakitError, match=r"LayerScale: `init_value` must be a number > 0. Received: init_value"):
            LayerScale(value)


# ------------------------------------------------- vision-transformer layers: ViT (Dosovitskiy et al.) and MobileViT

TRANSFORMER_LAYERS = [PatchEmbedding, PositionEmbedding, ClassToken, TokenPooling, TokensToMap, UnfoldPatches,
                      FoldPatches, resize_bilinear]


@pytest.mark.parametrize("layer_class, kwargs, input_shape, output_shape", [
    (PatchEmbedding, {"patch_size": 4, "hidden_dim": 8}, (2, 8, 12, 3), (2, 2, 3, 8)),
    (PatchEmbedding, {"patch_size": 2, "hidden_dim": 5, "flatten": True}, (2, 4, 6, 1), (2, 6, 5)),
    (PositionEmbedding, {"grid_size": [3, 2], "stddev": 0.5}, (2, 3, 2, 4), (2, 3, 2, 4)),
    (PositionEmbedding, {"grid_size": [2, 2]}, (2, 5, 3, 4), (2, 5, 3, 4)),  # interpolated in every step
    (ClassToken, {"position_embedding": True, "stddev": 0.1}, (2, 5, 4), (2, 6, 4)),
    (TokenPooling, {"mode": "avg", "num_prefix_tokens": 2}, (3, 6, 4), (3, 4)),
    (UnfoldPatches, {"patch_size": 2}, (2, 4, 6, 3), (2, 4, 2, 3, 3)),
    (FoldPatches, {"patch_size": 3}, (2, 9, 2, 1, 4), (2, 6, 3, 4)),
])
def test_transformer_layers_pass_the_shared_layer_test(layer_class, kwargs, input_shape, output_shape, tmp_path):
    run_layer_test(layer_class, kwargs, input_shape, output_shape, tmp_path)


@pytest.mark.parametrize("obj", TRANSFORMER_LAYERS)
def test_transformer_layer_docstring_examples_run(obj):
    assert run_docstring_examples(obj) >= 2


def test_resize_bilinear_equals_keras_image_resize_up_and_down():
    grid = np.random.default_rng(0).normal(size=(5, 7, 3)).astype("float32")
    for size in [(5, 7), (14, 14), (9, 4), (2, 3), (1, 1), (3, 11)]:
        expected = keras.ops.image.resize(grid, size, interpolation="bilinear")
        np.testing.assert_allclose(np.asarray(resize_bilinear(grid, *size)), np.asarray(expected), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(resize_bilinear(grid, 5, 7)), grid)  # exactly, at its own size


def test_position_embedding_is_the_stored_grid_at_the_trained_grid_and_interpolated_elsewhere():
    layer = PositionEmbedding(grid_size=14)
    x = np.zeros((2, 14, 14, 8), "float32")
    np.testing.assert_array_equal(np.asarray(layer(x)), np.broadcast_to(np.asarray(layer.embeddings), x.shape))
    assert tuple(layer.embeddings.shape) == (14, 14, 8)
    assert layer.resized(14, 14) is layer.embeddings
    y = np.asarray(layer(np.ones((2, 24, 20, 8), "float32")))  # e.g. weights trained at 224, used at 384x320
    assert y.shape == (2, 24, 20, 8)
    expected = keras.ops.image.resize(np.asarray(layer.embeddings), (24, 20), interpolation="bilinear")
    np.testing.assert_allclose(y[1], 1.0 + np.asarray(expected), atol=1e-6)
    # Corners of a bilinear upsampling with half-pixel centres keep the stored corners.
    np.testing.assert_allclose(y[0, 0, 0], 1.0 + np.asarray(layer.embeddings)[0, 0], atol=1e-6)
    np.testing.assert_allclose(y[0, -1, -1], 1.0 + np.asarray(layer.embeddings)[-1, -1], atol=1e-6)


def test_position_embedding_takes_its_grid_from_the_input_and_works_on_unknown_sizes(tmp_path):
    built = PositionEmbedding()
    built.build((None, 3, 5, 2))
    assert built.grid_size == (3, 5) and built.get_config()["grid_size"] == [3, 5]
    inputs = keras.Input((None, None, 4))
    model = keras.Model(inputs, PositionEmbedding(grid_size=(2, 3))(inputs))
    path = str(tmp_path / "dynamic.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    for size in [(2, 3), (4, 6), (7, 1)]:
        x = np.zeros((1, *size, 4), "float32")
        y = restored.predict(x, verbose=0)
        assert y.shape == (1, *size, 4)
        embeddings = np.asarray(model.layers[-1].embeddings)
        np.testing.assert_allclose(y[0], np.asarray(keras.ops.image.resize(embeddings, size)), atol=1e-6)
    with pytest.raises(KerakitError, match=r"`grid_size` must be given when the input grid is not known"):
        PositionEmbedding()(inputs)


def test_position_embedding_resizes_in_a_tensorflow_graph_of_unknown_size():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("keras.ops run on TensorFlow tensors only under the TensorFlow backend")
    import tensorflow as tf

    layer = PositionEmbedding(grid_size=2)
    layer.build((None, 2, 2, 1))
    layer.embeddings.assign(np.array([[[0.0], [1.0]], [[2.0], [3.0]]], "float32"))
    function = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)])
    y = function(tf.zeros((1, 2, 4, 1))).numpy()[0, :, :, 0]
    assert y.tolist() == [[0.0, 0.25, 0.75, 1.0], [2.0, 2.25, 2.75, 3.0]]


def test_class_token_is_prepended_with_its_own_position_embedding():
    layer = ClassToken(position_embedding=True)
    x = np.random.default_rng(0).normal(size=(3, 4, 2)).astype("float32")
    y = np.asarray(layer(x))
    np.testing.assert_array_equal(y[:, 1:], x)
    np.testing.assert_allclose(y[:, 0], np.broadcast_to(np.asarray(layer.token) + np.asarray(layer.position), (3, 2)))
    assert not np.asarray(layer.token).any()  # zeros at first, as in timm and torchvision
    plain = ClassToken()
    np.testing.assert_array_equal(np.asarray(plain(x))[:, 0], np.zeros((3, 2), "float32"))
    assert [w.name for w in plain.weights] == ["token"]


def test_patch_embedding_is_a_linear_map_of_flattened_patches():
    layer = PatchEmbedding(patch_size=2, hidden_dim=3)
    x = np.random.default_rng(0).normal(size=(1, 4, 6, 2)).astype("float32")
    y = np.asarray(layer(x))
    kernel, bias = (np.asarray(w) for w in layer.projection.weights)
    patches = x.reshape(1, 2, 2, 3, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(1, 2, 3, 8)
    np.testing.assert_allclose(y, patches @ kernel.reshape(8, 3) + bias, atol=1e-5)
    tokens = np.asarray(PatchEmbedding(2, 3, flatten=True, name="p")(x))
    assert tokens.shape == (1, 6, 3)


def test_token_pooling_and_tokens_to_map_round_trip(tmp_path):
    tokens = np.random.default_rng(0).normal(size=(2, 1 + 6, 4)).astype("float32")
    np.testing.assert_array_equal(np.asarray(TokenPooling("token")(tokens)), tokens[:, 0])
    np.testing.assert_allclose(np.asarray(TokenPooling("avg")(tokens)), tokens[:, 1:].mean(1), atol=1e-6)
    reference = np.zeros((2, 2, 3, 9), "float32")
    grid = np.asarray(TokensToMap()([tokens, reference]))
    np.testing.assert_array_equal(grid.reshape(2, 6, 4), tokens[:, 1:])
    # Serialised inside a model, with sizes known only at run time.
    token_input, map_input = keras.Input((None, 4)), keras.Input((None, None, 9))
    layer = TokensToMap(num_prefix_tokens=1)
    model = keras.Model([token_input, map_input], layer([token_input, map_input]))
    assert model.output_shape == (None, None, None, 4)
    assert TokensToMap.from_config(layer.get_config()).get_config() == layer.get_config()
    path = str(tmp_path / "to_map.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(restored.predict([tokens, reference], verbose=0), grid)


def test_unfold_groups_pixels_by_place_and_fold_inverts_it():
    x = np.random.default_rng(0).normal(size=(2, 6, 4, 3)).astype("float32")
    y = np.asarray(UnfoldPatches(2)(x))
    assert y.shape == (2, 4, 3, 2, 3)
    for i in range(2):
        for j in range(2):
            np.testing.assert_array_equal(y[:, i * 2 + j], x[:, i::2, j::2])
    np.testing.assert_array_equal(np.asarray(FoldPatches(2)(y)), x)


@pytest.mark.parametrize("build, message", [
    (lambda: PatchEmbedding(4, 8)(np.zeros((1, 10, 8, 3), "float32")),
     r"must be height and width that are multiples of patch_size=4. Received: input_shape=\(1, 10, 8, 3\)"),
    (lambda: PatchEmbedding(0, 8), r"PatchEmbedding: `patch_size` must be an integer >= 1. Received: patch_size=0"),
    (lambda: PatchEmbedding(2, 8, flatten="yes"), r"`flatten` must be True or False"),
    (lambda: PositionEmbedding(grid_size=(2, 3, 4)),
     r"PositionEmbedding: `grid_size` must be None, an integer >= 1 or a pair of them. Received: grid_size=\(2, 3, 4"),
    (lambda: PositionEmbedding(grid_size=0), r"`grid_size` must be None, an integer >= 1 or a pair"),
    (lambda: PositionEmbedding(2, stddev=0), r"`stddev` must be a number > 0"),
    (lambda: PositionEmbedding(2)(np.zeros((1, 4, 3), "float32")), r"`input_shape` must be \(batch, rows, cols, "),
    (lambda: ClassToken(position_embedding=1), r"ClassToken: `position_embedding` must be True or False"),
    (lambda: TokenPooling("max"), r"TokenPooling: `mode` must be one of \['token', 'avg'\]"),
    (lambda: TokenPooling("token", num_prefix_tokens=0), r"`num_prefix_tokens` must be >= 1 with mode='token'"),
    (lambda: UnfoldPatches(2)(np.zeros((1, 5, 4, 3), "float32")), r"multiples of patch_size=2"),
    (lambda: FoldPatches(2)(np.zeros((1, 3, 2, 2, 3), "float32")), r"`input_shape` must be \(batch, 4, rows, cols, "),
])
def test_transformer_layers_refuse_bad_arguments(build, message):
    with pytest.raises(KerakitError, match=message):
        build()
