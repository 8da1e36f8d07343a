"""One-host data parallelism on either backend: one way to ask for it, the backend's own machinery underneath.

```python
import keras, numpy as np, tensorflow as tf
import kerakit, kerakit.distribute

devices = kerakit.distribute.resolve_devices("all")   # ["gpu:0", "gpu:1"] on two GPUs; None on one device
x, y = np.random.rand(100, 8, 8, 1).astype("float32"), np.random.randint(0, 10, 100)
train = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)   # global batches: a multiple of the device count
train = kerakit.distribute.prepare_dataset(train, devices, batch_size=32)   # the last batch of 4 too
with kerakit.distribute.scope(devices):
    model = kerakit.build("convnet", input_shape=(8, 8, 1), num_classes=10)   # variables replicated here
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train, epochs=1, verbose=0, callbacks=[kerakit.distribute.sync_callback()])   # batch norm: see below
print(kerakit.distribute.describe(devices))   # "MirroredStrategy on 2 devices (tensorflow: gpu:0, gpu:1)"
```

Underneath:

- JAX: `keras.distribution.DataParallel(devices=...)`, made current by its `scope()`, which restores whatever
  distribution was current before on exit. Variables are replicated on every device, each global batch is split
  along its first axis, and the loss is a mean over the whole global batch, so the result equals one-device
  training up to the order of the floating-point reductions.
- TensorFlow: `tf.distribute.MirroredStrategy(devices=...)` and its `scope()`. Keras 3's `fit` works with it,
  also over several *logical* CPU devices. Each replica takes the mean over its share of the global batch and
  Keras divides it by the number of replicas before the gradients are summed, so the result equals one-device
  training only when every replica gets the same number of examples.

Device names are backend-neutral strings, `"<type>:<index>"` as `keras.distribution.list_devices()` writes them
(`"cpu:0"`, `"gpu:1"`); TensorFlow spellings (`"/device:GPU:1"`, `"/gpu:1"`) are accepted too.

Pitfalls, measured with keras 3.15, TensorFlow 2.21, JAX 0.10 (see `tests/test_distribute.py`):

- A global batch whose size is not divisible by the device count (typically the last, partial batch of an
  epoch). JAX, inside the scope, raises `IndivisibleError` in the middle of `fit`/`evaluate`/`predict`, and the
  model is left unusable: its variables have no value any more (Keras had taken them out for the jitted loop), so
  the weights trained so far are lost. TensorFlow runs on but splits the batch unevenly (e.g. 3 + 2) and weights
  the two shares equally, so that step's gradient is not the mean gradient (a batch smaller than the device count
  leaves a replica empty and shrinks the step); `evaluate` is unaffected (its loss is weighted by examples). Both
  are avoided by `prepare_dataset`, which trims such a batch to the largest multiple of the device count (at most
  `len(devices) - 1` examples are dropped per pass over the data) and drops a batch that would become empty.
  A partial batch that *is* divisible (e.g. 6 examples on 2 devices) is exact on both backends. For `predict`,
  where no example may be dropped: outside the scope a JAX model built inside it predicts any batch size;
  TensorFlow predicts uneven batches correctly.
- Batch normalisation on TensorFlow: each replica normalises with its own share's statistics (unless the layer
  is `BatchNormalization(synchronized=True)`, which Keras refuses to build on JAX, so a `.keras` file saved with
  it would not load there), so training differs slightly from one device. Worse, each replica also updates its
  own copy of the moving mean and variance, and the copies of the "mirrored" variable drift apart (by 1e-3 to
  1e-1 within a few epochs here): `predict`/`evaluate` under the strategy then depend on which replica handles
  an example, while `get_weights`, `save` and `export` see replica 0's copy only. `sync_replicas(model)` (or the
  callback from `sync_callback()`) averages the copies; any `set_weights` (e.g. `EarlyStopping` restoring the
  best weights) also makes them equal. On JAX the statistics are those of the global batch: identical to one
  device, nothing to synchronise.
- A model built outside the scope cannot be trained inside it: TensorFlow fails in the optimizer update with a
  bare `AssertionError` (its variables are not `MirroredVariable`s), JAX fails with "Received incompatible
  devices for jitted computation" (its variables live on one device). `replicate` rebuilds such a model inside
  the scope with the same weights.
- Virtual CPU devices (for testing on a CPU-only machine) must be configured before the backend initialises:
  `XLA_FLAGS=--xla_force_host_platform_device_count=N` before JAX is imported, or
  `tf.config.set_logical_device_configuration` before TensorFlow's runtime starts. Calling `local_devices`,
  `resolve_devices` (with anything but `None`/`1`) or `scope` starts the runtime.
- TPUs: `devices="tpu"` (or `"all"` on JAX, which lists TPU cores first) is data parallelism over every TPU core:
  `DataParallel` on JAX, `tf.distribute.TPUStrategy` on TensorFlow (`tpu_strategy`). Neither could be run here (no
  TPU); only the refusal on a machine without one is tested.

Beyond one process (JAX only; see `initialize`, `model_parallel` and the README's "Scaling out"):

- Several processes (hosts): `initialize(coordinator, num_processes, process_id)` joins JAX's multi-process runtime
  (what `keras.distribution.initialize` does, with a bounded wait); then `devices="all"` spans every device of
  every process, Keras gives each process its share of every global batch, and `kerakit.train` lets only process 0
  write the run folder. Two processes on loopback reach the weights of one process within 3e-8.
- TensorFlow's `MultiWorkerMirroredStrategy` is refused with a message pointing to the JAX path.
- Model parallelism: `model_parallel(blueprint, devices, model_shards)` is `keras.distribution.ModelParallel` with
  the `LayoutMap` the blueprint's module provides (`layout_map(mesh)`: the transformers and ViTs), which shards
  attention heads and feed-forward units; a layout that does not divide a weight is refused, naming the weight.
"""

import contextlib
import numbers
import re

from kerakit.errors import KerakitError

_OWNER = "kerakit.distribute"
_NAME = re.compile(r"^(?:.*device:|/)?([A-Za-z_]+):(\d+)$")
_ALIASES = {"cuda": "gpu", "rocm": "gpu", "xla_gpu": "gpu"}
# (backend, device names) -> the DataParallel / MirroredStrategy made for them; see `make_distribution`.
_DISTRIBUTIONS = {}


