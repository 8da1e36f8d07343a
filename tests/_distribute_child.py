"""Child process of `tests/test_distribute.py`: the same training on one device and data-parallel on two.

Virtual devices must exist before the backend starts, hence a fresh process. The parent sets `KERAS_BACKEND`, and
for JAX `XLA_FLAGS=--xla_force_host_platform_device_count=2`; for TensorFlow the CPU is split into two logical
devices here, before anything else touches TensorFlow. Prints one line `RESULT {json}` on stdout.

Runs (an MLP from `kerakit.build`, no dropout, SGD, no shuffling, every model loading the same saved initial
weights, global batches of 16):

- `single`/`parallel`: 64 examples (4 full batches), 3 epochs, one device vs built inside `scope(2)`.
- `single_partial`/`parallel_partial`: 69 examples (last batch 5), through `prepare_dataset(..., 2)` (last batch
  trimmed to 4); the parallel model is built *outside* the scope and handed to `replicate`.
- `raw_single`/`raw_parallel`: the same 69 examples without `prepare_dataset`, to record what each backend does
  with a global batch that two devices cannot share evenly.
- `bn_single`/`bn_parallel`: the MLP with batch normalisation, 64 examples; then how far the per-device copies of
  the weights drifted apart, what that does to `predict`, and `sync_replicas`/`sync_callback`.
"""

import dataclasses
import json
import os
import sys
import tempfile

BACKEND = os.environ["KERAS_BACKEND"]
if BACKEND == "tensorflow":
    import tensorflow as tf

    _cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerakit  # noqa: E402
import kerakit.data  # noqa: E402
import kerakit.distribute  # noqa: E402

EPOCHS = 3


def dataset(n):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(69, 8, 8, 1)).astype("float32")[:n]
    y = rng.integers(0, 3, size=69)[:n]
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def build(weights_path, batch_norm=False):
    model = kerakit.build(
        "mlp", input_shape=(8, 8, 1), num_classes=3, hidden_units=(32, 16), dropout=0.0, batch_norm=batch_norm
    )
    model.load_weights(weights_path)
    return model


