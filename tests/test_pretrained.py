"""Copying weights layer by layer (the path `weights="imagenet"` takes), offline."""

import keras
import numpy as np
import pytest

from blueprints._pretrained import copy_weights_in_order
from kerakit.errors import KerakitError


def _normalized_dense(data):
    normalization = keras.layers.Normalization()
    normalization.adapt(data)
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(normalization(inputs)))


def test_adapted_normalization_statistics_are_copied_into_use():
    rng = np.random.default_rng(0)
    source = _normalized_dense(rng.normal(5.0, 3.0, size=(64, 3)).astype("float32"))
    target = _normalized_dense(rng.normal(-2.0, 0.5, size=(64, 3)).astype("float32"))
    assert copy_weights_in_order(source, target) == 5  # mean, variance, count; kernel, bias
    x = rng.normal(size=(4, 3)).astype("float32")
    np.testing.assert_allclose(target.predict(x, verbose=0), source.predict(x, verbose=0), atol=1e-5)


def test_mismatched_models_are_refused_and_nothing_is_copied():
    source = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(4)])
    target = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(5)])
    before = [w.copy() for w in target.get_weights()]
    with pytest.raises(KerakitError, match=r"Cannot copy weights from layer .* \[\(2, 4\), \(4,\)\] into .* "
                                           r"\[\(2, 5\), \(5,\)\]"):
        copy_weights_in_order(source, target)
    for old, new in zip(before, target.get_weights()):
        np.testing.assert_array_equal(old, new)