def _backend():
    import keras

    return keras.backend.backend()


def _all_local_devices():
    """Every device of this process that data parallelism could use, as `"<type>:<index>"`, by type."""
    backend = _backend()
    if backend == "jax":
        import jax

        seen = {}
        for platform in ("cpu", "gpu", "tpu"):
            try:
                devices = jax.local_devices(backend=platform)
            except RuntimeError:  # that platform is not installed / has no devices
                continue
            names = [f"{_ALIASES.get(d.platform, d.platform)}:{d.id}" for d in devices]
            if names:
                seen[_ALIASES.get(platform, platform)] = names
        return seen
    if backend == "tensorflow":
        import tensorflow as tf

        seen = {}
        for kind in ("GPU", "CPU"):
            names = [_canonical(d.name) for d in tf.config.list_logical_devices(kind)]
            if names:
                seen[kind.lower()] = names
        return seen
    raise KerakitError(
        f"{_OWNER}: data parallelism needs the 'jax' or 'tensorflow' backend. Received: backend={backend!r}"
    )


def _canonical(name):
    """`"/job:localhost/replica:0/task:0/device:GPU:1"`, `"/gpu:1"`, `"GPU:1"` -> `"gpu:1"`; None if not a name."""
    if not isinstance(name, str):
        return None
    match = _NAME.match(name.strip())
    if not match:
        return None
    kind = match.group(1).lower()
    return f"{_ALIASES.get(kind, kind)}:{int(match.group(2))}"


def local_devices():
    """Returns the names of the devices that `devices="all"` uses: every local accelerator, else every CPU device.

    Accelerators are GPUs (and TPUs on JAX). On a CPU-only machine that is the CPU devices: one, unless virtual
    devices were configured before the backend started (see the module docstring). Starts the backend's runtime.

    Example:

    ```python
    import kerakit.distribute
    kerakit.distribute.local_devices()  # ['cpu:0'] on a CPU-only machine
    ```
    """
    seen = _all_local_devices()
    for kind in ("tpu", "gpu", "cpu"):
        if seen.get(kind):
            return list(seen[kind])
    return []


def _error(received, reason=None, seen=None):
    """A `KerakitError` naming `devices`, what it may be, what it was, and the devices this process sees."""
    if seen is None:
        seen = _all_local_devices()
    default = next((seen[kind] for kind in ("tpu", "gpu", "cpu") if seen.get(kind)), [])
    names = [name for kind in ("tpu", "gpu", "cpu") for name in seen.get(kind, [])]
    expected = (
        f"None or 1 (no distribution), 'all', an integer n from 1 to {len(default)} (the first n of "
        f"{', '.join(default) or 'none'}), or a list of distinct device names of one type such as "
        f"{default[:2]!r}"
    )
    reason = f" ({reason})" if reason else ""
    return KerakitError(
        f"{_OWNER}: `devices` must be {expected}{reason}. Received: devices={received!r}. "
        f"Devices seen ({_backend()}): {', '.join(names) or 'none'}."
    )


def resolve_devices(devices):
    """Resolves a request for devices to a list of device names, or `None` for no distribution.

    Args:
        devices: `None`, int, str or list of str. `None` or `1`: no distribution (returns `None`, without starting
            the backend). `"all"`: every local accelerator, else every CPU device (`None` when that is a single
            device). An int `n`: the first `n` of those. A list of device names (`"gpu:0"`, `"/device:GPU:0"`...):
            those devices, all of one type, each once (a one-name list is kept: it places the model there).

    Returns:
        list of str, or None. Canonical names such as `["cpu:0", "cpu:1"]`.

    Raises:
        KerakitError: for anything else (`0`, `-1`, `"two"`, more devices than there are, an unknown name), naming
            `devices`, what was expected, what was received and the devices seen.

    Example:

    ```python
    import kerakit.distribute
    kerakit.distribute.resolve_devices(1)      # None
    kerakit.distribute.resolve_devices("all")  # None on a one-device machine; ['gpu:0', 'gpu:1'] on two GPUs
    ```
    """
    is_int = isinstance(devices, numbers.Integral) and not isinstance(devices, bool)
    if devices is None or (is_int and devices == 1):
        return None
    if isinstance(devices, str) and devices.strip().lower() == "tpu":
        return _tpu_devices()
    if isinstance(devices, str):
        if devices.strip().lower() != "all":
            reason = "a single device name goes in a list" if _canonical(devices) else None
            raise _error(devices, reason)
        available = local_devices()
        return available if len(available) > 1 else None
    if is_int:
        available = local_devices()
        if not 1 <= devices <= len(available):
            raise _error(devices, f"there are {len(available)} local devices" if devices > 1 else None)
        return available[: int(devices)]
    if isinstance(devices, (list, tuple)):
        seen = _all_local_devices()
        known = {name for names in seen.values() for name in names}
        names = [_canonical(name) for name in devices]
        if not names:
            raise _error(devices, "the list is empty", seen)
        unknown = [raw for raw, name in zip(devices, names) if name not in known]
        if unknown:
            raise _error(devices, f"unknown device name(s): {', '.join(map(repr, unknown))}", seen)
        if len(set(names)) != len(names):
            raise _error(devices, "a device is named twice", seen)
        if len({name.split(":")[0] for name in names}) != 1:
            raise _error(devices, "devices of different types", seen)
        return names
    raise _error(devices)


def _tf_name(name):
    kind, index = name.split(":")
    return f"/device:{kind.upper()}:{index}"


