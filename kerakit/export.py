"""Export a Keras model as a TensorFlow SavedModel, verified before it is put in place.

`saved_model` writes the export next to its destination, reloads it with `tf.saved_model.load`, calls its `serve`
endpoint on two batch sizes and compares every output with the Keras model's. Only an export that reproduces the
model (max absolute difference <= `atol`) is moved to the destination; a failed one leaves the destination as it
was and no temporary folder behind. Two batch sizes catch an export whose batch dimension was baked in as a
constant (the batch dimension must stay `None`; JAX exports with polymorphic shapes have failed that way,
keras-team/keras#19048).

```python
import tempfile, kerakit
model = kerakit.build("mlp", input_shape=(6,), num_classes=3, hidden_units=(8,))
report = kerakit.export.saved_model(model, tempfile.mkdtemp() + "/mlp")
report.max_abs_diff <= report.atol  # True
```

`sample_inputs(model)` draws the random inputs the verification uses; `load_keras_model` and `export_path` load a
`.keras` file (or a run folder's `model.keras`) with clear errors and export it the same way.

Both backends work: TensorFlow exports directly, JAX through jax2tf; TensorFlow must be installed either way. It is
imported where it is used, so `import kerakit.export` stays cheap.
"""

import dataclasses
import os
import secrets
import shutil
import tempfile
import zipfile

import numpy as np

from kerakit import errors
from kerakit.errors import ExportVerificationError, KerakitError

ENDPOINT = "serve"
RUN_MODEL_FILE = "model.keras"
RUN_EXPORT_FOLDER = "saved_model"
_DEFAULT_BATCH = 3  # the random sample's batch; verification also runs on its first row alone
_UNKNOWN_DIM = 8  # the size given to unknown non-batch dimensions of a random sample


@dataclasses.dataclass(frozen=True)
class ExportReport:
    """What `saved_model` wrote and how closely it matched the Keras model.

    Attributes:
        path: str. Absolute path of the SavedModel folder.
        max_abs_diff: float. The largest absolute difference between the SavedModel's and the Keras model's
            outputs, over every output and every batch size checked.
        atol: float. The tolerance the difference was checked against.
        batch_sizes: tuple of int. The batch sizes the `serve` endpoint was called with.
        endpoint: str. The name of the verified endpoint, `"serve"`.
    """

    path: str
    max_abs_diff: float
    atol: float
    batch_sizes: tuple
    endpoint: str = ENDPOINT


