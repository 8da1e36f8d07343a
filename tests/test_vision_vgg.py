"""VGG and AlexNet: parameter counts against keras.applications and torchvision, weight copies, heads, errors.

References: `keras.applications.VGG16` / `VGG19` (built here with weights=None); torchvision's `vgg11`, `vgg13`,
`vgg*_bn` and `alexnet` (their published parameter counts; torchvision is not installed here).
"""

import keras
import numpy as np
import pytest

import kerakit
from blueprints._pretrained import copy_weights_in_order
from blueprints.vision import alexnet as alexnet_module
from kerakit.errors import KerakitError

# The fully connected head at 224x224 (a 7x7x512 map) with 1000 classes, the same in every VGG:
VGG_HEAD = (7 * 7 * 512 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)  # 123,642,856


def _conv(cin, cout, k=3):
    return k * k * cin * cout + cout


def _weighted(model):
    return [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in model.layers if layer.weights]


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.fixture(scope="module", autouse=True)
def _no_random_init():
    """Glorot (variance-scaling) initializers return zeros in this module.

    These tests count parameters and compare shapes, which need no random values; drawing them is what makes the
    builds slow (~140M values for a full-size VGG, and one JAX compilation per new weight shape). The tests that
    compare outputs draw their weights with numpy (`_randomize`).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.initializers.VarianceScaling, "__call__",
                      lambda self, shape, dtype=None: keras.ops.zeros(shape, dtype=dtype))
        yield


def _randomize(model, seed):
    """Glorot-uniform values for every weight (biases too), drawn with numpy: fast on either backend."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(weight.shape)
        fan_in, fan_out = (int(np.prod(shape[:-1])), shape[-1]) if len(shape) > 1 else (shape[0], shape[0])
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weight.assign(rng.uniform(-limit, limit, size=shape).astype("float32"))
    return model


@pytest.fixture(scope="module", params=[("vgg16", "VGG16", 138_357_544), ("vgg19", "VGG19", 143_667_240)],
                ids=["vgg16", "vgg19"])
def full_size_pair(request):
    name, application, expected = request.param
    reference = getattr(keras.applications, application)(weights=None)
    model = kerakit.build(name)
    yield name, reference, model, expected
    del reference, model


def test_vgg16_and_vgg19_match_keras_applications_at_full_size(full_size_pair):
    name, reference, model, expected = full_size_pair
    assert reference.count_params() == expected  # keras.applications VGG16 / VGG19, 224x224x3, 1000 classes
    assert model.count_params() == expected
    # The same weighted layers in the same order with the same shapes; our names are the Keras names, prefixed.
    ours, theirs = _weighted(model), _weighted(reference)
    assert [shapes for _, shapes in ours] == [shapes for _, shapes in theirs]
    assert [layer for layer, _ in ours] == [f"{name}_{layer}" for layer, _ in theirs]
    assert model.output_shape == (None, 1000)
    notop = kerakit.build(name, include_top=False)
    assert model.count_params() - notop.count_params() == VGG_HEAD == 123_642_856


@pytest.mark.parametrize("name, application", [("vgg16", "VGG16"), ("vgg19", "VGG19")])
def test_weights_copied_from_keras_applications_give_the_same_outputs(name, application):
    reference = _randomize(getattr(keras.applications, application)(
        weights=None, input_shape=(64, 64, 3), classes=10, classifier_activation=None), seed=0)
    model = kerakit.build(name, input_shape=(64, 64, 3), num_classes=10)
    assert copy_weights_in_order(reference, model) == 2 * len(_weighted(reference))
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32") * 50.0
    expected = keras.ops.convert_to_numpy(reference(x, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), expected, atol=1e-5, rtol=0)
    assert np.abs(expected).max() > 1e-3  # not a trivially zero comparison


