"""`kerakit doctor` (kerakit/doctor.py): it passes a healthy model and flags planted faults."""

import keras
import numpy as np
import pytest

from kerakit.cli import main
from kerakit.data._bundled import digits
from kerakit.doctor import doctor
from kerakit.errors import KerakitError

# The fault tests need only the checks they target: few steps keep them cheap.
SHORT = {"tiny": True, "overfit_steps": 10, "generalise_steps": 5}


def test_a_healthy_convnet_passes_every_check_and_the_gradients_are_drawn(tmp_path):
    report = doctor("convnet", "digits", tiny=True, plot=tmp_path / "norms.png")
    print(report)
    assert [c.status for c in report.checks] == ["pass"] * 8, str(report)
    assert report.ok and report.check("overfit_one_batch").value < 0.2
    assert report.check("learns_beyond_memorising").value > 0.3
    assert sorted(report.gradient_norms) == ["convnet_block1_conv1", "convnet_block1_conv1_bn",
                                             "convnet_block2_conv1", "convnet_block2_conv1_bn",
                                             "convnet_predictions"]
    assert all(0 < v < 100 for v in report.gradient_norms.values())
    assert len(report.losses["one_batch"]) == 151 and len(report.losses["stream"]) == 39
    assert (tmp_path / "norms.png").read_bytes()[:4] == b"\x89PNG"
    assert "8 passed, 0 warnings, 0 failed" in str(report)


def test_shuffled_labels_are_memorised_but_do_not_generalise():
    # What a practitioner means by "the labels are wrong": one batch can still be memorised (that check passes,
    # rightly), but nothing carries over to examples not yet seen.
    x, y, _ = digits()
    shuffled = np.random.default_rng(0).permutation(y)
    report = doctor("convnet", (x, shuffled), tiny=True, overfit_steps=100)
    assert report.check("overfit_one_batch").status == "pass", str(report)
    check = report.check("learns_beyond_memorising")
    assert check.status == "fail" and check.value < 0.2 and "shuffled" in check.advice, str(report)
    assert not report.ok


def test_softmax_output_with_a_from_logits_loss_fails_with_the_fix():
    report = doctor("convnet", "digits", blueprint_args={"classifier_activation": "softmax"},
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), **SHORT)
    check = report.check("output_and_loss")
    assert check.status == "fail" and "softmax is applied twice" in check.detail
    assert "classifier_activation=None" in check.advice and "from_logits=False" in check.advice


def test_a_learning_rate_of_10_is_flagged(capsys):
    code = main(["doctor", "--tiny", "--lr", "10", "--overfit-steps", "10", "--generalise-steps", "5", "--plot", ""])
    out = capsys.readouterr().out
    assert code == 1, out
    line = next(line for line in out.splitlines() if "learning_rate" in line and "[" in line)
    assert line.strip().startswith("[FAIL]") and ("it rose" in line or "NaN" in line), out
    assert "divide it by" in out


@pytest.mark.parametrize("kwargs, message", [
    ({"model": "convnett"}, r"Unknown blueprint 'convnett'"),
    ({"learning_rate": 0}, r"doctor: `learning_rate` must be a number > 0"),
    ({"overfit_steps": 5}, r"doctor: `overfit_steps` must be an integer >= 10"),
    ({"model": "vae"}, r"doctor: `model` must be a classifier or regressor blueprint"),
])
def test_bad_doctor_arguments_are_refused(kwargs, message):
    with pytest.raises(KerakitError, match=message):
        doctor(**{"data": "digits", **kwargs})
