"""Optimizers by name, built from Keras's own optimizers.

| name       | Keras optimizer                         |
|------------|-----------------------------------------|
| `sgd`      | `SGD()`                                 |
| `momentum` | `SGD(momentum=0.9)`                     |
| `nesterov` | `SGD(momentum=0.9, nesterov=True)`      |
| `adagrad`  | `Adagrad()`                             |
| `rmsprop`  | `RMSprop()`                             |
| `adam`     | `Adam()`                                |
| `adamw`    | `AdamW(weight_decay=1e-4 unless given)` |
| `lion`     | `Lion()`                                |

Weight decay, gradient clipping (per variable: `clipnorm`, `clipvalue`; global: `global_clipnorm`), gradient
accumulation (`gradient_accumulation_steps`) and an exponential moving average of the weights (`use_ema`,
`ema_momentum`) are Keras's own optimizer options.
"""

import numbers

from kerakit import errors

_OPTIMIZERS = {
    "sgd": ("SGD", {}),
    "momentum": ("SGD", {"momentum": 0.9}),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "adagrad": ("Adagrad", {}),
    "rmsprop": ("RMSprop", {}),
    "adam": ("Adam", {}),
    "adamw": ("AdamW", {"weight_decay": 1e-4}),
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


def check_training_options(owner="optimizer", *, weight_decay=None, clipnorm=None, clipvalue=None,
                           global_clipnorm=None, gradient_accumulation_steps=None, use_ema=False, ema_momentum=None):
    """Checks the optimizer options shared by every optimizer, before any work starts (`train` calls it too)."""
    for argument, value in (("weight_decay", weight_decay), ("clipnorm", clipnorm), ("clipvalue", clipvalue),
                            ("global_clipnorm", global_clipnorm)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0 or (
                argument != "weight_decay" and value == 0):
            raise errors.invalid(owner, argument, "a number >= 0" if argument == "weight_decay" else "a number > 0",
                                 value)
    clips = [(a, v) for a, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm",
                                                                                     global_clipnorm)) if v is not None]
    if len(clips) > 1:  # Keras takes one kind of clipping at a time
        raise errors.invalid(owner, clips[1][0], f"None when {clips[0][0]} is set (one kind of clipping at a time)",
                             clips[1][1])
    if gradient_accumulation_steps is not None:
        errors.check_int(owner, "gradient_accumulation_steps", gradient_accumulation_steps)
    if not isinstance(use_ema, bool):
        raise errors.invalid(owner, "use_ema", "True or False", use_ema)
    if ema_momentum is not None:
        if isinstance(ema_momentum, bool) or not isinstance(ema_momentum, numbers.Real) or not 0 < ema_momentum < 1:
            raise errors.invalid(owner, "ema_momentum", "a number in (0, 1)", ema_momentum)
        if not use_ema:
            raise errors.invalid(owner, "ema_momentum", "None unless use_ema=True", ema_momentum)


def make_optimizer(name, learning_rate, *, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                   gradient_accumulation_steps=None, use_ema=False, ema_momentum=None, options=None):
    """Returns a Keras optimizer by name.

    Args:
        name: str. One of `OPTIMIZERS`.
        learning_rate: float or `keras.optimizers.schedules.LearningRateSchedule`.
        weight_decay: float or None. Decoupled weight decay. Defaults to the optimizer's own (1e-4 for `adamw`).
        clipnorm: float or None. Clip each variable's gradient to this norm.
        clipvalue: float or None. Clip each gradient entry to [-clipvalue, clipvalue].
        global_clipnorm: float or None. Clip all gradients together to this norm (at most one kind of clipping).
        gradient_accumulation_steps: int or None. Average the gradients of this many steps, then update once: the
            effective batch is this many times larger.
        use_ema: bool. Keep an exponential moving average of the weights; the model holds it after `fit`.
        ema_momentum: float or None. The average's momentum, in (0, 1). Defaults to Keras's `0.99`.
        options: dict or None. More keyword arguments of the Keras optimizer, e.g. `{"beta_1": 0.5}` for Adam
            (as GANs are usually trained); names it does not take are refused.

    Example:

    ```python
    from kerakit.optimizers import make_optimizer
    optimizer = make_optimizer("momentum", 0.1, global_clipnorm=1.0)
    optimizer.momentum  # 0.9
    float(make_optimizer("adam", 2e-4, options={"beta_1": 0.5}).beta_1)  # 0.5
    make_optimizer("adagrad", 0.01, gradient_accumulation_steps=4).gradient_accumulation_steps  # 4
    ```
    """
    owner = "optimizer"
    errors.check_choice(owner, "optimizer", name, OPTIMIZERS)
    check_training_options(owner, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                           global_clipnorm=global_clipnorm, gradient_accumulation_steps=gradient_accumulation_steps,
                           use_ema=use_ema, ema_momentum=ema_momentum)
    if isinstance(learning_rate, numbers.Real):
        errors.check_positive_float(owner, "learning_rate", learning_rate)
    import keras

    class_name, defaults = _OPTIMIZERS[name]
    options = {**defaults, **check_options(name, options)}
    for key, value in (("weight_decay", weight_decay), ("clipnorm", clipnorm), ("clipvalue", clipvalue),
                       ("global_clipnorm", global_clipnorm), ("gradient_accumulation_steps",
                                                              gradient_accumulation_steps),
                       ("ema_momentum", ema_momentum)):
        if value is not None:
            options[key] = value
    if use_ema:
        options["use_ema"] = True
    return getattr(keras.optimizers, class_name)(learning_rate=learning_rate, **options)
