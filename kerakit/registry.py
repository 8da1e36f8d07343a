"""The blueprint registry: `@blueprint` registers a builder, `build` calls it by name.

Builders are registered by the modules of the `blueprints` package, and by third-party packages that declare an
entry point in the `kerakit.blueprints` group (the entry point's module is imported; its decorators register)::

    # a third-party pyproject.toml
    [project.entry-points."kerakit.blueprints"]
    my_models = "my_package.blueprints"

Importing this module is cheap: the `blueprints` package and the entry points are imported on the first lookup.
"""

import dataclasses
import fnmatch
import inspect
import warnings

from kerakit.errors import KerakitError, unknown_name_error

ENTRY_POINT_GROUP = "kerakit.blueprints"

_REGISTRY = {}
_loaded = False


@dataclasses.dataclass(frozen=True)
class BlueprintSpec:
    """What the registry knows of one blueprint.

    Attributes:
        name: str. The registry key (the builder's function name).
        builder: callable. Returns a `keras.Model`.
        family: str. `"dense"`, `"vision"`, `"sequence"`, `"generative"` or `"graph"`.
        task: str. What the model does, e.g. `"image_classification"`.
        description: str. The first line of the builder's docstring.
        tiny: dict. Keyword arguments for a small, fast instance (used by the test suite and `kerakit doctor`).
        module: str. Where the builder lives.
        sample_inputs: callable or None. `fn(model, batch_size, seed)` -> valid example inputs, for models whose
            inputs random numbers would not make valid (graphs: node indices); `None` for random inputs.
    """

    name: str
    builder: object
    family: str
    task: str
    description: str
    tiny: dict
    module: str
    sample_inputs: object = None


def blueprint(family, task, tiny=None, name=None, sample_inputs=None):
    """Registers a blueprint builder under its function name (or `name`).

    Args:
        family: str. The architecture family, e.g. `"vision"`.
        task: str. The task, e.g. `"image_classification"`.
        tiny: dict. Keyword arguments that build a small instance in well under a second. Every blueprint needs
            one: the test suite builds, trains, saves and exports each blueprint with it.
        name: str. The registry key. Defaults to the function's name.
        sample_inputs: callable or None. `fn(model, batch_size, seed)` returning valid example inputs, where random
            ones are not (e.g. a graph model's node indices). Defaults to `None`.

    Example:

    ```python
    from kerakit.registry import blueprint

    @blueprint(family="dense", task="regression", tiny={"input_shape": (4,)})
    def linear(input_shape, name="linear"):
        \"\"\"A linear model.\"\"\"
        import keras
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, keras.layers.Dense(1)(inputs), name=name)
    ```
    """

    def register(fn):
        key = name or fn.__name__
        if key in _REGISTRY:
            raise KerakitError(
                f"A blueprint named {key!r} is already registered (by {_REGISTRY[key].module}); "
                f"{fn.__module__} cannot register it again."
            )
        if tiny is None:
            raise KerakitError(f"Blueprint {key!r} ({fn.__module__}) needs a `tiny` configuration for the tests.")
        doc = inspect.getdoc(fn) or ""
        _REGISTRY[key] = BlueprintSpec(
            name=key,
            builder=fn,
            family=family,
            task=task,
            description=doc.splitlines()[0] if doc else "",
            tiny=dict(tiny),
            module=fn.__module__,
            sample_inputs=sample_inputs,
        )
        return fn

    return register


def variant_of(builder, hide=(), **defaults):
    """Gives a thin variant `fn(**kwargs)` the signature of `builder`, less `hide`, with the variant's `defaults`.

    `build` then refuses unknown argument names for the variant too, and the training run sees its `input_shape`
    and `num_classes` to fill them from the data. The variant's body passes its defaults on, the caller's winning:
    `return builder(**{**defaults, **kwargs})`.

    Example:

    ```python
    import inspect
    from kerakit.registry import variant_of

    def _net(depth, width=1.0, name="net"):
        return depth, width, name

    @variant_of(_net, depth=3, name="net3")
    def net3(**kwargs):
        return _net(**{"depth": 3, "name": "net3", **kwargs})

    str(inspect.signature(net3))  # '(*, depth=3, width=1.0, name=\'net3\')'
    ```
    """

    def decorate(fn):
        parameters = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY, default=defaults.get(p.name, p.default))
            for p in inspect.signature(builder).parameters.values() if p.name not in hide
        ]
        fn.__signature__ = inspect.Signature(parameters)
        # The tests group variants that build the same tiny architecture; a hidden argument that shapes the network
        # (unlike one listed in the builder's `weights_only_arguments`) keeps a variant apart.
        fn.__kerakit_builder__ = builder
        fn.__kerakit_hidden__ = tuple(hide)
        return fn

    return decorate


def _load_all():
    """Imports the built-in blueprints and every `kerakit.blueprints` entry point, once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib
    import importlib.metadata

    importlib.import_module("blueprints")
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry_point.load()
        except Exception as error:  # a broken plugin must not break the kit
            warnings.warn(f"kerakit: could not load blueprints from entry point {entry_point.value!r}: {error}")


def get_blueprint(name):
    """Returns the `BlueprintSpec` registered as `name`; an unknown name lists the closest ones."""
    _load_all()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise unknown_name_error("blueprint", name, _REGISTRY)
    return _REGISTRY[name]


def list_blueprints(pattern="*", family=None, task=None):
    """Returns the sorted names of the registered blueprints that match a glob `pattern`, `family` and `task`.

    Example:

    ```python
    import kerakit
    kerakit.list_blueprints("lenet*")  # ['lenet5']
    ```
    """
    _load_all()
    return sorted(
        spec.name
        for spec in _REGISTRY.values()
        if fnmatch.fnmatch(spec.name, pattern)
        and (family is None or spec.family == family)
        and (task is None or spec.task == task)
    )


def build(name, /, **kwargs):
    """Builds the blueprint registered as `name` with keyword arguments `kwargs`.

    Arguments the builder does not take are refused with the list of those it does take.

    Example:

    ```python
    import kerakit
    model = kerakit.build("convnet", input_shape=(8, 8, 1), num_classes=10)
    ```
    """
    spec = get_blueprint(name)
    signature = inspect.signature(spec.builder)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    if not accepts_any:
        unknown = sorted(set(kwargs) - set(signature.parameters))
        if unknown:
            raise KerakitError(
                f"Blueprint {name!r} has no argument {', '.join(map(repr, unknown))}. "
                f"It takes: {', '.join(signature.parameters)}."
            )
    return spec.builder(**kwargs)


def blueprint_arguments(name):
    """Returns `{argument: default}` for the blueprint `name` (`inspect.Parameter.empty` where required)."""
    spec = get_blueprint(name)
    return {k: p.default for k, p in inspect.signature(spec.builder).parameters.items()}
