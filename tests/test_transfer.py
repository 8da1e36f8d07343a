"""Transfer learning in a run (kerakit/transfer.py): init_from, a frozen-backbone phase, then partial fine-tuning."""

import json

import keras
import numpy as np
import pytest

import kerakit
from kerakit.cli import main
from kerakit.data._bundled import digits
from kerakit.errors import KerakitError

TINY_CONVNET = {"filters": (4, 8), "convs_per_block": 1, "dropout": 0.0}


def _digits(classes):
    x, y, _ = digits()
    keep = np.isin(y, classes)
    return x[keep], np.searchsorted(np.asarray(classes), y[keep]).astype("int32")


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A convnet trained on the digits 0-5: the model the transfer runs start from."""
    run = tmp_path_factory.mktemp("source") / "run"
    kerakit.train("convnet", _digits(list(range(6))), epochs=2, blueprint_args=TINY_CONVNET, verbose=0, run_dir=run,
                  export=False, early_stopping=None)
    return run


def _weights(model, layer):
    return [np.array(w) for w in model.get_layer(layer).weights]


class _Recorder(keras.callbacks.Callback):
    """Records, at every epoch's end, the learning rate and the weights of the stages."""

    def __init__(self):
        super().__init__()
        self.records = []

    def on_epoch_end(self, epoch, logs=None):
        self.records.append({
            "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "block1": _weights(self.model, "convnet_block1_conv1") + _weights(self.model, "convnet_block1_conv1_bn"),
            "block2": _weights(self.model, "convnet_block2_conv1") + _weights(self.model, "convnet_block2_conv1_bn"),
            "head": _weights(self.model, "convnet_predictions"),
            "trainable": {layer.name: layer.trainable for layer in self.model.layers if layer.weights},
        })


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_frozen_head_phase_then_top_stage_fine_tuning(source_run, tmp_path):
    source = keras.saving.load_model(source_run / "model.keras")
    recorder = _Recorder()
    result = kerakit.train("convnet", _digits([6, 7, 8, 9]), epochs=3, blueprint_args=TINY_CONVNET, verbose=0,
                           run_dir=tmp_path / "run", export=False, early_stopping=None, schedule="constant",
                           learning_rate=0.01, init_from=source_run, freeze_epochs=1, unfreeze_stages=1,
                           fine_tune_lr_factor=0.1, callbacks=[recorder])
    first, last = recorder.records[0], recorder.records[-1]
    block1 = _weights(source, "convnet_block1_conv1") + _weights(source, "convnet_block1_conv1_bn")
    block2 = _weights(source, "convnet_block2_conv1") + _weights(source, "convnet_block2_conv1_bn")
    # Phase 1: the backbone is frozen, batch-norm moving statistics included (inference mode); the new head trains.
    assert _same(first["block1"], block1) and _same(first["block2"], block2)
    assert first["head"][0].shape == (8, 4)  # a fresh 4-class head (the source had 6 classes)
    assert first["learning_rate"] == pytest.approx(0.01)
    assert first["trainable"] == {"convnet_block1_conv1": False, "convnet_block1_conv1_bn": False,
                                  "convnet_block2_conv1": False, "convnet_block2_conv1_bn": False,
                                  "convnet_predictions": True}
    # Phase 2: the top stage (block 2) trains at a tenth of the rate; block 1 stays frozen.
    assert last["learning_rate"] == pytest.approx(0.001)
    assert _same(last["block1"], block1)
    assert not _same(last["block2"], block2) and not _same(last["head"], first["head"])
    assert last["trainable"]["convnet_block2_conv1_bn"] and not last["trainable"]["convnet_block1_conv1"]
    assert len(result.history["loss"]) == 3  # one history over both phases
    assert result.history["loss"][-1] < result.history["loss"][0]
    settings = json.loads((tmp_path / "run" / "config.json").read_text())["settings"]
    assert settings["freeze_epochs"] == 1 and settings["unfreeze_stages"] == 1
    assert not (tmp_path / "run" / "backup").exists()