def make_distribution(devices):
    """Returns the backend's data-parallel object for `devices` (as accepted by `resolve_devices`), or None.

    JAX: a `keras.distribution.DataParallel`; TensorFlow: a `tf.distribute.MirroredStrategy`. Most callers want
    `scope` instead. The same devices give the same object each time: a TensorFlow model is bound to the strategy
    it was built under and cannot be trained under another one, so `replicate(model, d)` followed by
    `with scope(d): model.fit(...)` must meet the same strategy.
    """
    if in_job(devices):
        return _multi_process_distribution()
    devices = resolve_devices(devices)
    if devices is None:
        return None
    key = (_backend(), tuple(devices))
    if key not in _DISTRIBUTIONS:
        if key[0] == "jax":
            import keras

            _DISTRIBUTIONS[key] = keras.distribution.DataParallel(devices=devices)
        elif devices[0].startswith("tpu:"):
            return tpu_strategy()
        else:
            import tensorflow as tf

            _DISTRIBUTIONS[key] = tf.distribute.MirroredStrategy(devices=[_tf_name(name) for name in devices])
    return _DISTRIBUTIONS[key]


def num_replicas(distribution):
    """The number of devices a `make_distribution`/`scope` object really spans (1 for `None`)."""
    if distribution is None:
        return 1
    if hasattr(distribution, "num_replicas_in_sync"):
        return int(distribution.num_replicas_in_sync)
    return int(distribution.device_mesh.devices.size)


@contextlib.contextmanager
def scope(devices):
    """Makes data parallelism over `devices` current: build, compile and fit the model inside.

    With `devices` resolving to `None` this is a no-op context that yields `None`. Otherwise it yields the backend's
    object (`keras.distribution.DataParallel` on JAX, `tf.distribute.MirroredStrategy` on TensorFlow). On exit the
    previous distribution is current again; a model built inside keeps its replicated variables (on TensorFlow it
    keeps the strategy, so `fit` may also be called after the block).

    Args:
        devices: as accepted by `resolve_devices`.

    Example:

    ```python
    import kerakit, kerakit.distribute
    with kerakit.distribute.scope(None) as distribution:   # None: nothing is distributed
        model = kerakit.build("mlp", input_shape=(4,), num_classes=2, hidden_units=(8,))
    distribution  # None
    ```
    """
    distribution = make_distribution(devices)
    if distribution is None:
        yield None
        return
    with distribution.scope():
        yield distribution


def describe(devices):
    """A one-line account of what `scope(devices)` does, e.g. `"DataParallel on 2 devices (jax: cpu:0, cpu:1)"`."""
    backend = _backend()
    if in_job(devices):
        return (f"DataParallel on {len(global_devices())} devices of {process_count()} processes ({backend}; this "
                f"is process {process_index()})")
    devices = resolve_devices(devices)
    if devices is None:
        return f"no distribution: one device ({backend} default placement)"
    kind = "DataParallel" if backend == "jax" else "TPUStrategy" if devices[0].startswith("tpu:") else (
        "MirroredStrategy")
    count = f"{len(devices)} device" + ("s" if len(devices) != 1 else "")
    return f"{kind} on {count} ({backend}: {', '.join(devices)})"


def prepare_dataset(dataset, devices, batch_size=None):
    """Makes every global batch of `dataset` divisible by the number of devices (a no-op without distribution).

    A batch whose size is not a multiple of `len(devices)` (normally only the last, partial batch) is trimmed to
    the largest multiple; a batch smaller than the device count is dropped. So at most `len(devices) - 1` examples
    per pass over the data are left out, and only when the data does not divide. Without this, JAX fails on such
    a batch and TensorFlow silently weights its uneven per-device shares equally (see the module docstring).
    Use it for validation data as well (JAX fails on it in `evaluate` too).

    When every batch has a static size (`batch(..., drop_remainder=True)`) that divides, `dataset` is returned
    unchanged. Otherwise the result's cardinality is unknown to tf.data (it cannot tell ahead whether the last
    batch is dropped), so Keras learns the number of steps during the first epoch and, at its end, warns "Your
    input ran out of data; interrupting training": harmless, the next epochs run in full.

    Args:
        dataset: `tf.data.Dataset`. Global batches: every component batched along its first axis.
        devices: as accepted by `resolve_devices`.
        batch_size: int or None. The global batch size the dataset was batched with, if known: it is checked to
            be a multiple of the device count (otherwise *every* batch would lose examples). Defaults to `None`.

    Returns:
        `tf.data.Dataset`.

    Raises:
        KerakitError: if `batch_size` (or the static batch size of `dataset`) is not a multiple of the device
            count.

    Example:

    ```python
    import numpy as np, tensorflow as tf, kerakit.distribute
    ds = tf.data.Dataset.from_tensor_slices(np.zeros((9, 2), "float32")).batch(4)   # batches of 4, 4, 1
    list(kerakit.distribute.prepare_dataset(ds, None).as_numpy_iterator())           # unchanged: 3 batches
    ```
    """
    if in_job(devices):
        if batch_size is None:
            raise KerakitError(f"{_OWNER}.prepare_dataset: `batch_size` (the global batch) is required in a "
                               "multi-process job. Received: batch_size=None")
        return multi_process_dataset(dataset, batch_size, owner=f"{_OWNER}.prepare_dataset")
    devices = resolve_devices(devices)
    if devices is None:
        return dataset
    return _divisible_batches(dataset, devices, batch_size)


def _divisible_batches(dataset, devices, batch_size=None):
    """`prepare_dataset` once `devices` is a resolved list of names (a separate function, so it is testable on a
    machine with one device)."""
    import tensorflow as tf

    owner = f"{_OWNER}.prepare_dataset"
    if not isinstance(dataset, tf.data.Dataset):
        raise KerakitError(
            f"{owner}: `dataset` must be a tf.data.Dataset of global batches. "
            f"Received: dataset of type {type(dataset).__name__}"
        )
    count = len(devices)
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise KerakitError(f"{owner}: `batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}")
        if batch_size % count:
            raise KerakitError(
                f"{owner}: `batch_size` must be a multiple of the number of devices ({count}: {', '.join(devices)}), "
                f"since each device takes an equal share of every global batch. Received: batch_size={batch_size}"
            )
    if count == 1:
        return dataset
    specs = tf.nest.flatten(dataset.element_spec)
    static = {spec.shape[0] if spec.shape.rank else None for spec in specs}
    if len(static) == 1 and None not in static:
        (size,) = static
        if size % count == 0:
            return dataset
        raise KerakitError(
            f"{owner}: the global batch size must be a multiple of the number of devices ({count}: "
            f"{', '.join(devices)}). Received: a dataset of batches of {size} (static shape)"
        )

    def batch_length(element):
        return tf.shape(tf.nest.flatten(element)[0], out_type=tf.int64)[0]

    def trim(*element):
        element = element[0] if len(element) == 1 else element
        keep = batch_length(element) // count * count
        return tf.nest.map_structure(lambda t: t[:keep], element)

    def non_empty(*element):
        element = element[0] if len(element) == 1 else element
        return batch_length(element) > 0

    return dataset.map(trim).filter(non_empty)


