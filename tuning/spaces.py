"""Search spaces as data: one table per blueprint family, narrowed, widened or fixed by the user.

A search space is a plain dict `{name: spec}`. A spec is one of

- `{"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"}` (`"sampling"`: `"linear"` or `"log"`,
  optional `"step"`),
- `{"type": "int", "min": 1, "max": 3}` (optional `"step"`, `"sampling"`),
- `{"type": "choice", "values": ["adam", "adamw"]}` (values may be lists: `[[16, 32], [32, 64]]`),

with an optional `"default"`. A name is either a training setting (`TRAINING_SETTINGS`: optimizer, learning rate,
weight decay, schedule, batch size) or a keyword argument of the blueprint. The space of a blueprint is the
training table, then the table of its family (`FAMILY_SPACES`), then its own table (`BLUEPRINT_SPACES`), keeping
only the architecture entries the blueprint actually takes; then the user's changes (`space=`, a JSON file) and
fixed values (`fixed=`). A new family registers its table with `register_family_space`.

```python
from tuning import spaces
space = spaces.space_for("convnet", changes={"dropout": {"max": 0.3}}, fixed={"optimizer": "adam"})
sorted(space.tunable)[:3]   # ['batch_size', 'convs_per_block', 'dropout']
space.tunable["dropout"]     # {'type': 'float', 'min': 0.0, 'max': 0.3, 'sampling': 'linear', 'step': 0.05}
spaces.resolve(space, {"dropout": 0.1, "filters": "[16, 32]"})[0]["filters"]  # (16, 32)
```

Nothing here imports KerasTuner, Keras or TensorFlow.
"""

import copy
import dataclasses
import json
import math
import numbers

from kerakit import errors
from kerakit.errors import KerakitError

OWNER = "tune"

# Training settings: compile/fit, not the blueprint.
TRAINING_SETTINGS = ("optimizer", "learning_rate", "weight_decay", "schedule", "batch_size")

TRAINING_SPACE = {
    "optimizer": {"type": "choice", "values": ["adam", "adamw", "momentum"], "default": "adam"},
    "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log", "default": 3e-3},
    "weight_decay": {"type": "float", "min": 1e-6, "max": 1e-3, "sampling": "log", "default": 1e-4},
    "schedule": {"type": "choice", "values": ["cosine", "constant"], "default": "cosine"},
    "batch_size": {"type": "choice", "values": [32, 64, 128], "default": 64},
}

# Architecture arguments by family. An entry applies to a blueprint only when the blueprint takes that argument,
# so one table serves every blueprint of the family (resnet takes `width`, efficientnet `width_coefficient`...).
FAMILY_SPACES = {
    "vision": {
        "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.05, "default": 0.0},
        "drop_path_rate": {"type": "float", "min": 0.0, "max": 0.3, "step": 0.05, "default": 0.0},
        "width": {"type": "choice", "values": [0.5, 1.0], "default": 1.0},
        "width_coefficient": {"type": "choice", "values": [0.5, 1.0], "default": 1.0},
        "depth_coefficient": {"type": "choice", "values": [0.5, 1.0], "default": 1.0},
        "alpha": {"type": "choice", "values": [0.35, 0.5, 1.0], "default": 1.0},
        "blocks_per_stage": {"type": "int", "min": 1, "max": 3, "default": 3},
        "growth_rate": {"type": "choice", "values": [12, 24, 32], "default": 32},
    },
    "dense": {
        "hidden_units": {"type": "choice", "values": [[64], [128], [256, 128]], "default": [256, 128]},
        "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.05, "default": 0.0},
        "batch_norm": {"type": "choice", "values": [False, True], "default": False},
    },
    # Families whose blueprints have not landed yet: the same rule applies (only arguments the blueprint takes).
    "sequence": {
        "dropout": {"type": "float", "min": 0.0, "max": 0.3, "step": 0.05, "default": 0.1},
        "num_layers": {"type": "int", "min": 1, "max": 6, "default": 2},
        "hidden_dim": {"type": "choice", "values": [64, 128, 256], "default": 128},
        "num_heads": {"type": "choice", "values": [2, 4, 8], "default": 4},
    },
    "generative": {
        "latent_dim": {"type": "choice", "values": [2, 8, 32], "default": 8},
        "dropout": {"type": "float", "min": 0.0, "max": 0.3, "step": 0.05, "default": 0.0},
        "beta": {"type": "choice", "values": [0.5, 1.0, 2.0], "default": 1.0},
        "base_width": {"type": "choice", "values": [16, 32, 64], "default": 32},
    },
    "graph": {
        "hidden_units": {"type": "choice", "values": [16, 32, 64], "default": 16},
        "num_layers": {"type": "int", "min": 1, "max": 3, "default": 2},
        "dropout": {"type": "float", "min": 0.0, "max": 0.6, "step": 0.1, "default": 0.5},
    },
}

