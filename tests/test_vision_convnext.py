"""ConvNeXt (blueprints/vision/convnext.py) against keras.applications.ConvNeXtTiny/Small/Base/Large."""

import keras
import numpy as np
import pytest

import kerakit
from blueprints._pretrained import copy_weights_in_order
from kerakit.errors import KerakitError
from kerakit.layers.vision import LayerScale, StochasticDepth

SMALL = {"input_shape": (32, 32, 3), "depths": (1, 1, 2, 1), "widths": (8, 16, 32, 64)}


@pytest.fixture(scope="module")
def keras_tiny_64():
    """keras.applications.ConvNeXtTiny(weights=None) at 64x64, logits: the reference for counts and weights."""
    return keras.applications.ConvNeXtTiny(weights=None, input_shape=(64, 64, 3), classifier_activation=None)


def _images(size, batch=2, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 255.0, size=(batch, size, size, 3)).astype("float32")


# Counts of keras.applications.ConvNeXt{Tiny,Small,Base,Large}(weights=None) at 224x224x3 and 1000 classes
# (keras 3.15); the Tiny one is checked against the live keras.applications model below.
@pytest.mark.parametrize("name, expected", [
    ("convnext_tiny", 28_589_128),
    ("convnext_small", 50_223_688),
    ("convnext_base", 88_591_464),
    ("convnext_large", 197_767_336),
])
def test_full_size_parameter_counts_match_keras_applications(name, expected):
    model = kerakit.build(name)
    assert model.count_params() == expected
    assert model.output_shape == (None, 1000)


def test_keras_applications_tiny_has_the_count_the_blueprint_matches(keras_tiny_64):
    assert keras_tiny_64.count_params() == 28_589_128  # independent of the resolution (global pooling)


def test_tiny_weights_copy_from_keras_applications_and_outputs_match(keras_tiny_64):
    model = kerakit.build("convnext_tiny", input_shape=(64, 64, 3), drop_path_rate=0.2)
    assert copy_weights_in_order(keras_tiny_64, model) == 182
    x = _images(64)
    expected = keras.ops.convert_to_numpy(keras_tiny_64(x, training=False))
    actual = keras.ops.convert_to_numpy(model(x, training=False))
    assert np.abs(actual - expected).max() <= 1e-5


@pytest.mark.parametrize("pooling", ["avg", None])
def test_headless_model_matches_the_keras_applications_builder(pooling):
    from keras.src.applications.convnext import ConvNeXt  # the builder behind ConvNeXtTiny..., small configs

    reference = ConvNeXt(depths=[1, 1, 2, 1], projection_dims=[8, 16, 32, 64], include_top=False,
                         input_shape=(32, 32, 3), pooling=pooling, name="reference")
    model = kerakit.build("convnext_tiny", include_top=False, pooling=pooling, drop_path_rate=0.3, **SMALL)
    assert model.output_shape == reference.output_shape == ((None, 64) if pooling else (None, 1, 1, 64))
    copy_weights_in_order(reference, model)
    x = _images(32, batch=3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)),
                               keras.ops.convert_to_numpy(reference(x, training=False)), atol=1e-5, rtol=0)


def test_layer_names_drop_path_schedule_and_layer_scale():
    model = kerakit.build("convnext_small", drop_path_rate=0.4, **SMALL)
    names = [layer.name for layer in model.layers]
    assert names[:4] == ["convnext_small_input", "convnext_small_normalization", "convnext_small_stem",
                         "convnext_small_stage1_block1_depthwise_conv"]
    assert "convnext_small_stage3_downsample" in names and "convnext_small_stage3_block2_pointwise_conv2" in names
    assert names[-3:] == ["convnext_small_avg_pool", "convnext_small_head_layernorm", "convnext_small_predictions"]
    drop = [layer for layer in model.layers if isinstance(layer, StochasticDepth)]
    # Five blocks: rates 0, 0.1, 0.2, 0.3, 0.4; the first (rate 0) gets no layer.
    assert [layer.name for layer in drop][0] == "convnext_small_stage2_block1_drop_path"
    np.testing.assert_allclose([layer.rate for layer in drop], [0.1, 0.2, 0.3, 0.4])
    scales = [layer for layer in model.layers if isinstance(layer, LayerScale)]
    assert len(scales) == 5 and all(layer.init_value == 1e-6 for layer in scales)
    without = kerakit.build("convnext_small", layer_scale_init_value=None, **SMALL)
    assert without.count_params() == model.count_params() - (8 + 16 + 2 * 32 + 64)


def test_drop_path_is_active_in_training_only():
    model = kerakit.build("convnext_tiny", drop_path_rate=0.5, layer_scale_init_value=1.0, **SMALL)
    x = _images(32, batch=4)
    inference = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_array_equal(inference, keras.ops.convert_to_numpy(model(x)))
    assert not np.allclose(keras.ops.convert_to_numpy(model(x, training=True)), inference)


def test_any_input_of_at_least_32_and_non_rgb_inputs():
    model = kerakit.build("convnext_base", input_shape=(None, None, 3), num_classes=4, **{
        k: v for k, v in SMALL.items() if k != "input_shape"})
    assert model(keras.ops.zeros((1, 40, 75, 3))).shape == (1, 4)
    gray = kerakit.build("convnext_large", input_shape=(32, 32, 1), num_classes=2, depths=(1, 1, 1, 1),
                         widths=(4, 8, 8, 8))
    assert not any(isinstance(layer, keras.layers.Normalization) for layer in gray.layers)
    assert gray.output_shape == (None, 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"input_shape": (31, 64, 3)}, r"convnext_tiny: `input_shape` must be at least 32x32 .*Received: "
                                   r"input_shape=\(31, 64, 3\)"),
    ({"pooling": "mean"}, r"`pooling` must be one of \['avg', 'max', 'flatten', None\].*Received: pooling='mean'"),
    ({"weights": "imagenet", "num_classes": 10}, r"`num_classes` must be 1000 when weights are loaded with "
                                                 r"include_top=True.*Received: num_classes=10"),
    ({"weights": "imagenet", "include_top": False, "input_shape": (64, 64, 3), "depths": (1, 1, 1, 1)},
     r"`depths` must be \(3, 3, 9, 3\) when weights are loaded. Received: depths=\(1, 1, 1, 1\)"),
    ({"weights": "imagenet", "input_shape": (64, 64, 3)}, r"`input_shape` must be \(224, 224, 3\) when weights"),
    ({"weights": "no/such/file.h5"}, r"`weights` must be None, 'imagenet' or the path of an existing weights file"),
    ({"depths": (3, 3, 9)}, r"`depths` must be 4 integers >= 1 .*Received: depths=\(3, 3, 9\)"),
    ({"widths": (8, 16, 0, 64)}, r"`widths` must be a sequence of integers >= 1"),
    ({"drop_path_rate": 1.0}, r"`drop_path_rate` must be a float in \[0, 1\). Received: drop_path_rate=1.0"),
    ({"layer_scale_init_value": 0}, r"`layer_scale_init_value` must be a number > 0"),
    ({"dropout": -0.5}, r"`dropout` must be a float in \[0, 1\)"),
])
def test_bad_arguments_are_refused_before_anything_is_built(kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build("convnext_tiny", **kwargs)


def test_unknown_argument_is_refused_by_the_registry():
    with pytest.raises(KerakitError, match=r"Blueprint 'convnext_tiny' has no argument 'projection_dims'"):
        kerakit.build("convnext_tiny", projection_dims=(8, 16, 32, 64))