def saved_model(model, path, *, sample_inputs=None, atol=1e-4, overwrite=False, seed=0, polymorphic_shapes=None):
    """Exports `model` as a TensorFlow SavedModel at `path`, verified against the model before it is moved there.

    The export is written to a temporary folder beside `path` (`<path>.tmp-<random>`), reloaded with
    `tf.saved_model.load`, and its `serve` endpoint is called on a batch of one example and on a larger batch.
    Every output is compared with `model(x, training=False)`. Only when the largest absolute difference is at most
    `atol` is the folder renamed to `path`. With `overwrite=True` an existing `path` is moved aside first and
    deleted only once the new export is in place, so either the old or the new version is always there.

    Args:
        model: keras.Model. A built model (a functional model, or a subclassed one that has been called).
        path: str or os.PathLike. The SavedModel folder to create. Its parent folders are created if needed.
        sample_inputs: array or nested structure of arrays, or None. Inputs shaped like `model`'s inputs, with a
            batch dimension; verification uses its first example alone and the whole batch (repeated to two
            examples if it has only one). `None` draws a random batch of 3 from `model.inputs`: normal floats,
            integers in [0, 2), size 8 for unknown non-batch dimensions (graph models: valid node indices,
            `kerakit.data.graph.sample_inputs`). Subclassed models without symbolic inputs need it. Defaults to
            `None`.
        atol: float. The largest absolute difference accepted between the SavedModel's and the model's outputs.
            Defaults to `1e-4`.
        overwrite: bool. Replace an existing `path`. Defaults to `False`.
        seed: int. Seed of the random sample inputs. Defaults to `0`.
        polymorphic_shapes: structure like `model.input` of jax2tf shape strings, or None. JAX only (ignored on
            TensorFlow): names unknown dimensions, so that inputs sharing a name must agree, e.g. BERT's
            `{"token_ids": "(batch, length)", "segment_ids": "(batch, length)", "padding_mask": "(batch, length)"}`
            (Keras gives each unknown dimension its own symbol, and a model that adds such tensors cannot be
            exported without this). Graph models default to nodes, edges, graphs and pairs each of their own
            size (`kerakit.data.graph.export_options`). Defaults to `None`.

    Returns:
        ExportReport: the absolute path, the measured difference and the batch sizes checked.

    Raises:
        KerakitError: for an invalid argument, an existing `path` without `overwrite`, or a parent folder that
            cannot be created or written; all before any export work.
        ExportVerificationError: when the SavedModel does not reproduce the model; `path` is left untouched.

    Example:

    ```python
    import tempfile
    import numpy as np
    import kerakit
    import tensorflow as tf

    model = kerakit.build("mlp", input_shape=(6,), num_classes=3, hidden_units=(8,))
    report = kerakit.export.saved_model(model, tempfile.mkdtemp() + "/mlp")
    report.batch_sizes  # (1, 3)
    exported = tf.saved_model.load(report.path)  # keep it referenced while calling `serve`
    exported.serve(np.zeros((2, 6), "float32")).shape  # TensorShape([2, 3])
    ```
    """
    owner = "saved_model"
    import keras

    if not isinstance(model, keras.Model):
        raise errors.invalid(owner, "model", "a keras.Model", model)
    if not model.built:
        raise errors.invalid(owner, "model", "a built keras.Model (call it once, or build it)", model)
    atol = errors.check_positive_float(owner, "atol", atol)
    errors.check_int(owner, "seed", seed, minimum=0)
    destination = _check_destination(owner, path, overwrite)
    tf = _import_tensorflow(owner)
    from kerakit.data import graph as kgraph

    if kgraph.is_graph_model(model):  # valid node indices to verify with; nodes, edges... each their own size (JAX)
        defaults = kgraph.export_options(model)
        sample_inputs = defaults["sample_inputs"] if sample_inputs is None else sample_inputs
        polymorphic_shapes = defaults["polymorphic_shapes"] if polymorphic_shapes is None else polymorphic_shapes
    batches = _verification_batches(owner, model, sample_inputs, seed)
    expected = {size: _keras_outputs(owner, model, batch) for size, batch in batches.items()}

    temporary = _make_temporary_folder(owner, destination)
    try:
        options = {}
        if polymorphic_shapes is not None and keras.backend.backend() == "jax":
            options["jax2tf_kwargs"] = {"polymorphic_shapes": [polymorphic_shapes]}
        model.export(temporary, format="tf_saved_model", verbose=False, **options)
        exported = tf.saved_model.load(temporary)
        max_abs_diff = _verify(exported, batches, expected, atol, destination)
        del exported
        _move_into_place(owner, temporary, destination, overwrite)
    finally:
        _remove(temporary)
    return ExportReport(path=destination, max_abs_diff=max_abs_diff, atol=atol, batch_sizes=tuple(batches))


def load_keras_model(path):
    """Loads a `.keras` file with `safe_mode=True`, with kerakit's custom layers registered.

    Args:
        path: str or os.PathLike. A file written by `model.save("....keras")`.

    Returns:
        keras.Model: the loaded model.

    Raises:
        KerakitError: when `path` does not exist, is not a `.keras` file, or cannot be read as one (not a zip
            archive, truncated, corrupt, or holding something `safe_mode` refuses).

    Example:

    ```python
    import os, tempfile
    import kerakit

    path = os.path.join(tempfile.mkdtemp(), "model.keras")
    kerakit.build("mlp", input_shape=(6,), num_classes=3, hidden_units=(8,)).save(path)
    model = kerakit.export.load_keras_model(path)
    model.output_shape  # (None, 3)
    ```
    """
    owner = "load_keras_model"
    path = _check_path_argument(owner, "path", path)
    if not os.path.exists(path):
        raise KerakitError(f"{owner}: {path} does not exist.")
    if os.path.isdir(path):
        raise KerakitError(f"{owner}: {path} is a folder; expected a .keras file.")
    if not path.endswith(".keras"):
        raise errors.invalid(owner, "path", "a file whose name ends in .keras", path)
    if not zipfile.is_zipfile(path):
        raise KerakitError(f"{path} is not a readable Keras model file (not a zip archive: truncated or corrupt?).")
    import keras

    import kerakit.layers  # registers kerakit's custom layers for deserialization
    import kerakit.models

    kerakit.models.register()  # and its models (VAE, GAN, diffusion)
    import kerakit.losses  # and the losses and schedules a saved compiled model may hold
    import kerakit.schedules

    kerakit.losses.register()
    kerakit.schedules.register()

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError, TypeError) as error:
        raise KerakitError(f"{path} is not a readable Keras model file ({_describe(error)}).") from error


