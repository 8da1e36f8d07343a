"""DenseNet-121/169/201 and MobileNetV2 against keras.applications (built with `weights=None`, offline).

Same parameter counts at 224x224x3 / 1000 classes, the same weighted layers in the same order (so
`copy_weights_in_order` maps the keras.applications weights in), and then the same outputs at a small resolution.
Full-size models are only built, never run at 224.
"""

import keras
import numpy as np
import pytest

import kerakit
from blueprints._pretrained import copy_weights_in_order
from blueprints.vision.mobilenet import _round_channels
from kerakit.errors import KerakitError

# keras.applications.<name>(weights=None) at 224x224x3 with 1000 classes.
KERAS_APPLICATIONS = {
    "densenet121": ("DenseNet121", {}, 8_062_504),
    "densenet169": ("DenseNet169", {}, 14_307_880),
    "densenet201": ("DenseNet201", {}, 20_242_984),
    "mobilenet_v2": ("MobileNetV2", {}, 3_538_984),
}


def _reference(application, input_shape=(224, 224, 3), **kwargs):
    return getattr(keras.applications, application)(weights=None, input_shape=input_shape,
                                                    classifier_activation=None, **kwargs)


def _infer(model, x):
    """Inference outputs; on JAX through `predict`, which compiles the graph once instead of op by op."""
    if keras.backend.backend() == "jax":
        return model.predict(x, batch_size=len(x), verbose=0)
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.parametrize("name", sorted(KERAS_APPLICATIONS))
def test_parameter_count_and_layer_order_match_keras_applications(name):
    application, kwargs, expected = KERAS_APPLICATIONS[name]
    reference = _reference(application, **kwargs)
    model = kerakit.build(name, **kwargs)
    assert reference.count_params() == expected
    assert model.count_params() == expected
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    # Same weighted layers, same order, same shapes: every weight tensor is copied, none refused.
    assert copy_weights_in_order(reference, model) == len(reference.weights)


@pytest.mark.parametrize(
    "name, application, kwargs, input_shape",
    [
        ("densenet121", "DenseNet121", {}, (32, 40, 3)),
        # An odd and an even side: the stride-2 zero padding differs; alpha 0.35 exercises the channel rounding.
        ("mobilenet_v2", "MobileNetV2", {"alpha": 0.35}, (33, 64, 3)),
    ],
)
def test_keras_applications_weights_give_the_same_outputs(name, application, kwargs, input_shape):
    reference = _reference(application, input_shape=input_shape, **kwargs)
    model = kerakit.build(name, input_shape=input_shape, **kwargs)
    # Random BN statistics, so that inference-mode batch norm is not an identity and a misplaced weight shows.
    rng = np.random.default_rng(0)
    for layer in reference.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape).astype("float32"))
    copy_weights_in_order(reference, model)
    x = rng.normal(size=(2, *input_shape)).astype("float32")
    expected, actual = _infer(reference, x), _infer(model, x)
    assert actual.shape == (2, 1000)
    assert np.abs(expected).max() > 1e-2  # the comparison is not of two near-zero outputs
    np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("alpha, expected", [(0.35, 1_691_208), (1.4, 6_156_712)])
def test_mobilenet_v2_width_multiplier_matches_keras_applications(alpha, expected):
    # keras.applications.MobileNetV2(alpha=..., weights=None) at 224x224x3, 1000 classes.
    model = kerakit.build("mobilenet_v2", alpha=alpha)
    assert model.count_params() == expected
    top_filters = model.get_layer("mobilenet_v2_top_conv").filters
    assert top_filters == (1792 if alpha == 1.4 else 1280)  # 1280 * alpha, rounded, only when alpha > 1


def test_mobilenet_v2_channel_rounding():
    assert [_round_channels(c) for c in (32, 11.2, 8, 4, 5.6, 17, 1792.0)] == [32, 16, 8, 8, 8, 16, 1792]
    assert _round_channels(int(24 * 0.35)) == 8 and _round_channels(32 * 0.35) == 16


