"""`kerakit doctor`: the checks practitioners run before a long training, on a model and a dataset, in seconds.

After Karpathy's "A Recipe for Training Neural Networks" (2019): look at the loss at initialisation, overfit one batch,
watch for NaN/Inf, for vanishing or exploding gradients, for dead ReLUs, for a learning rate that makes the loss
rise; and check that the model learns something that holds beyond the batches it saw. Each check says pass, warn,
fail (or skip), the number it measured, and what to do.

The doctor trains the model it is given for a few dozen steps with the run's optimizer and learning rate (constant),
twice from the same initial weights, with dropout switched off, and leaves the model at those initial weights (and
compiled with that optimizer: compile it again for your own training).

1. `output_and_loss` — a softmax output with a loss that expects logits (`from_logits=True`) applies softmax twice:
   the loss stalls near ln(C) and the gradients shrink. The reverse (logits into a loss that expects probabilities)
   is as wrong.
2. `initial_loss` — at initialisation a classifier should be unsure: cross-entropy near ln(C) for C classes. Far
   above it, the last layer's scale or bias is off (too confident at init).
3. `overfit_one_batch` — `overfit_steps` steps on a batch of `overfit_examples` examples (dropout off) should drive
   the loss near zero: below 20% of its initial value passes, below 60% warns. If not, there is a bug, or the model
   is too small or too regularised, or the learning rate is off.
4. `learning_rate` — on that same batch the loss must fall over the first 10 steps; a rising (or NaN) loss means the
   learning rate is too high.
5. `finite` — no NaN or Inf in the losses, the weights or the gradients.
6. `gradient_norms` — per-layer gradient norms at initialisation and after the one-batch steps: a layer whose norm
   is below 1e-5 of the largest is vanishing; a norm above 1e3 is exploding. The norms are drawn as a PNG.
7. `dead_relu` — ReLU units that are zero for every example of a batch (and every position) after the one-batch
   steps; above 25% warns, above 50% fails.
8. `learns_beyond_memorising` — from the initial weights again, `generalise_steps` steps on the training stream
   (at most one epoch), each batch scored before the step that learns from it (progressive validation: every score
   is on examples the model has not seen). The accuracy of the last third must be well above chance. This is the
   check that catches labels that do not belong to their inputs (shuffled, misaligned): a big enough model still
   overfits one batch of shuffled labels (check 3 passes, as it should — memorising works), but nothing it learns
   carries over to new examples.
"""

import dataclasses
import math

from kerakit import errors

STATUSES = ("pass", "warn", "fail", "skip")
_LR_STEPS = 10


@dataclasses.dataclass
class Check:
    """One check of the doctor.

    Attributes:
        name: str. Which check.
        status: str. `"pass"`, `"warn"`, `"fail"` or `"skip"`.
        value: float or None. What was measured.
        detail: str. The measurement in words.
        advice: str. What to do about a warning or failure ("" when it passed).
    """

    name: str
    status: str
    value: object
    detail: str
    advice: str = ""