def export_path(source, out=None, *, overwrite=False, atol=1e-4):
    """Exports a saved Keras model (a run folder or a `.keras` file) as a verified SavedModel.

    Args:
        source: str or os.PathLike. A run folder holding `model.keras`, or a `.keras` file. A generative model
            (VAE, GAN, diffusion) exports its `generating_network` (decoder, generator, denoiser).
        out: str, os.PathLike or None. The SavedModel folder to create. `None` means `<run>/saved_model` for a run
            folder and `<file stem>_saved_model` beside a `.keras` file. Defaults to `None`.
        overwrite: bool. Replace an existing `out`. Defaults to `False`.
        atol: float. The largest absolute difference accepted (see `saved_model`). Defaults to `1e-4`.

    Returns:
        ExportReport: see `saved_model`.

    Example:

    ```python
    import os, tempfile
    import kerakit

    run = tempfile.mkdtemp()
    kerakit.build("mlp", input_shape=(6,), num_classes=3, hidden_units=(8,)).save(os.path.join(run, "model.keras"))
    report = kerakit.export.export_path(run)
    report.path == os.path.join(run, "saved_model")  # True
    ```
    """
    owner = "export_path"
    source = _check_path_argument(owner, "source", source)
    if os.path.isdir(source):
        model_file = os.path.join(source, RUN_MODEL_FILE)
        if not os.path.isfile(model_file):
            raise KerakitError(
                f"{owner}: the folder {source} holds no {RUN_MODEL_FILE}; "
                f"pass a run folder that does, or a .keras file."
            )
        default_out = os.path.join(source, RUN_EXPORT_FOLDER)
    elif os.path.exists(source):
        model_file = source
        stem = os.path.splitext(os.path.basename(source))[0]
        default_out = os.path.join(os.path.dirname(source), f"{stem}_{RUN_EXPORT_FOLDER}")
    else:
        raise KerakitError(f"{owner}: {source} does not exist; pass a run folder or a .keras file.")
    out = default_out if out is None else out
    errors.check_positive_float(owner, "atol", atol)
    _check_destination(owner, out, overwrite, argument="out")  # before the model is loaded
    return saved_model(exported_network(load_keras_model(model_file)), out, atol=atol, overwrite=overwrite)


def exported_network(model):
    """What a run or `export_path` exports of `model`: a generative model's `generating_network` (VAE: decoder, GAN:
    generator, diffusion: denoiser), a `Distiller`'s student, else the model itself."""
    if hasattr(model, "teacher") and hasattr(model, "student"):  # kerakit.models.Distiller: the teacher stays home
        return model.student
    return getattr(model, "generating_network", model)


# -- arguments and paths ------------------------------------------------------------------------------------------


def _check_path_argument(owner, argument, value):
    """Checks a str/PathLike argument and returns it as an absolute, normalised str."""
    if not isinstance(value, (str, os.PathLike)) or not isinstance(os.fspath(value), str) or not os.fspath(value):
        raise errors.invalid(owner, argument, "a non-empty str or os.PathLike path", value)
    return os.path.abspath(os.fspath(value))


