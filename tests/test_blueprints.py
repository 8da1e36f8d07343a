"""Every registered blueprint, built tiny and run through the shared blueprint test; then each family's specifics."""

import inspect

import keras
import pytest

import kerakit
from kerakit.errors import KerakitError
from tests.helpers import run_blueprint_test, run_generative_test


def _tiny_architecture(name):
    """What a blueprint's tiny configuration builds: its base builder and every effective argument but the name.

    Variants of one builder whose tiny configurations override everything that tells them apart (e.g.
    `efficientnet_b0`...`b7` with the same coefficients) build the same network under another name. A variant that
    hides an argument shaping the network (VGG's `config`) is its own group.
    """
    spec = kerakit.get_blueprint(name)
    base = getattr(spec.builder, "__kerakit_builder__", spec.builder)
    arguments = {k: p.default for k, p in inspect.signature(spec.builder).parameters.items()}
    arguments.update(spec.tiny)
    arguments.pop("name", None)
    hidden = set(getattr(spec.builder, "__kerakit_hidden__", ())) - set(getattr(base, "weights_only_arguments", ()))
    if hidden:
        arguments["__variant__"] = name
    return base.__module__, base.__qualname__, repr(sorted(arguments.items()))


_REPRESENTATIVES = {}
for _name in kerakit.list_blueprints():
    _REPRESENTATIVES.setdefault(_tiny_architecture(_name), _name)


@pytest.mark.parametrize("name", kerakit.list_blueprints())
def test_every_blueprint_builds_trains_saves_and_exports(name, tmp_path):
    spec = kerakit.get_blueprint(name)
    model = kerakit.build(name, **spec.tiny)
    assert isinstance(model, keras.Model)
    expected = (2, spec.tiny["num_classes"]) if spec.task.endswith("classification") else None
    representative = _REPRESENTATIVES[_tiny_architecture(name)]
    if representative != name:
        # The same tiny network as `representative` (which runs the whole test): same layers, same weights.
        other = kerakit.build(representative, **kerakit.get_blueprint(representative).tiny)
        assert [type(layer).__name__ for layer in model.layers] == [type(layer).__name__ for layer in other.layers]
        assert [tuple(w.shape) for w in model.weights] == [tuple(w.shape) for w in other.weights]
        assert model.name == name and (expected is None or expected == (2, *model.output_shape[1:]))
        return
    if spec.task == "generation":  # VAE, GAN, diffusion: their own losses, samples, generating network
        run_generative_test(model, tmp_path)
        return
    run_blueprint_test(model, tmp_path, expected_output_shape=expected)


@pytest.mark.parametrize("name", kerakit.list_blueprints())
def test_every_blueprint_has_a_description_and_a_docstring_example(name):
    spec = kerakit.get_blueprint(name)
    assert spec.description, f"{name} has no one-line description"
    assert "```python" in spec.builder.__doc__, f"{name}'s docstring has no runnable example"


def test_lenet5_matches_the_classic_parameter_count():
    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850 (32x32x1 input, 10 classes, full C3 connections).
    model = kerakit.build("lenet5")
    assert model.count_params() == 61_706
    assert model.output_shape == (None, 10)
    assert [layer.name for layer in model.layers[1:5]] == ["lenet5_c1", "lenet5_s2", "lenet5_c3", "lenet5_s4"]


def test_lenet5_same_padding_takes_mnist_size_and_refuses_tiny_inputs():
    assert kerakit.build("lenet5", input_shape=(28, 28, 1), padding="same").count_params() == 61_706
    with pytest.raises(KerakitError, match=r"lenet5: `input_shape` must be at least 16x16.*Received: input_shape="
                                           r"\(8, 8, 1\)"):
        kerakit.build("lenet5", input_shape=(8, 8, 1))


def test_lenet5_without_top_returns_feature_maps_or_pooled_features():
    assert kerakit.build("lenet5", include_top=False).output_shape == (None, 5, 5, 16)
    assert kerakit.build("lenet5", include_top=False, pooling="avg").output_shape == (None, 16)


def test_mlp_parameter_count_and_options():
    model = kerakit.build("mlp", input_shape=(8, 8, 1), num_classes=10, hidden_units=(32, 16))
    assert model.count_params() == (64 * 32 + 32) + (32 * 16 + 16) + (16 * 10 + 10)
    model = kerakit.build("mlp", input_shape=(4,), num_classes=2, hidden_units=(8,), batch_norm=True, dropout=0.5)
    # Dense without bias (BN has the shift) + BN gamma/beta/mean/variance + output.
    assert model.count_params() == 4 * 8 + 4 * 8 + (8 * 2 + 2)
    assert {layer.__class__.__name__ for layer in model.layers} >= {"BatchNormalization", "Dropout"}


def test_convnet_structure_names_and_any_input_size():
    model = kerakit.build("convnet", input_shape=(None, None, 3), num_classes=5, filters=(8, 16), convs_per_block=2)
    names = [layer.name for layer in model.layers]
    assert "convnet_block2_conv2" in names and "convnet_block2_conv2_bn" in names and "convnet_block2_pool" in names
    assert model(keras.ops.zeros((1, 13, 7, 3))).shape == (1, 5)
    assert model(keras.ops.zeros((1, 1, 1, 3))).shape == (1, 5)
    features = kerakit.build("convnet", input_shape=(8, 8, 1), filters=(8, 16), include_top=False, pooling=None)
    assert features.output_shape == (None, 2, 2, 16)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": (8, -1)}, r"convnet: `filters` must be a sequence of integers >= 1. Received: filters=\(8, -1\)"),
        ({"filters": ()}, r"`filters` must be a non-empty sequence"),
        ({"activation": "relux"}, r"`activation` must be a Keras activation name.*Received: activation='relux'"),
        ({"dropout": 1.5}, r"`dropout` must be a float in \[0, 1\). Received: dropout=1.5"),
        ({"num_classes": 0}, r"`num_classes` must be an integer >= 1. Received: num_classes=0"),
        ({"pooling": "mean"}, r"`pooling` must be one of \['avg', 'max', 'flatten', None\].*Received: pooling='mean'"),
        ({"input_shape": (8, 8)}, r"`input_shape` must be a tuple of 3 positive integers. Received: input_shape="),
        ({"kernel_size": 0}, r"`kernel_size` must be an integer >= 1"),
    ],
)
def test_convnet_refuses_bad_arguments_with_a_clear_message(kwargs, message):
    arguments = {"input_shape": (8, 8, 1), **kwargs}
    with pytest.raises(KerakitError, match=message):
        kerakit.build("convnet", **arguments)


def test_mlp_refuses_negative_sizes_and_unknown_activations():
    with pytest.raises(KerakitError, match=r"mlp: `hidden_units` must be a sequence of integers >= 1"):
        kerakit.build("mlp", input_shape=(4,), hidden_units=(8, -2))
    with pytest.raises(KerakitError, match=r"mlp: `activation` must be a Keras activation name"):
        kerakit.build("mlp", input_shape=(4,), activation="nope")
