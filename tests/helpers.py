"""The shared test helpers: one for layers, one for blueprints. They know no concrete class.

`run_layer_test`: serialise -> rebuild from config -> symbolic call -> eager call -> one fit step -> `.keras` round trip.
`run_blueprint_test`: output shape, parameter count, one fit step, `.keras` round trip with identical outputs,
SavedModel parity (through `kerakit.export.saved_model`, compared again here on a fresh batch).
"""

import ast
import inspect
import os
import re

import keras
import numpy as np


def random_inputs(model, batch_size, seed=0):
    """Random inputs for `model`: normal floats; integers in [0, 2) for integer inputs (valid token ids). A
    blueprint registered with its own `sample_inputs` (graph models: valid node indices) draws them instead."""
    from kerakit.export import sample_inputs
    from kerakit.registry import _REGISTRY

    spec = _REGISTRY.get(model.name)
    if spec is not None and spec.sample_inputs is not None:
        return spec.sample_inputs(model, batch_size=batch_size, seed=seed)
    return sample_inputs(model, batch_size=batch_size, seed=seed)


def infer(model, x):
    """`model` in inference mode on the batch `x`, through `predict` (one compilation; on JAX an eager call
    compiles every op separately)."""
    return model.predict(x, batch_size=len(keras.tree.flatten(x)[0]), verbose=0)


def _flat_numpy(outputs):
    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in keras.tree.flatten(outputs)]


def assert_outputs_close(actual, expected, atol=1e-6, what="outputs"):
    actual, expected = _flat_numpy(actual), _flat_numpy(expected)
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs, expected {len(expected)}"
    for a, e in zip(actual, expected):
        assert a.shape == e.shape, f"{what}: shape {a.shape}, expected {e.shape}"
        np.testing.assert_allclose(a, e, atol=atol, rtol=0, err_msg=what)


