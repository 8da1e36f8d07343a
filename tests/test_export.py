"""Tests for kerakit.export: verified SavedModel export, `.keras` loading, and exporting a run folder or file."""

import os
import re
import types
import zipfile

import numpy as np
import pytest

import kerakit
import kerakit.export
from kerakit.errors import ExportVerificationError, KerakitError

tf = pytest.importorskip("tensorflow")


def tiny_convnet():
    return kerakit.build("convnet", **kerakit.get_blueprint("convnet").tiny)


def tiny_mlp():
    return kerakit.build("mlp", input_shape=(6,), num_classes=3, hidden_units=(8,))


def two_in_two_out():
    """A plain functional model with a float and an integer input, and two named outputs."""
    import keras

    image = keras.Input((4, 4, 1), name="image")
    tokens = keras.Input((5,), dtype="int32", name="tokens")
    x = keras.layers.Flatten()(image)
    t = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(4, 3)(tokens))
    h = keras.layers.Concatenate()([x, t])
    outputs = {"logits": keras.layers.Dense(3, name="logits")(h), "score": keras.layers.Dense(1, name="score")(h)}
    return keras.Model([image, tokens], outputs, name="two_in_two_out")


def max_diff(expected, served):
    """Largest absolute difference between every leaf of the Keras outputs and the served outputs."""
    import keras

    expected = [keras.ops.convert_to_numpy(leaf) for leaf in keras.tree.flatten(expected)]
    served = [np.asarray(leaf) for leaf in keras.tree.flatten(served)]
    assert [e.shape for e in expected] == [s.shape for s in served]
    return max(float(np.max(np.abs(e.astype(np.float64) - s))) for e, s in zip(expected, served))


def leftovers(folder):
    """Temporary or set-aside folders `saved_model` may have left in `folder`."""
    return [name for name in os.listdir(folder) if ".tmp-" in name or ".old-" in name]


def fake_load(monkeypatch, change):
    """Makes `tf.saved_model.load` return the real export whose `serve` goes through `change(inputs, outputs)`."""
    real_load = tf.saved_model.load

    def load(path, *args, **kwargs):
        real = real_load(path, *args, **kwargs)

        def serve(inputs):
            return change(inputs, real.serve(inputs))

        serve.input_signature = real.serve.input_signature
        return types.SimpleNamespace(serve=serve, real=real)  # `real` keeps the variables alive

    monkeypatch.setattr(tf.saved_model, "load", load)


# -- saved_model ---------------------------------------------------------------------------------------------------


def test_export_matches_keras_on_a_fresh_batch(tmp_path):
    model = tiny_convnet()
    report = kerakit.export.saved_model(model, tmp_path / "convnet")

    assert report.path == str(tmp_path / "convnet") and os.path.isabs(report.path)
    assert report.batch_sizes == (1, 3)
    assert report.endpoint == "serve"
    assert report.atol == 1e-4
    assert 0.0 <= report.max_abs_diff <= 1e-4
    assert sorted(os.listdir(tmp_path)) == ["convnet"]
    assert os.path.isfile(tmp_path / "convnet" / "saved_model.pb")

    x = np.random.default_rng(99).uniform(-2, 2, size=(5, 8, 8, 1)).astype("float32")
    exported = tf.saved_model.load(report.path)  # keep a reference: `serve` needs its variables
    served = exported.serve(x)
    assert tuple(served.shape) == (5, 3)
    assert max_diff(model(x, training=False), served) <= 1e-4


def test_given_sample_inputs_set_the_batch_sizes(tmp_path):
    model = tiny_mlp()
    x = np.random.default_rng(5).normal(size=(4, 6)).astype("float32")
    report = kerakit.export.saved_model(model, str(tmp_path / "mlp"), sample_inputs=x, atol=1e-5)

    assert report.batch_sizes == (1, 4)
    assert report.atol == 1e-5 and report.max_abs_diff <= 1e-5


def test_two_inputs_and_two_outputs(tmp_path):
    model = two_in_two_out()
    report = kerakit.export.saved_model(model, tmp_path / "multi")
    assert report.max_abs_diff <= 1e-4 and report.batch_sizes == (1, 3)

    rng = np.random.default_rng(7)
    x = [rng.normal(size=(5, 4, 4, 1)).astype("float32"), rng.integers(0, 4, size=(5, 5)).astype("int32")]
    exported = tf.saved_model.load(report.path)
    served = exported.serve([tf.constant(v) for v in x])
    assert sorted(served) == ["logits", "score"]
    assert tuple(served["logits"].shape) == (5, 3) and tuple(served["score"].shape) == (5, 1)
    assert max_diff(model(x, training=False), served) <= 1e-4


