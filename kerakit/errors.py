"""User-facing errors and the argument checks that raise them.

Every check names the argument, what was expected and what was received, and runs before any work starts. The
CLI prints a `KerakitError` as one line and exits with status 2, without a traceback.
"""

import difflib
import numbers


class KerakitError(ValueError):
    """A problem with what the user asked for (an argument, a name, a path), not a bug in kerakit."""


class ExportVerificationError(KerakitError):
    """The exported SavedModel did not reproduce the Keras model's outputs."""


def closest(name, candidates, n=5):
    """Returns up to `n` entries of `candidates` that look like `name`, best first."""
    candidates = list(candidates)
    matches = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    prefix = [c for c in candidates if c.startswith(name[:3]) and c not in matches] if name else []
    return (matches + sorted(prefix))[:n]


def unknown_name_error(kind, name, candidates):
    """A `KerakitError` for a name that is not in `candidates`, listing the closest ones."""
    near = closest(str(name), candidates)
    hint = f" Did you mean: {', '.join(near)}?" if near else ""
    return KerakitError(f"Unknown {kind} {name!r}.{hint} Available: {', '.join(sorted(candidates))}.")


def invalid(owner, argument, expected, received):
    """A `KerakitError` saying `argument` of `owner` must be `expected` and what it was."""
    return KerakitError(f"{owner}: `{argument}` must be {expected}. Received: {argument}={received!r}")


def check_int(owner, argument, value, minimum=1):
    """Checks that `value` is an integer (not a bool) no smaller than `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise invalid(owner, argument, f"an integer >= {minimum}", value)
    return int(value)


def check_int_sequence(owner, argument, value, minimum=1, allow_empty=False):
    """Checks a list/tuple of integers, each >= `minimum`; returns it as a tuple."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise invalid(owner, argument, f"a sequence of integers >= {minimum}", value)
    value = tuple(value)
    if not value and not allow_empty:
        raise invalid(owner, argument, "a non-empty sequence of integers", value)
    for item in value:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral) or item < minimum:
            raise invalid(owner, argument, f"a sequence of integers >= {minimum}", value)
    return tuple(int(v) for v in value)


def check_rate(owner, argument, value):
    """Checks a probability-like rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise invalid(owner, argument, "a float in [0, 1)", value)
    return float(value)


def check_positive_float(owner, argument, value):
    """Checks a real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise invalid(owner, argument, "a number > 0", value)
    return float(value)


def check_choice(owner, argument, value, choices):
    """Checks that `value` is one of `choices`."""
    if value not in choices:
        near = closest(str(value), [str(c) for c in choices if c is not None])
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise invalid(owner, argument, f"one of {list(choices)}{hint}", value)
    return value


def check_activation(owner, argument, value):
    """Checks that Keras knows the activation `value` (a name or a callable)."""
    import keras

    if value is None or callable(value):
        return value
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        raise invalid(owner, argument, "a Keras activation name such as 'relu', 'gelu' or 'swish'", value) from None
    return value


def check_input_shape(owner, input_shape, rank=None, min_spatial=None):
    """Checks an `input_shape` tuple (without the batch dimension).

    Args:
        owner: str. Who is checking, for the message.
        input_shape: tuple. The shape to check; `None` entries are allowed for spatial sizes.
        rank: int or None. The required length of `input_shape`.
        min_spatial: int or None. The smallest allowed size of every known dimension but the last.
    """
    expected = f"a tuple of {rank} positive integers" if rank else "a tuple of positive integers"
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise invalid(owner, "input_shape", expected, input_shape)
    shape = tuple(input_shape)
    if rank is not None and len(shape) != rank:
        raise invalid(owner, "input_shape", expected, input_shape)
    for dim in shape:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1):
            raise invalid(owner, "input_shape", expected, input_shape)
    if min_spatial is not None:
        for dim in shape[:-1]:
            if dim is not None and dim < min_spatial:
                raise invalid(owner, "input_shape", f"at least {min_spatial} in every spatial dimension", input_shape)
    return tuple(None if d is None else int(d) for d in shape)
