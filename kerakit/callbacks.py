"""Callbacks the training run adds to Keras's own (EarlyStopping, ModelCheckpoint, BackupAndRestore, CSVLogger,
TerminateOnNaN, TensorBoard)."""

import time

import keras


class RunProgress(keras.callbacks.Callback):
    """Times each epoch and records progress in the run folder's status after every epoch.

    Args:
        run_folder: `kerakit.run_folder.RunFolder` or None. Where to record progress.
    """

    def __init__(self, run_folder=None):
        super().__init__()
        self.run_folder = run_folder
        self.epoch_seconds = []
        self._started = None

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._started)
        if self.run_folder is not None:
            self.run_folder.set_status("running", epochs_done=epoch + 1)


class SampleGrid(keras.callbacks.Callback):
    """Writes a PNG grid of a generative model's samples every `every` epochs (`<folder>/epoch_005.png`, ...).

    The model needs a `generate(n, seed=...)` method (`kerakit.models.VAE`, `GAN`, `DiffusionModel`). The same seed
    every time, so the grids show how the same noise develops.

    Args:
        folder: str or PathLike. Where the PNGs go (created if missing).
        every: int. Epochs between grids. Defaults to `5`.
        n: int. Samples per grid. Defaults to `64`.
        seed: int. Noise seed. Defaults to `0`.
        generate_args: dict or None. More keyword arguments of `generate` (e.g. `{"steps": 20}`).
    """

    def __init__(self, folder, every=5, n=64, seed=0, generate_args=None):
        super().__init__()
        from kerakit import errors

        errors.check_int("SampleGrid", "every", every)
        errors.check_int("SampleGrid", "n", n)
        self.folder, self.every, self.n, self.seed = folder, every, n, seed
        self.generate_args = dict(generate_args or {})
        self.written = []

    def on_epoch_end(self, epoch, logs=None):
        import math
        import pathlib

        if (epoch + 1) % self.every or not math.isfinite((logs or {}).get("loss", 0.0)):
            return
        from kerakit.plots import save_image_grid

        path = pathlib.Path(self.folder) / f"epoch_{epoch + 1:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        images = self.model.generate(self.n, seed=self.seed, **self.generate_args)
        self.written.append(save_image_grid(images, path, title=f"epoch {epoch + 1}"))


class LastGoodCheckpoint(keras.callbacks.Callback):
    """Saves the model to `path` after every epoch whose loss is finite (through a temporary file), so a run that
    diverges keeps the last good weights: Keras's `TerminateOnNaN` stops training, and this file is left as it was.

    Args:
        path: str or PathLike. The `.keras` file.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        import math

        from kerakit.run_folder import save_through_temporary

        if math.isfinite((logs or {}).get("loss", float("nan"))):
            save_through_temporary(self.path, self.model.save, ".keras")