def test_cli_fine_tunes_everything_after_a_frozen_epoch(source_run, tmp_path, capsys):
    run = tmp_path / "cli"
    code = main(["train", "--epochs", "2", "--arg", "filters=(4,8)", "--arg", "convs_per_block=1", "--run-dir",
                 str(run), "--quiet", "--no-export", "--init-from", str(source_run / "model.keras"),
                 "--freeze-epochs", "1", "--unfreeze-stages", "all"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert json.loads((run / "status.json").read_text())["status"] == "complete"
    assert (run / "checkpoints" / "phase1.weights.h5").exists()
    source, tuned = keras.saving.load_model(source_run / "model.keras"), keras.saving.load_model(run / "model.keras")
    assert not _same(_weights(tuned, "convnet_block1_conv1"), _weights(source, "convnet_block1_conv1"))
    assert tuned.output_shape == (None, 10)


def test_matching_weights_are_copied_by_name_and_shape(source_run):
    from kerakit.transfer import copy_matching_weights

    model = kerakit.build("convnet", input_shape=(8, 8, 1), num_classes=3, **TINY_CONVNET)
    copied, kept = copy_matching_weights(source_run / "model.keras", model, verbose=False)
    assert copied == ["convnet_block1_conv1", "convnet_block1_conv1_bn", "convnet_block2_conv1",
                      "convnet_block2_conv1_bn"]
    assert kept == ["convnet_predictions"]
    source = keras.saving.load_model(source_run / "model.keras")
    assert _same(_weights(model, "convnet_block2_conv1_bn"), _weights(source, "convnet_block2_conv1_bn"))


@pytest.mark.parametrize("kwargs, message", [
    ({"freeze_epochs": 2}, r"train: `freeze_epochs` must be smaller than epochs=2"),
    ({"freeze_epochs": -1}, r"`freeze_epochs` must be an integer >= 0"),
    ({"unfreeze_stages": "top"}, r"`unfreeze_stages` must be an integer >= 0. Received: unfreeze_stages='top'"),
    ({"unfreeze_stages": 3}, r"`unfreeze_stages` must be 'all' or at most 2 \(the stages of convnet\)"),
    ({"fine_tune_lr_factor": 0}, r"`fine_tune_lr_factor` must be a number in \(0, 1\]"),
    ({"init_from": "nowhere.keras"}, r"`init_from` must be a .keras model file or a run folder holding model.keras"),
])
def test_bad_transfer_arguments_are_refused(tmp_path, kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.train("convnet", "digits", epochs=2, blueprint_args=TINY_CONVNET, verbose=0, run_dir=tmp_path / "r",
                      export=False, **kwargs)


def test_a_model_without_stages_cannot_freeze_a_backbone(tmp_path):
    with pytest.raises(KerakitError, match=r"`freeze_epochs` must be 0 / 'all' for 'mlp', which is not an image "
                                           r"model with stages"):
        kerakit.train("mlp", "digits", epochs=2, verbose=0, run_dir=tmp_path / "r", export=False, freeze_epochs=1)


def test_init_from_a_model_that_shares_no_layer_is_refused(source_run, tmp_path):
    with pytest.raises(KerakitError, match=r"shares no layer \(same name and weight shapes\) with 'mlp'"):
        kerakit.train("mlp", "digits", epochs=1, verbose=0, run_dir=tmp_path / "r", export=False,
                      init_from=source_run)


class _Snapshot(keras.callbacks.Callback):
    """Keeps every weight of the model as `fit` starts (after the run quantized it and enabled LoRA)."""

    def on_train_begin(self, logs=None):
        self.weights = {w.path: np.array(w) for w in self.model.weights}


def test_int8_lora_run_trains_only_the_lora_weights_and_exports_exactly(tmp_path):
    import tensorflow as tf

    snapshot = _Snapshot()
    result = kerakit.train("convnet", _digits([0, 1, 2]), epochs=2, blueprint_args=TINY_CONVNET, verbose=0,
                           run_dir=tmp_path / "run", early_stopping=None, quantize="int8", lora_rank=2,
                           learning_rate=1e-2, callbacks=[snapshot])
    model = result.model
    head = model.get_layer("convnet_predictions")
    dtypes = {w.path: keras.backend.standardize_dtype(w.dtype) for w in model.weights}
    assert head.quantization_mode == "int8" and dtypes["convnet_predictions/kernel"] == "int8"
    assert dtypes["convnet_block1_conv1/kernel"] == "float32", "Keras does not quantize convolutions"
    assert sorted(w.path.split("/")[-1] for w in model.trainable_weights) == ["lora_kernel_a", "lora_kernel_b"]
    after = {w.path: np.array(w) for w in model.weights}
    lora = [p for p in after if "lora_kernel" in p]
    frozen = [p for p in after if "lora_kernel" not in p and "seed_generator" not in p]
    assert len(frozen) >= 10 and {p.split("/")[-1] for p in frozen} >= {"kernel", "kernel_scale", "gamma",
                                                                       "moving_mean"}
    moved = [p for p in frozen if not np.array_equal(snapshot.weights[p], after[p])]
    assert not moved, f"non-LoRA weights moved: {moved}"
    assert not np.array_equal(snapshot.weights["convnet_predictions/lora_kernel_b"],
                              after["convnet_predictions/lora_kernel_b"]), "the LoRA weights did not train"
    assert set(lora) == {"convnet_predictions/lora_kernel_a", "convnet_predictions/lora_kernel_b"}
    x = _digits([0, 1, 2])[0][:16]
    expected = model.predict(x, verbose=0)
    exported = tf.saved_model.load(result.saved_model)  # the SavedModel keeps LoRA apart: exact
    np.testing.assert_allclose(np.asarray(exported.serve(x)), expected, atol=1e-5)
    # .keras: Keras merges each LoRA update into its int8 kernel and quantizes again (lossy, by design).
    loaded = kerakit.export.load_keras_model(tmp_path / "run" / "model.keras")
    assert loaded.get_layer("convnet_predictions").quantization_mode == "int8"
    difference = np.abs(loaded.predict(x, verbose=0) - expected).max()
    assert 0 <= difference < 0.1 * np.abs(expected).max(), difference


@pytest.mark.parametrize("kwargs, message", [
    ({"quantize": "int8"}, r"train: `quantize` must be None without lora_rank \(int8 kernels do not train"),
    ({"quantize": "int4", "lora_rank": 2}, r"`quantize` must be one of \['int8'\]"),
])
def test_bad_quantize_arguments_are_refused(tmp_path, kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.train("convnet", "digits", epochs=1, blueprint_args=TINY_CONVNET, verbose=0, run_dir=tmp_path / "r",
                      export=False, **kwargs)
    assert not (tmp_path / "r").exists()
