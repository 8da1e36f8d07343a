"""kerakit: Keras 3 blueprints for classic and modern architectures, on TensorFlow and JAX.

```python
import kerakit
model = kerakit.build("convnet", input_shape=(8, 8, 1), num_classes=10)
result = kerakit.train(model, data="digits", epochs=20)
kerakit.export.saved_model(model, "out/digits_convnet")
```

Importing kerakit is cheap: Keras, TensorFlow and the blueprints are imported when first used.
"""

import importlib

from kerakit._version import __version__
from kerakit.errors import KerakitError
from kerakit.registry import blueprint, build, get_blueprint, list_blueprints

_LAZY_MODULES = ("augment", "backbones", "data", "export", "distillation", "distribute", "doctor", "generation",
                 "layers", "models", "training", "transfer")
_LAZY_FUNCTIONS = {"train": ("kerakit.training", "train"), "backbone": ("kerakit.backbones", "backbone"),
                   "generate": ("kerakit.generation", "generate"), "distill": ("kerakit.distillation", "distill")}

__all__ = ["__version__", "KerakitError", "backbone", "blueprint", "build", "distill", "generate", "get_blueprint",
           "list_blueprints", "train"]


def __getattr__(name):
    if name in _LAZY_MODULES:
        return importlib.import_module(f"kerakit.{name}")
    if name in _LAZY_FUNCTIONS:
        module, attribute = _LAZY_FUNCTIONS[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'kerakit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_MODULES) | set(_LAZY_FUNCTIONS))
