"""The training run and the CLI with generative blueprints: autoencoders, a VAE and a GAN on the bundled digits."""

import json
import os

import keras
import numpy as np
import pytest

import kerakit
from kerakit import cli
from kerakit.errors import KerakitError
from kerakit.training import TrainingDivergedError


def _tiny(name):
    arguments = dict(kerakit.get_blueprint(name).tiny)
    arguments.pop("input_shape", None)  # the run fills it from the data
    return arguments


def _png_size(path):
    with open(path, "rb") as handle:
        header = handle.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return kerakit.train("vae", "digits", epochs=2, batch_size=64, blueprint_args=_tiny("vae"), sample_every=1,
                         runs_root=str(root), verbose=0, learning_rate=1e-3)


def test_a_vae_run_trains_on_images_writes_sample_grids_and_exports_its_decoder(vae_run):
    run = vae_run.run_dir
    history = vae_run.history
    assert {"loss", "reconstruction_loss", "kl_loss", "val_loss"} <= set(history)
    assert history["loss"][1] < history["loss"][0]
    assert np.isfinite(vae_run.test_metrics["loss"])
    for name in ("samples/epoch_001.png", "samples/epoch_002.png", "samples.png", "checkpoints/last.keras",
                 "checkpoints/best.keras", "model.keras"):
        assert os.path.exists(os.path.join(run, name)), name
    width, height = _png_size(os.path.join(run, "samples.png"))
    assert width > 100 and height > 100
    import tensorflow as tf

    exported = tf.saved_model.load(vae_run.saved_model)  # the decoder: latent vectors -> images
    latent = np.random.default_rng(0).normal(size=(5, vae_run.model.latent_dim)).astype("float32")
    served = np.asarray(exported.serve(latent))
    assert served.shape == (5, 8, 8, 1)
    np.testing.assert_allclose(served, vae_run.model.generating_network.predict(latent, verbose=0), atol=1e-4)


def test_kerakit_sample_writes_a_grid_from_a_run_and_refuses_options_the_model_lacks(vae_run, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert cli.main(["sample", vae_run.run_dir, "--n", "16", "--seed", "3", "--out", str(out)]) == 0
    assert "16 samples" in capsys.readouterr().out
    assert _png_size(out)[0] > 50
    status = cli.main(["sample", vae_run.run_dir, "--steps", "20", "--out", str(tmp_path / "no.png")])
    assert status == cli.EXIT_USER_ERROR
    assert "sample: `--steps` must be an option VAE.generate takes" in capsys.readouterr().err
    assert not (tmp_path / "no.png").exists()


def test_kerakit_sample_refuses_a_classifier_run(tmp_path, capsys):
    path = tmp_path / "mlp.keras"
    kerakit.build("mlp", input_shape=(4,), num_classes=2, hidden_units=(4,)).save(path)
    assert cli.main(["sample", str(path)]) == cli.EXIT_USER_ERROR
    assert "sample: `source` must be a generative run or model (VAE, GAN, diffusion)" in capsys.readouterr().err


def test_an_autoencoder_run_learns_to_give_back_its_input(tmp_path):
    result = kerakit.train("autoencoder", "digits", epochs=3, batch_size=64, blueprint_args=_tiny("autoencoder"),
                           runs_root=str(tmp_path), verbose=0, export=False)
    settings = json.loads((tmp_path / os.path.basename(result.run_dir) / "config.json").read_text())["settings"]
    assert "num_classes" not in settings["blueprint_args"]  # the labels are not an autoencoder's business
    assert result.history["loss"][-1] < result.history["loss"][0]
    x, _ = next(iter(kerakit.data.load("digits", batch_size=16).test))
    reconstruction = result.model.predict(x, verbose=0)
    assert reconstruction.shape == tuple(x.shape)
    # Its test loss is the MSE between the test images and their reconstructions.
    assert abs(result.test_metrics["loss"] - result.model.evaluate(
        kerakit.data.load("digits", batch_size=64).test.map(lambda a, b: (a, a)), verbose=0)[0]) < 1e-5


def test_a_gan_run_logs_both_losses_and_turns_early_stopping_off(tmp_path):
    result = kerakit.train("dcgan", "digits", epochs=2, batch_size=64, blueprint_args=_tiny("dcgan"),
                           runs_root=str(tmp_path), verbose=0, export=False, sample_every=0, early_stopping=1,
                           learning_rate=2e-4, schedule="constant")
    assert {"d_loss", "g_loss", "loss"} <= set(result.history)
    assert len(result.history["loss"]) == 2  # no early stopping on a GAN's losses
    assert os.path.exists(os.path.join(result.run_dir, "samples.png"))
    assert not os.path.exists(os.path.join(result.run_dir, "samples"))  # sample_every=0: only the final grid


class _PoisonAtEpoch(keras.callbacks.Callback):
    """Remembers the weights after each epoch, and turns every weight into NaN when epoch `at` begins."""

    def __init__(self, at):
        super().__init__()
        self.at, self.good = at, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.at:
            self.good = [np.array(w) for w in self.model.weights]

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            for weight in self.model.trainable_weights:
                weight.assign(np.full(weight.shape, np.nan, "float32"))


def test_a_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    poison = _PoisonAtEpoch(at=2)
    with pytest.raises(TrainingDivergedError, match="the loss became nan at epoch 3"):
        kerakit.train("vae", "digits", epochs=5, batch_size=64, blueprint_args=_tiny("vae"), runs_root=str(tmp_path),
                      verbose=0, callbacks=[poison], sample_every=1, early_stopping=None)
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert json.loads((run / "status.json").read_text())["status"] == "failed"
    last = kerakit.export.load_keras_model(run / "checkpoints" / "last.keras")
    for saved, good in zip(last.weights, poison.good):
        np.testing.assert_array_equal(np.array(saved), good)
    assert all(np.isfinite(np.array(w)).all() for w in last.weights)
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]


def test_the_run_refuses_mixing_augmentations_and_a_negative_sample_every(tmp_path):
    with pytest.raises(KerakitError, match=r"train: `augment` must be an augmentation that keeps labels"):
        kerakit.train("vae", "digits", epochs=1, augment="mixup", runs_root=str(tmp_path), verbose=0)
    with pytest.raises(KerakitError, match=r"train: `model` must be a model the run can train .*`ddpm`.*Received: "
                                           r"model='diffusion_unet'"):
        kerakit.train("diffusion_unet", "digits", epochs=1, runs_root=str(tmp_path), verbose=0)
    with pytest.raises(KerakitError, match=r"train: `loss` must be None \(VAEs, GANs, diffusion models and "
                                           r"distillers bring their own losses\). Received: loss='mae'"):
        kerakit.train("vae", "digits", epochs=1, loss="mae", runs_root=str(tmp_path), verbose=0)
    with pytest.raises(KerakitError, match=r"train: `sample_every` must be an integer >= 0. Received: sample_every=-1"):
        kerakit.train("vae", "digits", epochs=1, sample_every=-1, runs_root=str(tmp_path), verbose=0)
    assert not any(tmp_path.iterdir())  # refused before any run folder was made
