"""Child process of `tests/test_distribute_multihost.py` (JAX): one process of a multi-process job, or a model-parallel
run on virtual devices. Prints one line `RESULT {json}` on stdout.

    python tests/_multihost_child.py job PORT NUM_PROCESSES PROCESS_ID RUN_DIR KILL_EPOCH [wait]
        `kerakit.train` of a tiny MLP for 3 epochs, data-parallel over the job (global batch 16); with
        KILL_EPOCH >= 0 process 1 kills itself (SIGKILL) in the middle of that epoch. Records the epochs this call
        trained. Process 0 then trains the same model on the same global batches alone (no job), for comparison.
        With `wait`, it imports, then waits for a line on stdin before it joins the job.
    python tests/_multihost_child.py unreachable PORT
        process 1 of 2 joins a coordinator that is not there, with a 3 s timeout.
    python tests/_multihost_child.py model_parallel
        (with XLA_FLAGS=--xla_force_host_platform_device_count=4) gpt_nano's weights sharded over 4 devices vs one
        device: layouts, per-device shard shapes and training losses; a layout that does not divide.
"""

import json
import os
import signal
import sys
import time

import keras
import numpy as np

import kerakit
import kerakit.distribute as distribute


def report(result):
    print("RESULT " + json.dumps(result))
    sys.stdout.flush()


def bundle():
    import tensorflow as tf

    import kerakit.data

    rng = np.random.default_rng(1)
    x = rng.normal(size=(160, 8)).astype("float32")
    y = rng.integers(0, 3, size=160)
    data = kerakit.data.from_arrays(x, y, batch_size=16, validation_fraction=0.2, test_fraction=0.2)
    # The first 96 examples in a fixed order (no shuffling), so every run compared sees the same global batches.
    in_order = tf.data.Dataset.from_tensor_slices((x[:96], y[:96])).batch(16)
    import dataclasses

    return dataclasses.replace(data, train=in_order)


def train(run_dir, epochs=2, callbacks=None, **job):
    return kerakit.train("mlp", bundle(), epochs=epochs, batch_size=16, optimizer="sgd", learning_rate=0.1,
                         schedule="constant", blueprint_args={"hidden_units": (16,), "dropout": 0.0},
                         devices="all" if job else None, early_stopping=None, export=False, verbose=0,
                         run_dir=run_dir, callbacks=callbacks, **job)


def job_of(argv):
    return {"coordinator": f"127.0.0.1:{argv[0]}", "num_processes": int(argv[1]), "process_id": int(argv[2])}


def job(argv):
    job = job_of(argv)
    kill_epoch = int(argv[4])
    if len(argv) > 5 and argv[5] == "wait":  # started early, to import while another job runs: wait for the go
        sys.stdin.readline()
    seen = {"epochs": []}

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen["epochs"].append(epoch)

        def on_train_batch_end(self, batch, logs=None):
            if job["process_id"] == 1 and seen["epochs"][-1] == kill_epoch and batch == 1:
                os.kill(os.getpid(), signal.SIGKILL)  # killed mid-epoch, after the backup of the epoch before

    run = train(argv[3], epochs=3, callbacks=[Record()], **job)
    result = {"process_id": job["process_id"], "epochs_trained_here": seen["epochs"], "resumed": run.resumed,
              "devices": run.config["devices"], "describe": distribute.describe("all"),
              "global_devices": len(keras.distribution.list_devices()), "losses": run.history["loss"],
              "weights": [w.ravel().tolist() for w in run.model.get_weights()],
              "files": sorted(os.listdir(argv[3])) if job["process_id"] == 0 else None}
    if job["process_id"] == 0:  # the same training in this process alone, on one device, uninterrupted
        single = train(argv[3] + "-single", epochs=3)
        result["single"] = {"losses": single.history["loss"],
                            "weights": [w.ravel().tolist() for w in single.model.get_weights()]}
    report(result)


def unreachable(argv):
    started = time.perf_counter()
    try:
        distribute.initialize(f"127.0.0.1:{argv[0]}", num_processes=2, process_id=1, timeout=3)
        report({"error": None})
    except kerakit.KerakitError as error:
        report({"error": str(error), "seconds": time.perf_counter() - started})


def model_parallel(argv):
    from kerakit.registry import get_blueprint

    config = {**get_blueprint("gpt_nano").tiny, "num_heads": 4}  # 16 wide, 4 heads, 64 feed-forward units
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, config["vocabulary_size"], size=(8, config["max_length"] + 1))
    x, y = tokens[:, :-1], tokens[:, 1:]

    def fit(model):
        model.compile(optimizer=keras.optimizers.SGD(0.5),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
        return history.history["loss"]

    keras.utils.set_random_seed(0)
    single = kerakit.build("gpt_nano", **config)
    weights = single.get_weights()
    single_losses = fit(single)
    distribution = distribute.model_parallel("gpt_nano", devices=4, model_shards=4)
    with distribution.scope():
        sharded = kerakit.build("gpt_nano", **config)
        sharded.set_weights(weights)
        sharded_losses = fit(sharded)
    layouts = {}
    for weight in sharded.weights:
        value = weight.value
        shards = value.addressable_shards
        layouts[weight.path] = {"shape": list(value.shape), "spec": [a for a in value.sharding.spec],
                                "devices": len(value.sharding.device_set),
                                "shard_shapes": sorted({tuple(s.data.shape) for s in shards}),
                                "shard_elements": sum(int(np.prod(s.data.shape)) for s in shards)}
    try:
        with distribute.model_parallel("gpt_nano", devices=4, model_shards=4).scope():
            kerakit.build("gpt_nano", **{**config, "num_heads": 2})
        error = None
    except kerakit.KerakitError as caught:
        error = str(caught)
    report({"single": single_losses, "sharded": sharded_losses, "layouts": layouts, "indivisible": error,
            "mesh": list(distribution.device_mesh.shape)})


if __name__ == "__main__":
    {"job": job, "unreachable": unreachable,
     "model_parallel": model_parallel}[sys.argv[1]](sys.argv[2:])
