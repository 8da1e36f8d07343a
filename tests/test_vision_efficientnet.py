"""EfficientNet B0-B7 (blueprints/vision/efficientnet.py) against `keras.applications.EfficientNetB0..B7`: parameter
counts, the same layers in the same order with the same configurations, identical outputs after copying weights
(directly and through the `weights` argument), the tiny configuration through the shared blueprint test, and errors.

Full-size models are built inside `keras.StatelessScope`, so no weight is initialised.
"""

import keras
import numpy as np
import pytest

import kerakit
from blueprints._pretrained import _weighted_layers, copy_weights_in_order
from kerakit.errors import KerakitError
from tests.helpers import infer

VARIANTS = ("b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7")

# `keras.applications.EfficientNetB<i>(weights=None).count_params()` with 1000 classes (keras 3.15; B0 and B7 are
# compared with the live keras.applications models below, all eight were when the table was written).
KERAS_APPLICATIONS_PARAMS = {
    "b0": 5_330_571,
    "b1": 7_856_239,
    "b2": 9_177_569,
    "b3": 12_320_535,
    "b4": 19_466_823,
    "b5": 30_562_527,
    "b6": 43_265_143,
    "b7": 66_658_687,
}
RESOLUTIONS = {"b0": 224, "b1": 240, "b2": 260, "b3": 300, "b4": 380, "b5": 456, "b6": 528, "b7": 600}
SMALL = {"width_coefficient": 0.1, "depth_coefficient": 0.1}


def _images(size, batch=2, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 255.0, size=(batch, size, size, 3)).astype("float32")


def _layer_configs(model):
    """(class, config without the name) of every layer but the input, in graph order."""
    configs = []
    for layer in model.layers[1:]:
        config = layer.get_config()
        config.pop("name")
        if "axis" in config:  # -1 here, 3 there: the channels of a 4D input either way
            config["axis"] = tuple(a % 4 for a in config["axis"]) if isinstance(config["axis"], (list, tuple)) else (
                config["axis"] % 4)
        configs.append((type(layer).__name__, config))
    return configs


@pytest.mark.parametrize("variant", VARIANTS)
def test_parameter_counts_and_default_resolution_match_keras_applications(variant):
    with keras.StatelessScope(initialize_variables=False):
        model = kerakit.build(f"efficientnet_{variant}")
    assert model.count_params() == KERAS_APPLICATIONS_PARAMS[variant]
    assert model.input_shape == (None, RESOLUTIONS[variant], RESOLUTIONS[variant], 3)
    assert model.output_shape == (None, 1000)


@pytest.mark.parametrize("variant", ["b0", "b7"])
def test_every_layer_matches_keras_applications_in_order_and_configuration(variant):
    with keras.StatelessScope(initialize_variables=False):
        reference = getattr(keras.applications, f"EfficientNet{variant.upper()}")(
            weights=None, classifier_activation=None)
        model = kerakit.build(f"efficientnet_{variant}")
    assert reference.count_params() == model.count_params() == KERAS_APPLICATIONS_PARAMS[variant]
    # Same classes, strides, paddings, filters, initialisers, activations, drop-connect rates and noise shapes.
    assert _layer_configs(model) == _layer_configs(reference)
    assert [[tuple(w.shape) for w in layer.weights] for layer in _weighted_layers(model)] == [
        [tuple(w.shape) for w in layer.weights] for layer in _weighted_layers(reference)]


def _randomise_statistics(reference, seed=0):
    """ImageNet statistics in the Normalization and random batch-norm statistics, so that they are checked too."""
    rng = np.random.default_rng(seed)
    for layer in reference.layers:
        if isinstance(layer, keras.layers.Normalization):
            layer.set_weights([np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]) ** 2, np.array(7)])
            layer.finalize_state()
        elif isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0.0, 0.2, c), rng.normal(0.0, 0.2, c),
                               rng.uniform(0.5, 1.5, c)])


def test_b0_weights_copied_from_keras_applications_give_the_same_outputs():
    reference = keras.applications.EfficientNetB0(weights=None, input_shape=(64, 64, 3), classifier_activation=None)
    _randomise_statistics(reference)
    model = kerakit.build("efficientnet_b0", input_shape=(64, 64, 3))
    assert copy_weights_in_order(reference, model) == len(reference.weights) == 314
    x = _images(64)
    expected, actual = infer(reference, x), infer(model, x)
    assert expected.shape == (2, 1000) and np.abs(expected).max() > 0.1  # not a vanishing signal
    assert np.abs(actual - expected).max() <= 1e-5


def test_weights_argument_loads_a_keras_applications_weights_file(tmp_path):
    reference = keras.applications.EfficientNetB0(weights=None, include_top=False, input_shape=(64, 64, 3))
    _randomise_statistics(reference, seed=1)
    path = str(tmp_path / "efficientnet_b0_notop.weights.h5")
    reference.save_weights(path)
    model = kerakit.build("efficientnet_b0", input_shape=(64, 64, 3), include_top=False, pooling=None, weights=path)
    x = _images(64, seed=2)
    expected, actual = infer(reference, x), infer(model, x)
    assert actual.shape == expected.shape == (2, 2, 2, 1280) and np.abs(expected).max() > 0.1
    assert np.abs(actual - expected).max() <= 1e-5


