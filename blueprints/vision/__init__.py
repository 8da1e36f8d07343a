"""Image blueprints: classification backbones and heads."""

from blueprints.vision import convnet, lenet  # noqa: F401