def test_inputs_of_any_size_the_downsampling_allows():
    tiny = {"blocks": (1, 1, 1, 1), "growth_rate": 4, "num_classes": 3}
    assert kerakit.build("densenet121", input_shape=(29, 45, 3), include_top=False, pooling=None,
                         **tiny).output_shape == (None, 1, 1, 8)
    dynamic = kerakit.build("densenet169", input_shape=(None, None, 1), **tiny)
    assert dynamic.output_shape == (None, 3)
    names = [layer.name for layer in dynamic.layers]
    assert "densenet169_stage4_block1_conv2" in names and "densenet169_transition3_pool" in names
    features = kerakit.build("mobilenet_v2", input_shape=(33, 7, 3), alpha=0.35, include_top=False, pooling=None)
    assert features.output_shape == (None, 2, 1, 1280)  # ceil(33 / 32), ceil(7 / 32)


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("densenet121", {"input_shape": (28, 64, 3)},
         r"densenet121: `input_shape` must be at least 29x29 with 4 dense blocks.*Received: input_shape=\(28, 64, 3\)"),
        ("densenet201", {"input_shape": (12, 12, 3), "blocks": (2, 2, 2)},
         r"`input_shape` must be at least 13x13 with 3 dense blocks"),
        ("densenet169", {"pooling": "mean"}, r"densenet169: `pooling` must be one of \['avg', 'max', 'flatten', None\]"),
        ("densenet121", {"weights": "imagenet", "num_classes": 10},
         r"densenet121: `num_classes` must be 1000 when weights are loaded with include_top=True"),
        ("densenet121", {"weights": "imagenet", "growth_rate": 12},
         r"`weights` must be None unless the architecture is DenseNet121, 169 or 201"),
        ("densenet121", {"weights": "no/such/file.h5"}, r"`weights` must be None, 'imagenet' or the path of an"),
        ("densenet121", {"blocks": (6, 0)}, r"`blocks` must be a sequence of integers >= 1"),
        ("densenet121", {"growth_rate": 0}, r"`growth_rate` must be an integer >= 1"),
        ("densenet121", {"compression": 1.5}, r"`compression` must be a number in \(0, 1\]"),
        ("densenet121", {"alpha": 0.5}, r"Blueprint 'densenet121' has no argument 'alpha'. It takes: blocks, growth_rate"),
        ("mobilenet_v2", {"input_shape": (0, 32, 3)}, r"`input_shape` must be a tuple of 3 positive integers"),
        ("mobilenet_v2", {"alpha": 0}, r"mobilenet_v2: `alpha` must be a number > 0. Received: alpha=0"),
        ("mobilenet_v2", {"pooling": "sum"}, r"mobilenet_v2: `pooling` must be one of"),
        ("mobilenet_v2", {"weights": "imagenet", "num_classes": 3},
         r"mobilenet_v2: `num_classes` must be 1000 when weights are loaded with include_top=True"),
        ("mobilenet_v2", {"weights": "imagenet", "alpha": 0.6}, r"`alpha` must be one of \[0.35, 0.5, 0.75, 1.0"),
        ("mobilenet_v2", {"weights": "imagenet", "input_shape": (96, 96, 1)},
         r"`input_shape` must be 3 channels \(RGB\) when weights are loaded"),
        ("mobilenet_v2", {"weights": 7}, r"`weights` must be None, 'imagenet' or the path of an existing weights"),
    ],
)
def test_bad_arguments_are_refused_before_building(name, kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build(name, **kwargs)


def test_mobilenet_v2_loads_a_keras_applications_weights_file(tmp_path):
    # `weights=<file>` goes through the shared loader with `alpha` passed on to keras.applications.MobileNetV2.
    reference = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, include_top=False, weights=None)
    rng = np.random.default_rng(3)
    reference.set_weights([rng.normal(scale=0.1, size=w.shape).astype("float32") + (1.0 if "variance" in v.path else 0)
                           for w, v in zip(reference.get_weights(), reference.weights)])
    path = str(tmp_path / "mobilenet_v2_035.weights.h5")
    reference.save_weights(path)
    model = kerakit.build("mobilenet_v2", input_shape=(96, 96, 3), alpha=0.35, include_top=False, pooling=None,
                          weights=path)
    x = rng.normal(size=(2, 96, 96, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-5)