def test_imagenet_weights_add_the_std_rescaling_and_load_from_keras_applications(monkeypatch):
    import blueprints._pretrained

    calls = []
    monkeypatch.setattr(blueprints._pretrained, "load_keras_applications_weights",
                        lambda model, *args: calls.append(args))
    with keras.StatelessScope(initialize_variables=False):
        model = kerakit.build("efficientnet_b3", weights="imagenet", include_top=False, pooling=None,
                              input_shape=(64, 64, 3))
        reference = keras.applications.EfficientNetB3(weights=None, include_top=False, input_shape=(64, 64, 3))
    assert calls == [("EfficientNetB3", "imagenet", (64, 64, 3), 1000, False, "efficientnet_b3")]
    assert [layer.name for layer in model.layers[:5]] == [
        "efficientnet_b3_input", "efficientnet_b3_rescaling", "efficientnet_b3_normalization",
        "efficientnet_b3_std_rescaling", "efficientnet_b3_stem_pad"]
    # keras.applications adds the same layer with weights="imagenet" (not with weights=None).
    np.testing.assert_allclose(model.layers[3].scale, [1 / 0.229 ** 0.5, 1 / 0.224 ** 0.5, 1 / 0.225 ** 0.5])
    assert model.output_shape == reference.output_shape == (None, 2, 2, 1536)


def test_tiny_configuration_stays_stable_after_a_training_step(tmp_path):
    # The registry-wide test runs the shared blueprint test on every variant's tiny configuration; here the reason
    # for its size: at 32x32 the 1x1 maps of the last stages made one SGD step blow the outputs up to 1e35.
    spec = kerakit.get_blueprint("efficientnet_b0")
    assert all(kerakit.get_blueprint(f"efficientnet_{v}").tiny == spec.tiny for v in VARIANTS)
    model = kerakit.build(spec.name, **spec.tiny)
    assert model.count_params() == 35_366
    x = np.random.default_rng(3).normal(size=(2, 64, 64, 3)).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    model.fit(x, np.random.default_rng(1).normal(size=(2, 3)).astype("float32"), epochs=1, verbose=0)
    assert np.abs(infer(model, x)).max() < 10.0


def test_variant_defaults_and_the_hidden_variant_argument():
    arguments = kerakit.registry.blueprint_arguments("efficientnet_b5")
    assert arguments == {"input_shape": (456, 456, 3), "num_classes": 1000, "width_coefficient": 1.6,
                         "depth_coefficient": 2.2, "include_top": True, "pooling": "avg", "dropout": 0.4,
                         "drop_path_rate": 0.2, "classifier_activation": None, "weights": None,
                         "name": "efficientnet_b5"}
    assert [kerakit.registry.blueprint_arguments(f"efficientnet_{v}")["dropout"] for v in VARIANTS] == [
        0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5]
    assert kerakit.list_blueprints("efficientnet_b*") == [f"efficientnet_{v}" for v in VARIANTS]


def test_headless_output_is_the_last_feature_map_and_stages_are_graph_layers():
    with keras.StatelessScope(initialize_variables=False):
        model = kerakit.build("efficientnet_b0", include_top=False, pooling=None)
    assert model.output_shape == (None, 7, 7, 1280)
    assert model.layers[-1].name == "efficientnet_b0_top_act"
    names = {layer.name for layer in model.layers}
    assert {"efficientnet_b0_stem_conv", "efficientnet_b0_stage2_block2_dwconv", "efficientnet_b0_stage2_block2_add",
            "efficientnet_b0_stage6_block4_drop_path", "efficientnet_b0_stage7_block1_project_bn"} <= names
    shapes = {layer.name: layer.output.shape for layer in model.layers}
    assert shapes["efficientnet_b0_stage2_block2_add"] == (None, 56, 56, 24)  # stride 4
    assert shapes["efficientnet_b0_stage3_block2_add"] == (None, 28, 28, 40)  # stride 8
    assert shapes["efficientnet_b0_stage5_block3_add"] == (None, 14, 14, 112)  # stride 16
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)


def test_drop_path_rates_rise_linearly_and_zero_removes_them():
    model = kerakit.build("efficientnet_b0", input_shape=(32, 32, 3), include_top=False, drop_path_rate=0.4, **SMALL)
    # Seven blocks of one each; only stage 1 (8 -> 8 filters at width 0.1, stride 1) has a residual: block 0 of 7.
    assert [layer.name for layer in model.layers if "drop" in layer.name] == []
    model = kerakit.build("efficientnet_b0", input_shape=(32, 32, 3), include_top=False, drop_path_rate=0.4,
                          depth_coefficient=0.5, width_coefficient=0.1)
    drops = [layer for layer in model.layers if layer.name.endswith("_drop_path")]
    total = 1 + 1 + 1 + 2 + 2 + 2 + 1  # ceil(0.5 * (1, 2, 2, 3, 3, 4, 1))
    residual_blocks = [4, 6, 8]  # the second block of stages 4, 5 and 6
    assert [layer.name for layer in drops] == [f"efficientnet_b0_stage{s}_block2_drop_path" for s in (4, 5, 6)]
    np.testing.assert_allclose([layer.rate for layer in drops], [0.4 * b / total for b in residual_blocks])
    assert all(tuple(layer.noise_shape) == (None, 1, 1, 1) for layer in drops)
    without = kerakit.build("efficientnet_b0", input_shape=(32, 32, 3), include_top=False, drop_path_rate=0.0,
                            depth_coefficient=0.5, width_coefficient=0.1)
    assert not any(layer.name.endswith("_drop_path") for layer in without.layers)
    assert without.count_params() == model.count_params()


