"""kerakit.backbones: multi-scale feature maps of any image blueprint, and stages for transfer learning."""

import keras
import numpy as np
import pytest

import kerakit
from kerakit import backbones
from kerakit.errors import KerakitError

RESNET50_SMALL = {"input_shape": (64, 64, 3), "width": 0.125, "depths": (1, 1, 1, 1)}


@pytest.mark.parametrize("name, kwargs, expected_layers", [
    ("resnet50", RESNET50_SMALL, ["stage1_block1_out", "stage2_block1_out", "stage3_block1_out", "stage4_block1_out"]),
    # The padding before a strided convolution opens the next stage; the feature map is the block output before it.
    ("resnet18", {"input_shape": (64, 64, 3), "width": 0.125},
     ["stage1_block2_out", "stage2_block2_out", "stage3_block2_out", "stage4_block2_out"]),
    ("convnext_tiny", {"input_shape": (64, 64, 3), "depths": (1, 1, 1, 1), "widths": (8, 16, 32, 64)},
     ["stage1_block1_add", "stage2_block1_add", "stage3_block1_add", "head_layernorm"]),
    ("vgg11", {"input_shape": (64, 64, 3)}, ["block3_conv2", "block4_conv2", "block5_conv2", "block5_pool"]),
])
def test_feature_maps_are_the_stage_outputs_at_strides_4_to_32(name, kwargs, expected_layers):
    model = kerakit.backbone(name, **kwargs)
    assert [shape[1:3] for shape in model.output_shape] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    full = kerakit.build(name, include_top=False, pooling=None, **kwargs)
    assert backbones.feature_layer_names(full) == [f"{name}_{layer}" for layer in expected_layers]
    assert model.count_params() == full.count_params()  # the same layers, no head


def test_backbone_of_any_input_size_and_outputs_equal_the_full_models_layers():
    model = kerakit.backbone("resnet50", input_shape=(None, None, 3), width=0.125, depths=(1, 1, 1, 1))
    x = np.random.default_rng(0).normal(size=(1, 96, 64, 3)).astype("float32")
    maps = model(x)
    assert [tuple(m.shape) for m in maps] == [(1, 24, 16, 32), (1, 12, 8, 64), (1, 6, 4, 128), (1, 3, 2, 256)]
    deepest = keras.Model(model.inputs, model.get_layer("resnet50_stage4_block1_out").output)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(maps[-1]), keras.ops.convert_to_numpy(deepest(x)),
                               atol=1e-6)


def test_cifar_resnet_has_strides_1_2_4_only_and_says_so():
    assert kerakit.backbone("resnet20", input_shape=(32, 32, 3), strides=(1, 2, 4)).output_shape[-1] == (
        None, 8, 8, 64)
    with pytest.raises(KerakitError, match=r"backbone: `strides` must be strides resnet20 has feature maps at: "
                                           r"\[1, 2, 4\]\. Received: strides=\(4, 8, 16, 32\)"):
        kerakit.backbone("resnet20", input_shape=(32, 32, 3))


@pytest.mark.parametrize("kwargs, message", [
    ({"strides": (4, 6)}, r"`strides` must be powers of two"),
    ({"include_top": True}, r"`include_top` must be not given"),
    ({"pooling": "avg"}, r"`pooling` must be not given"),
])
def test_backbone_refuses_bad_arguments(kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.backbone("resnet20", input_shape=(32, 32, 3), **kwargs)


def test_feature_maps_need_an_image_model():
    with pytest.raises(KerakitError, match=r"backbone: `model` must be a functional model with one image input of "
                                           r"static height \(batch, height, width, channels\)\. Received: model='mlp "
                                           r"with inputs \[\(None, 8\)\]'"):
        backbones.feature_layer_names(kerakit.build("mlp", input_shape=(8,), num_classes=2))


def test_stages_group_weighted_layers_by_stride_and_split_off_the_head():
    model = kerakit.build("resnet50", num_classes=5, **RESNET50_SMALL)
    stage_layers, head = backbones.stages(model)
    assert [layer.name for layer in head] == ["resnet50_predictions"]
    # stem (stride 2), then one stage per resolution; stage 1 includes the stride-4 pooling's successors.
    assert len(stage_layers) == 5
    assert {layer.name.split("_")[1] for layer in stage_layers[-1]} == {"stage4"}
    assert {layer.name.split("_")[1] for layer in stage_layers[0]} == {"stem"}
    assert sum(len(s) for s in stage_layers) + len(head) == sum(1 for layer in model.layers if layer.weights)