def _fit_one_step(model, inputs, outputs):
    """One SGD step on random targets shaped like the outputs; checks the loss is finite and weights moved."""
    targets = keras.tree.map_structure(
        lambda o: np.random.default_rng(1).normal(size=keras.ops.shape(o)).astype("float32"), outputs)
    before = [np.array(w) for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    history = model.fit(inputs, targets, batch_size=len(_flat_numpy(outputs)[0]), epochs=1, verbose=0)
    loss = history.history["loss"][0]
    assert np.isfinite(loss), f"loss after one step is {loss}"
    after = [np.array(w) for w in model.trainable_weights]
    moved = sum(not np.array_equal(b, a) for b, a in zip(before, after))
    assert moved > 0, "no trainable weight changed after one fit step"
    return loss


def run_layer_test(layer_class, init_kwargs, input_shape, expected_output_shape, tmp_path, input_dtype="float32"):
    """Checks a layer: config round trip, symbolic and eager calls agree on shape, it trains, and it saves.

    Args:
        layer_class: type. The layer to test.
        init_kwargs: dict. Constructor arguments.
        input_shape: tuple. Input shape with the batch dimension.
        expected_output_shape: tuple. Output shape with the batch dimension.
        tmp_path: pathlib.Path. Where to save the `.keras` file.
        input_dtype: str. dtype of the random input.
    """
    layer = layer_class(**init_kwargs)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert key in config, f"{layer_class.__name__}.get_config() lacks {key!r}"
    clone = layer_class.from_config(config)
    assert clone.get_config() == config, "from_config(get_config()) does not give back the same config"

    symbolic = layer(keras.Input(batch_shape=input_shape, dtype=input_dtype))
    assert tuple(symbolic.shape) == tuple(expected_output_shape), f"symbolic output shape {symbolic.shape}"
    rng = np.random.default_rng(0)
    x = rng.normal(size=input_shape).astype(input_dtype) if "float" in input_dtype else rng.integers(
        0, 2, size=input_shape).astype(input_dtype)
    eager = layer(x)
    assert tuple(eager.shape) == tuple(expected_output_shape), f"eager output shape {eager.shape}"

    inputs = keras.Input(batch_shape=input_shape, dtype=input_dtype)
    model = keras.Model(inputs, layer_class(**init_kwargs)(inputs))
    outputs = model(x)
    if model.trainable_weights:
        _fit_one_step(model, x, outputs)
    path = os.path.join(tmp_path, "layer_model.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert_outputs_close(restored(x), model(x), what=".keras round trip")
    return model


def run_blueprint_test(model, tmp_path, expected_output_shape=None, expected_params=None, batch_size=2,
                       saved_model=True):
    """Checks a blueprint's model end to end (see the module docstring). Returns the model."""
    x = random_inputs(model, batch_size)
    outputs = infer(model, x)
    if expected_output_shape is not None:
        shapes = [tuple(o.shape) for o in _flat_numpy(outputs)]
        expected = [tuple(s) for s in (expected_output_shape if isinstance(expected_output_shape, list)
                                       else [expected_output_shape])]
        assert shapes == expected, f"output shapes {shapes}, expected {expected}"
    if expected_params is not None:
        assert model.count_params() == expected_params, f"{model.count_params():,} parameters, expected " \
                                                        f"{expected_params:,}"
    _fit_one_step(model, x, outputs)

    path = os.path.join(tmp_path, f"{model.name}.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert_outputs_close(infer(restored, x), infer(model, x), what=".keras round trip")
    assert restored.count_params() == model.count_params()

    if saved_model:
        import tensorflow as tf

        from kerakit.export import saved_model as export_saved_model

        # The export's own default sample (a batch of 3, seed 0), drawn through `random_inputs` for its hooks.
        report = export_saved_model(model, os.path.join(tmp_path, f"{model.name}_saved_model"),
                                    sample_inputs=random_inputs(model, 3))
        fresh = random_inputs(model, batch_size + 3, seed=7)
        exported = tf.saved_model.load(report.path)  # keep a reference: serve needs the loaded object alive
        served = exported.serve(fresh)
        assert_outputs_close(served, infer(model, fresh), atol=1e-4, what="SavedModel parity")
    return model


def run_generative_test(model, tmp_path, batch_size=8, generate_args=None):
    """Checks a generative model (VAE, GAN, diffusion): `compile(optimizer)` + `fit` with its own losses (finite,
    weights move), seeded `generate` (shape, range, repeatable), `.keras` round trip (same samples), and a verified
    SavedModel of its generating network. Returns the model."""
    generate_args = dict(generate_args or {})
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(batch_size, *model.image_shape)).astype("float32")
    labels = rng.integers(0, model.num_classes or 10, size=(batch_size,)).astype("int32")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(images, labels, batch_size=batch_size // 2, epochs=1, verbose=0)
    assert "loss" in history.history and np.isfinite(history.history["loss"][0]), history.history
    moved = sum(not np.array_equal(b, np.array(a)) for b, a in zip(before, model.trainable_weights))
    assert moved > 0, "no trainable weight changed after fit"

    samples = model.generate(3, seed=5, **generate_args)
    assert samples.shape == (3, *model.image_shape), samples.shape
    assert samples.min() >= 0.0 and samples.max() <= 1.0, (samples.min(), samples.max())
    np.testing.assert_array_equal(model.generate(3, seed=5, **generate_args), samples)

    from kerakit.export import load_keras_model
    from kerakit.export import saved_model as export_saved_model

    path = os.path.join(tmp_path, f"{model.name}.keras")
    model.save(path)
    restored = load_keras_model(path)
    assert type(restored) is type(model)
    np.testing.assert_allclose(restored.generate(3, seed=5, **generate_args), samples, atol=1e-5)

    report = export_saved_model(model.generating_network, os.path.join(tmp_path, f"{model.name}_saved_model"))
    assert report.max_abs_diff <= report.atol
    return model


def run_docstring_examples(obj):
    """Runs every ```python block in `obj`'s docstring; a line `expr  # value` must evaluate to `value`.

    Returns the number of lines run.
    """
    lines_run = 0
    for block in re.findall(r"```python\n(.*?)```", inspect.getdoc(obj) or "", re.S):
        namespace, pending = {}, []
        for line in block.splitlines():
            code, _, comment = line.partition("  # ")
            try:
                expected = ast.literal_eval(comment.strip())
            except (ValueError, SyntaxError):
                pending.append(line)  # statements run together, so multi-line ones (a `def`) work
                continue
            exec("\n".join(pending), namespace)
            lines_run += len(pending) + 1
            pending = []
            value = eval(code, namespace)
            assert value == expected, f"{line!r}: got {value!r}"
        exec("\n".join(pending), namespace)
        lines_run += len(pending)
    return lines_run
