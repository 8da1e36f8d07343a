"""Sequence blueprints: recurrent networks and transformers."""

from blueprints.sequence import bert, gpt, recurrent, transformer  # noqa: F401