def test_existing_destination_is_kept_without_overwrite_and_replaced_with_it(tmp_path):
    destination = tmp_path / "export"
    destination.mkdir()
    (destination / "marker.txt").write_text("keep me")
    model = tiny_mlp()

    with pytest.raises(KerakitError, match=r"already exists and will not be overwritten.*overwrite=True"):
        kerakit.export.saved_model(model, destination)
    assert os.listdir(destination) == ["marker.txt"]
    assert (destination / "marker.txt").read_text() == "keep me"

    report = kerakit.export.saved_model(model, destination, overwrite=True)
    assert report.max_abs_diff <= 1e-4
    assert not (destination / "marker.txt").exists()
    assert (destination / "saved_model.pb").is_file()
    assert sorted(os.listdir(tmp_path)) == ["export"]


def test_a_destination_that_appears_during_the_export_is_not_overwritten(tmp_path, monkeypatch):
    destination = tmp_path / "export"
    model = tiny_mlp()
    real_export = model.export

    def export_then_someone_writes_the_destination(path, **kwargs):
        real_export(path, **kwargs)
        destination.mkdir()
        (destination / "marker.txt").write_text("theirs")

    monkeypatch.setattr(model, "export", export_then_someone_writes_the_destination)
    with pytest.raises(KerakitError, match="appeared during the export and will not be overwritten"):
        kerakit.export.saved_model(model, destination)
    assert os.listdir(destination) == ["marker.txt"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("existing", [False, True], ids=["new", "over_existing"])
def test_verification_failure_leaves_the_destination_alone(tmp_path, monkeypatch, existing):
    destination = tmp_path / "export"
    if existing:
        destination.mkdir()
        (destination / "marker.txt").write_text("old version")
    fake_load(monkeypatch, lambda inputs, outputs: tf.nest.map_structure(lambda t: t + 1.0, outputs))

    with pytest.raises(ExportVerificationError, match=r"max abs difference 1 > atol=0\.0001"):
        kerakit.export.saved_model(tiny_mlp(), destination, overwrite=existing)

    if existing:
        assert os.listdir(destination) == ["marker.txt"]
        assert (destination / "marker.txt").read_text() == "old version"
    else:
        assert not destination.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda outputs: outputs[:, :2], r"Output 0 of the exported `serve` endpoint has shape \(1, 2\)"),
        (lambda outputs: [outputs, outputs], "returned 2 outputs, the Keras model 1"),
    ],
    ids=["wrong_shape", "extra_output"],
)
def test_outputs_of_the_wrong_shape_or_number_fail_verification(tmp_path, monkeypatch, change, message):
    fake_load(monkeypatch, lambda inputs, outputs: change(outputs))
    with pytest.raises(ExportVerificationError, match=message):
        kerakit.export.saved_model(tiny_mlp(), tmp_path / "export")
    assert os.listdir(tmp_path) == []


def test_a_batch_size_baked_into_the_export_is_caught(tmp_path, monkeypatch):
    import keras

    model = tiny_mlp()
    real_export = model.export

    def export_with_a_fixed_batch(path, **kwargs):
        fixed = [keras.InputSpec(shape=(3, 6), dtype="float32")]
        return real_export(path, input_signature=fixed, **kwargs)

    monkeypatch.setattr(model, "export", export_with_a_fixed_batch)
    with pytest.raises(ExportVerificationError, match="failed on a batch of 1"):
        kerakit.export.saved_model(model, tmp_path / "export")
    assert os.listdir(tmp_path) == []


def test_sequential_model_inputs_are_inferred(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    report = kerakit.export.saved_model(model, tmp_path / "sequential")
    assert report.batch_sizes == (1, 3) and report.max_abs_diff <= 1e-4


def test_subclassed_model_needs_sample_inputs(tmp_path):
    import keras

    class Doubler(keras.Model):
        def call(self, x):
            return x * 2.0

    model = Doubler()
    model(np.zeros((1, 4), "float32"))
    with pytest.raises(KerakitError, match="pass `sample_inputs`"):
        kerakit.export.saved_model(model, tmp_path / "export")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "expected, actual, difference",
    [
        ([1.0, 2.0], [1.0, 2.5], 0.5),
        ([np.inf, np.nan], [np.inf, np.nan], 0.0),
        ([1.0, 2.0], [1.0, np.nan], np.inf),
        ([np.inf], [-np.inf], np.inf),
        ([[1, 0]], [[1, 0]], 0.0),
    ],
)
def test_max_abs_diff_treats_nan_and_inf_honestly(expected, actual, difference):
    assert kerakit.export._max_abs_diff(np.array(expected), np.array(actual)) == difference


