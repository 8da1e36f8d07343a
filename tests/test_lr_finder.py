"""The learning-rate range test: a sensible suggestion on a convex problem, weights given back, bad input refused."""

import keras
import numpy as np
import pytest

from kerakit.errors import KerakitError
from kerakit.lr_finder import find_learning_rate, smooth_both_ways, suggest


def _linear_regression():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(400, 4)) * np.array([1.0, 0.8, 0.6, 0.5])).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [1.5]]) + 0.3).astype("float32")
    with_bias = np.hstack([x, np.ones((len(x), 1))]).astype("float64")
    lipschitz = np.linalg.eigvalsh(2 * with_bias.T @ with_bias / len(x)).max()  # of the MSE's gradient
    return x, y, lipschitz


def test_on_linear_regression_the_suggestion_lies_in_the_stable_range_and_the_weights_come_back(tmp_path):
    x, y, lipschitz = _linear_regression()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    before = model.get_weights()
    result = find_learning_rate(model, (x, y), optimizer="sgd", start_lr=1e-5, end_lr=10.0, steps=100,
                                plot=tmp_path / "lr.png")
    stable = 2.0 / lipschitz  # plain gradient descent diverges above 2/L
    assert stable / 100 < result.suggestion < stable, (result.suggestion, stable)
    assert result.diverged and result.lrs[-1] < 10.0  # stopped once the loss blew up
    np.testing.assert_allclose(result.lrs[:3], [1e-5, 1e-5 * 1e6 ** (1 / 99), 1e-5 * 1e6 ** (2 / 99)], rtol=1e-9)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and result.plot == str(tmp_path / "lr.png")


def test_the_suggestion_rule_and_the_zero_lag_smoothing():
    lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert suggest(lrs, [1.0, 0.9, 0.3, 0.25, 5.0]) == (1e-3, 1e-1)
    # A step down at the middle stays centred after smoothing both ways (a one-way average would shift it).
    curve = smooth_both_ways([1.0] * 10 + [0.0] * 10, 0.5)
    np.testing.assert_allclose(curve[9] + curve[10], 1.0, atol=0.05)
    assert np.all(np.diff(curve) <= 1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"start_lr": -1e-3}, r"find_learning_rate: `start_lr` must be a number > 0"),
        ({"start_lr": 1.0, "end_lr": 0.1}, r"`end_lr` must be greater than start_lr=1.0. Received: end_lr=0.1"),
        ({"steps": 5}, r"`steps` must be an integer >= 10. Received: steps=5"),
        ({"divergence": 1.0}, r"`divergence` must be a number > 1"),
        ({"optimizer": "adamm"}, r"`optimizer` must be one of .*did you mean 'adam'"),
        ({"loss": "hubber"}, r"`loss` must be one of .*did you mean 'huber'"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(KerakitError, match=message):
        find_learning_rate("mlp", "digits", **kwargs)


def test_lr_find_on_the_command_line(tmp_path, capsys):
    from kerakit.cli import main

    out = tmp_path / "sweep.png"
    status = main(["lr-find", "--blueprint", "mlp", "--arg", "hidden_units=(16,)", "--steps", "30", "--start-lr",
                   "1e-4", "--end-lr", "10", "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0 and out.exists()
    assert "suggested learning rate: " in printed and f"plot: {out}" in printed
    suggestion = float(printed.split("suggested learning rate: ")[1].split()[0])
    assert 1e-4 <= suggestion <= 10
    assert main(["lr-find", "--blueprint", "mlp", "--steps", "3"]) == 2
    assert "`steps` must be an integer >= 10" in capsys.readouterr().err