def test_weights_from_a_keras_applications_file_load_offline(tmp_path):
    # The `weights=<path>` route of load_keras_applications_weights: a VGG16 weights file (no top, 64x64).
    reference = _randomize(keras.applications.VGG16(
        weights=None, include_top=False, input_shape=(64, 64, 3), pooling="avg"), seed=1)
    path = str(tmp_path / "vgg16_notop.weights.h5")
    reference.save_weights(path)
    model = kerakit.build("vgg16", include_top=False, input_shape=(64, 64, 3), pooling="avg", weights=path)
    x = np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype("float32") * 50.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)),
                               keras.ops.convert_to_numpy(reference(x, training=False)), atol=1e-5, rtol=0)


def test_vgg16_bn_matches_torchvision_plus_batch_norm_statistics():
    # torchvision vgg16_bn: 138,365,992 parameters, all trainable (BN running statistics are buffers, not counted):
    # VGG-16's 138,357,544 + gamma and beta of the 13 BN layers, 2 * (2*64 + 2*128 + 3*256 + 6*512) = 8,448.
    # Keras also counts each BN layer's moving mean and variance: another 8,448, so count_params() is 138,374,440.
    # The convolutions are built here; the head (VGG_HEAD, the same in every VGG) is checked at full size against
    # keras.applications above.
    features = kerakit.build("vgg16_bn", include_top=False)
    bn_channels = 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512
    assert _trainable_count(features) + VGG_HEAD == 138_357_544 + 2 * bn_channels == 138_365_992
    assert features.count_params() + VGG_HEAD == 138_365_992 + 2 * bn_channels == 138_374_440
    names = [layer.name for layer in features.layers]
    assert names[1:4] == ["vgg16_bn_block1_conv1", "vgg16_bn_block1_conv1_bn", "vgg16_bn_block1_conv1_relu"]
    bn = features.get_layer("vgg16_bn_block1_conv1_bn")
    assert (bn.epsilon, bn.momentum) == (1e-5, 0.9)  # torchvision's BatchNorm2d defaults (momentum 0.1 there)


@pytest.mark.parametrize(
    "name, torchvision, bn_channels",
    [
        ("vgg11", 132_863_336, 0),
        ("vgg13", 133_047_848, 0),
        ("vgg11_bn", 132_868_840, 64 + 128 + 2 * 256 + 4 * 512),
        ("vgg13_bn", 133_053_736, 2 * 64 + 2 * 128 + 2 * 256 + 4 * 512),
        ("vgg19_bn", 143_678_248, 2 * 64 + 2 * 128 + 4 * 256 + 8 * 512),
    ],
)
def test_other_vgg_variants_match_torchvision(name, torchvision, bn_channels):
    # The convolutions are built here (include_top=False); the head, the same in every VGG, is VGG_HEAD, checked
    # against keras.applications at full size above. torchvision counts gamma/beta only; Keras adds mean/variance.
    features = kerakit.build(name, include_top=False)
    assert _trainable_count(features) + VGG_HEAD == torchvision
    assert features.count_params() + VGG_HEAD == torchvision + 2 * bn_channels
    assert features.output_shape == (None, 7, 7, 512)


def test_vgg_conv_counts_by_hand():
    # Configuration A (vgg11): 8 convolutions.
    expected = (_conv(3, 64) + _conv(64, 128) + _conv(128, 256) + _conv(256, 256) + _conv(256, 512)
                + 3 * _conv(512, 512))
    assert kerakit.build("vgg11", include_top=False, input_shape=(32, 32, 3)).count_params() == expected