# Architecture arguments of one blueprint (variant/depth and width that are not shared by its family).
BLUEPRINT_SPACES = {
    "convnet": {
        "filters": {"type": "choice", "values": [[16, 32], [32, 64], [32, 64, 128]], "default": [32, 64]},
        "convs_per_block": {"type": "int", "min": 1, "max": 2, "default": 2},
    },
}

_TYPES = ("float", "int", "choice")
_KEYS = {"type", "min", "max", "step", "sampling", "values", "default"}


@dataclasses.dataclass
class SearchSpace:
    """The resolved space of one blueprint.

    Attributes:
        blueprint: str. The blueprint name.
        tunable: dict. `{name: spec}` of the hyperparameters the tuner chooses.
        fixed: dict. `{name: value}` given as constants (blueprint arguments or training settings).
    """

    blueprint: str
    tunable: dict
    fixed: dict

    def to_json(self):
        return {"blueprint": self.blueprint, "tunable": self.tunable, "fixed": self.fixed}


def register_family_space(family, table, replace=False):
    """Adds (or, with `replace=True`, replaces) the search-space table of a blueprint family."""
    if family in FAMILY_SPACES and not replace:
        raise KerakitError(f"{OWNER}: a search space for family {family!r} exists; pass replace=True to replace it.")
    FAMILY_SPACES[family] = {name: check_spec(name, spec) for name, spec in table.items()}


def load_space_file(path):
    """Reads a JSON file `{name: spec or partial spec, ...}`; a plain value (not a dict) fixes that name.

    Returns `(changes, fixed)`.
    """
    try:
        with open(path) as handle:
            content = json.load(handle)
    except OSError as error:
        raise KerakitError(f"{OWNER}: cannot read the search-space file {str(path)!r}: {error.strerror}.") from None
    except ValueError as error:
        raise KerakitError(f"{OWNER}: the search-space file {str(path)!r} is not valid JSON: {error}.") from None
    if not isinstance(content, dict):
        raise errors.invalid(OWNER, "space file", "a JSON object {name: spec}", type(content).__name__)
    changes = {k: v for k, v in content.items() if isinstance(v, dict)}
    fixed = {k: v for k, v in content.items() if not isinstance(v, dict)}
    return changes, fixed


def parse_spec_text(name, text):
    """Parses a CLI value `LOW:HIGH[:log|:linear][:STEP]`, `a,b,c` or a JSON list into a spec.

    `"1e-4:1e-2:log"` -> float log range; `"1:3"` -> int range; `"adam,sgd"` -> choice; `"[[16,32],[32,64]]"` ->
    choice of lists.
    """
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            raise errors.invalid(OWNER, f"--hp {name}", "a JSON list of choices", text) from None
        return {"type": "choice", "values": values}
    if ":" in text:
        parts = text.split(":")
        if len(parts) > 4 or len(parts) < 2:
            raise errors.invalid(OWNER, f"--hp {name}", "LOW:HIGH[:log|linear][:STEP]", text)
        low, high = (_number(name, p, text) for p in parts[:2])
        spec = {"type": "int" if all(isinstance(v, int) for v in (low, high)) else "float", "min": low, "max": high}
        for extra in parts[2:]:
            if extra in ("log", "linear"):
                spec["sampling"] = extra
            else:
                spec["step"] = _number(name, extra, text)
        return spec
    return {"type": "choice", "values": [_literal(v) for v in text.split(",")]}


