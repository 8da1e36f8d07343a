"""The training run: run folder, determinism, resume after a crash, run-folder safety, bad input."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import kerakit
from kerakit.errors import KerakitError
from kerakit.training import TrainingDivergedError

TINY_CONVNET = {"filters": (4, 8), "convs_per_block": 1}


def _train(tmp_path, **kwargs):
    arguments = dict(model="convnet", data="digits", epochs=2, blueprint_args=TINY_CONVNET, verbose=0,
                     run_dir=tmp_path / "run", export=False)
    arguments.update(kwargs)
    return kerakit.train(arguments.pop("model"), arguments.pop("data"), **arguments)


def test_a_run_writes_a_complete_run_folder(tmp_path):
    result = _train(tmp_path, export=True, tensorboard=True)
    run = tmp_path / "run"
    assert result.run_dir == str(run.absolute())
    for name in ("config.json", "status.json", "model.keras", "history.csv", "history.json", "metrics.json",
                 "curves.png", "checkpoints/best.keras", "saved_model/saved_model.pb"):
        assert (run / name).exists(), name
    assert not (run / "backup").exists(), "the resume backup is removed once the run completes"
    assert list((run / "tensorboard").rglob("events.out.tfevents.*")), "TensorBoard wrote no event file"
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "complete" and status["epochs_done"] == 2
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(result.history["loss"]) == 2 and len(result.history["val_accuracy"]) == 2
    assert set(result.test_metrics) == {"loss", "accuracy"} and 0 <= result.test_metrics["accuracy"] <= 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"] == pytest.approx(result.test_metrics)
    config = json.loads((run / "config.json").read_text())
    assert config["settings"]["blueprint_args"]["input_shape"] == [8, 8, 1]
    assert config["settings"]["blueprint_args"]["num_classes"] == 10
    assert config["environment"]["backend"] == keras.backend.backend()
    restored = keras.saving.load_model(run / "model.keras", safe_mode=True)
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype="float32")
    np.testing.assert_allclose(restored.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-6)


def test_the_same_seed_gives_the_same_metrics(tmp_path):
    first = _train(tmp_path, run_dir=tmp_path / "a", seed=3)
    second = _train(tmp_path, run_dir=tmp_path / "b", seed=3)
    other = _train(tmp_path, run_dir=tmp_path / "c", seed=4)
    assert first.test_metrics == second.test_metrics
    assert first.history["loss"] == second.history["loss"]
    assert other.history["loss"] != first.history["loss"]


def test_automatic_run_folders_never_overwrite_a_finished_run(tmp_path):
    first = _train(tmp_path, run_dir=None, runs_root=tmp_path / "runs", epochs=1)
    second = _train(tmp_path, run_dir=None, runs_root=tmp_path / "runs", epochs=1)
    assert os.path.basename(first.run_dir) == "convnet-digits"
    assert os.path.basename(second.run_dir) == "convnet-digits-2"
    assert not first.resumed and not second.resumed


def test_an_explicit_run_dir_holding_a_complete_run_is_refused_unless_overwrite(tmp_path):
    _train(tmp_path, epochs=1)
    before = (tmp_path / "run" / "metrics.json").read_text()
    with pytest.raises(KerakitError, match=r"already holds a complete run; it will not be overwritten.*overwrite=True"):
        _train(tmp_path, epochs=1, seed=9)
    assert (tmp_path / "run" / "metrics.json").read_text() == before
    result = _train(tmp_path, epochs=1, seed=9, overwrite=True)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["settings"]["seed"] == 9
    assert not result.resumed


def test_a_folder_that_is_not_a_run_is_never_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "precious.txt").write_text("keep me")
    with pytest.raises(KerakitError, match=r"already holds files that are not a kerakit run"):
        _train(tmp_path)
    assert (tmp_path / "run" / "precious.txt").read_text() == "keep me"


class _CrashAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_a_crashed_run_is_marked_failed_and_the_same_call_resumes_it(tmp_path):
    with pytest.raises(RuntimeError, match="simulated crash"):
        _train(tmp_path, epochs=4, callbacks=[_CrashAtEpoch(2)])
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "failed" and "simulated crash" in status["reason"]
    assert status["epochs_done"] == 2
    result = _train(tmp_path, epochs=4)
    assert result.resumed
    assert len(result.epoch_seconds) == 2, "only the two missing epochs were trained"
    assert len(result.history["loss"]) == 4, "the history spans the whole run"
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "complete"


def test_a_killed_run_resumes_when_the_same_command_runs_again(tmp_path):
    # SIGKILL in the middle of epoch 3 of 4: no Python cleanup runs, status.json still says "running".
    script = textwrap.dedent(f"""
        import os, signal, keras, kerakit
        class Kill(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 2:
                    os.kill(os.getpid(), signal.SIGKILL)
        kerakit.train("convnet", "digits", epochs=4, blueprint_args={TINY_CONVNET!r}, verbose=0, export=False,
                      run_dir={str(tmp_path / "run")!r}, callbacks=[Kill()])
    """)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "running"
    result = _train(tmp_path, epochs=4)
    assert result.resumed and len(result.epoch_seconds) == 2 and len(result.history["loss"]) == 4


def test_a_different_command_does_not_resume_an_unfinished_run(tmp_path):
    with pytest.raises(RuntimeError):
        _train(tmp_path, epochs=4, callbacks=[_CrashAtEpoch(1)])
    with pytest.raises(KerakitError, match=r"unfinished run with other settings \(learning_rate: 0.003 -> 0.01\)"):
        _train(tmp_path, epochs=4, learning_rate=0.01)


def test_a_built_model_trains_on_numpy_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = kerakit.build("mlp", input_shape=(5,), num_classes=2, hidden_units=(16,), classifier_activation="softmax")
    result = kerakit.train(model, (x, y), epochs=15, learning_rate=0.01, verbose=0, run_dir=tmp_path / "run",
                           export=False)
    assert result.test_metrics["accuracy"] >= 0.8
    assert result.config["settings"]["model"] == "mlp"


def test_divergence_is_reported_and_the_run_marked_failed(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(64, 4)) * 1e30).astype("float32")
    y = rng.normal(size=(64,)).astype("float32")
    with pytest.raises(TrainingDivergedError, match=r"the loss became (nan|inf) at epoch 1"):
        kerakit.train("mlp", (x, y), epochs=3, optimizer="sgd", learning_rate=1.0, schedule="constant",
                      verbose=0, run_dir=tmp_path / "run", export=False)
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "failed" and "TrainingDivergedError" in status["reason"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model": "convnt"}, r"Unknown blueprint 'convnt'. Did you mean: convnet"),
        ({"data": "digit"}, r"Unknown bundled dataset 'digit'. Did you mean: digits"),
        ({"blueprint_args": {**TINY_CONVNET, "input_shape": (28, 28, 1)}},
         r"convnet: `input_shape` must be \(8, 8, 1\) to match the data 'digits'. Received: input_shape=\(28, 28, 1\)"),
        ({"blueprint_args": {**TINY_CONVNET, "num_classes": 3}}, r"`num_classes` must be 10 to match the data"),
        ({"epochs": 0}, r"train: `epochs` must be an integer >= 1. Received: epochs=0"),
        ({"optimizer": "adamm"}, r"`optimizer` must be one of .*did you mean 'adam'.*Received: optimizer='adamm'"),
        ({"schedule": "cosin"}, r"`schedule` must be one of \['constant', 'step', 'cosine', .*\] \(did you mean 'cosine'"),
        ({"warmup_epochs": 5}, r"`warmup_epochs` must be a number in \[0, epochs=2\)"),
        ({"warmup_epochs": 2}, r"`warmup_epochs` must be a number in \[0, epochs=2\)"),
        ({"batch_size": -4}, r"`batch_size` must be an integer >= 1. Received: batch_size=-4"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(tmp_path, kwargs, message):
    with pytest.raises(KerakitError, match=message):
        _train(tmp_path, **kwargs)
    assert not (tmp_path / "run").exists(), "no run folder is created for a refused run"


def test_a_built_model_that_does_not_fit_the_data_is_refused(tmp_path):
    model = kerakit.build("mlp", input_shape=(28, 28, 1), num_classes=10, hidden_units=(4,))
    with pytest.raises(KerakitError, match=r"a model taking inputs of shape \(8, 8, 1\).*input_shape=\(28, 28, 1\)"):
        kerakit.train(model, "digits", epochs=1, verbose=0, run_dir=tmp_path / "run")
    model = kerakit.build("mlp", input_shape=(8, 8, 1), num_classes=4, hidden_units=(4,))
    with pytest.raises(KerakitError, match=r"a model with 10 outputs"):
        kerakit.train(model, "digits", epochs=1, verbose=0, run_dir=tmp_path / "run")


def test_an_unwritable_run_dir_is_refused(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(KerakitError, match=r"run_dir: cannot create .* is a file, not a folder"):
        _train(tmp_path, run_dir=tmp_path / "a_file" / "run")


def test_train_from_config_repeats_the_run(tmp_path):
    first = _train(tmp_path, epochs=1, seed=5)
    again = kerakit.training.train_from_config(tmp_path / "run" / "config.json", run_dir=tmp_path / "again")
    assert again.test_metrics == first.test_metrics
