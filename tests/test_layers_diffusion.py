"""kerakit.layers.diffusion: sinusoidal time features and embedding, the U-Net's residual and attention blocks."""

import os

import keras
import numpy as np
import pytest

from kerakit.errors import KerakitError
from kerakit.layers import diffusion
from kerakit.layers.diffusion import AttentionBlock, ResidualBlock, TimeEmbedding, timestep_features
from kerakit.layers.sequence import sinusoidal_positions
from tests.helpers import assert_outputs_close, run_docstring_examples, run_layer_test


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_timestep_features_are_the_sinusoidal_positions_at_any_real_t():
    np.testing.assert_allclose(np.asarray(timestep_features(np.arange(6), 8)), np.asarray(sinusoidal_positions(6, 8)),
                               atol=1e-6)
    t = np.array([0.5, 999.0], "float32")
    features = np.asarray(timestep_features(t[:, None], 6, max_wavelength=100.0))  # (batch, 1) works too
    angle = t[:, None] / 100.0 ** (2 * np.arange(3)[None, :] / 6)
    np.testing.assert_allclose(features[:, 0::2], np.sin(angle), atol=1e-4)
    np.testing.assert_allclose(features[:, 1::2], np.cos(angle), atol=1e-4)
    assert np.asarray(timestep_features(np.array([3]), 5)).shape == (1, 5)  # odd widths are cut


@pytest.mark.parametrize("kwargs, output_dim", [({"width": 8, "output_dim": 12, "activation": "gelu"}, 12),
                                                ({"width": 6, "max_wavelength": 50.0}, 6)])
def test_time_embedding_passes_the_shared_layer_test(kwargs, output_dim, tmp_path):
    run_layer_test(TimeEmbedding, kwargs, (3,), (3, output_dim), tmp_path)


def test_time_embedding_mlp_weights_and_distinct_steps():
    layer = TimeEmbedding(8, output_dim=16)
    out = np.asarray(layer(np.array([0, 1, 500])))
    assert [tuple(w.shape) for w in layer.weights] == [(8, 16), (16,), (16, 16), (16,)]
    assert np.abs(out[0] - out[1]).max() > 1e-4 and np.abs(out[1] - out[2]).max() > 1e-4
    assert TimeEmbedding(4).weights == []


def test_attention_block_passes_the_shared_layer_test(tmp_path):
    run_layer_test(AttentionBlock, {"num_heads": 2, "groups": 4}, (2, 3, 4, 8), (2, 3, 4, 8), tmp_path)


def test_attention_block_is_residual_and_mixes_pixels():
    block = AttentionBlock(groups=2)
    x = _x((1, 2, 2, 4))
    y = np.asarray(block(x))
    assert y.shape == (1, 2, 2, 4) and np.abs(y - x).max() > 1e-4
    for weight in block.attention.weights:  # zero attention: the block is the identity
        weight.assign(np.zeros(weight.shape, "float32"))
    np.testing.assert_allclose(np.asarray(block(x)), x, atol=1e-6)
    block = AttentionBlock(groups=2)
    changed = x.copy()
    changed[0, 1, 1] += 3.0  # one pixel moves: the others' outputs move too (they attend to it)
    delta = np.abs(np.asarray(block(changed)) - np.asarray(block(x)))[0, 0, 0]
    assert delta.max() > 1e-4


def _residual_model(block_kwargs, channels=4, embedding_dim=6):
    images = keras.Input((4, 4, channels))
    embedding = keras.Input((embedding_dim,))
    return keras.Model([images, embedding], ResidualBlock(**block_kwargs, name="block")(images, embedding))


def test_residual_block_config_save_and_fit(tmp_path):
    kwargs = {"filters": 8, "groups": 2, "dropout": 0.1, "activation": "gelu"}
    layer = ResidualBlock(**kwargs)
    config = layer.get_config()
    assert {k: config[k] for k in kwargs} == kwargs
    assert ResidualBlock.from_config(config).get_config() == config

    model = _residual_model(kwargs)
    assert model.output_shape == (None, 4, 4, 8)
    x = [_x((3, 4, 4, 4)), _x((3, 6), 1)]
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(x, _x((3, 4, 4, 8), 2), batch_size=3, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(b, np.array(a)) for b, a in zip(before, model.trainable_weights))
    path = os.path.join(tmp_path, "residual.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert_outputs_close(restored(x), model(x), what=".keras round trip")


def test_residual_block_shortcut_time_conditioning_and_dropout():
    block = ResidualBlock(4, groups=2)
    x, t = _x((2, 3, 3, 4)), _x((2, 5), 1)
    y = np.asarray(block(x, t))
    assert block.shortcut is None  # same width: identity shortcut
    assert np.abs(np.asarray(block(x, 2 * t)) - y).max() > 1e-4  # the time embedding changes the output
    wider = ResidualBlock(6, groups=2)
    assert tuple(wider(x, t).shape) == (2, 3, 3, 6) and wider.shortcut is not None
    plain = ResidualBlock(4, groups=2)
    assert tuple(plain(x).shape) == (2, 3, 3, 4) and plain.time_projection is None
    noisy = ResidualBlock(4, groups=2, dropout=0.5)
    np.testing.assert_allclose(np.asarray(noisy(x, t)), np.asarray(noisy(x, t)), atol=1e-6)  # inference: no dropout
    assert np.abs(np.asarray(noisy(x, t, training=True)) - np.asarray(noisy(x, t))).max() > 1e-4


@pytest.mark.parametrize("make, message", [
    (lambda: ResidualBlock(6, groups=4), r"ResidualBlock: `groups` must be a divisor of filters=6. Received: groups=4"),
    (lambda: ResidualBlock(0), r"`filters` must be an integer >= 1. Received: filters=0"),
    (lambda: ResidualBlock(4, groups=2, dropout=1.0), r"`dropout` must be a float in \[0, 1\)"),
    (lambda: ResidualBlock(4, groups=4)(np.zeros((1, 2, 2, 6), "float32")),
     r"`groups` must be a divisor of the input's 6 channels. Received: groups=4"),
    (lambda: AttentionBlock(num_heads=3, groups=2)(np.zeros((1, 2, 2, 4), "float32")),
     r"`num_heads` must be a divisor of the input's 4 channels. Received: num_heads=3"),
    (lambda: AttentionBlock(groups=3)(np.zeros((1, 2, 2, 4), "float32")),
     r"`groups` must be a divisor of the input's 4 channels"),
    (lambda: AttentionBlock(groups=2)(keras.Input((None, 4, 4))),
     r"`inputs` must be a \(batch, height, width, channels\) feature map with known height and width"),
    (lambda: TimeEmbedding(0), r"TimeEmbedding: `width` must be an integer >= 1. Received: width=0"),
    (lambda: TimeEmbedding(4, activation="nope"), r"`activation` must be a Keras activation name"),
    (lambda: TimeEmbedding(4, max_wavelength=-1.0), r"`max_wavelength` must be a number > 0"),
])
def test_layers_refuse_bad_arguments_with_a_clear_message(make, message):
    with pytest.raises(KerakitError, match=message):
        make()


@pytest.mark.parametrize("name", ["timestep_features", "TimeEmbedding", "ResidualBlock", "AttentionBlock"])
def test_docstring_examples_run(name):
    assert run_docstring_examples(getattr(diffusion, name)) >= 3