def parse_fixed_text(text):
    """`"dropout=0.1"` -> `("dropout", 0.1)`; lists as JSON (`filters=[16,32]`)."""
    if "=" not in text:
        raise errors.invalid(OWNER, "--fix", "NAME=VALUE", text)
    name, raw = text.split("=", 1)
    return name.strip(), _literal(raw.strip())


def _literal(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return {"True": True, "False": False, "None": None}.get(raw, raw)


def _number(name, raw, text):
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise errors.invalid(OWNER, f"--hp {name}", "LOW:HIGH[:log|linear][:STEP] with numbers", text)
    return value


def check_spec(name, spec):
    """Checks one spec; returns a normalised copy (ranges are never empty or inverted)."""
    where = f"space[{name!r}]"
    if not isinstance(spec, dict):
        raise errors.invalid(OWNER, where, "a dict such as {'type': 'float', 'min': 0.0, 'max': 0.5}", spec)
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise errors.invalid(OWNER, where, f"a spec with keys among {sorted(_KEYS)} (unknown: {unknown})", spec)
    spec = copy.deepcopy(spec)
    kind = spec.get("type")
    if kind is None:
        kind = spec["type"] = "choice" if "values" in spec else (
            "int" if all(isinstance(spec.get(k), int) and not isinstance(spec.get(k), bool) for k in ("min", "max"))
            else "float")
    if kind not in _TYPES:
        raise errors.invalid(OWNER, f"{where}['type']", f"one of {list(_TYPES)}", kind)
    if kind == "choice":
        values = spec.get("values")
        if not isinstance(values, (list, tuple)) or not values:
            raise errors.invalid(OWNER, f"{where}['values']", "a non-empty list of choices", values)
        spec["values"] = [list(v) if isinstance(v, tuple) else v for v in values]
        if len({_encode(v) for v in spec["values"]}) != len(spec["values"]):
            raise errors.invalid(OWNER, f"{where}['values']", "a list without repeated choices", values)
        if "default" in spec and _encode(spec["default"]) not in {_encode(v) for v in spec["values"]}:
            spec.pop("default")  # a narrowed choice no longer holding the table's default
        for key in ("min", "max", "step", "sampling"):
            if key in spec:
                raise errors.invalid(OWNER, f"{where}['{key}']", "absent from a choice", spec[key])
        return spec
    if "values" in spec:
        raise errors.invalid(OWNER, f"{where}['values']", f"absent from a {kind} range", spec["values"])
    for key in ("min", "max"):
        value = spec.get(key)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise errors.invalid(OWNER, f"{where}['{key}']", "a finite number", value)
        if kind == "int" and int(value) != value:
            raise errors.invalid(OWNER, f"{where}['{key}']", "an integer (an int range)", value)
    low, high = spec["min"], spec["max"]
    if low > high:
        raise errors.invalid(OWNER, where, f"a range with min <= max (it is inverted: min={low} > max={high})", spec)
    if low == high:
        raise errors.invalid(OWNER, where, f"a non-empty range (min == max == {low}; fix the value instead: "
                             f"--fix {name}={low})", spec)
    sampling = spec.setdefault("sampling", "linear")
    if sampling not in ("linear", "log"):
        raise errors.invalid(OWNER, f"{where}['sampling']", "'linear' or 'log'", sampling)
    if sampling == "log" and low <= 0:
        raise errors.invalid(OWNER, where, "a range with min > 0 for log sampling", spec)
    if "step" in spec:
        step = spec["step"]
        if isinstance(step, bool) or not isinstance(step, numbers.Real) or step <= 0 or step > high - low:
            raise errors.invalid(OWNER, f"{where}['step']", f"a number in (0, max - min = {high - low}]", step)
        if kind == "int" and int(step) != step:
            raise errors.invalid(OWNER, f"{where}['step']", "an integer (an int range)", step)
        if sampling == "log":
            spec.pop("step")  # KerasTuner reads a log step as a factor; keep log ranges continuous
    if kind == "int":
        spec["min"], spec["max"] = int(low), int(high)
    else:
        spec["min"], spec["max"] = float(low), float(high)
    if "default" in spec and not low <= spec["default"] <= high:
        spec.pop("default")
    return spec


def default_space(blueprint):
    """The space of `blueprint` before the user's changes: training + family + blueprint tables."""
    from kerakit.registry import blueprint_arguments, get_blueprint

    spec = get_blueprint(blueprint)
    accepted = blueprint_arguments(blueprint)
    space = copy.deepcopy(TRAINING_SPACE)
    family = FAMILY_SPACES.get(spec.family, {})
    for table in (family, BLUEPRINT_SPACES.get(blueprint, {})):
        for name, entry in table.items():
            if name in accepted:
                space[name] = copy.deepcopy(entry)
    return space


def space_for(blueprint, changes=None, fixed=None):
    """Resolves the search space of `blueprint`; every name and range is checked before any search starts.

    Args:
        blueprint: str. A registered blueprint.
        changes: dict or None. `{name: spec}`; a full spec (with `type`, or `values`) replaces the table's entry
            (to widen, narrow or add a hyperparameter); a partial one (`{"max": 0.3}`) updates it.
        fixed: dict or None. `{name: value}`: constants, removed from the tunable space.

    Returns:
        A `SearchSpace`.
    """
    from kerakit.registry import blueprint_arguments

    changes = dict(changes or {})
    fixed = dict(fixed or {})
    accepted = blueprint_arguments(blueprint)
    for name in list(changes) + list(fixed):
        check_name(blueprint, name, accepted)
    space = default_space(blueprint)
    for name, change in changes.items():
        if not isinstance(change, dict):
            raise errors.invalid(OWNER, f"space[{name!r}]", "a dict spec (use `fixed` for a constant)", change)
        if name in space and "type" not in change and "values" not in change:
            merged = {**space[name], **change}
        else:
            merged = dict(change)
        space[name] = merged
    tunable = {}
    for name, spec in space.items():
        if name in fixed:
            continue
        tunable[name] = check_spec(name, spec)
    for name, value in fixed.items():
        if name in TRAINING_SETTINGS:
            _check_training_value(name, value)
    return SearchSpace(blueprint, tunable, {k: _decode_tuple(v) for k, v in fixed.items()})


def check_name(blueprint, name, accepted=None):
    """Refuses a hyperparameter name that is neither a training setting nor an argument of `blueprint`."""
    from kerakit.registry import blueprint_arguments

    accepted = blueprint_arguments(blueprint) if accepted is None else accepted
    if not isinstance(name, str) or name.startswith("tuner/"):
        raise errors.invalid(OWNER, "hyperparameter", "a blueprint argument or training setting name", name)
    if name in ("input_shape", "num_classes"):
        raise KerakitError(f"{OWNER}: {name!r} comes from the data and cannot be tuned or fixed.")
    if name not in TRAINING_SETTINGS and name not in accepted:
        near = errors.closest(name, list(accepted) + list(TRAINING_SETTINGS))
        hint = f" Did you mean: {', '.join(near)}?" if near else ""
        raise KerakitError(
            f"{OWNER}: blueprint {blueprint!r} takes no argument {name!r}, and it is not a training setting.{hint} "
            f"It takes: {', '.join(a for a in accepted if a not in ('input_shape', 'num_classes'))}; training "
            f"settings: {', '.join(TRAINING_SETTINGS)}.")


def _check_training_value(name, value):
    from kerakit.optimizers import OPTIMIZERS
    from kerakit.schedules import SCHEDULES

    if name == "optimizer":
        errors.check_choice(OWNER, name, value, OPTIMIZERS)
    elif name == "schedule":
        errors.check_choice(OWNER, name, value, SCHEDULES)
    elif name == "batch_size":
        errors.check_int(OWNER, name, value)
    elif name == "learning_rate":
        errors.check_positive_float(OWNER, name, value)
    elif name == "weight_decay" and value is not None and (
            isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0):
        raise errors.invalid(OWNER, name, "a number >= 0 or None", value)


def check_training_choices(space):
    """Checks the training settings' choices and ranges (optimizer and schedule names, batch sizes, rates)."""
    for name, spec in space.tunable.items():
        if name not in TRAINING_SETTINGS:
            continue
        if spec["type"] == "choice":
            for value in spec["values"]:
                _check_training_value(name, value)
        elif name in ("optimizer", "schedule"):
            raise errors.invalid(OWNER, f"space[{name!r}]", "a choice of names", spec)
        elif name == "batch_size" and spec["type"] != "int":
            raise errors.invalid(OWNER, f"space[{name!r}]", "an int range or a choice", spec)
        elif name in ("learning_rate", "weight_decay") and spec["min"] <= 0 and name == "learning_rate":
            raise errors.invalid(OWNER, f"space[{name!r}]", "a range of numbers > 0", spec)


# Choice values are given to KerasTuner as scalars; lists (and mixed types) travel as JSON strings.
def encode_choices(values):
    """Returns `(kt_values, decoder)`: values KerasTuner accepts and a map back to the spec's values."""
    scalar_types = {type(v) for v in values}
    if len(scalar_types) == 1 and scalar_types <= {int, float, str, bool}:
        return list(values), None
    if scalar_types <= {int, float} and bool not in scalar_types:
        return [float(v) for v in values], None
    encoded = [_encode(v) for v in values]
    return encoded, dict(zip(encoded, values))


def _encode(value):
    return json.dumps(value, sort_keys=True)


def _decode_tuple(value):
    return tuple(_decode_tuple(v) for v in value) if isinstance(value, list) else value


def decode_value(spec, value):
    """A KerasTuner value of `spec` back to the spec's own value (a list becomes a tuple)."""
    if spec["type"] == "choice":
        _, decoder = encode_choices(spec["values"])
        if decoder is not None:
            value = decoder[value]
    elif spec["type"] == "int":
        value = int(value)
    return _decode_tuple(value)


def resolve(space, values):
    """Turns chosen values (`{name: kerastuner value}`) into `(blueprint_args, training_settings)`.

    Fixed values apply too; names KerasTuner reserves (`tuner/...`) are ignored.
    """
    chosen = dict(space.fixed)
    for name, spec in space.tunable.items():
        if name in values:
            chosen[name] = decode_value(spec, values[name])
    blueprint_args = {k: v for k, v in chosen.items() if k not in TRAINING_SETTINGS}
    settings = {k: v for k, v in chosen.items() if k in TRAINING_SETTINGS}
    return blueprint_args, settings


def grid_ready(space):
    """A copy of `space` where every continuous range is a short list of points (grid search needs them).

    An int range stays (every integer); a float range with a `step` stays; a float range without one becomes
    three points: min, the (geometric for log) middle and max.
    """
    tunable = {}
    for name, spec in space.tunable.items():
        if spec["type"] == "float" and "step" not in spec:
            low, high = spec["min"], spec["max"]
            middle = math.sqrt(low * high) if spec["sampling"] == "log" else (low + high) / 2
            spec = {"type": "choice", "values": [low, float(f"{middle:.3g}"), high]}
        tunable[name] = spec
    return SearchSpace(space.blueprint, tunable, dict(space.fixed))


def to_kerastuner(spec, value):
    """The KerasTuner value of the spec's own `value` (the inverse of `decode_value`)."""
    if spec["type"] != "choice":
        return value
    kt_values, decoder = encode_choices(spec["values"])
    if decoder is not None:
        return _encode(list(value) if isinstance(value, tuple) else value)
    return float(value) if isinstance(kt_values[0], float) else value


def sample_values(space, corner="default"):
    """KerasTuner-style values for every tunable entry: `"default"`, `"min"` or `"max"` of each (for tests)."""
    values = {}
    for name, spec in space.tunable.items():
        if spec["type"] == "choice":
            kt_values, _ = encode_choices(spec["values"])
            if corner == "default":
                values[name] = to_kerastuner(spec, spec["default"]) if "default" in spec else kt_values[0]
            else:
                values[name] = kt_values[0 if corner == "min" else -1]
        else:
            values[name] = spec.get("default", spec["min"]) if corner == "default" else spec[corner]
    return values