def _check_destination(owner, path, overwrite, argument="path"):
    """Checks, without touching the disk, that `path` may be written: absent (or `overwrite`), under a parent folder
    that exists or can be created, and can be written. Returns `path` absolute."""
    destination = _check_path_argument(owner, argument, path)
    if not isinstance(overwrite, bool):
        raise errors.invalid(owner, "overwrite", "True or False", overwrite)
    if os.path.lexists(destination) and not overwrite:
        raise KerakitError(
            f"{owner}: {destination} already exists and will not be overwritten; "
            f"pass overwrite=True (--overwrite) to replace it, or choose another path."
        )
    parent = os.path.dirname(destination)
    existing = parent
    while not os.path.exists(existing):  # the nearest existing ancestor decides whether `parent` can be made
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise KerakitError(f"{owner}: cannot create the folder {parent}: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise KerakitError(f"{owner}: cannot write in the folder {existing} (permission denied).")
    return destination


def _make_temporary_folder(owner, destination):
    """Creates the parent folders and `<destination>.tmp-<random>` beside `destination` (on the same file system,
    so that it can be renamed into place)."""
    parent, name = os.path.split(destination)
    try:
        os.makedirs(parent, exist_ok=True)
        return tempfile.mkdtemp(prefix=f"{name}.tmp-", dir=parent)
    except OSError as error:
        raise KerakitError(f"{owner}: cannot write in the folder {parent} ({error.strerror}).") from error


def _move_into_place(owner, temporary, destination, overwrite):
    """Renames `temporary` to `destination`; an existing destination is moved aside first and deleted last."""
    if not os.path.lexists(destination):
        os.replace(temporary, destination)
        return
    if not overwrite:  # it appeared while the export ran
        raise KerakitError(f"{owner}: {destination} appeared during the export and will not be overwritten.")
    old = f"{destination}.old-{secrets.token_hex(4)}"
    os.replace(destination, old)
    try:
        os.replace(temporary, destination)
    except BaseException:
        os.replace(old, destination)
        raise
    _remove(old)


def _remove(path):
    """Deletes a file or folder if it is there."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def _import_tensorflow(owner):
    try:
        import tensorflow as tf
    except ImportError as error:
        raise KerakitError(
            f"{owner}: exporting a SavedModel needs TensorFlow, on either backend; install it with "
            f"`pip install tensorflow`."
        ) from error
    return tf


# -- sample inputs ------------------------------------------------------------------------------------------------


def sample_inputs(model, batch_size=_DEFAULT_BATCH, seed=0):
    """Random inputs for `model`, in the structure it is called with (one array, a list or a dict).

    Floats are standard normal; integers (and booleans) are drawn from [0, 2), valid ids for any embedding; unknown
    non-batch dimensions get size 8. This is what `saved_model` verifies with when no `sample_inputs` are given.

    Args:
        model: keras.Model. A functional or Sequential model (subclassed models have no symbolic inputs).
        batch_size: int. The leading dimension of every array. Defaults to `3`.
        seed: int. Seed of the NumPy generator. Defaults to `0`.

    Returns:
        NumPy arrays in the structure of `model.input`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("convnet", input_shape=(None, None, 1), num_classes=3, filters=(4,))
    kerakit.export.sample_inputs(model, batch_size=2).shape  # (2, 8, 8, 1)
    ```
    """
    owner = "sample_inputs"
    import keras

    if not isinstance(model, keras.Model):
        raise errors.invalid(owner, "model", "a keras.Model", model)
    batch_size = errors.check_int(owner, "batch_size", batch_size)
    seed = errors.check_int(owner, "seed", seed, minimum=0)
    return _random_inputs(owner, model, batch_size, seed)


def _verification_batches(owner, model, given, seed):
    """Returns `{batch_size: inputs}` for two batch sizes: the first example alone, and a batch of at least two."""
    import keras

    if given is None:
        sample = _random_inputs(owner, model, _DEFAULT_BATCH, seed)
    else:
        sample = keras.tree.map_structure(np.asarray, given)
    sizes = {leaf.shape[0] if leaf.ndim else None for leaf in keras.tree.flatten(sample)}
    if len(sizes) != 1 or None in sizes or 0 in sizes:
        raise errors.invalid(
            owner, "sample_inputs", "arrays that share a non-empty leading batch dimension", _shapes(sample)
        )
    (size,) = sizes
    if size == 1:  # a second, different batch size: the same example twice
        sample = keras.tree.map_structure(lambda leaf: np.concatenate([leaf, leaf]), sample)
        size = 2
    return {1: keras.tree.map_structure(lambda leaf: leaf[:1], sample), size: sample}


def _random_inputs(owner, model, batch_size, seed):
    """See `sample_inputs`; `owner` names the caller in error messages."""
    import keras

    structure = _symbolic_inputs(owner, model)
    rng = np.random.default_rng(seed)

    def draw(tensor):
        shape = (batch_size,) + tuple(_UNKNOWN_DIM if d is None else d for d in tuple(tensor.shape)[1:])
        dtype = keras.backend.standardize_dtype(tensor.dtype)
        if "float" in dtype:
            return rng.standard_normal(shape).astype(dtype)
        if "int" in dtype or dtype == "bool":
            return rng.integers(0, 2, size=shape).astype(dtype)
        raise KerakitError(f"{owner}: cannot draw random inputs of dtype {dtype}; pass `sample_inputs`.")

    return keras.tree.map_structure(draw, structure)


def _symbolic_inputs(owner, model):
    """The model's symbolic inputs, in the structure the model is called with."""
    try:
        return model.input  # functional models: the structure they were built with (tensor, list or dict)
    except (AttributeError, ValueError):
        pass
    try:
        inputs = model.inputs  # Sequential models know only the flat list
    except (AttributeError, ValueError) as error:
        raise KerakitError(
            f"{owner}: cannot tell the input shapes of {model.name!r} (a subclassed model?); pass `sample_inputs`."
        ) from error
    return inputs[0] if len(inputs) == 1 else inputs


def _shapes(structure):
    import keras

    return keras.tree.map_structure(lambda leaf: tuple(leaf.shape), structure)


# -- verification -------------------------------------------------------------------------------------------------


def _keras_outputs(owner, model, inputs):
    """The model's outputs on `inputs` in inference mode, as a flat list of NumPy arrays.

    Through `predict`, which compiles the whole model once: on JAX an eager call compiles every op on its own.
    """
    import keras

    try:
        batch = len(keras.tree.flatten(inputs)[0])
        outputs = model.predict(inputs, batch_size=batch, verbose=0)
    except Exception as error:
        raise KerakitError(
            f"{owner}: the model cannot be called on the sample inputs of shapes {_shapes(inputs)} "
            f"({_describe(error)})."
        ) from error
    return [keras.ops.convert_to_numpy(leaf) for leaf in keras.tree.flatten(outputs)]


def _verify(exported, batches, expected, atol, destination):
    """Calls the reloaded `serve` endpoint on every batch; returns the largest difference, raises above `atol`."""
    import keras
    import tensorflow as tf

    untouched = f"{destination} was left as it was."
    serve = getattr(exported, ENDPOINT)
    positional = len(serve.input_signature) > 1  # a subclassed model with several inputs takes them one by one
    worst = 0.0
    for size, inputs in batches.items():
        tensors = keras.tree.map_structure(tf.convert_to_tensor, inputs)
        try:
            outputs = serve(*tensors) if positional else serve(tensors)
        except Exception as error:
            raise ExportVerificationError(
                f"The exported `{ENDPOINT}` endpoint failed on a batch of {size} ({_describe(error)}); "
                f"is its batch dimension fixed? {untouched}"
            ) from error
        served = [np.asarray(leaf) for leaf in keras.tree.flatten(outputs)]
        if len(served) != len(expected[size]):
            raise ExportVerificationError(
                f"The exported `{ENDPOINT}` endpoint returned {len(served)} outputs, the Keras model "
                f"{len(expected[size])}. {untouched}"
            )
        for index, (want, got) in enumerate(zip(expected[size], served)):
            if want.shape != got.shape:
                raise ExportVerificationError(
                    f"Output {index} of the exported `{ENDPOINT}` endpoint has shape {got.shape} on a batch of "
                    f"{size}; the Keras model's has {want.shape}. {untouched}"
                )
            difference = _max_abs_diff(want, got)
            if difference > atol:
                raise ExportVerificationError(
                    f"The exported SavedModel does not reproduce the Keras model: max abs difference "
                    f"{difference:.3g} > atol={atol:g} (output {index}, batch of {size}). "
                    f"{untouched}"
                )
            worst = max(worst, difference)
    return worst


def _describe(error):
    """`"ErrorType: first line of its message"`, for wrapping an upstream error in one readable line."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _max_abs_diff(expected, actual):
    """The largest absolute difference; equal values (infinities, NaN against NaN) count 0, other NaN count inf."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if expected.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        same = (expected == actual) | (np.isnan(expected) & np.isnan(actual))
        difference = np.where(same, 0.0, np.abs(expected - actual))
    return float(np.max(np.where(np.isnan(difference), np.inf, difference)))