def replicate(model, devices):
    """Rebuilds a model that was built outside `scope(devices)` inside it, with the same weights.

    Both backends need it: variables created outside the scope live on one device. TensorFlow then fails in the
    first optimizer update with a bare `AssertionError`, JAX with "Received incompatible devices for jitted
    computation". The model is cloned from its config (`keras.models.clone_model`, so layer names are kept) inside
    the scope and its weights are copied over. A compiled model is compiled again from its compile config, with a
    fresh optimizer: optimizer state (momentum, step count) is not carried over. `model` itself is returned when
    there is nothing to do: `devices` resolves to `None`, or `model` was built under this scope already (on
    TensorFlow: under the same strategy; on JAX: its weights already live on exactly these devices).

    Args:
        model: `keras.Model`. Built (it has weights).
        devices: as accepted by `resolve_devices`.

    Returns:
        `keras.Model`. Use it inside `scope(devices)` with the same devices (on TensorFlow it keeps the strategy
        it was built under; on JAX the scope must be current while it trains).

    Example:

    ```python
    import kerakit, kerakit.distribute
    model = kerakit.build("mlp", input_shape=(4,), num_classes=2, hidden_units=(8,))
    kerakit.distribute.replicate(model, None) is model  # True: nothing to do without distribution
    ```
    """
    devices = resolve_devices(devices)
    if devices is None:
        return model
    import keras

    if not isinstance(model, keras.Model):
        raise KerakitError(
            f"{_OWNER}.replicate: `model` must be a keras.Model. Received: model of type {type(model).__name__}"
        )
    if not model.built:
        raise KerakitError(
            f"{_OWNER}.replicate: `model` must be built (have weights); an unbuilt model can simply be built "
            f"inside kerakit.distribute.scope(devices). Received: model={model.name!r}, not built"
        )
    if _is_replicated(model, make_distribution(devices)):
        return model
    weights = model.get_weights()
    with scope(devices):
        clone = keras.models.clone_model(model)
        if not clone.built and model.built:
            clone.build_from_config(model.get_build_config())
        clone.set_weights(weights)
    return clone


def _is_replicated(model, distribution):
    """Whether `model` was built under `distribution` already (then `replicate` has nothing to do)."""
    if hasattr(distribution, "num_replicas_in_sync"):  # tf.distribute: a model keeps the strategy it was built in
        return getattr(model, "_distribute_strategy", None) is distribution
    wanted = {_canonical(str(device)) for device in distribution.device_mesh.devices.flatten().tolist()}
    shardings = [getattr(weight.value, "sharding", None) for weight in model.weights]
    return bool(shardings) and all(
        sharding is not None and {_canonical(f"{d.platform}:{d.id}") for d in sharding.device_set} == wanted
        for sharding in shardings
    )


def sync_replicas(model):
    """Makes every per-device copy of `model`'s weights equal (their mean); returns how far apart they were.

    Only TensorFlow needs it: a variable a replica updates by itself, such as a batch-normalisation moving
    mean or variance, drifts apart across the copies of a `MirroredVariable` (see the module docstring).
    Trainable weights receive the same all-reduced update everywhere and stay equal. Call it after `fit` and
    before `evaluate`, `predict`, `save` or `export`, or let `sync_callback()` do it. On JAX, and for a model
    that is not distributed, it does nothing and returns `0.0`.

    Args:
        model: `keras.Model`.

    Returns:
        float. The largest absolute difference between two copies of a weight before the call.

    Example:

    ```python
    import kerakit, kerakit.distribute
    model = kerakit.build("mlp", input_shape=(4,), num_classes=2, hidden_units=(8,), batch_norm=True)
    kerakit.distribute.sync_replicas(model)  # 0.0: one copy of each weight
    ```
    """
    if _backend() != "tensorflow":
        return 0.0
    import tensorflow as tf

    divergence = 0.0
    for weight in model.weights:
        variable = weight.value
        if not isinstance(variable, tf.distribute.DistributedValues) or len(variable.values) < 2:
            continue
        if not variable.dtype.is_floating:
            continue
        copies = [copy.read_value() for copy in variable.values]
        spread = max(float(tf.reduce_max(tf.abs(copy - copies[0]))) for copy in copies[1:])
        if spread > 0:
            variable.assign(tf.add_n(copies) / len(copies))
            divergence = max(divergence, spread)
    return divergence


