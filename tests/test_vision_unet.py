"""U-Net (blueprints/vision/unet.py): the paper's network, any blueprint as encoder, and its errors."""

import keras
import numpy as np
import pytest

import kerakit
from kerakit.errors import KerakitError


def _conv(k, cin, cout):
    return k * k * cin * cout + cout


def test_paper_configuration_parameter_count():
    # Ronneberger et al. 2015, figure 1, with "same" padding: 1 input channel, 2 classes, filters 64..1024.
    expected, previous = 0, 1
    for f in (64, 128, 256, 512, 1024):
        expected += _conv(3, previous, f) + _conv(3, f, f)
        previous = f
    for f in (512, 256, 128, 64):
        expected += _conv(2, previous, f) + _conv(3, 2 * f, f) + _conv(3, f, f)
        previous = f
    expected += _conv(1, 64, 2)
    assert expected == 31_030_658
    with keras.StatelessScope(initialize_variables=False):
        model = kerakit.build("unet", input_shape=(560, 560, 1), num_classes=2)
    assert model.count_params() == expected
    assert model.output_shape == (None, 560, 560, 2)


def test_resnet50_encoder_skips_every_stride_and_restores_the_resolution():
    model = kerakit.build("unet", input_shape=(32, 32, 3), num_classes=4, encoder="resnet50",
                          encoder_args={"width": 0.0625, "depths": (1, 1, 1, 1)}, decoder_filters=(16, 8, 8, 4, 4),
                          batch_norm=True, upsampling="bilinear")
    concats = [layer.name for layer in model.layers if layer.name.startswith("unet_decoder") and "concat" in layer.name]
    assert concats == [f"unet_decoder{i}_concat" for i in range(1, 5)]  # strides 16, 8, 4, 2; none at 1
    assert model.get_layer("unet_decoder4_concat").input[0].shape[1:3] == (16, 16)  # the stride-2 stem output
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    assert model.predict(x, verbose=0).shape == (2, 32, 32, 4)


def test_convnext_encoder_upsamples_past_its_stride_4_stem():
    model = kerakit.build("unet", input_shape=(64, 64, 3), num_classes=2, encoder="convnext_tiny",
                          encoder_args={"depths": (1, 1, 1, 1), "widths": (8, 16, 32, 64)})
    assert model.output_shape == (None, 64, 64, 2)
    names = {layer.name for layer in model.layers}
    assert "unet_decoder3_concat" in names and "unet_decoder4_concat" not in names  # stride 2: no encoder map


def test_encoder_weights_are_the_blueprints_own_layers():
    encoder_args = {"width": 0.125, "depths": (1, 1, 1, 1)}
    model = kerakit.build("unet", input_shape=(64, 64, 3), encoder="resnet50", encoder_args=encoder_args)
    backbone = kerakit.build("resnet50", input_shape=(64, 64, 3), include_top=False, pooling=None, **encoder_args)
    encoder_weights = [w for layer in model.layers if layer.name.startswith("unet_resnet50") for w in layer.weights]
    assert sum(int(np.prod(w.shape)) for w in encoder_weights) == backbone.count_params()


@pytest.mark.parametrize("kwargs, message", [
    ({"encoder": "resnet5"}, (r"unet: `encoder` must be 'plain' or a registered image classification blueprint "
                             r"\(closest: resnet56, resnet50.*Received: encoder='resnet5'")),
    ({"encoder": "unet"}, r"`encoder` must be 'plain' or a registered image classification blueprint"),
    ({"input_shape": (60, 60, 3)}, (r"`input_shape` must be height and width divisible by 16 \(the plain encoder's "
                                   r"deepest level\). Received: input_shape=\(60, 60, 3\)")),
    ({"input_shape": (48, 48, 3), "encoder": "resnet50", "encoder_args": {"width": 0.0625, "depths": (1, 1, 1, 1)}},
     (r"divisible by 32 \(the deepest stride of encoder "
                                                           r"'resnet50'\)")),
    ({"encoder_args": {"width": 0.5}}, r"`encoder_args` must be None with encoder='plain'"),
    ({"encoder": "resnet50", "encoder_args": {"pooling": "avg"}}, r"`encoder_args` must be no 'pooling'"),
    ({"encoder": "resnet50", "encoder_args": {"widht": 0.5}}, r"Blueprint 'resnet50' has no argument 'widht'"),
    ({"decoder_filters": (8, 8)}, r"`decoder_filters` must be 4 values, one per upsampling step from stride 16"),
    ({"upsampling": "nearest"}, r"`upsampling` must be one of \['transpose', 'bilinear'\]"),
])
def test_unet_refuses_bad_arguments_before_building(kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build("unet", **{"input_shape": (64, 64, 3), **kwargs})