@dataclasses.dataclass
class DoctorReport:
    """What `doctor` returns.

    Attributes:
        model: str. The model's name.
        data: str. The data's name.
        checks: list of `Check`, in the order of the module docstring.
        gradient_norms: dict. `{layer path: gradient norm}` at initialisation.
        losses: dict. `"one_batch"` and `"stream"`: the loss at each step of the two short trainings.
        plot: str or None. The PNG of the gradient norms.
    """

    model: str
    data: str
    checks: list
    gradient_norms: dict
    losses: dict
    plot: object = None

    @property
    def ok(self):
        """bool. Whether no check failed."""
        return all(check.status != "fail" for check in self.checks)

    def check(self, name):
        """The `Check` called `name`."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def __str__(self):
        width = max(len(c.name) for c in self.checks)
        lines = [f"kerakit doctor: {self.model} on {self.data}"]
        for c in self.checks:
            lines.append(f"  [{c.status.upper():4}] {c.name:<{width}}  {c.detail}")
            if c.advice:
                lines.append(f"         {'':<{width}}  -> {c.advice}")
        counts = {s: sum(c.status == s for c in self.checks) for s in STATUSES}
        lines.append(f"  {counts['pass']} passed, {counts['warn']} warnings, {counts['fail']} failed, "
                     f"{counts['skip']} skipped" + (f"; gradient norms: {self.plot}" if self.plot else ""))
        return "\n".join(lines)


def doctor(model="convnet", data="digits", *, learning_rate=3e-3, optimizer="adam", loss=None, batch_size=32,
           overfit_examples=8, overfit_steps=150, generalise_steps=40, tiny=False, blueprint_args=None,
           data_args=None, seed=0, plot=None):
    """Runs the training checklist (see the module docstring) on `model` and `data`; returns a `DoctorReport`.

    Args:
        model: str or keras.Model. A blueprint name (built for the data) or a built functional model. Defaults to
            `"convnet"`.
        data: str, tuple of arrays or `kerakit.data.DataBundle`. As in `kerakit.train`. Defaults to `"digits"`.
        learning_rate: float. The run's (peak) learning rate, used as a constant here. Defaults to `3e-3`.
        optimizer: str. See `kerakit.optimizers.OPTIMIZERS`. Defaults to `"adam"`.
        loss: str, keras loss or None. The run's loss; `None` chooses it as `kerakit.train` does. Defaults to `None`.
        batch_size: int. Defaults to `32`.
        overfit_examples: int. The size of the one batch to overfit (checks 3, 4); Karpathy uses as few as two.
            Defaults to `8`.
        overfit_steps: int. Steps on that batch, at least 10. Defaults to `150`.
        generalise_steps: int. Steps on the training stream for check 8, at most one epoch (each batch unseen
            when it is scored). Defaults to `40`.
        tiny: bool. Build the blueprint with its registered `tiny` configuration (fast). Defaults to `False`.
        blueprint_args: dict or None. Extra blueprint arguments (over `tiny`'s).
        data_args: dict or None. Extra keyword arguments of `kerakit.data.load`.
        seed: int. Defaults to `0`.
        plot: str, os.PathLike or None. Where to write the PNG of the gradient norms. Defaults to `None` (none).

    Returns:
        A `DoctorReport`; `print(report)` gives the readable report, `report.ok` whether nothing failed.

    Example:

    ```python
    from kerakit.doctor import doctor
    report = doctor("mlp", "digits", tiny=True, overfit_steps=10, generalise_steps=5)
    [c.name for c in report.checks][:3]  # ['output_and_loss', 'initial_loss', 'overfit_one_batch']
    report.check("output_and_loss").status  # 'pass'
    ```
    """
    owner = "doctor"
    import keras
    import numpy as np

    errors.check_positive_float(owner, "learning_rate", learning_rate)
    errors.check_int(owner, "batch_size", batch_size)
    errors.check_int(owner, "overfit_examples", overfit_examples)
    errors.check_int(owner, "overfit_steps", overfit_steps, minimum=_LR_STEPS)
    errors.check_int(owner, "generalise_steps", generalise_steps)
    errors.check_int(owner, "seed", seed, minimum=0)
    if not isinstance(tiny, bool):
        raise errors.invalid(owner, "tiny", "True or False", tiny)
    from kerakit import optimizers as koptimizers
    from kerakit import training

    errors.check_choice(owner, "optimizer", optimizer, koptimizers.OPTIMIZERS)
    blueprint_args = dict(blueprint_args or {})
    if isinstance(model, str):
        from kerakit.registry import get_blueprint

        spec = get_blueprint(model)  # an unknown name fails here, before the data is loaded
        if spec.task in training.GENERATIVE_TASKS or spec.task == "denoising":
            raise errors.invalid(owner, "model", "a classifier or regressor blueprint (the doctor trains on (x, y) "
                                 f"with a loss; {model!r} is a {spec.task} model)", model)
        if tiny:
            blueprint_args = {**{k: v for k, v in spec.tiny.items() if k not in ("input_shape", "num_classes")},
                              **blueprint_args}
    elif not isinstance(model, keras.Model):
        raise errors.invalid(owner, "model", "a blueprint name or a keras.Model", type(model).__name__)
    elif blueprint_args or tiny:
        raise errors.invalid(owner, "blueprint_args" if blueprint_args else "tiny",
                             "empty/False when `model` is a built model", blueprint_args or tiny)
    from kerakit import data as kdata

    keras.utils.set_random_seed(seed)
    bundle = kdata.load(data, batch_size=batch_size, seed=seed, **dict(data_args or {}))
    info = bundle.info
    model = training.model_for_data(model, info, blueprint_args)
    loss_fn = training.loss_for(model, info, loss)
    steps = min(generalise_steps, bundle.steps_per_epoch)
    batches = [(_numpy(x), _numpy(y)) for x, y in bundle.train.take(steps)]
    batches = [(x, y) for x, y in batches if len(x) == len(batches[0][0])]  # one shape: one compiled step
    # The batch to overfit: its first `overfit_examples` examples, repeated to the batch's size (the same mean loss
    # and batch-norm statistics as those few examples alone, and one compiled step for both trainings).
    x0, y0 = (np.resize(a[:overfit_examples], a.shape) for a in batches[0])
    classes = info.num_classes
    checks = [_output_and_loss(model, loss_fn)]
    dropouts = _switch_off_dropout(model)
    try:
        model.compile(optimizer=koptimizers.make_optimizer(optimizer, learning_rate), loss=loss_fn,
                      metrics=["accuracy"] if classes else ["mae"])
        model.optimizer.build(model.trainable_variables)
        initial_weights = [keras.ops.copy(v.value) for v in model.variables]
        initial_optimizer = [keras.ops.copy(v.value) for v in model.optimizer.variables]

        initial_loss, init_norms = _loss_and_gradient_norms(model, loss_fn, x0, y0)
        checks.append(_initial_loss(initial_loss, classes))
        one_batch = [initial_loss] + [float(model.train_on_batch(x0, y0, return_dict=True)["loss"])
                                      for _ in range(overfit_steps)]
        end_loss, end_norms = _loss_and_gradient_norms(model, loss_fn, x0, y0)
        checks.append(_overfit(one_batch, min(overfit_examples, len(batches[0][0]))))
        checks.append(_learning_rate(one_batch, learning_rate))
        dead = _dead_relu_fractions(model, batches[0][0])
        weights_finite = all(bool(keras.ops.all(keras.ops.isfinite(v.value))) for v in model.trainable_variables
                             if "float" in keras.backend.standardize_dtype(v.dtype))

        _restore(model.variables, initial_weights)
        _restore(model.optimizer.variables, initial_optimizer)
        stream = [model.train_on_batch(x, y, return_dict=True) for x, y in batches]
        stream_losses = [float(logs["loss"]) for logs in stream]
        checks.append(_finite(one_batch + [end_loss] + stream_losses, weights_finite, init_norms, end_norms))
        checks.append(_gradient_norms(init_norms, end_norms))
        checks.append(_dead_relu(dead))
        checks.append(_generalisation([float(logs.get("accuracy", "nan")) for logs in stream], classes, info))
        _restore(model.variables, initial_weights)
    finally:
        for layer, rate in dropouts:
            layer.rate = rate
        model.train_function = model.test_function = model.predict_function = None  # traced with dropout off
    plot_path = None if plot is None else _plot_norms(init_norms, end_norms, plot, f"{model.name}: gradient norms")
    return DoctorReport(model=model.name, data=info.name, checks=checks, gradient_norms=init_norms,
                        losses={"one_batch": one_batch, "stream": stream_losses}, plot=plot_path)


# -- measurements -------------------------------------------------------------------------------------------------


def _numpy(tensor):
    import numpy as np

    return np.asarray(tensor)


def _restore(variables, values):
    import keras

    for variable, value in zip(variables, values):
        variable.assign(keras.ops.copy(value))  # a copy: JAX's compiled steps donate (delete) the buffers they get


def _loss_and_gradient_norms(model, loss_fn, x, y):
    """The loss on `(x, y)` in training mode and `{layer path: norm of its trainable weights' gradients}`; the
    model's weights (batch-norm statistics too) are left as they were."""
    import keras

    from kerakit.models._backend import value_and_gradients

    variables = model.trainable_variables
    saved = [keras.ops.copy(v.value) for v in model.non_trainable_variables]
    loss, gradients = value_and_gradients(lambda: loss_fn(y, model(x, training=True)), variables)
    _restore(model.non_trainable_variables, saved)
    squares = {}
    for variable, gradient in zip(variables, gradients):
        layer = variable.path.rsplit("/", 1)[0]
        squares[layer] = squares.get(layer, 0.0) + float(keras.ops.sum(keras.ops.square(
            keras.ops.cast(gradient, "float32"))))
    return float(loss), {layer: math.sqrt(s) if math.isfinite(s) else s for layer, s in squares.items()}


def _switch_off_dropout(model):
    """Sets the rate of every dropout layer to 0 (the recipe overfits first, regularises later); returns
    `[(layer, old rate)]` to restore."""
    import keras

    kinds = (keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D,
             keras.layers.SpatialDropout3D, keras.layers.GaussianDropout, keras.layers.AlphaDropout)
    switched = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, kinds) and getattr(layer, "rate", 0):
            switched.append((layer, layer.rate))
            layer.rate = 0.0
    return switched