def one_device_copy(model):
    """A model on one device (built outside any scope) with `model.get_weights()`: what `save`/`export` see."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def compile_(model):
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )


class StepLosses(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def fit(model, data):
    record = StepLosses()
    model.fit(data, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=[record])
    return {"losses": record.losses, "weights": [w.ravel().tolist() for w in model.get_weights()]}


def placement(distribution, model):
    """How many devices the distribution spans and how many hold a copy of the first weight, read from the backend."""
    weight = model.weights[0].value
    if BACKEND == "jax":
        return {
            "replicas": len(distribution.device_mesh.devices.flatten()),
            "weight_devices": len(weight.sharding.device_set),
        }
    return {"replicas": distribution.num_replicas_in_sync, "weight_devices": len(weight.values)}


def main():
    result = {"local_devices": kerakit.distribute.local_devices(), "describe": kerakit.distribute.describe(2)}
    keras.utils.set_random_seed(0)
    folder = tempfile.mkdtemp(prefix="kerakit_distribute_")
    weights_path = os.path.join(folder, "initial.weights.h5")
    kerakit.build("mlp", input_shape=(8, 8, 1), num_classes=3, hidden_units=(32, 16), dropout=0.0).save_weights(
        weights_path
    )
    bn_weights_path = os.path.join(folder, "initial_bn.weights.h5")
    kerakit.build(
        "mlp", input_shape=(8, 8, 1), num_classes=3, hidden_units=(32, 16), dropout=0.0, batch_norm=True
    ).save_weights(bn_weights_path)

    # Full batches: built inside the scope.
    model = build(weights_path)
    compile_(model)
    result["single"] = fit(model, dataset(64))
    with kerakit.distribute.scope(2) as distribution:
        model = build(weights_path)
        compile_(model)
        result["parallel"] = {**fit(model, dataset(64)), **placement(distribution, model)}

    # A last batch of 5: prepared, and a model built outside the scope, replicated.
    prepared = kerakit.distribute.prepare_dataset(dataset(69), 2, batch_size=16)
    result["prepared_batches"] = [int(x.shape[0]) for x, _ in prepared]
    model = build(weights_path)
    compile_(model)
    result["single_partial"] = fit(model, prepared)
    prebuilt = build(weights_path)
    compile_(prebuilt)
    model = kerakit.distribute.replicate(prebuilt, 2)
    result["replicate_made_new_model"] = model is not prebuilt
    result["replicate_again_is_same"] = kerakit.distribute.replicate(model, 2) is model
    with kerakit.distribute.scope(2) as distribution:
        compile_(model)
        result["parallel_partial"] = {**fit(model, prepared), **placement(distribution, model)}

    # The same 69 examples, not prepared: what the backends do with a batch of 5 on 2 devices.
    model = build(weights_path)
    compile_(model)
    result["raw_single"] = fit(model, dataset(69))
    with kerakit.distribute.scope(2):
        model = build(weights_path)
        compile_(model)
        try:
            result["raw_parallel"] = fit(model, dataset(69))
        except Exception as error:  # recorded, asserted by the parent
            result["raw_parallel"] = {"error": f"{type(error).__name__}: {error}"[:300]}

    # Batch normalisation: training, then the per-device copies of the moving statistics.
    x16 = next(iter(dataset(16)))[0].numpy()
    model = build(bn_weights_path, batch_norm=True)
    compile_(model)
    result["bn_single"] = fit(model, dataset(64))
    with kerakit.distribute.scope(2):
        model = build(bn_weights_path, batch_norm=True)
        compile_(model)
        result["bn_parallel"] = fit(model, dataset(64))
    # Outside the scope: on TensorFlow the model keeps its strategy, so `predict` still runs on both devices.
    before = one_device_copy(model)
    result["bn_predict_gap_before_sync"] = float(
        np.abs(model.predict(x16, verbose=0) - before.predict(x16, verbose=0)).max()
    )
    result["bn_divergence"] = kerakit.distribute.sync_replicas(model)
    result["bn_divergence_after_sync"] = kerakit.distribute.sync_replicas(model)
    after = one_device_copy(model)
    result["bn_predict_gap_after_sync"] = float(
        np.abs(model.predict(x16, verbose=0) - after.predict(x16, verbose=0)).max()
    )
    with kerakit.distribute.scope(2):
        model = build(bn_weights_path, batch_norm=True)
        compile_(model)
        callbacks = [kerakit.distribute.sync_callback()]
        model.fit(dataset(64), validation_data=dataset(32), epochs=1, verbose=0, callbacks=callbacks)
        result["bn_divergence_with_callback"] = kerakit.distribute.sync_replicas(model)

    # The training run end to end: kerakit.train on one device and with devices=2, same seed and data. The training
    # set is not shuffled here: Keras's TensorFlow input pipeline for a strategy opens one more iterator over the
    # dataset than one-device training does, so a reshuffling dataset hands the two runs different orders.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(160, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, size=160)
    bundle = kerakit.data.from_arrays(x, y, batch_size=16, validation_fraction=0.2, test_fraction=0.2)
    in_order = tf.data.Dataset.from_tensor_slices(
        tuple(np.concatenate(parts) for parts in zip(*bundle.train.as_numpy_iterator()))).batch(16)
    bundle = dataclasses.replace(bundle, train=in_order)
    for key, devices in (("run_single", None), ("run_parallel", 2)):
        run = kerakit.train("mlp", bundle, epochs=2, batch_size=16, optimizer="sgd", learning_rate=0.05,
                            schedule="constant", blueprint_args={"hidden_units": (16,)}, devices=devices,
                            early_stopping=None, export=False, verbose=0, run_dir=os.path.join(folder, key))
        result[key] = {"losses": run.history["loss"], "test": run.test_metrics,
                       "devices": run.config["devices"]}

    print("RESULT " + json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