def sync_callback():
    """A Keras callback that calls `sync_replicas` before each validation and evaluation, before `predict`, and at
    the end of training; harmless on JAX and without distribution.

    Example:

    ```python
    import kerakit.distribute
    callback = kerakit.distribute.sync_callback()  # model.fit(..., callbacks=[callback])
    ```
    """
    import keras

    class SyncReplicas(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            sync_replicas(self.model)

        def on_predict_begin(self, logs=None):
            sync_replicas(self.model)

        def on_train_end(self, logs=None):
            sync_replicas(self.model)

    return SyncReplicas()


# ---- several processes (hosts): JAX's multi-process runtime -------------------------------------------------------

# What `initialize` joined in this process: {"coordinator": str, "num_processes": int, "process_id": int}.
_JOB = {}
_ENV_ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
_ENV_COUNT = "KERAS_DISTRIBUTION_NUM_PROCESSES"
_ENV_ID = "KERAS_DISTRIBUTION_PROCESS_ID"
_ADDRESS = re.compile(r"^\[?[A-Za-z0-9_.:-]+\]?:(\d{1,5})$")
_JAX_PATH = (
    "Train across hosts with the JAX backend instead (KERAS_BACKEND=jax): `kerakit train --coordinator HOST:PORT "
    "--num-processes N --process-id I` on every host, see `kerakit.distribute.initialize`."
)


def _int_from_environment(name):
    import os

    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise KerakitError(
            f"{_OWNER}.initialize: the environment variable {name} must be an integer. Received: {name}={raw!r}"
        ) from None


def job_arguments(coordinator=None, num_processes=None, process_id=None):
    """Completes and checks the three numbers of a multi-process job from the arguments and the environment.

    Arguments that are `None` are read from Keras's environment variables (`KERAS_DISTRIBUTION_JOB_ADDRESSES`,
    the coordinator first; `KERAS_DISTRIBUTION_NUM_PROCESSES`; `KERAS_DISTRIBUTION_PROCESS_ID`). Nothing given
    anywhere means one process. `coordinator="auto"` leaves the three to JAX's cluster detection (Cloud TPU pods,
    SLURM, Open MPI). Starts nothing.

    Returns:
        dict with `coordinator` (str or None), `num_processes` (int or None with `"auto"`) and `process_id`.

    Raises:
        KerakitError: a process id outside `[0, num_processes)`, a count below 1, an address that is not
            `HOST:PORT`, or a job of several processes without a coordinator.

    Example:

    ```python
    import kerakit.distribute
    kerakit.distribute.job_arguments()  # {'coordinator': None, 'num_processes': 1, 'process_id': 0}
    ```
    """
    import os

    owner = f"{_OWNER}.initialize"
    if coordinator is None and os.environ.get(_ENV_ADDRESSES):
        coordinator = os.environ[_ENV_ADDRESSES].split(",")[0].strip()
    if num_processes is None:
        num_processes = _int_from_environment(_ENV_COUNT)
    if process_id is None:
        process_id = _int_from_environment(_ENV_ID)
    if coordinator == "auto":
        return {"coordinator": "auto", "num_processes": num_processes, "process_id": process_id}
    for name, value, minimum in (("num_processes", num_processes, 1), ("process_id", process_id, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                                  or value < minimum):
            raise KerakitError(f"{owner}: `{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
    if num_processes is None:
        num_processes = 1
    if process_id is None and num_processes == 1:
        process_id = 0
    if process_id is None:
        raise KerakitError(
            f"{owner}: `process_id` (or {_ENV_ID}) is required in a job of {num_processes} processes: an integer "
            f"from 0 to {num_processes - 1}, 0 on the coordinator's host. Received: process_id=None"
        )
    if not 0 <= process_id < num_processes:
        raise KerakitError(
            f"{owner}: `process_id` must be an integer from 0 to {num_processes - 1} (`num_processes` is "
            f"{num_processes}). Received: process_id={process_id}"
        )
    if coordinator is not None:
        match = _ADDRESS.match(str(coordinator).strip()) if isinstance(coordinator, str) else None
        if not match or not 1 <= int(match.group(1)) <= 65535:
            raise KerakitError(
                f"{owner}: `coordinator` must be 'HOST:PORT' (the address of process 0, port 1-65535), or 'auto'. "
                f"Received: coordinator={coordinator!r}"
            )
    elif num_processes > 1:
        raise KerakitError(
            f"{owner}: `coordinator` (or {_ENV_ADDRESSES}) is required in a job of {num_processes} processes: "
            "'HOST:PORT' of process 0, the same on every process. Received: coordinator=None"
        )
    return {"coordinator": coordinator, "num_processes": int(num_processes), "process_id": int(process_id)}


def initialize(coordinator=None, num_processes=None, process_id=None, timeout=300):
    """Joins this process to a multi-process (multi-host) JAX job; with one process it does nothing.

    Call it on every process, first thing, before anything runs on JAX. It does what
    `keras.distribution.initialize` does (`jax.distributed.initialize`), plus a bounded wait: a coordinator that
    does not answer within `timeout` seconds is a clear `KerakitError`, not a hang. On CPUs the collectives go
    through gloo. Afterwards `keras.distribution.list_devices()` lists every process's devices, and data
    parallelism (`scope("all")`, `kerakit.train(..., devices="all")`) spans all of them: each process reads its own
    share of every global batch (Keras's `DataParallel` shards a `tf.data.Dataset` by process index).

    TensorFlow: `MultiWorkerMirroredStrategy` is refused with a message pointing to the JAX path (see the README,
    "Scaling out"); a single process is fine.

    Args:
        coordinator: str or None. `"HOST:PORT"` of process 0 (which starts the coordination service there), the
            same on every process; `"auto"` lets JAX detect a Cloud TPU pod, SLURM or Open MPI job. `None` reads
            `KERAS_DISTRIBUTION_JOB_ADDRESSES`.
        num_processes: int or None. `None` reads `KERAS_DISTRIBUTION_NUM_PROCESSES`, else 1.
        process_id: int or None. From 0 to `num_processes - 1`. `None` reads `KERAS_DISTRIBUTION_PROCESS_ID`.
        timeout: int. Seconds to wait for every process to join. Defaults to `300`.

    Returns:
        dict. The job: `coordinator`, `num_processes`, `process_id`.

    Example:

    ```python
    import kerakit.distribute
    kerakit.distribute.initialize()  # one process: nothing to join
    ```
    """
    owner = f"{_OWNER}.initialize"
    job = job_arguments(coordinator, num_processes, process_id)
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Integral) or timeout < 1:
        raise KerakitError(f"{owner}: `timeout` must be an integer number of seconds >= 1. Received: {timeout!r}")
    if job["num_processes"] == 1:
        _refuse_tf_config(owner)
        return job
    backend = _backend()
    if backend == "tensorflow":
        raise KerakitError(
            f"{owner}: a job of several processes is not supported on TensorFlow: Keras 3's fit under "
            "tf.distribute.MultiWorkerMirroredStrategy fails (keras-team/keras#20585; it failed on loopback here "
            f"too). Received: num_processes={job['num_processes']}. {_JAX_PATH}"
        )
    if backend != "jax":
        raise KerakitError(f"{owner}: several processes need the 'jax' backend. Received: backend={backend!r}")
    if _JOB:
        if _JOB == job:
            return job
        raise KerakitError(f"{owner}: this process already joined another job ({_JOB}); one job per process. "
                           f"Received: {job}")
    if job["coordinator"] != "auto" and job["process_id"] != 0:
        # JAX aborts the whole process (a C++ fatal error, not an exception) when it cannot reach the coordinator
        # in time, so wait for the port here first and fail with a Python error.
        _wait_for_coordinator(job, timeout)
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    arguments = {} if job["coordinator"] == "auto" else {
        "coordinator_address": job["coordinator"], "num_processes": job["num_processes"],
        "process_id": job["process_id"]}
    try:
        jax.distributed.initialize(initialization_timeout=int(timeout), **arguments)
    except Exception as error:  # jax raises XlaRuntimeError / RuntimeError / ValueError
        try:
            jax.distributed.shutdown()
        except Exception:  # noqa: S110 - nothing more to clean up
            pass
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        raise KerakitError(
            f"{owner}: process {job['process_id']} of {job['num_processes']} could not join the job at coordinator "
            f"{job['coordinator']!r} within {timeout} s: is process 0 running there, is the port open, and do all "
            f"processes pass the same `coordinator` and `num_processes`? ({type(error).__name__}: {first})"
        ) from error
    if job["coordinator"] == "auto":
        job = {"coordinator": "auto", "num_processes": jax.process_count(), "process_id": jax.process_index()}
    _JOB.update(job)
    return job


def _refuse_tf_config(owner):
    """A `TF_CONFIG` naming several workers asks for MultiWorkerMirroredStrategy: refused, never silently ignored."""
    import json
    import os

    raw = os.environ.get("TF_CONFIG")
    if not raw or _backend() != "tensorflow":
        return
    try:
        workers = len(json.loads(raw).get("cluster", {}).get("worker", []))
    except (ValueError, AttributeError):
        workers = 0
    if workers > 1:
        raise KerakitError(
            f"{owner}: TF_CONFIG names {workers} workers (tf.distribute.MultiWorkerMirroredStrategy), which is not "
            "supported: Keras 3's fit under it fails (keras-team/keras#20585; it failed on loopback here too). "
            f"Received: TF_CONFIG={raw[:200]!r}. {_JAX_PATH}"
        )


def _wait_for_coordinator(job, timeout):
    """Waits up to `timeout` seconds for the coordinator's port to accept a connection; else a `KerakitError`."""
    import socket
    import time

    host, port = job["coordinator"].rsplit(":", 1)
    host = host.strip("[]")
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=min(2.0, max(0.1, deadline - time.monotonic()))):
                return
        except OSError as error:
            last = error
            time.sleep(0.25)
    raise KerakitError(
        f"{_OWNER}.initialize: process {job['process_id']} of {job['num_processes']} could not reach the coordinator "
        f"at {job['coordinator']!r} within {timeout} s ({type(last).__name__}: {last}): is process 0 running there "
        f"with the same `coordinator`, and is the port open? Received: coordinator={job['coordinator']!r}, "
        f"timeout={timeout}"
    )


def process_count():
    """The number of processes in the job (1 unless `initialize` joined several)."""
    return int(_JOB.get("num_processes", 1))


def process_index():
    """This process's index in the job: 0 is the one that writes files (the run folder, checkpoints, exports)."""
    return int(_JOB.get("process_id", 0))


def is_writer(devices="all"):
    """Whether this process writes the run folder, checkpoints and exports: process 0 of a job only (every process
    that trains without the job's devices, `devices=None`, writes its own).

    Example:

    ```python
    import kerakit.distribute
    kerakit.distribute.is_writer()  # True in a single process
    ```
    """
    return devices is None or process_index() == 0


def in_job(devices):
    """Whether training on `devices` spans a multi-process job (`devices` not None after `initialize` joined one)."""
    return devices is not None and process_count() > 1


def barrier(name, devices="all"):
    """Waits until every process of the job reaches `barrier(name)`; nothing to wait for in a single process, or for
    `devices=None` (training outside the job)."""
    if in_job(devices):
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def global_devices():
    """Every device of every process (`keras.distribution.list_devices()`), the data-parallel mesh of a job."""
    import keras

    return list(keras.distribution.list_devices())


def _multi_process_distribution():
    """A `DataParallel` over every device of the job; Keras shards each tf.data global batch by process index."""
    key = ("jax", "job")
    if key not in _DISTRIBUTIONS:
        import keras

        _DISTRIBUTIONS[key] = keras.distribution.DataParallel(auto_shard_dataset=True)
    return _DISTRIBUTIONS[key]


def multi_process_dataset(dataset, batch_size, owner="train"):
    """Global batches of exactly `batch_size` (the last, partial one dropped) for Keras to split among processes.

    Keras's multi-process `DataParallel` needs a static global batch size to give each process
    `batch_size // process_count()` examples of every global batch (in process order, so the global batch is the
    same as in a single process).
    """
    count = len(global_devices())
    if batch_size % count:
        raise KerakitError(
            f"{owner}: `batch_size` (the global batch) must be a multiple of the number of devices in the job "
            f"({count} over {process_count()} processes). Received: batch_size={batch_size}"
        )
    return dataset.rebatch(batch_size, drop_remainder=True)


# ---- TPUs ------------------------------------------------------------------------------------------------------------


def _tpu_devices():
    """`devices="tpu"`: every TPU core. JAX lists them itself; TensorFlow connects to the TPU system first."""
    if _backend() == "jax":
        names = _all_local_devices().get("tpu")
        if not names:
            raise _error("tpu", "JAX sees no TPU")
        return names
    import tensorflow as tf

    tpu_strategy()  # connects and initialises the TPU system (or raises: no TPU)
    return [_canonical(d.name) for d in tf.config.list_logical_devices("TPU")]



def tpu_strategy():
    """TensorFlow on a TPU: `tf.distribute.TPUStrategy` after connecting to the TPU system (untested here: no TPU).

    `devices="tpu"` selects it (`scope("tpu")`, `kerakit.train(..., devices="tpu")`). The TPU is found by `TPUClusterResolver(tpu=$TPU_NAME or "local")` ("local" is a Cloud TPU VM). On JAX no
    strategy is needed: `devices="all"` lists the TPU cores, and a pod slice joins with `initialize("auto")`.

    Raises:
        KerakitError: when TensorFlow sees no TPU and `TPU_NAME` is not set.
    """
    import os

    import tensorflow as tf

    if not tf.config.list_physical_devices("TPU") and not os.environ.get("TPU_NAME"):
        raise KerakitError(
            f"{_OWNER}: `devices='tpu'` needs a TPU: TensorFlow lists none and TPU_NAME is not set. Received: "
            f"devices='tpu' on a machine with {', '.join(local_devices()) or 'no devices'}"
        )
    key = ("tensorflow", "tpu")
    if key not in _DISTRIBUTIONS:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", "local"))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        _DISTRIBUTIONS[key] = tf.distribute.TPUStrategy(resolver)
    return _DISTRIBUTIONS[key]


# ---- model parallelism (JAX): sharded weights ------------------------------------------------------------------------


def transformer_layout_map(mesh, intermediate="feedforward_intermediate", output="feedforward_output"):
    """The Megatron-style layouts of a transformer's weights over the `"model"` axis of `mesh`.

    Attention heads are split across devices (query/key/value kernels on their heads axis, the output projection
    on its heads axis), the feed-forward block's hidden units are split (first kernel by columns, second by rows),
    and the token embedding by its width (Shoeybi et al., "Megatron-LM: Training Multi-Billion Parameter Language
    Models Using Model Parallelism", 2019). Every other weight (norms, small biases, heads) is replicated.

    Args:
        mesh: `keras.distribution.DeviceMesh` with axes `("batch", "model")`.
        intermediate, output: str. Layer names (regular expressions) of the feed-forward block's two dense layers.

    Returns:
        `keras.distribution.LayoutMap`.
    """
    import keras

    layouts = keras.distribution.LayoutMap(mesh)
    # Keys are regular expressions matched against a weight's whole path (`re.fullmatch`).
    layouts[r".*/(query|key|value)/kernel"] = (None, "model", None)
    layouts[r".*/(query|key|value)/bias"] = ("model", None)
    layouts[r".*/attention_output/kernel"] = ("model", None, None)
    layouts[rf".*{intermediate}/kernel"] = (None, "model")
    layouts[rf".*{intermediate}/bias"] = ("model",)
    layouts[rf".*{output}/kernel"] = ("model", None)
    layouts[r".*token_embedding/embeddings"] = (None, "model")
    return layouts


def layout_blueprints():
    """The names of the registered blueprints whose module provides a `layout_map(mesh)` for model parallelism."""
    import importlib

    from kerakit import registry

    names = []
    for name in registry.list_blueprints():
        module = importlib.import_module(registry.get_blueprint(name).module)
        if callable(getattr(module, "layout_map", None)):
            names.append(name)
    return names


def blueprint_layout_map(blueprint, mesh):
    """The `LayoutMap` that blueprint `blueprint` provides (its module's `layout_map(mesh)` function)."""
    import importlib

    from kerakit import registry

    spec = registry.get_blueprint(blueprint)
    provider = getattr(importlib.import_module(spec.module), "layout_map", None)
    if not callable(provider):
        raise KerakitError(
            f"{_OWNER}.model_parallel: blueprint {blueprint!r} provides no layout map for its weights. Expected "
            f"one of: {', '.join(layout_blueprints())}, or pass `layout_map`. Received: blueprint={blueprint!r}"
        )
    return provider(mesh)


_MODEL_PARALLEL = []


def _model_parallel_class():
    """`keras.distribution.ModelParallel` that refuses a layout not dividing a weight's shape, naming the weight."""
    if not _MODEL_PARALLEL:
        import keras

        class CheckedModelParallel(keras.distribution.ModelParallel):
            def get_variable_layout(self, variable):
                layout = super().get_variable_layout(variable)
                shape = tuple(variable.shape)
                axes = tuple(layout.axes)
                sizes = dict(zip(self.device_mesh.axis_names, self.device_mesh.shape))
                if len(axes) != len(shape):
                    raise KerakitError(
                        f"{_OWNER}.model_parallel: the layout of weight {variable.path!r} must name one mesh axis "
                        f"(or None) per dimension of its shape {shape}. Received: layout {axes}"
                    )
                for dimension, (size, axis) in enumerate(zip(shape, axes)):
                    if axis is not None and size % sizes[axis]:
                        raise KerakitError(
                            f"{_OWNER}.model_parallel: the layout of weight {variable.path!r} (shape {shape}) must "
                            f"split each dimension into equal parts: dimension {dimension} of size {size} is not "
                            f"divisible by mesh axis {axis!r} of size {sizes[axis]}. Received: layout {axes} on "
                            f"mesh {dict(sizes)}. Use another `model_shards`, or a width/number of heads that divides."
                        )
                return layout

        _MODEL_PARALLEL.append(CheckedModelParallel)
    return _MODEL_PARALLEL[0]


def model_parallel(blueprint=None, devices="all", model_shards=None, layout_map=None):
    """Model parallelism (JAX): `keras.distribution.ModelParallel` that shards a blueprint's weights over devices.

    The devices form a `DeviceMesh` of shape `(len(devices) // model_shards, model_shards)` with axes
    `("batch", "model")`: each weight named in the layout map is split into `model_shards` parts along the
    `"model"` axis (each device holds 1/`model_shards` of it), and each global batch is split along `"batch"`.
    A model too large for one device's memory trains this way. Build, compile and fit inside `.scope()`.
    In a multi-process job (`initialize`) the mesh spans every process's devices.

    Args:
        blueprint: str or None. A blueprint whose module provides `layout_map(mesh)` (`layout_blueprints()`:
            the transformers and ViTs).
        devices: as accepted by `resolve_devices`. Defaults to `"all"`.
        model_shards: int or None. The size of the `"model"` axis; must divide the device count. Defaults to
            every device.
        layout_map: callable or None. `layout_map(mesh) -> keras.distribution.LayoutMap`, instead of the blueprint's.

    Returns:
        `keras.distribution.ModelParallel`. Building a model under its scope raises `KerakitError` for a weight
        whose sharded dimension does not divide by its mesh axis.

    Example:

    ```python
    import kerakit.distribute
    kerakit.distribute.layout_blueprints()[:2]  # ['bert_base', 'bert_large']
    # with kerakit.distribute.model_parallel("gpt_nano", devices=4).scope(): model = kerakit.build("gpt_nano")
    ```
    """
    owner = f"{_OWNER}.model_parallel"
    if _backend() != "jax":
        raise KerakitError(
            f"{owner}: model parallelism (sharded weights) needs the 'jax' backend (keras.distribution.ModelParallel"
            f"). Received: backend={_backend()!r}. Data parallelism (`devices=`) works on TensorFlow too."
        )
    if blueprint is None and layout_map is None:
        raise KerakitError(f"{owner}: give `blueprint` (a name) or `layout_map`. Received: neither")
    if process_count() > 1:
        names = global_devices()
    else:
        names = resolve_devices(devices) or local_devices()[:1]
    count = len(names)
    shards = count if model_shards is None else model_shards
    if isinstance(shards, bool) or not isinstance(shards, numbers.Integral) or shards < 1 or count % shards:
        raise KerakitError(
            f"{owner}: `model_shards` must be an integer >= 1 that divides the number of devices ({count}). "
            f"Received: model_shards={model_shards!r}"
        )
    import keras

    mesh = keras.distribution.DeviceMesh((count // shards, shards), ("batch", "model"), devices=names)
    layouts = layout_map(mesh) if layout_map is not None else blueprint_layout_map(blueprint, mesh)
    return _model_parallel_class()(layout_map=layouts, batch_dim_name="batch")


def job_devices(devices, run_dir):
    """The devices of a multi-process job's data parallelism: every device of every process, as names.

    Raises:
        KerakitError: for `devices` other than `None`/`"all"` (a job spans every device), or no `run_dir`.
    """
    if not (devices is None or (isinstance(devices, str) and devices.strip().lower() == "all")):
        raise KerakitError(
            f"{_OWNER}: in a job of {process_count()} processes data parallelism spans every device of every process:"
            f" `devices` must be None or 'all'. Received: devices={devices!r}"
        )
    if run_dir is None:
        raise KerakitError(
            f"{_OWNER}: a job of {process_count()} processes needs an explicit `run_dir`, the same on every process "
            "and on storage they all see (process 0 writes it, the others resume from its backup). "
            "Received: run_dir=None"
        )
    return [_canonical(str(name)) or str(name) for name in global_devices()]


def reader_folder(run_dir):
    """`(RunFolder, resumed)` for a process other than 0: process 0's run folder, which this process only reads."""
    from kerakit.run_folder import RunFolder

    folder = RunFolder(run_dir)
    return folder, bool((folder.status() or {}).get("resumed"))


@contextlib.contextmanager
def _no_distribution():
    """No distribution current: variables made meanwhile (Keras's saving makes a throwaway optimizer) stay on this
    process, instead of being placed on every device of the job, which needs every process to take part."""
    import keras

    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


def job_callbacks(callbacks, devices):
    """The run's callbacks for this process of a multi-process job (unchanged in a single process).

    Process 0 keeps them all, but saves (`BackupAndRestore`, `ModelCheckpoint`, the last good model) with no
    distribution current, so that no collective is started that the other processes do not join. The other
    processes keep what every process must do alike (restoring the backup, early stopping, stopping on NaN, timing)
    and drop what writes files: they restore from process 0's backup (storage shared by all), never save.
    """
    if not in_job(devices):
        return list(callbacks)
    import keras

    from kerakit.callbacks import LastGoodCheckpoint, SampleGrid

    writer = is_writer()

    class Backup(keras.callbacks.BackupAndRestore):
        def _save_model(self):
            if writer:
                with _no_distribution():
                    super()._save_model()

        def on_train_end(self, logs=None):
            if writer:
                super().on_train_end(logs)

    class Local(keras.callbacks.Callback):
        """Runs a callback that only writes files with no distribution current."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def set_model(self, model):
            super().set_model(model)
            self.inner.set_model(model)

        def set_params(self, params):
            super().set_params(params)
            self.inner.set_params(params)

    def forward(name):
        def hook(self, *args, **kwargs):
            with _no_distribution():
                return getattr(self.inner, name)(*args, **kwargs)

        return hook

    for name in dir(keras.callbacks.Callback):
        if name.startswith("on_"):
            setattr(Local, name, forward(name))

    kept = []
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.BackupAndRestore):
            backup = Backup(callback.backup_dir, save_freq=callback.save_freq,
                            delete_checkpoint=callback.delete_checkpoint)
            kept.append(backup)
        elif isinstance(callback, (keras.callbacks.ModelCheckpoint, LastGoodCheckpoint, SampleGrid)):
            if writer:
                kept.append(Local(callback))
        elif isinstance(callback, (keras.callbacks.CSVLogger, keras.callbacks.TensorBoard)):
            if writer:
                kept.append(callback)
        else:
            kept.append(callback)
    return kept


def evaluation_scope(devices):
    """The scope to evaluate in after training: none (every example counts), or the job's in a multi-process job."""
    if in_job(devices):
        return scope(devices)
    return contextlib.nullcontext()


def evaluation_data(dataset, devices, batch_size):
    """`dataset` as is, or in a multi-process job its full global batches (see `multi_process_dataset`)."""
    if in_job(devices):
        return multi_process_dataset(dataset, batch_size, owner="train")
    return dataset


def local_copy(model, devices):
    """In a multi-process job: a copy of `model` on this process's default device, with the same weights (for
    saving, exporting and predicting on one host); otherwise `model` itself."""
    if not in_job(devices):
        return model
    import keras

    weights = model.get_weights()  # replicated on every device: each process reads its own copy
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)  # the copy's variables go to this process's default device
    try:
        copy = keras.models.clone_model(model)
        if not copy.built and model.built:
            copy.build_from_config(model.get_build_config())
        copy.set_weights(weights)
        if getattr(model, "compiled", False):
            copy.compile_from_config(model.get_compile_config())
    finally:
        keras.distribution.set_distribution(previous)
    return copy
