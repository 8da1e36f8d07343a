"""ResNet blueprints: parameter counts against keras.applications, torchvision and the paper; weight copying from
keras.applications with identical outputs; structure, options and argument errors.

The full-size models are built once per module (fixtures) and only for counting and weight copying; they run at
64x64 only. Their `count_params()` does not depend on the input size (convolutions, then global average pooling), so
a model built at 64x64 has the count of the same model at 224x224.
"""

import inspect

import keras
import numpy as np
import pytest

import kerakit
from blueprints._pretrained import copy_weights_in_order
from kerakit.errors import KerakitError

SMALL = (64, 64, 3)

# keras.applications.ResNet50/101/152 (weights=None, 224x224x3, 1000 classes) count_params(), as documented.
KERAS_APPLICATIONS = {"resnet50": ("ResNet50", 25_636_712), "resnet101": ("ResNet101", 44_707_176),
                      "resnet152": ("ResNet152", 60_419_944)}


def _randomize(model, seed=0):
    """Random weights everywhere, batch-norm statistics included (positive variances), so a misplaced layer shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([
                rng.uniform(0.5, 1.5, size=w.shape).astype("float32") if "variance" in w.path
                else rng.normal(0.0, 0.05 if len(w.shape) > 1 else 0.5, size=w.shape).astype("float32")
                for w in layer.weights])


@pytest.fixture(scope="module", params=sorted(KERAS_APPLICATIONS))
def keras_pair(request):
    """(variant name, keras.applications model, blueprint model), both at 64x64x3 with 1000 classes and logits."""
    application, _ = KERAS_APPLICATIONS[request.param]
    keras.utils.set_random_seed(0)
    reference = getattr(keras.applications, application)(weights=None, input_shape=SMALL,
                                                         classifier_activation=None)
    model = kerakit.build(request.param, input_shape=SMALL)
    return request.param, reference, model


def test_bottleneck_variants_match_keras_applications_count_and_weights(keras_pair):
    name, reference, model = keras_pair
    expected = KERAS_APPLICATIONS[name][1]
    assert reference.count_params() == expected
    assert model.count_params() == expected
    _randomize(reference)
    assert copy_weights_in_order(reference, model) == len(reference.weights)
    x = np.random.default_rng(1).normal(size=(2,) + SMALL).astype("float32")
    expected_out = keras.ops.convert_to_numpy(reference(x, training=False))
    actual_out = keras.ops.convert_to_numpy(model(x, training=False))
    assert np.abs(expected_out).max() > 1e-3  # a meaningful comparison, not two vectors of zeros
    np.testing.assert_allclose(actual_out, expected_out, atol=1e-5, rtol=0)


def _bn_channels(model):
    return sum(layer.weights[0].shape[0] for layer in model.layers
               if isinstance(layer, keras.layers.BatchNormalization))


@pytest.mark.parametrize("name, torchvision, bn_channels", [
    # torchvision.models.resnet18 / resnet34: 11,689,512 / 21,797,672 parameters; torchvision's count has no
    # running mean/var (buffers), Keras's count_params() has them (non-trainable weights): + 2 x BN channels.
    # resnet18: stem 64 + stage1 2*2*64 + stage2 (2*2+1)*128 + stage3 (2*2+1)*256 + stage4 (2*2+1)*512 = 4,800.
    ("resnet18", 11_689_512, 64 + 2 * 2 * 64 + 5 * 128 + 5 * 256 + 5 * 512),
    # resnet34: stem 64 + stage1 3*2*64 + stage2 (4*2+1)*128 + stage3 (6*2+1)*256 + stage4 (3*2+1)*512 = 8,512.
    ("resnet34", 21_797_672, 64 + 3 * 2 * 64 + 9 * 128 + 13 * 256 + 7 * 512),
])
def test_basic_variants_match_torchvision(name, torchvision, bn_channels):
    model = kerakit.build(name)  # 224x224x3, 1000 classes
    assert _bn_channels(model) == bn_channels
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert non_trainable == 2 * bn_channels
    assert model.count_params() - non_trainable == torchvision
    assert model.count_params() == torchvision + 2 * bn_channels  # 11,699,112 and 21,814,696
    assert model.count_params() == {"resnet18": 11_699_112, "resnet34": 21_814_696}[name]


def test_cifar_variants_match_the_paper_with_option_a():
    # He et al. 2015, table 6: ResNet-20 0.27M, ResNet-56 0.85M (32x32x3, 10 classes, option A shortcuts).
    # ResNet-20 trainable: convs 432 + 6*2,304 + (4,608 + 5*9,216) + (18,432 + 5*36,864) = 267,696;
    # BN gamma/beta 2 * (16 + 6*16 + 6*32 + 6*64) = 1,376; dense 64*10 + 10 = 650 -> 269,722 (+1,376 moving stats).
    for name, trainable, total in (("resnet20", 269_722, 271_098), ("resnet56", 853_018, 857_082)):
        model = kerakit.build(name)
        assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == trainable
        assert model.count_params() == total
        assert model.output_shape == (None, 10)
    # Option B adds the two 1x1 projections with batch norm: 16*32 + 32*64 convs and 4 * (32 + 64) BN weights.
    assert kerakit.build("resnet20", shortcut="B").count_params() == 271_098 + 16 * 32 + 32 * 64 + 4 * (32 + 64)


def test_resnet20_takes_8x8_digits_and_trains():
    model = kerakit.build("resnet20", input_shape=(8, 8, 1), num_classes=10)
    assert model.get_layer("resnet20_stage3_block3_out").output.shape == (None, 2, 2, 64)
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype("float32")
    y = np.arange(16) % 10
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_structure_names_and_feature_maps():
    model = kerakit.build("resnet50", input_shape=(64, 64, 3), width=0.125, depths=(1, 1, 1, 1), include_top=False,
                          pooling=None)
    assert model.output_shape == (None, 2, 2, 256)
    names = [layer.name for layer in model.layers]
    for expected in ("resnet50_stem_conv", "resnet50_stem_pool", "resnet50_stage1_block1_shortcut_conv",
                     "resnet50_stage4_block1_conv3", "resnet50_stage4_block1_out"):
        assert expected in names
    assert model.get_layer("resnet50_stage2_block1_conv1").strides == (2, 2)  # v1: stride on the first 1x1
    basic = kerakit.build("resnet18", input_shape=(None, None, 3), width=0.125, include_top=False)
    assert basic.output_shape == (None, 64)
    assert basic(np.zeros((1, 40, 56, 3), "float32")).shape == (1, 64)
    assert "resnet18_stage1_block1_shortcut_conv" not in [layer.name for layer in basic.layers]  # identity


def test_variants_expose_the_builder_arguments_with_their_own_defaults():
    arguments = kerakit.registry.blueprint_arguments("resnet101")
    assert arguments["depths"] == (3, 4, 23, 3) and arguments["block"] == "bottleneck"
    assert arguments["name"] == "resnet101" and arguments["input_shape"] == (224, 224, 3)
    assert kerakit.registry.blueprint_arguments("resnet56")["blocks_per_stage"] == 9
    assert "drop_path_rate" in inspect.signature(kerakit.get_blueprint("resnet20").builder).parameters
    with pytest.raises(KerakitError, match=r"Blueprint 'resnet18' has no argument 'num_clases'"):
        kerakit.build("resnet18", num_clases=3)


def test_drop_path_drops_whole_residual_branches_in_training_only(tmp_path):
    model = kerakit.build("resnet20", input_shape=(8, 8, 1), num_classes=3, blocks_per_stage=2, drop_path_rate=0.5)
    drops = [layer for layer in model.layers if layer.name.endswith("_drop_path")]
    # Linear from 0 (no layer for the first block) to 0.5 at the last of the 6 blocks.
    assert [round(layer.rate, 6) for layer in drops] == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert all(tuple(layer.noise_shape) == (None, 1, 1, 1) for layer in drops)
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)),
                               keras.ops.convert_to_numpy(model(x, training=False)))
    path = str(tmp_path / "resnet20.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(x, training=False)),
                               keras.ops.convert_to_numpy(model(x, training=False)), atol=1e-6)


@pytest.mark.parametrize("name, kwargs, message", [
    ("resnet50", {"input_shape": (16, 16, 3)},
     r"resnet50: `input_shape` must be at least 32x32 .*Received: input_shape=\(16, 16, 3\)"),
    ("resnet20", {"input_shape": (2, 8, 1)},
     r"resnet20: `input_shape` must be at least 4x4 .*Received: input_shape=\(2, 8, 1\)"),
    ("resnet18", {"pooling": "mean"}, r"resnet18: `pooling` must be one of \['avg', 'max', 'flatten', None\]"),
    ("resnet56", {"pooling": "sum"}, r"resnet56: `pooling` must be one of"),
    ("resnet50", {"weights": "imagenet", "num_classes": 10},
     r"resnet50: `num_classes` must be 1000 when weights are loaded with include_top=True.*Received: num_classes=10"),
    ("resnet101", {"weights": "imagenet", "pooling": "max"}, r"resnet101: `pooling` must be 'avg' when weights"),
    ("resnet18", {"weights": "imagenet"}, r"resnet18: `weights` must be None for this configuration"),
    ("resnet50", {"weights": "imagenet", "width": 0.5}, r"resnet50: `weights` must be None for this configuration"),
    ("resnet20", {"weights": "imagenet"}, r"resnet20: `weights` must be None \(there are no pretrained weights"),
    ("resnet50", {"block": "wide"}, r"resnet50: `block` must be one of \['basic', 'bottleneck'\]"),
    ("resnet34", {"depths": (2, 0, 2)}, r"resnet34: `depths` must be a sequence of integers >= 1"),
    ("resnet20", {"shortcut": "C"}, r"resnet20: `shortcut` must be one of \['A', 'B'\]"),
    ("resnet20", {"blocks_per_stage": 0}, r"resnet20: `blocks_per_stage` must be an integer >= 1"),
    ("resnet152", {"drop_path_rate": 1.0}, r"resnet152: `drop_path_rate` must be a float in \[0, 1\)"),
    ("resnet18", {"width": 0}, r"resnet18: `width` must be a number > 0"),
    ("resnet56", {"num_classes": 0}, r"resnet56: `num_classes` must be an integer >= 1"),
])
def test_bad_arguments_are_refused_before_building(name, kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build(name, **kwargs)
