"""Fully connected blueprints."""

from blueprints.dense import mlp  # noqa: F401
