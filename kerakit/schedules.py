"""Learning-rate schedules by name, built from Keras's own schedules (one-cycle is kerakit's).

| name          | what it is                                                                 | Keras class          |
|---------------|----------------------------------------------------------------------------|----------------------|
| `constant`    | the base rate throughout                                                   | (a float)            |
| `step`        | multiply by `gamma` every `step_epochs` epochs (staircase)                 | `ExponentialDecay`   |
| `cosine`      | linear warmup over `warmup_epochs` (0: none), then cosine decay to          | `CosineDecay`        |
|               | `min_lr_ratio` x rate                                                      |                      |
| `exponential` | multiply by `gamma` every `step_epochs` epochs, smoothly (every step)      | `ExponentialDecay`   |
| `one_cycle`   | rise from rate/`div_factor` to the rate over `pct_start` of the run, then   | `OneCycle` (here)    |
|               | anneal to rate/(`div_factor` x `final_div_factor`)                         |                      |
| `plateau`     | the base rate, multiplied by `gamma` when `val_loss` has not improved for   | `ReduceLROnPlateau`  |
|               | `patience` epochs (a callback, `plateau_callback`)                          | (callback)           |
"""

import math

from kerakit import errors

SCHEDULES = ("constant", "step", "cosine", "exponential", "one_cycle", "plateau")
ANNEAL_STRATEGIES = ("cos", "linear")


def _one_cycle_class():
    """`OneCycle`, defined on first use so that `import kerakit.schedules` does not import Keras."""
    import keras

    @keras.saving.register_keras_serializable(package="kerakit")
    class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
        """The one-cycle policy (Smith & Topin 2018, "Super-Convergence", arXiv:1708.07120).

        The rate rises from `max_lr / div_factor` to `max_lr` over the first `pct_start` of `total_steps`, then
        anneals to `max_lr / (div_factor * final_div_factor)` at `total_steps` (and stays there), along a half
        cosine (`anneal="cos"`) or a straight line (`anneal="linear"`) in both phases.

        Args:
            max_lr: float. The peak rate.
            total_steps: int. Length of the cycle, in optimizer steps.
            pct_start: float. Fraction of the cycle spent rising, in (0, 1). Defaults to `0.3`.
            div_factor: float. The initial rate is `max_lr / div_factor`. Defaults to `25`.
            final_div_factor: float. The final rate is the initial rate / `final_div_factor`. Defaults to `1e4`.
            anneal: str. `"cos"` or `"linear"`. Defaults to `"cos"`.

        Example:

        ```python
        from kerakit.schedules import OneCycle
        schedule = OneCycle(0.1, total_steps=100, pct_start=0.3)
        round(float(schedule(0)), 6), round(float(schedule(30)), 6)  # (0.004, 0.1)
        ```
        """

        def __init__(self, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4,
                     anneal="cos", name="OneCycle"):
            owner = "OneCycle"
            self.max_lr = errors.check_positive_float(owner, "max_lr", max_lr)
            self.total_steps = errors.check_int(owner, "total_steps", total_steps)
            if isinstance(pct_start, bool) or not isinstance(pct_start, (int, float)) or not 0 < pct_start < 1:
                raise errors.invalid(owner, "pct_start", "a number in (0, 1)", pct_start)
            self.pct_start = float(pct_start)
            self.div_factor = errors.check_positive_float(owner, "div_factor", div_factor)
            self.final_div_factor = errors.check_positive_float(owner, "final_div_factor", final_div_factor)
            self.anneal = errors.check_choice(owner, "anneal", anneal, ANNEAL_STRATEGIES)
            self.name = name

        @property
        def initial_lr(self):
            return self.max_lr / self.div_factor

        @property
        def final_lr(self):
            return self.initial_lr / self.final_div_factor

        def _interpolate(self, start, end, fraction):
            from keras import ops

            if self.anneal == "linear":
                return start * (1.0 - fraction) + end * fraction  # exact at both ends in float32
            return end + (start - end) * 0.5 * (1.0 + ops.cos(math.pi * fraction))

        def __call__(self, step):
            from keras import ops

            step = ops.cast(step, "float32")
            rise = self.pct_start * self.total_steps
            fall = self.total_steps - rise
            up = self._interpolate(self.initial_lr, self.max_lr, ops.clip(step / rise, 0.0, 1.0))
            down = self._interpolate(self.max_lr, self.final_lr, ops.clip((step - rise) / fall, 0.0, 1.0))
            return ops.where(step <= rise, up, down)

        def get_config(self):
            return {"max_lr": self.max_lr, "total_steps": self.total_steps, "pct_start": self.pct_start,
                    "div_factor": self.div_factor, "final_div_factor": self.final_div_factor, "anneal": self.anneal,
                    "name": self.name}

    return OneCycle


def __getattr__(name):
    if name == "OneCycle":
        return _one_cycle_class_cached()
    raise AttributeError(f"module 'kerakit.schedules' has no attribute {name!r}")


_CLASSES = {}


def _one_cycle_class_cached():
    if "OneCycle" not in _CLASSES:
        _CLASSES["OneCycle"] = _one_cycle_class()
    return _CLASSES["OneCycle"]


def register():
    """Defines (so registers for `keras.saving.load_model`) kerakit's schedules; done by
    `kerakit.export.load_keras_model`, as a saved optimizer may hold one."""
    _one_cycle_class_cached()


