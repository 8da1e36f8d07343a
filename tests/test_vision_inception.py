"""Inception blueprints (blueprints/vision/inception.py): GoogLeNet against torchvision's googlenet (parameter count,
spatial sizes, ceil-mode max pooling), Inception v3 against keras.applications.InceptionV3 (parameter count, weighted
layers, identical outputs after copying the weights, loading a weights file); the tiny configs end to end; errors.

Full-size models are only counted, built inside `keras.StatelessScope(initialize_variables=False)` so that no weight
is initialised.
"""

import math

import keras
import numpy as np
import pytest

import kerakit
from blueprints._pretrained import _weighted_layers, copy_weights_in_order
from blueprints.vision.inception import _ceil_max_pool
from kerakit.errors import KerakitError

# torchvision.models.googlenet(aux_logits=False, init_weights=False): 6,624,904 parameters (torchvision's model
# card), counting the batch-norm weights and biases but not the running mean/var buffers.
TORCHVISION_GOOGLENET = 6_624_904
# keras.applications.InceptionV3(weights=None).count_params(), 1000 classes, at any input size (global pooling).
KERAS_INCEPTION_V3 = 23_851_784
SMALL = (75, 75, 3)  # the smallest input keras.applications.InceptionV3 accepts


def _shapes_only():
    """Builds inside it create weights without values: for counts and structure. (A plain `StatelessScope`
    initialises every weight on exit, which on JAX compiles one initializer per weight shape: minutes here.)"""
    return keras.StatelessScope(initialize_variables=False)


def _shapes(model):
    return [[tuple(w.shape) for w in layer.weights] for layer in _weighted_layers(model)]