def test_any_input_size_and_non_rgb_inputs():
    model = kerakit.build("efficientnet_b2", input_shape=(None, None, 3), num_classes=4, **SMALL)
    assert infer(model, np.zeros((1, 40, 75, 3), "float32")).shape == (1, 4)
    gray = kerakit.build("efficientnet_b1", input_shape=(32, 32, 1), num_classes=2, pooling="max", **SMALL)
    assert gray.output_shape == (None, 2)


@pytest.mark.parametrize("variant", VARIANTS)
def test_docstrings_state_the_reference_count(variant):
    # tests/test_docstrings.py runs every blueprint's example.
    builder = kerakit.get_blueprint(f"efficientnet_{variant}").builder
    assert f"{KERAS_APPLICATIONS_PARAMS[variant]:,} parameters" in builder.__doc__
    assert "{" not in builder.__doc__.split("Example:")[0]  # every placeholder filled


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (31, 64, 3)},
         r"efficientnet_b0: `input_shape` must be at least 32x32 \(the network downsamples by 32; resize smaller images"
         + r"\). Received: input_shape=\(31, 64, 3\)"),
        ({"input_shape": (64, 64)}, r"`input_shape` must be a tuple of 3 positive integers"),
        ({"pooling": "mean"}, r"`pooling` must be one of \['avg', 'max', 'flatten', None\].*Received: pooling='mean'"),
        ({"pooling": None, "input_shape": (None, None, 3)},
         r"`pooling` must be 'avg' or 'max' with include_top=True and an input of unknown height or width"),
        ({"weights": "imagenet", "num_classes": 10},
         r"`num_classes` must be 1000 when weights are loaded with include_top=True.*Received: num_classes=10"),
        ({"weights": "imagenet", "pooling": "max"}, r"`pooling` must be 'avg' when weights are loaded"),
        ({"weights": "imagenet", "input_shape": (64, 64, 3)},
         r"`input_shape` must be \(224, 224, 3\) with weights='imagenet' and include_top=True"),
        ({"weights": "imagenet", "include_top": False, "input_shape": (64, 64, 1)},
         r"`input_shape` must be 3 channels \(RGB\) with weights='imagenet'"),
        ({"weights": "imagenet", "width_coefficient": 0.5},
         r"`weights` must be None for width_coefficient=0.5, depth_coefficient=1.0 \(the pretrained weights of "
         + r"efficientnet_b0 need its own width_coefficient=1.0, depth_coefficient=1.0\). Received: weights='imagenet'"),
        ({"weights": "imagenet", "depth_coefficient": 2},
         r"`weights` must be None for width_coefficient=1.0, depth_coefficient=2.0"),
        ({"weights": "no/such/file.h5"}, r"`weights` must be None, 'imagenet' or the path of an existing weights file"),
        ({"width_coefficient": 0}, r"`width_coefficient` must be a number > 0. Received: width_coefficient=0"),
        ({"depth_coefficient": "deep"}, r"`depth_coefficient` must be a number > 0"),
        ({"drop_path_rate": 1.0}, r"`drop_path_rate` must be a float in \[0, 1\). Received: drop_path_rate=1.0"),
        ({"dropout": -0.1}, r"`dropout` must be a float in \[0, 1\)"),
        ({"num_classes": 0}, r"`num_classes` must be an integer >= 1"),
        ({"include_top": "yes"}, r"`include_top` must be True or False"),
        ({"classifier_activation": "softmaxx"}, r"`classifier_activation` must be a Keras activation name"),
        ({"name": ""}, r"`name` must be a non-empty string"),
        ({"variant": "b1"}, r"Blueprint 'efficientnet_b0' has no argument 'variant'"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_built(kwargs, message, monkeypatch):
    monkeypatch.setattr(keras, "Input", None)  # building anything would fail with another error
    with pytest.raises(KerakitError, match=message):
        kerakit.build("efficientnet_b0", **kwargs)


def test_b7_errors_name_its_own_resolution_and_coefficients():
    with pytest.raises(KerakitError, match=r"efficientnet_b7: `input_shape` must be \(600, 600, 3\) with "
                                           r"weights='imagenet'"):
        kerakit.build("efficientnet_b7", weights="imagenet", input_shape=(224, 224, 3))
    with pytest.raises(KerakitError, match=r"need its own width_coefficient=2.0, depth_coefficient=3.1"):
        kerakit.build("efficientnet_b7", weights="imagenet", depth_coefficient=3.0)