def check_schedule(name, learning_rate, *, epochs, warmup_epochs=0.0, step_epochs=None, gamma=0.1, min_lr_ratio=0.0,
                   pct_start=0.3, div_factor=25.0, final_div_factor=1e4, anneal="cos", patience=3):
    """Checks the arguments of `make_schedule` (all of them, whatever the schedule), before any work starts."""
    owner = "schedule"
    errors.check_choice(owner, "schedule", name, SCHEDULES)
    errors.check_positive_float(owner, "learning_rate", learning_rate)
    epochs = errors.check_int(owner, "epochs", epochs)
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, (int, float)) or not (
            0 <= warmup_epochs < epochs):
        raise errors.invalid(owner, "warmup_epochs", f"a number in [0, epochs={epochs})", warmup_epochs)
    if isinstance(min_lr_ratio, bool) or not isinstance(min_lr_ratio, (int, float)) or not 0 <= min_lr_ratio < 1:
        raise errors.invalid(owner, "min_lr_ratio", "a number in [0, 1)", min_lr_ratio)
    if step_epochs is not None:
        errors.check_int(owner, "step_epochs", step_epochs)
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 < gamma < 1:
        raise errors.invalid(owner, "gamma", "a number in (0, 1)", gamma)
    if isinstance(pct_start, bool) or not isinstance(pct_start, (int, float)) or not 0 < pct_start < 1:
        raise errors.invalid(owner, "pct_start", "a number in (0, 1)", pct_start)
    errors.check_positive_float(owner, "div_factor", div_factor)
    errors.check_positive_float(owner, "final_div_factor", final_div_factor)
    errors.check_choice(owner, "anneal", anneal, ANNEAL_STRATEGIES)
    errors.check_int(owner, "patience", patience, minimum=0)


def schedule_options(options):
    """Returns `options` (a dict, maybe None) as a dict; refuses a name `make_schedule` does not take."""
    import inspect

    accepted = set(inspect.signature(make_schedule).parameters) - {"name", "learning_rate", "epochs",
                                                                   "steps_per_epoch", "warmup_epochs"}
    options = dict(options or {})
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise errors.invalid("schedule", "schedule_args", f"arguments of the schedules ({', '.join(sorted(accepted))})",
                             {k: options[k] for k in unknown})
    return options


def make_schedule(name, learning_rate, *, epochs, steps_per_epoch, warmup_epochs=0.0, step_epochs=None, gamma=0.1,
                  min_lr_ratio=0.0, pct_start=0.3, div_factor=25.0, final_div_factor=1e4, anneal="cos", patience=3):
    """Returns a Keras learning-rate schedule (or a float for `constant` and `plateau`).

    Args:
        name: str. One of `SCHEDULES`.
        learning_rate: float. The base (peak) learning rate.
        epochs: int. Length of the run, for the decay horizon.
        steps_per_epoch: int. Optimizer steps per epoch.
        warmup_epochs: float. Linear warmup from 0 to `learning_rate` (`cosine` only). Defaults to `0`.
        step_epochs: int. Epochs over which `step` and `exponential` multiply the rate by `gamma`. Defaults to a
            third of `epochs`.
        gamma: float. Decay factor of `step`, `exponential` and `plateau`, in (0, 1). Defaults to `0.1`.
        min_lr_ratio: float. Final rate of `cosine` (and floor of `plateau`), as a fraction of `learning_rate`.
            Defaults to `0`.
        pct_start: float. `one_cycle`: fraction of the run spent rising. Defaults to `0.3`.
        div_factor: float. `one_cycle`: starts at `learning_rate / div_factor`. Defaults to `25`.
        final_div_factor: float. `one_cycle`: ends at `learning_rate / (div_factor * final_div_factor)`.
            Defaults to `1e4`.
        anneal: str. `one_cycle`: `"cos"` or `"linear"` rise and fall. Defaults to `"cos"`.
        patience: int. `plateau`: epochs without a better `val_loss` before the rate drops. Defaults to `3`.

    Example:

    ```python
    from kerakit.schedules import make_schedule
    schedule = make_schedule("cosine", 1e-3, epochs=10, steps_per_epoch=100, warmup_epochs=1)
    float(schedule(50))  # 0.0005, halfway through the warmup
    ```
    """
    check_schedule(name, learning_rate, epochs=epochs, warmup_epochs=warmup_epochs, step_epochs=step_epochs,
                   gamma=gamma, min_lr_ratio=min_lr_ratio, pct_start=pct_start, div_factor=div_factor,
                   final_div_factor=final_div_factor, anneal=anneal, patience=patience)
    steps_per_epoch = errors.check_int("schedule", "steps_per_epoch", steps_per_epoch)
    learning_rate = float(learning_rate)
    if name in ("constant", "plateau"):
        return learning_rate
    import keras

    if name in ("step", "exponential"):
        step_epochs = step_epochs or max(1, epochs // 3)
        return keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=step_epochs * steps_per_epoch, decay_rate=gamma, staircase=name == "step")
    if name == "one_cycle":
        return _one_cycle_class_cached()(learning_rate, epochs * steps_per_epoch, pct_start=pct_start,
                                         div_factor=div_factor, final_div_factor=final_div_factor, anneal=anneal)
    warmup_steps = int(round(warmup_epochs * steps_per_epoch))
    decay_steps = max(1, epochs * steps_per_epoch - warmup_steps)
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=decay_steps, alpha=min_lr_ratio)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=decay_steps, alpha=min_lr_ratio, warmup_target=learning_rate, warmup_steps=warmup_steps)


def plateau_callback(name, learning_rate, *, gamma=0.1, min_lr_ratio=0.0, patience=3, **_):
    """The callback a schedule needs (`ReduceLROnPlateau` on `val_loss` for `plateau`), or `None`.

    Example:

    ```python
    from kerakit.schedules import plateau_callback
    plateau_callback("plateau", 1e-3, gamma=0.5, patience=2).factor  # 0.5
    ```
    """
    if name != "plateau":
        return None
    import keras

    return keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=gamma, patience=patience,
                                             min_lr=learning_rate * min_lr_ratio)
