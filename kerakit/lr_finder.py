"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks", section 3.3).

The model trains for a few hundred steps while the rate grows exponentially from `start_lr` to `end_lr`. The loss of
each step is smoothed as it comes (an exponential moving average with bias correction, momentum `smoothing`), and the
sweep stops when that smoothed loss exceeds `divergence` times the best one so far (or is not finite).

The suggestion rule: the per-step losses are smoothed again, forward then backward (the same moving average run
both ways, so without the lag of the running average), and the suggested rate is where this curve falls fastest
against log(rate) (its most negative slope), among the steps after the first tenth (where the average has seen
few batches) and up to the curve's minimum (past it the loss is already rising towards divergence). The model gets
its initial weights back afterwards.

```python
import kerakit.lr_finder
result = kerakit.lr_finder.find_learning_rate("convnet", "digits", plot="lr_find.png")
result.suggestion          # e.g. 3e-3
```

From the command line: `kerakit lr-find --blueprint convnet --data digits --out lr_find.png`.
"""

import dataclasses
import math
import numbers

from kerakit import errors


@dataclasses.dataclass
class LRFinderResult:
    """What `find_learning_rate` returns.

    Attributes:
        lrs: list of float. The rate of each step.
        losses: list of float. The losses smoothed forward and backward (the curve the suggestion is read from).
        raw_losses: list of float. The loss of each step's batch.
        suggestion: float. The rate of the steepest descent of the smoothed loss before its minimum.
        min_loss_lr: float. The rate where the smoothed loss was lowest.
        diverged: bool. Whether the sweep stopped because the loss diverged (else it ran to `end_lr`).
        plot: str or None. The PNG written.
    """

    lrs: list
    losses: list
    raw_losses: list
    suggestion: float
    min_loss_lr: float
    diverged: bool
    plot: object = None


def _check(start_lr, end_lr, steps, divergence, smoothing):
    owner = "find_learning_rate"
    errors.check_positive_float(owner, "start_lr", start_lr)
    errors.check_positive_float(owner, "end_lr", end_lr)
    if not end_lr > start_lr:
        raise errors.invalid(owner, "end_lr", f"greater than start_lr={start_lr}", end_lr)
    errors.check_int(owner, "steps", steps, minimum=10)
    if isinstance(divergence, bool) or not isinstance(divergence, numbers.Real) or not divergence > 1:
        raise errors.invalid(owner, "divergence", "a number > 1", divergence)
    errors.check_rate(owner, "smoothing", smoothing)


def smooth_both_ways(values, smoothing):
    """`values` smoothed by a bias-corrected exponential moving average run forward, then backward (no lag)."""
    import numpy as np

    def forward(series):
        out, average = [], 0.0
        for i, value in enumerate(series):
            average = smoothing * average + (1.0 - smoothing) * value
            out.append(average / (1.0 - smoothing ** (i + 1)))
        return out

    return np.asarray(forward(forward(list(values))[::-1])[::-1], dtype="float64")


def suggest(lrs, losses):
    """The suggestion rule on a smoothed curve: the rate of the most negative slope of `losses` against log(rate),
    among the points after the first tenth and up to the lowest loss. Returns `(suggestion, rate of the lowest
    loss)`.

    Example:

    ```python
    from kerakit.lr_finder import suggest
    suggest([1e-4, 1e-3, 1e-2, 1e-1, 1.0], [1.0, 0.9, 0.3, 0.25, 5.0])  # (0.001, 0.1)
    ```
    """
    import numpy as np

    lrs, losses = np.asarray(lrs, dtype="float64"), np.asarray(losses, dtype="float64")
    lowest = int(np.nanargmin(losses))
    skip = len(lrs) // 10
    if lowest <= skip:
        return float(lrs[lowest]), float(lrs[lowest])
    slopes = np.gradient(losses, np.log(lrs))
    return float(lrs[skip + int(np.argmin(slopes[skip:lowest + 1]))]), float(lrs[lowest])


def find_learning_rate(model, data="digits", *, optimizer="adam", start_lr=1e-6, end_lr=1.0, steps=200,
                       batch_size=32, loss=None, divergence=4.0, smoothing=0.9, seed=0, plot=None,
                       blueprint_args=None, optimizer_args=None, data_args=None):
    """Runs the learning-rate range test; see the module docstring.

    Args:
        model: str or keras.Model. A blueprint name (built for the data, with `blueprint_args`) or a built model,
            which this compiles with the sweep's optimizer and gives back its initial weights (compile it again
            before training it).
        data: str, tuple of arrays or `kerakit.data.DataBundle`. As in `kerakit.train`. Defaults to `"digits"`.
        optimizer: str. See `kerakit.optimizers.OPTIMIZERS`: use the optimizer you will train with.
            Defaults to `"adam"`.
        start_lr, end_lr: float. The sweep's first and last rates. Defaults to `1e-6` and `1.0`.
        steps: int. Steps of the sweep (at least 10; the training batches repeat as needed). Defaults to `200`.
        batch_size: int. Defaults to `32`.
        loss: str or None. As in `kerakit.train`. Defaults to `None` (the run's default for the task).
        divergence: float. Stop once the smoothed loss exceeds this many times its best. Defaults to `4`.
        smoothing: float. Momentum of the loss's moving average, in [0, 1). Defaults to `0.9`.
        seed: int. Seeds the weights and the shuffling. Defaults to `0`.
        plot: str, PathLike or None. Write a PNG of the loss against the rate here. Defaults to `None`.
        blueprint_args, optimizer_args, data_args: dict or None. As in `kerakit.train`.

    Returns:
        An `LRFinderResult`.

    Example:

    ```python
    import numpy as np
    from kerakit.lr_finder import find_learning_rate
    x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    result = find_learning_rate("mlp", (x, x @ np.ones((4, 1), "float32")), optimizer="sgd", steps=10,
                                blueprint_args={"hidden_units": (8,)})
    len(result.lrs) <= 10, result.lrs[0]  # (True, 1e-06)
    ```
    """
    _check(start_lr, end_lr, steps, divergence, smoothing)
    import keras
    import numpy as np

    from kerakit import data as kdata
    from kerakit import optimizers as koptimizers
    from kerakit import training

    blueprint_args = dict(blueprint_args or {})
    optimizer_args = koptimizers.check_options(optimizer, optimizer_args)
    if isinstance(model, str):
        from kerakit.registry import get_blueprint

        get_blueprint(model)
    elif not isinstance(model, keras.Model):
        raise errors.invalid("find_learning_rate", "model", "a blueprint name or a keras.Model", type(model).__name__)
    from kerakit.losses import check_loss

    check_loss(loss, owner="find_learning_rate")
    task = training.task_of(model)
    if task in ("generation", "denoising"):
        raise errors.invalid("find_learning_rate", "model", "a model trained by a loss on (x, y) (not a VAE, GAN or "
                             "diffusion model, which bring their own)", model if isinstance(model, str) else model.name)
    keras.utils.set_random_seed(seed)
    bundle = kdata.load(data, batch_size=batch_size, seed=seed, **dict(data_args or {}))
    model = training.model_for_data(model, bundle.info, blueprint_args, task)
    training.compile_for_task(model, koptimizers.make_optimizer(optimizer, start_lr, options=optimizer_args),
                              bundle.info, task, loss)
    initial = model.get_weights()
    batches = training.for_task(bundle.train, task).repeat().as_numpy_iterator()
    ratio = (end_lr / start_lr) ** (1.0 / (steps - 1))
    lrs, raw, smoothed = [], [], []
    average, best, diverged = 0.0, math.inf, False
    try:
        for step in range(steps):
            rate = start_lr * ratio ** step
            model.optimizer.learning_rate = rate
            x, y = next(batches)
            value = float(model.train_on_batch(x, y, return_dict=True)["loss"])
            average = smoothing * average + (1.0 - smoothing) * value
            current = average / (1.0 - smoothing ** (step + 1))
            lrs.append(rate)
            raw.append(value)
            smoothed.append(current)
            if not math.isfinite(current) or current > divergence * best:
                diverged = True
                break
            best = min(best, current)
    finally:
        model.set_weights(initial)
    finite = [i for i, v in enumerate(raw) if math.isfinite(v)]
    lrs, raw = [lrs[i] for i in finite], [raw[i] for i in finite]
    curve = smooth_both_ways(raw, smoothing)
    suggestion, min_loss_lr = suggest(lrs, curve)
    result = LRFinderResult(lrs=lrs, losses=[float(v) for v in curve], raw_losses=raw, suggestion=suggestion,
                            min_loss_lr=min_loss_lr, diverged=diverged)
    if plot is not None:
        result.plot = str(plot_result(result, plot, title=f"LR range test: {model.name} on {bundle.info.name}"))
    return result


def plot_result(result, path, title=None):
    """Writes a PNG of the raw and smoothed loss against the rate (log scale), the suggestion marked."""
    import numpy as np

    from kerakit.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    raw = np.asarray(result.raw_losses, dtype="float64")
    top = np.nanmax(np.where(np.isfinite(result.losses), result.losses, np.nan)) * 1.1
    ax.plot(result.lrs, np.where(np.isfinite(raw), np.minimum(raw, top), np.nan), color="0.8", label="loss")
    ax.plot(result.lrs, result.losses, color="C0", label="smoothed loss")
    ax.axvline(result.suggestion, color="C3", linestyle="--", label=f"suggestion {result.suggestion:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.legend()
    return save_figure(fig, path, title=title)
