"""Sequence blueprints: recurrent networks and transformers."""

from blueprints.sequence import gpt, recurrent  # noqa: F401
