"""The only backend-specific code of the generative models: gradients and the stateless train-step plumbing.

Models that need more than `compute_loss` (the GAN: two optimizers, WGAN-GP's gradient penalty) write their step
once, in the stateful style of a TensorFlow `train_step` (read variables, compute gradients, `optimizer.apply`,
update metrics), and call the functions below. Each works on TensorFlow and JAX:

- `value_and_gradients(loss_fn, variables)`: the value of `loss_fn()` and its gradients with respect to
  `variables`. TensorFlow records a `tf.GradientTape`; JAX differentiates (`jax.value_and_grad`) a pure function of
  the variables' values that runs `loss_fn` in a nested `keras.StatelessScope`, and keeps what `loss_fn` assigns
  (batch-norm moving statistics, seed-generator states), as a stateful run would.
- `input_gradients(fn, x)`: the gradient of `sum(fn(x))` with respect to the tensor `x`, itself differentiable (the
  gradient penalty is trained through it: double backpropagation).
- `train_step(model, step, *args)` / `test_step(model, step, *args)`: run the stateful `step(data)` as the model's
  `train_step` / `test_step`. TensorFlow calls it as it is. Keras's JAX trainer calls `train_step(state, data)`
  with the values of the trainable, non-trainable, optimizer and metric variables, and expects the new values back:
  `step` runs in a `keras.StatelessScope` mapping every variable to its value (assignments, `optimizer.apply` and
  metric updates go into the scope, as in Keras's own `optimizer.stateless_apply`), and the new state is read from
  the scope. `model.optimizer.variables` must list the variables of every optimizer the step uses.

A note on the JAX side: `keras.StatelessScope` keys its values by `id(variable)` and a nested scope does not fall
back to the enclosing one, so the nested scopes here start from a copy of the enclosing scope's values.
"""

import functools


def _backend():
    import keras

    return keras.backend.backend()


def value_and_gradients(loss_fn, variables):
    """Returns `(loss_fn(), gradients of it with respect to variables)`.

    Args:
        loss_fn: callable. Takes no argument and returns a scalar tensor. It may assign variables (batch-norm moving
            statistics, seed generators); those assignments are kept on every backend.
        variables: list of `keras.Variable`. What to differentiate with respect to.

    Returns:
        tuple: the loss (a scalar tensor) and a list of gradients, one per variable, in order.

    Example:

    ```python
    import keras
    from kerakit.models import _backend
    v = keras.Variable([1.0, 2.0])
    loss, (grad,) = _backend.value_and_gradients(lambda: keras.ops.sum(v * v), [v])
    keras.ops.convert_to_numpy(grad).tolist()  # [2.0, 4.0]
    ```
    """
    variables = list(variables)
    if _backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        gradients = tape.gradient(loss, variables)
        # A variable the loss does not use gets zeros (as on JAX), not None.
        return loss, [tf.zeros_like(v.value) if g is None else g for g, v in zip(gradients, variables)]
    if _backend() == "jax":
        import jax

        record = {}

        def pure(values):
            loss, updates = _call_recording(loss_fn, (), variables, values, record)
            return loss, updates

        (loss, updates), gradients = jax.value_and_grad(pure, has_aux=True)([v.value for v in variables])
        _write_back(record, updates)
        return loss, gradients
    raise NotImplementedError(f"kerakit's generative models run on TensorFlow and JAX, not on {_backend()!r}.")


def input_gradients(fn, x):
    """Returns the gradient of `sum(fn(x))` with respect to the tensor `x`; the result is itself differentiable.

    Args:
        fn: callable. Maps a tensor to a tensor (e.g. a critic's scores). It may assign variables; the assignments
            are kept.
        x: tensor. Where to take the gradient.

    Returns:
        tensor: shaped like `x`.

    Example:

    ```python
    import keras
    from kerakit.models import _backend
    grad = _backend.input_gradients(lambda t: t ** 3, keras.ops.convert_to_tensor([1.0, 2.0]))
    keras.ops.convert_to_numpy(grad).tolist()  # [3.0, 12.0]
    ```
    """
    if _backend() == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            outputs = fn(x)
        return tape.gradient(outputs, x)
    if _backend() == "jax":
        import jax
        import jax.numpy as jnp

        record = {}

        def pure(inputs):
            outputs, updates = _call_recording(fn, (inputs,), [], [], record)
            return jnp.sum(outputs), updates

        gradient, updates = jax.grad(pure, has_aux=True)(jnp.asarray(x))
        _write_back(record, updates)
        return gradient
    raise NotImplementedError(f"kerakit's generative models run on TensorFlow and JAX, not on {_backend()!r}.")


