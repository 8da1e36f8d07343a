"""Learning-rate schedules by name, built from Keras's own schedules.

| name       | what it is                                                                   | Keras class          |
|------------|------------------------------------------------------------------------------|----------------------|
| `constant` | the base rate throughout                                                     | (a float)            |
| `step`     | multiply by `gamma` every `step_epochs` epochs                               | `ExponentialDecay`   |
| `cosine`   | linear warmup over `warmup_epochs`, then cosine decay to `min_lr_ratio`x rate | `CosineDecay`        |
"""

from kerakit import errors

SCHEDULES = ("constant", "step", "cosine")


def make_schedule(name, learning_rate, *, epochs, steps_per_epoch, warmup_epochs=0.0, step_epochs=None, gamma=0.1,
                  min_lr_ratio=0.0):
    """Returns a Keras learning-rate schedule (or a float for `constant`).

    Args:
        name: str. One of `"constant"`, `"step"`, `"cosine"`.
        learning_rate: float. The base (peak) learning rate.
        epochs: int. Length of the run, for the decay horizon.
        steps_per_epoch: int. Optimizer steps per epoch.
        warmup_epochs: float. Linear warmup from 0 to `learning_rate` (`cosine` only). Defaults to `0`.
        step_epochs: int. Epochs between two decays (`step` only). Defaults to a third of `epochs`.
        gamma: float. Decay factor of `step`. Defaults to `0.1`.
        min_lr_ratio: float. Final rate of `cosine`, as a fraction of `learning_rate`. Defaults to `0`.

    Example:

    ```python
    from kerakit.schedules import make_schedule
    schedule = make_schedule("cosine", 1e-3, epochs=10, steps_per_epoch=100, warmup_epochs=1)
    float(schedule(50))  # 0.0005, halfway through the warmup
    ```
    """
    owner = "schedule"
    errors.check_choice(owner, "schedule", name, SCHEDULES)
    learning_rate = errors.check_positive_float(owner, "learning_rate", learning_rate)
    epochs = errors.check_int(owner, "epochs", epochs)
    steps_per_epoch = errors.check_int(owner, "steps_per_epoch", steps_per_epoch)
    if not 0 <= warmup_epochs < epochs:
        raise errors.invalid(owner, "warmup_epochs", f"a number in [0, epochs={epochs})", warmup_epochs)
    if not 0 <= min_lr_ratio < 1:
        raise errors.invalid(owner, "min_lr_ratio", "a number in [0, 1)", min_lr_ratio)
    import keras

    if name == "constant":
        return learning_rate
    if name == "step":
        step_epochs = errors.check_int(owner, "step_epochs", step_epochs or max(1, epochs // 3))
        errors.check_positive_float(owner, "gamma", gamma)
        return keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=step_epochs * steps_per_epoch, decay_rate=gamma, staircase=True)
    warmup_steps = int(round(warmup_epochs * steps_per_epoch))
    decay_steps = max(1, epochs * steps_per_epoch - warmup_steps)
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=decay_steps, alpha=min_lr_ratio)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=decay_steps, alpha=min_lr_ratio, warmup_target=learning_rate, warmup_steps=warmup_steps)