def _relu_layers(model):
    """Layers whose output is a ReLU's: `Activation("relu")`, `ReLU()` and layers built with `activation="relu"`."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.ReLU):
            if not layer.negative_slope and layer.threshold == 0:
                found.append(layer)
        elif getattr(layer, "activation", None) in (keras.activations.relu,) or getattr(
                getattr(layer, "activation", None), "__name__", None) == "relu":
            found.append(layer)
    return found


def _dead_relu_fractions(model, x):
    """`{layer name: fraction of its units that are zero for every example and position of x}`, or None when the
    model is not functional."""
    import keras
    import numpy as np

    layers = _relu_layers(model)
    if not layers:
        return {}
    try:
        probe = keras.Model(model.inputs, [layer.output for layer in layers])
    except (AttributeError, ValueError, TypeError):
        return None
    outputs = probe.predict(x, batch_size=len(x), verbose=0)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    fractions = {}
    for layer, out in zip(layers, outputs):
        out = np.asarray(out).reshape(-1, np.asarray(out).shape[-1])
        fractions[layer.name] = float(np.mean(np.all(out <= 0, axis=0)))
    return fractions


# -- the checks ---------------------------------------------------------------------------------------------------


def _from_logits(loss_fn):
    """Whether a loss treats its inputs as logits, or None when it is not a cross-entropy."""
    config = getattr(loss_fn, "get_config", lambda: {})()
    name = getattr(loss_fn, "name", None) or getattr(loss_fn, "__name__", "")
    if "crossentropy" not in str(name) and "from_logits" not in config:
        return None
    return bool(config.get("from_logits", False))


def _output_and_loss(model, loss_fn):
    from kerakit.models.distiller import ends_in_softmax

    name = "output_and_loss"
    from_logits = _from_logits(loss_fn)
    softmax = ends_in_softmax(model)
    if from_logits is None:
        return Check(name, "skip", None, "the loss is not a cross-entropy")
    if softmax and from_logits:
        return Check(name, "fail", 1.0, "the last layer applies softmax, and the loss expects logits "
                     "(from_logits=True): softmax is applied twice",
                     "remove the softmax (blueprints: classifier_activation=None) or use from_logits=False")
    if not softmax and not from_logits:
        return Check(name, "fail", 1.0, "the model returns logits (no softmax), and the loss expects probabilities "
                     "(from_logits=False)", "use from_logits=True (kerakit.train's default loss does)")
    return Check(name, "pass", 0.0, f"{'softmax output, from_logits=False' if softmax else 'logits, from_logits=True'}")


def _initial_loss(loss, classes):
    name = "initial_loss"
    if not classes:
        return Check(name, "skip", loss, f"loss at init {loss:.4g} (no classes to compare with)")
    expected = math.log(classes)
    detail = f"loss at init {loss:.4g}, ln({classes}) = {expected:.4g}"
    if not math.isfinite(loss):
        return Check(name, "fail", loss, detail, "the loss is not finite before training: check the inputs for "
                     "NaN/Inf and the loss for log(0)")
    ratio = loss / expected
    if 0.75 <= ratio <= 1.5:
        return Check(name, "pass", loss, detail)
    status = "warn" if 0.5 <= ratio <= 2.5 else "fail"
    return Check(name, status, loss, detail + f" ({ratio:.2f}x)",
                 "the network is confident at init: scale the last layer's initial weights down, start its bias "
                 "at the log class frequencies, and check the inputs are normalised")


def _overfit(losses, examples):
    name = "overfit_one_batch"
    first = losses[0]
    late = sorted(losses[-5:])[2]  # the median of the last 5 steps
    detail = f"loss {first:.4g} -> {late:.4g} in {len(losses) - 1} steps on one batch of {examples} (dropout off)"
    if not all(math.isfinite(v) for v in losses):
        return Check(name, "fail", float("nan"), detail, "the loss became NaN/Inf: lower the learning rate")
    ratio = late / first if first > 0 else 0.0
    detail += f": {ratio:.1%} of the initial loss"
    if ratio < 0.2:
        return Check(name, "pass", ratio, detail)
    return Check(name, "warn" if ratio < 0.6 else "fail", ratio, detail,
                 "the model cannot memorise a handful of examples: look for a bug (labels, loss, a frozen or "
                 "disconnected layer), try another learning rate or more steps, a bigger model, less weight decay")


def _learning_rate(losses, learning_rate):
    name = "learning_rate"
    window = losses[1:_LR_STEPS + 1]
    first = losses[0]
    if not all(math.isfinite(v) for v in window):
        return Check(name, "fail", float("nan"), f"the loss became NaN/Inf within {_LR_STEPS} steps at "
                     f"learning_rate={learning_rate:g}", "the learning rate is far too high: divide it by 10 (or "
                     "run `kerakit lr-find`), add gradient clipping")
    late = sorted(window[-5:])[2]  # the median of steps 6-10
    detail = f"loss {first:.4g} -> {late:.4g} (median of steps 6-10) at learning_rate={learning_rate:g}"
    if late > first:
        return Check(name, "fail", late / first, detail + ": it rose",
                     "the learning rate is too high: divide it by 3-10 (or run `kerakit lr-find`)")
    if late > 0.98 * first:
        return Check(name, "warn", late / first, detail + ": it barely moved",
                     "the learning rate may be too low (or the gradients vanish): try 3-10x higher")
    return Check(name, "pass", late / first, detail)


def _finite(losses, weights_finite, init_norms, end_norms):
    name = "finite"
    bad = []
    if not all(math.isfinite(v) for v in losses):
        bad.append("losses")
    if not weights_finite:
        bad.append("weights")
    if not all(math.isfinite(v) for v in list(init_norms.values()) + list(end_norms.values())):
        bad.append("gradients")
    if not bad:
        return Check(name, "pass", 0.0, "no NaN/Inf in the losses, weights or gradients")
    return Check(name, "fail", float(len(bad)), f"NaN/Inf in the {', '.join(bad)}",
                 "lower the learning rate, add gradient clipping (global_clipnorm), check the inputs and any "
                 "log/sqrt/division in the model or loss")


def _gradient_norms(init_norms, end_norms):
    name = "gradient_norms"
    if not init_norms:
        return Check(name, "skip", None, "no trainable weights")
    finite = {k: v for k, v in init_norms.items() if math.isfinite(v)}
    top = max(finite.values(), default=0.0)
    low_layer = min(finite, key=finite.get) if finite else None
    largest = max((v for v in list(init_norms.values()) + list(end_norms.values())), default=0.0)
    detail = (f"per-layer norms at init {min(finite.values()):.2g} ({low_layer}) to {top:.2g}; "
              f"largest after training {max(end_norms.values(), default=0.0):.2g}")
    if not math.isfinite(largest) or largest > 1e3:
        return Check(name, "fail", largest, detail + ": exploding",
                     "lower the learning rate, add gradient clipping (global_clipnorm) and normalisation layers")
    if top == 0.0 or finite[low_layer] < 1e-5 * top:
        return Check(name, "warn", finite[low_layer] / top if top else 0.0, detail + ": vanishing in " +
                     str(low_layer), "use ReLU-family activations, He initialisation, normalisation layers or "
                     "residual connections; check for a layer the loss does not reach")
    return Check(name, "pass", top, detail)


def _dead_relu(fractions):
    name = "dead_relu"
    if fractions is None:
        return Check(name, "skip", None, "not a functional model: its ReLU outputs cannot be probed")
    if not fractions:
        return Check(name, "skip", None, "no ReLU layer")
    worst = max(fractions, key=fractions.get)
    overall = sum(fractions.values()) / len(fractions)
    detail = (f"{overall:.0%} of ReLU units dead on one batch (mean over {len(fractions)} layers); worst "
              f"{worst} {fractions[worst]:.0%}")
    if fractions[worst] > 0.5:
        return Check(name, "fail", fractions[worst], detail, "lower the learning rate, use He initialisation, "
                     "normalise the inputs, or a leaky activation (leaky_relu, gelu)")
    if fractions[worst] > 0.25:
        return Check(name, "warn", fractions[worst], detail, "watch it: lower the learning rate or use a leaky "
                     "activation")
    return Check(name, "pass", fractions[worst], detail)


def _generalisation(accuracies, classes, info):
    name = "learns_beyond_memorising"
    if not classes or info.task == "language_modeling":
        return Check(name, "skip", None, "not a classification task")
    tail = accuracies[-max(5, len(accuracies) // 3):]
    accuracy = sum(tail) / len(tail)
    chance = 1.0 / classes
    margin = (accuracy - chance) / (1.0 - chance)
    detail = (f"accuracy {accuracy:.3f} on training batches not seen before (the last {len(tail)} of "
              f"{len(accuracies)} steps, scored before their update); chance {chance:.3f}")
    if margin >= 0.25:
        return Check(name, "pass", accuracy, detail)
    advice = ("nothing learned carries over to new examples: check that the labels belong to their inputs (not "
              "shuffled or misaligned by the data pipeline), that the inputs carry the signal (normalised, not "
              "constant); or allow more steps / another learning rate")
    return Check(name, "warn" if margin >= 0.1 else "fail", accuracy, detail, advice)


def _plot_norms(init_norms, end_norms, path, title):
    from kerakit.plots import pyplot, save_figure

    plt = pyplot()
    names = list(init_norms)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(names) + 2), 4))
    positions = range(len(names))
    floor = 1e-12
    ax.bar([p - 0.2 for p in positions], [max(init_norms[n], floor) for n in names], width=0.4, label="at init")
    ax.bar([p + 0.2 for p in positions], [max(end_norms.get(n, 0.0), floor) if math.isfinite(end_norms.get(n, 0.0))
                                          else 1e12 for n in names], width=0.4, label="after the one-batch steps")
    ax.set_yscale("log")
    ax.set_xticks(list(positions))
    ax.set_xticklabels([n.split("/")[-1] for n in names], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("gradient norm")
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return str(save_figure(fig, path, title))