def train_step(model, step, *args):
    """Runs the stateful `step(data) -> logs` as `model.train_step(*args)` on this backend.

    TensorFlow: `args` is `(data,)`; returns `step(data)`. JAX: `args` is `(state, data)` with `state` the values of
    `model.trainable_variables`, `model.non_trainable_variables`, `model.optimizer.variables` and
    `model.metrics_variables`; returns `(logs, new state)`.
    """
    if _backend() == "jax":
        state, data = args
        groups = (model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
                  model.metrics_variables)
        return _run_stateless(step, data, groups, state)
    (data,) = args
    return step(data)


def test_step(model, step, *args):
    """`train_step` for `model.test_step`: the JAX state has no optimizer variables."""
    if _backend() == "jax":
        state, data = args
        groups = (model.trainable_variables, model.non_trainable_variables, model.metrics_variables)
        return _run_stateless(step, data, groups, state)
    (data,) = args
    return step(data)


def unshare_averaged_weights(optimizer, variables):
    """Gives each of `variables` its own buffer where it shares one with `optimizer`'s moving average.

    Keras's end-of-fit EMA swap (`finalize_variable_values`, `use_ema=True`) assigns the average's own array to each
    weight (keras 3.15). On JAX the next compiled call donates, so deletes, the weight's array and with it the
    average: a second `fit` fails ("donate the same buffer twice"), and so does `save` after an `evaluate` or a
    `generate`. TensorFlow variables never share a buffer, so nothing is copied there.

    Args:
        optimizer: keras.optimizers.Optimizer or None. Built on `variables` (its averages are in the same order).
        variables: list of `keras.Variable`.
    """
    import keras

    averages = getattr(optimizer, "_model_variables_moving_average", None) or []
    for variable, average in zip(variables, averages):
        if variable.value is average.value:
            variable.assign(keras.ops.copy(variable.value))


def _run_stateless(step, data, groups, state):
    import keras

    mapping = [(variable, value) for variables, values in zip(groups, state)
               for variable, value in zip(variables, values)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = step(data)
    new_state = tuple([scope.get_current_value(v) for v in variables] for variables in groups)
    return logs, new_state


@functools.cache
def _recording_scope_class():
    import keras

    class RecordingScope(keras.StatelessScope):
        """A StatelessScope that starts from the enclosing scope's values and remembers what was assigned."""

        def __init__(self, variables, values):
            super().__init__()
            self._own = list(zip(variables, values))
            self.assigned = {}

        def __enter__(self):
            super().__enter__()  # sets `original_scope`, the enclosing scope (None outside any)
            if self.original_scope is not None:
                self.state_mapping.update(self.original_scope.state_mapping)
            for variable, value in self._own:
                self.state_mapping[id(variable)] = value
            return self

        def add_update(self, update):
            super().add_update(update)
            self.assigned[id(update[0])] = update[0]

    return RecordingScope


def _call_recording(fn, args, variables, values, record):
    """Runs `fn(*args)` with `variables` read as `values`; returns its output and the values it assigned. `record`
    (a dict) receives the enclosing scope (`"outer"`) and the assigned variables (`"variables"`), in order."""
    with _recording_scope_class()(variables, values) as scope:
        outputs = fn(*args)
    record["outer"] = scope.original_scope
    record["variables"] = list(scope.assigned.values())
    return outputs, [scope.state_mapping[id(v)] for v in record["variables"]]


def _write_back(record, values):
    """Assigns the recorded variables `values`: into the enclosing StatelessScope if there was one, else in place."""
    for variable, value in zip(record["variables"], values):
        if record["outer"] is not None:
            record["outer"].add_update((variable, value))
        else:
            variable.assign(value)
