"""`keras.Model` subclasses that carry their own training logic: `VAE`, `GAN`, `DiffusionModel`, `Distiller`.

Each trains with plain `compile(optimizer=...)` / `fit` on TensorFlow or JAX, saves to `.keras`, and has
`generate(n, seed=...)` (images in [0, 1]) and `generating_network` (the network a run exports as a SavedModel);
the `Distiller` (knowledge distillation) exports its `student` instead.
Importing `kerakit.models` is cheap; a class is imported on first use.
"""

import importlib

_LAZY = {"VAE": "kerakit.models.vae", "GAN": "kerakit.models.gan", "DiffusionModel": "kerakit.models.diffusion",
         "Distiller": "kerakit.models.distiller"}

__all__ = ["GAN", "VAE", "DiffusionModel", "Distiller", "register"]


def register():
    """Imports every model class, which registers it for `keras.saving.load_model` (done by
    `kerakit.export.load_keras_model`)."""
    for module in sorted(set(_LAZY.values())):
        importlib.import_module(module)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kerakit.models' has no attribute {name!r}")
