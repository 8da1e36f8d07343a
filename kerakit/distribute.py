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
- TPUs are reached through JAX here; on TensorFlow a TPU needs `tf.distribute.TPUStrategy`, which this module does
  not set up (TensorFlow TPU devices are not listed).
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
    devices = resolve_devices(devices)
    if devices is None:
        return None
    key = (_backend(), tuple(devices))
    if key not in _DISTRIBUTIONS:
        if key[0] == "jax":
            import keras

            _DISTRIBUTIONS[key] = keras.distribution.DataParallel(devices=devices)
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
    devices = resolve_devices(devices)
    backend = _backend()
    if devices is None:
        return f"no distribution: one device ({backend} default placement)"
    kind = "DataParallel" if backend == "jax" else "MirroredStrategy"
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