def test_unwritable_parent_is_refused_before_any_export_work(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    model = tiny_mlp()

    def no_export(*args, **kwargs):
        raise AssertionError("export started")

    monkeypatch.setattr(model, "export", no_export)
    with pytest.raises(KerakitError, match=re.escape(f"{blocker} is a file, not a folder")):
        kerakit.export.saved_model(model, blocker / "sub" / "export")
    assert os.listdir(tmp_path) == ["a_file"]


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"model": "not a model"}, "model"),
        ({"path": 42}, "path"),
        ({"atol": 0}, "atol"),
        ({"atol": -1e-3}, "atol"),
        ({"overwrite": "yes"}, "overwrite"),
        ({"sample_inputs": [np.zeros((2, 6)), np.zeros((3, 6))]}, "sample_inputs"),
    ],
)
def test_invalid_arguments_are_named(tmp_path, kwargs, argument):
    arguments = {"model": tiny_mlp(), "path": tmp_path / "export", **kwargs}
    model, path = arguments.pop("model"), arguments.pop("path")
    with pytest.raises(KerakitError, match=rf"saved_model: `{argument}` must be .* Received: {argument}="):
        kerakit.export.saved_model(model, path, **arguments)
    assert os.listdir(tmp_path) == []


def test_an_unbuilt_model_is_refused(tmp_path):
    import keras

    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(KerakitError, match="`model` must be a built keras.Model"):
        kerakit.export.saved_model(model, tmp_path / "export")


def test_sample_inputs_follow_the_model_inputs():
    image, tokens = kerakit.export.sample_inputs(two_in_two_out(), batch_size=4, seed=3)
    assert image.shape == (4, 4, 4, 1) and image.dtype == np.float32 and image.std() > 0.5
    assert tokens.shape == (4, 5) and tokens.dtype == np.int32 and set(np.unique(tokens)) == {0, 1}
    again, _ = kerakit.export.sample_inputs(two_in_two_out(), batch_size=4, seed=3)
    np.testing.assert_array_equal(image, again)

    open_sized = kerakit.build("convnet", input_shape=(None, None, 1), num_classes=3, filters=(4,))
    assert kerakit.export.sample_inputs(open_sized, batch_size=2).shape == (2, 8, 8, 1)
    with pytest.raises(KerakitError, match="sample_inputs: `batch_size` must be an integer >= 1"):
        kerakit.export.sample_inputs(open_sized, batch_size=0)


# -- load_keras_model ----------------------------------------------------------------------------------------------


def test_load_keras_model_round_trip(tmp_path):
    model = tiny_convnet()
    path = tmp_path / "model.keras"
    model.save(path)

    loaded = kerakit.export.load_keras_model(path)
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 1)).astype("float32")
    assert loaded.name == model.name
    assert max_diff(model(x, training=False), loaded(x, training=False)) == 0.0


def _random_bytes(path):
    path.write_bytes(np.random.default_rng(0).bytes(2048))


def _truncated_zip(path):
    tiny_mlp().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zip_without_a_model(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{ not json")


@pytest.mark.parametrize("corrupt", [_random_bytes, _truncated_zip, _zip_without_a_model])
def test_load_keras_model_refuses_an_unreadable_file(tmp_path, corrupt):
    path = tmp_path / "model.keras"
    corrupt(path)
    with pytest.raises(KerakitError, match=re.escape(f"{path} is not a readable Keras model file (")):
        kerakit.export.load_keras_model(path)


def test_load_keras_model_missing_file(tmp_path):
    path = tmp_path / "missing.keras"
    with pytest.raises(KerakitError, match=re.escape(f"{path} does not exist")):
        kerakit.export.load_keras_model(path)


# -- export_path ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source_kind", ["run_folder", "keras_file"])
def test_export_path_default_destinations(tmp_path, source_kind):
    model = tiny_mlp()
    if source_kind == "run_folder":
        (tmp_path / "run").mkdir()
        model.save(tmp_path / "run" / "model.keras")
        source, expected = tmp_path / "run", tmp_path / "run" / "saved_model"
    else:
        model.save(tmp_path / "digits.keras")
        source, expected = tmp_path / "digits.keras", tmp_path / "digits_saved_model"

    report = kerakit.export.export_path(source)
    assert report.path == str(expected)
    assert report.max_abs_diff <= report.atol == 1e-4
    x = np.random.default_rng(11).normal(size=(5, 6)).astype("float32")
    exported = tf.saved_model.load(report.path)
    assert max_diff(model(x, training=False), exported.serve(x)) <= 1e-4
    assert leftovers(expected.parent) == []


def test_export_path_refuses_a_folder_without_a_model(tmp_path):
    with pytest.raises(KerakitError, match=re.escape(f"the folder {tmp_path} holds no model.keras")):
        kerakit.export.export_path(tmp_path)
    assert os.listdir(tmp_path) == []


def test_export_path_checks_the_destination_before_loading(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"never read")
    (tmp_path / "saved_model").mkdir()
    with pytest.raises(KerakitError, match="already exists and will not be overwritten"):
        kerakit.export.export_path(tmp_path)