def _randomize_batch_norm(model, seed=0):
    """Random batch-norm betas, moving means and (positive) variances, so a misplaced layer shows in the outputs."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, size=w.shape).astype("float32") if "variance" in w.path
                               else rng.normal(0.0, 0.1, size=w.shape).astype("float32") for w in layer.weights])


def _images(size, batch=2, seed=0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(batch, size, size, 3)).astype("float32")


# ----------------------------------------------------------------------------------------------------------------
# Tiny configs (tests/test_blueprints.py runs each through the shared blueprint test).


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_tiny_config_keeps_a_2x2_last_feature_map(name):
    # At 1x1, batch norm over the test's training batch of 2 makes one SGD step unstable (seed-dependent blow-ups
    # of the inference outputs by 10-1000x measured at 32x32 / 75x75); 64x64 / 107x107 keep 2x2.
    spec = kerakit.get_blueprint(name)
    with _shapes_only():
        features = kerakit.build(name, **{**spec.tiny, "include_top": False, "pooling": None})
    assert features.output_shape[1:3] == (2, 2)
    assert spec.tiny["depths"] == (1, 1, 1) and spec.tiny["width"] == 0.125


def _bn_channels(model):
    return sum(layer.weights[0].shape[0] for layer in model.layers
               if isinstance(layer, keras.layers.BatchNormalization))


def test_googlenet_matches_torchvision_parameter_count():
    with _shapes_only():
        model = kerakit.build("googlenet")  # 224x224x3, 1000 classes
        kernel5 = kerakit.build("googlenet", branch_kernel=5)
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert non_trainable == 2 * _bn_channels(model)  # the moving means and variances, buffers in torchvision
    assert model.count_params() - non_trainable == TORCHVISION_GOOGLENET
    assert model.count_params() == 6_639_464
    # torchvision's quirk: the "5x5" branch has a 3x3 kernel; the paper's 5x5 adds (25 - 9) * reduce * out weights
    # in each of the nine modules.
    reduce_out = [(16, 32), (32, 96), (16, 48), (24, 64), (24, 64), (32, 64), (32, 128), (32, 128), (48, 128)]
    assert model.get_layer("googlenet_inception5b_branch3_conv").kernel_size == (3, 3)
    assert kernel5.get_layer("googlenet_inception5b_branch3_conv").kernel_size == (5, 5)
    assert kernel5.count_params() == model.count_params() + 16 * sum(r * o for r, o in reduce_out)
    # torchvision's sizes at 224: 112 -> 56 -> 28 -> 14 -> 7.
    sizes = [model.get_layer(f"googlenet_{n}").output.shape[1] for n in ("conv1_relu", "pool1", "pool2", "pool3",
                                                                           "pool4")]
    assert sizes == [112, 56, 28, 14, 7]
    assert model.get_layer("googlenet_inception5b").output.shape == (None, 7, 7, 1024)


def test_googlenet_spatial_sizes_follow_torchvision_ceil_mode():
    with _shapes_only():
        model = kerakit.build("googlenet", input_shape=(None, None, 3), width=0.125, depths=(1, 1, 1),
                              include_top=False, pooling=None)
    names = ["conv1_relu", "pool1", "conv3_relu", "pool2", "inception3a", "pool3", "inception4a", "pool4",
             "inception5a"]
    probe = keras.Model(model.inputs, [model.get_layer(f"googlenet_{n}").output for n in names])

    def torchvision_sizes(n):  # conv 7x7/2 padding 3, then MaxPool2d(k, 2, ceil_mode=True): ceil((n - k) / 2) + 1
        conv1 = (n + 6 - 7) // 2 + 1
        pool1 = math.ceil((conv1 - 3) / 2) + 1
        pool2 = math.ceil((pool1 - 3) / 2) + 1
        pool3 = math.ceil((pool2 - 3) / 2) + 1
        pool4 = math.ceil((pool3 - 2) / 2) + 1
        return [conv1, pool1, pool1, pool2, pool2, pool3, pool3, pool4, pool4]

    assert torchvision_sizes(224) == [112, 56, 56, 28, 28, 14, 14, 7, 7]
    for height, width in ((224, 224), (225, 75), (33, 100), (32, 47)):
        shapes = probe.compute_output_shape((1, height, width, 3))
        assert [s[1] for s in shapes] == torchvision_sizes(height), height
        assert [s[2] for s in shapes] == torchvision_sizes(width), width


def test_ceil_mode_max_pooling_matches_pytorch_windows():
    """`_ceil_max_pool` against PyTorch's MaxPool2d(k, 2, ceil_mode=True) written out in NumPy (inputs >= 0)."""

    def pytorch_ceil_pool(x, k):
        def size(n):
            return math.ceil((n - k) / 2) + 1

        h, w = x.shape[1:3]
        out = np.zeros((x.shape[0], size(h), size(w), x.shape[3]), x.dtype)
        for i in range(size(h)):
            for j in range(size(w)):
                out[:, i, j] = x[:, 2 * i:2 * i + k, 2 * j:2 * j + k].max(axis=(1, 2))
        return out

    rng = np.random.default_rng(0)
    for k, (h, w) in ((3, (7, 8)), (3, (6, 9)), (2, (5, 6))):
        x = rng.uniform(0.0, 1.0, size=(2, h, w, 3)).astype("float32")
        inputs = keras.Input((h, w, 3))
        probe = keras.Model(inputs, _ceil_max_pool(inputs, k, "pool"))
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(probe(x)), pytorch_ceil_pool(x, k))