def test_vgg_head_works_on_cifar_sized_inputs_and_any_size_when_pooled():
    model = kerakit.build("vgg16_bn", input_shape=(32, 32, 3), num_classes=10, width=0.125, fc_units=32,
                          dropout=0.5)
    assert model.get_layer("vgg16_bn_block5_pool").output.shape == (None, 1, 1, 64)
    assert model.get_layer("vgg16_bn_fc1").kernel.shape == (64, 32)  # flatten of a 1x1x64 map
    assert {"vgg16_bn_fc1_dropout", "vgg16_bn_head_dropout"} <= {layer.name for layer in model.layers}
    assert model.output_shape == (None, 10)

    pooled = kerakit.build("vgg11", input_shape=(None, None, 3), num_classes=4, width=0.125, fc_units=8,
                           pooling="avg")
    assert pooled.compute_output_shape((1, 40, 72, 3)) == (1, 4)
    assert pooled.compute_output_shape((1, 32, 32, 3)) == (1, 4)
    features = kerakit.build("vgg19", include_top=False, input_shape=(64, 64, 3), width=0.125)
    assert features.output_shape == (None, 2, 2, 64)
    assert kerakit.build("vgg19", include_top=False, input_shape=(64, 64, 3), width=0.125,
                         pooling="max").output_shape == (None, 64)


