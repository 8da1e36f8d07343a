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