def test_googlenet_layers_head_and_options():
    with _shapes_only():  # structure only: no weights initialised
        model = kerakit.build("googlenet", input_shape=(32, 32, 3), num_classes=5, width=0.25, depths=(1, 1, 2))
        pooled = kerakit.build("googlenet", input_shape=(None, None, 1), width=0.125, depths=(1, 1, 2),
                               include_top=False)
        no_dropout = kerakit.build("googlenet", input_shape=(32, 32, 3), width=0.125, depths=(1, 1, 1), dropout=0.0,
                                   pooling="max", classifier_activation="softmax")
        shallow = kerakit.build("googlenet", input_shape=(32, 32, 3), width=0.125, depths=(1, 1, 1),
                                include_top=False, pooling=None)
    names = [layer.name for layer in model.layers]
    assert names[-4:] == ["googlenet_inception5b", "googlenet_avg_pool", "googlenet_head_dropout",
                          "googlenet_predictions"]
    assert model.get_layer("googlenet_head_dropout").rate == 0.2  # torchvision's dropout
    assert model.get_layer("googlenet_conv1_conv").use_bias is False
    assert model.get_layer("googlenet_conv1_bn").epsilon == 1e-3
    assert model.get_layer("googlenet_inception3a").output.shape == (None, 4, 4, 16 + 32 + 8 + 8)
    assert kerakit.registry.blueprint_arguments("googlenet")["dropout"] == 0.2
    assert pooled.output_shape == (None, 128)
    assert "googlenet_head_dropout" not in [layer.name for layer in no_dropout.layers]
    assert "googlenet_max_pool" in [layer.name for layer in no_dropout.layers]
    # depths=(1, 1, 1) keeps the first module of each stage: 3a, 4a, 5a.
    modules = [layer.name for layer in shallow.layers if isinstance(layer, keras.layers.Concatenate)]
    assert modules == ["googlenet_inception3a", "googlenet_inception4a", "googlenet_inception5a"]
    assert shallow.output_shape == (None, 1, 1, (256 + 320 + 128 + 128) // 8)


# ----------------------------------------------------------------------------------------------------------------
# Inception v3


@pytest.mark.parametrize("size", [299, 224])
def test_inception_v3_count_and_weighted_layers_match_keras_applications(size):
    with _shapes_only():
        reference = keras.applications.InceptionV3(weights=None, input_shape=(size, size, 3))
        model = kerakit.build("inception_v3", input_shape=(size, size, 3))
        features = kerakit.build("inception_v3", input_shape=(size, size, 3), include_top=False, pooling=None)
    assert reference.count_params() == KERAS_INCEPTION_V3
    assert model.count_params() == KERAS_INCEPTION_V3
    assert _shapes(model) == _shapes(reference)
    assert len(_shapes(model)) == 189  # 94 convolutions, 94 batch norms, the dense layer
    assert features.output_shape == {299: (None, 8, 8, 2048), 224: (None, 5, 5, 2048)}[size]
    assert features.count_params() == KERAS_INCEPTION_V3 - (2048 * 1000 + 1000)


@pytest.fixture(scope="module")
def keras_inception_v3_small():
    """keras.applications.InceptionV3(weights=None) at 75x75, logits, random batch-norm statistics."""
    keras.utils.set_random_seed(0)
    reference = keras.applications.InceptionV3(weights=None, input_shape=SMALL, classifier_activation=None)
    _randomize_batch_norm(reference)
    return reference


def test_inception_v3_weights_copy_from_keras_applications_and_outputs_match(keras_inception_v3_small):
    reference = keras_inception_v3_small
    model = kerakit.build("inception_v3", input_shape=SMALL)
    assert copy_weights_in_order(reference, model) == len(reference.weights)
    x = _images(75)
    expected = keras.ops.convert_to_numpy(reference(x, training=False))
    actual = keras.ops.convert_to_numpy(model(x, training=False))
    assert np.abs(expected).max() > 1e-3  # a meaningful comparison
    assert np.abs(actual - expected).max() <= 1e-5


def test_inception_v3_loads_a_keras_applications_weights_file(keras_inception_v3_small, tmp_path):
    """`weights=<path>` goes through `load_keras_applications_weights`, as `weights="imagenet"` does (offline)."""
    reference = keras_inception_v3_small
    path = str(tmp_path / "inception_v3.weights.h5")
    reference.save_weights(path)
    model = kerakit.build("inception_v3", input_shape=SMALL, include_top=False, pooling="avg", weights=path)
    headless = keras.Model(reference.input, reference.get_layer("avg_pool").output)
    x = _images(75, seed=1)
    expected = keras.ops.convert_to_numpy(headless(x, training=False))
    assert np.abs(keras.ops.convert_to_numpy(model(x, training=False)) - expected).max() <= 1e-5


def test_inception_v3_layer_names_and_feature_map():
    with _shapes_only():  # structure only: no weights initialised
        model = kerakit.build("inception_v3", input_shape=SMALL, width=0.125, include_top=False, pooling=None)
        any_size = kerakit.build("inception_v3", input_shape=(None, None, 3), width=0.125, depths=(1, 1, 1),
                                 num_classes=4)
        shallow = kerakit.build("inception_v3", input_shape=SMALL, width=0.125, depths=(1, 2, 1))
    assert model.output_shape == (None, 1, 1, 256)
    names = [layer.name for layer in model.layers]
    for expected in ("inception_v3_stem1_conv", "inception_v3_stem_pool2", "inception_v3_mixed0",
                     "inception_v3_mixed4_b7x7dbl_5_conv", "inception_v3_mixed9_b3x3", "inception_v3_mixed10"):
        assert expected in names
    assert names[-1] == "inception_v3_mixed10"
    assert model.get_layer("inception_v3_mixed4_b7x7_2_conv").kernel_size == (1, 7)
    assert model.get_layer("inception_v3_stem1_bn").scale is False
    assert any_size.output_shape == (None, 4)
    # Fewer modules keep the first ones of each grid, under their keras.applications names.
    modules = [layer.name[len("inception_v3_"):] for layer in shallow.layers if layer.name.endswith(
        tuple(f"mixed{i}" for i in range(11)))]
    assert modules == ["mixed0", "mixed3", "mixed4", "mixed5", "mixed8", "mixed9"]
    assert shallow.output_shape == (None, 1000)


# ----------------------------------------------------------------------------------------------------------------
# Errors, before anything is built


@pytest.mark.parametrize("name, kwargs, message", [
    ("googlenet", {"input_shape": (31, 64, 3)},
     r"googlenet: `input_shape` must be at least 32x32 .*Received: input_shape=\(31, 64, 3\)"),
    ("inception_v3", {"input_shape": (74, 299, 3)},
     r"inception_v3: `input_shape` must be at least 75x75 .*Received: input_shape=\(74, 299, 3\)"),
    ("googlenet", {"pooling": "mean"}, r"googlenet: `pooling` must be one of \['avg', 'max', 'flatten', None\]"),
    ("inception_v3", {"pooling": "sum"}, r"inception_v3: `pooling` must be one of"),
    ("googlenet", {"weights": "imagenet"},
     r"googlenet: `weights` must be None \(keras.applications has no GoogLeNet.*Received: weights='imagenet'"),
    ("googlenet", {"branch_kernel": 7}, r"googlenet: `branch_kernel` must be one of \[3, 5\]"),
    ("googlenet", {"dropout": 1.0}, r"googlenet: `dropout` must be a float in \[0, 1\)"),
    ("googlenet", {"width": 0}, r"googlenet: `width` must be a number > 0"),
    ("inception_v3", {"weights": "imagenet", "num_classes": 10},
     r"inception_v3: `num_classes` must be 1000 when weights are loaded with include_top=True.*num_classes=10"),
    ("inception_v3", {"weights": "imagenet", "input_shape": (224, 224, 3)},
     r"`input_shape` must be \(299, 299, 3\) when the ImageNet weights are loaded with include_top=True"),
    ("inception_v3", {"weights": "imagenet", "pooling": "max"}, r"`pooling` must be 'avg' when weights"),
    ("inception_v3", {"weights": "imagenet", "width": 0.5}, r"`width` must be 1.0 when weights are loaded"),
    ("inception_v3", {"weights": "imagenet", "include_top": False, "input_shape": (75, 75, 1)},
     r"`input_shape` must be 3 channels \(RGB\) when weights are loaded"),
    ("inception_v3", {"weights": "no/such/file.weights.h5"},
     r"`weights` must be None, 'imagenet' or the path of an existing weights file"),
    ("googlenet", {"depths": (2, 6, 2)},
     r"googlenet: `depths` must be 3 integers between 1 and \(2, 5, 2\) .*Received: depths=\(2, 6, 2\)"),
    ("inception_v3", {"depths": (3, 4)}, r"inception_v3: `depths` must be 3 integers between 1 and \(3, 4, 2\)"),
    ("inception_v3", {"depths": (3, 0, 2)}, r"inception_v3: `depths` must be a sequence of integers >= 1"),
    ("inception_v3", {"weights": "imagenet", "depths": (1, 1, 1)},
     r"`depths` must be \(3, 4, 2\) when weights are loaded"),
    ("inception_v3", {"num_classes": 0}, r"inception_v3: `num_classes` must be an integer >= 1"),
    ("inception_v3", {"classifier_activation": "relux"}, r"`classifier_activation` must be a Keras activation"),
])
def test_bad_arguments_are_refused_before_building(name, kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build(name, **kwargs)