def test_vgg_variants_expose_the_builder_arguments():
    arguments = kerakit.registry.blueprint_arguments("vgg16")
    # The training run fills input_shape and num_classes from the data only when the blueprint takes them.
    assert {"input_shape", "num_classes", "include_top", "pooling", "dropout", "fc_units", "width",
            "classifier_activation", "weights", "name"} == set(arguments)
    assert arguments["name"] == "vgg16" and arguments["dropout"] == 0.0
    with pytest.raises(KerakitError, match=r"Blueprint 'vgg13' has no argument 'depth'"):
        kerakit.build("vgg13", depth=3)


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("vgg16", {"input_shape": (16, 16, 3)},
         r"vgg16: `input_shape` must be at least 32x32: each of the 5 blocks halves.*Received: input_shape=\(16, 16"),
        ("vgg16", {"pooling": "mean"}, r"vgg16: `pooling` must be one of \['avg', 'max', 'flatten', None\]"),
        ("vgg16", {"weights": "imagenet", "num_classes": 10},
         r"vgg16: `num_classes` must be 1000 when weights are loaded with include_top=True.*Received: num_classes=10"),
        ("vgg19", {"weights": "imagenet", "width": 0.5}, r"vgg19: `width` must be 1.0 when weights are loaded"),
        ("vgg16", {"weights": "imagenet", "input_shape": (64, 64, 3)},
         r"`input_shape` must be \(224, 224, 3\) when ImageNet weights are loaded with include_top=True"),
        ("vgg16", {"weights": "/no/such/file.h5"}, r"`weights` must be None, 'imagenet' or the path of a VGG16"),
        ("vgg11", {"weights": "imagenet"}, r"vgg11: `weights` must be None: keras.applications has no vgg11 weights"),
        ("vgg16_bn", {"weights": "imagenet"}, r"`weights` must be None: keras.applications has no vgg16_bn weights"),
        ("vgg13", {"input_shape": (None, None, 3)}, r"`input_shape` must be fully known \(no None\) when the features"),
        ("vgg13", {"fc_units": 0}, r"vgg13: `fc_units` must be an integer >= 1"),
        ("vgg13", {"width": 0}, r"vgg13: `width` must be a number > 0"),
        ("vgg13", {"dropout": 1.0}, r"`dropout` must be a float in \[0, 1\)"),
    ],
)
def test_vgg_refuses_bad_arguments_before_building(name, kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build(name, **kwargs)


# ---------------------------------------------------------------------------------------------------- AlexNet


def test_alexnet_matches_torchvision_at_full_size():
    model = kerakit.build("alexnet")
    # torchvision alexnet: 61,100,840 parameters (no BN: nothing for Keras to add).
    convs = _conv(3, 64, 11) + _conv(64, 192, 5) + _conv(192, 384) + _conv(384, 256) + _conv(256, 256)
    head = (6 * 6 * 256 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert model.count_params() == convs + head == 61_100_840
    assert [shapes[0] for _, shapes in _weighted(model)] == [
        (11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256), (3, 3, 256, 256),
        (9216, 4096), (4096, 4096), (4096, 1000)]
    # 224 -> 55 (11x11 stride 4, padding 2) -> 27 -> 13 -> 6: the 6x6 "adaptive" pool is the identity here.
    assert model.get_layer("alexnet_conv1").output.shape == (None, 55, 55, 64)
    assert model.get_layer("alexnet_pool3").output.shape == (None, 6, 6, 256)
    avgpool = model.get_layer("alexnet_avgpool")
    assert avgpool.pool_size == (1, 1) and avgpool.strides == (1, 1)
    names = [layer.name for layer in model.layers]
    assert names[names.index("alexnet_flatten"):] == [
        "alexnet_flatten", "alexnet_fc1_dropout", "alexnet_fc1", "alexnet_fc2_dropout", "alexnet_fc2",
        "alexnet_predictions"]


def _torch_adaptive_avg_pool_1d(values, out):
    """torchvision's adaptive average pooling along one axis, in numpy (the reference for the fixed pool)."""
    side = len(values)
    return np.array([values[(i * side) // out: -((-(i + 1) * side) // out)].mean() for i in range(out)])


@pytest.mark.parametrize("side", [6, 12, 18])
def test_alexnet_fixed_pool_equals_torchvision_adaptive_pool_when_the_side_is_a_multiple_of_6(side):
    pool_size, stride = alexnet_module._fixed_adaptive_pool(side)
    values = np.arange(side, dtype="float64") ** 2
    fixed = np.array([values[i * stride: i * stride + pool_size].mean() for i in range(6)])
    np.testing.assert_allclose(fixed, _torch_adaptive_avg_pool_1d(values, 6))


def test_alexnet_larger_inputs_are_pooled_to_6x6_and_small_ones_need_global_pooling():
    model = kerakit.build("alexnet", input_shape=(448, 320, 3), num_classes=5, width=0.0625, fc_units=8)
    assert model.get_layer("alexnet_pool3").output.shape == (None, 13, 9, 16)
    assert model.get_layer("alexnet_avgpool").output.shape == (None, 6, 6, 16)
    assert model.output_shape == (None, 5)
    small = kerakit.build("alexnet", input_shape=(63, 63, 3), num_classes=5, width=0.0625, fc_units=8,
                          pooling="max", dropout=0.0)
    assert small.get_layer("alexnet_pool3").output.shape == (None, 1, 1, 16)
    assert "alexnet_fc1_dropout" not in [layer.name for layer in small.layers]
    assert small.output_shape == (None, 5)
    features = kerakit.build("alexnet", input_shape=(None, None, 3), include_top=False, width=0.0625, pooling="avg")
    assert features.compute_output_shape((1, 100, 80, 3)) == (1, 16)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (32, 32, 3)},
         r"alexnet: `input_shape` must be at least 223x223 for the classic 6x6 head \(pass pooling='avg' or 'max' "
         r"for inputs down to 63x63\). Received: input_shape=\(32, 32, 3\)"),
        ({"input_shape": (32, 32, 3), "pooling": "avg"},
         r"alexnet: `input_shape` must be at least 63x63. Received: input_shape=\(32, 32, 3\)"),
        ({"input_shape": (62, 200, 3), "include_top": False}, r"`input_shape` must be at least 63x63"),
        ({"input_shape": (None, 224, 3)}, r"`input_shape` must be fully known \(no None\)"),
        ({"pooling": "mean"}, r"alexnet: `pooling` must be one of \['avg', 'max', 'flatten', None\]"),
        ({"weights": "imagenet"}, r"alexnet: `weights` must be None: keras.applications has no AlexNet weights"),
        ({"fc_units": -1}, r"alexnet: `fc_units` must be an integer >= 1"),
        ({"num_classes": 0}, r"alexnet: `num_classes` must be an integer >= 1"),
    ],
)
def test_alexnet_refuses_bad_arguments_before_building(kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build("alexnet", **kwargs)
