"""Optimizers by name, built from Keras's own optimizers.

| name       | Keras optimizer                         |
|------------|-----------------------------------------|
| `sgd`      | `SGD()`                                 |
| `momentum` | `SGD(momentum=0.9)`                     |
| `nesterov` | `SGD(momentum=0.9, nesterov=True)`      |
| `adam`     | `Adam()`                                |
| `adamw`    | `AdamW(weight_decay=1e-4 unless given)` |
| `rmsprop`  | `RMSprop()`                             |
| `lion`     | `Lion()`                                |

Weight decay, gradient clipping, gradient accumulation and weight EMA are Keras's own optimizer options.
"""

from kerakit import errors

_OPTIMIZERS = {
    "sgd": ("SGD", {}),
    "momentum": ("SGD", {"momentum": 0.9}),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "adam": ("Adam", {}),
    "adamw": ("AdamW", {"weight_decay": 1e-4}),
    "rmsprop": ("RMSprop", {}),
    "lion": ("Lion", {}),
}
OPTIMIZERS = tuple(_OPTIMIZERS)


def check_options(name, options):
    """Returns `options` (a dict, maybe None) as a dict; refuses a name the Keras optimizer `name` does not take."""
    import inspect

    import keras

    errors.check_choice("optimizer", "optimizer", name, OPTIMIZERS)
    class_name = _OPTIMIZERS[name][0]
    accepted = set(inspect.signature(getattr(keras.optimizers, class_name)).parameters) - {"learning_rate", "kwargs",
                                                                                           "name"}
    options = dict(options or {})
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise errors.invalid("optimizer", "optimizer_args", f"arguments of keras.optimizers.{class_name} "
                             f"({', '.join(sorted(accepted))})", {k: options[k] for k in unknown})
    return options


def make_optimizer(name, learning_rate, *, weight_decay=None, clipnorm=None, global_clipnorm=None,
                   gradient_accumulation_steps=None, use_ema=False, options=None):
    """Returns a Keras optimizer by name.

    Args:
        name: str. One of `OPTIMIZERS`.
        learning_rate: float or `keras.optimizers.schedules.LearningRateSchedule`.
        weight_decay: float or None. Decoupled weight decay. Defaults to the optimizer's own (1e-4 for `adamw`).
        clipnorm: float or None. Clip each gradient to this norm.
        global_clipnorm: float or None. Clip all gradients together to this norm.
        gradient_accumulation_steps: int or None. Apply the update every this many steps.
        use_ema: bool. Keep an exponential moving average of the weights.
        options: dict or None. More keyword arguments of the Keras optimizer, e.g. `{"beta_1": 0.5}` for Adam
            (as GANs are usually trained); names it does not take are refused.

    Example:

    ```python
    from kerakit.optimizers import make_optimizer
    optimizer = make_optimizer("momentum", 0.1, global_clipnorm=1.0)
    optimizer.momentum  # 0.9
    float(make_optimizer("adam", 2e-4, options={"beta_1": 0.5}).beta_1)  # 0.5
    ```
    """
    owner = "optimizer"
    errors.check_choice(owner, "optimizer", name, OPTIMIZERS)
    if clipnorm is not None and global_clipnorm is not None:
        raise errors.invalid(owner, "clipnorm", "None when global_clipnorm is set", clipnorm)
    import keras

    class_name, defaults = _OPTIMIZERS[name]
    options = {**defaults, **check_options(name, options)}
    for key, value in (("weight_decay", weight_decay), ("clipnorm", clipnorm), ("global_clipnorm", global_clipnorm),
                       ("gradient_accumulation_steps", gradient_accumulation_steps)):
        if value is not None:
            options[key] = value
    if use_ema:
        options["use_ema"] = True
    return getattr(keras.optimizers, class_name)(learning_rate=learning_rate, **options)
