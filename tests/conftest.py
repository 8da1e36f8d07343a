"""Shared pytest setup. The suite runs once per backend: `KERAS_BACKEND=tensorflow pytest` and `KERAS_BACKEND=jax
pytest` (see README); tests that need a fresh process (virtual devices, the CLI) start one with the same backend."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The tests build hundreds of tiny models, so XLA's compile time dominates on CPU, not run time: compile with
# LLVM's cheap settings (about 30% less wall time on JAX; the same results within the tests' tolerances).
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same seeds, so a failure reproduces."""
    import keras

    keras.utils.set_random_seed(1234)
    yield
    keras.backend.clear_session(free_memory=False)  # names and graphs reset; no gc pass (0.45 s per test)


@pytest.fixture
def backend():
    import keras

    return keras.backend.backend()
