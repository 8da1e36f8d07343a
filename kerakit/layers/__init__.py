"""kerakit's custom Keras layers, one module per domain (vision, sequence, generative, diffusion, graph).

Every layer is registered with `keras.saving.register_keras_serializable(package="kerakit")`, so a model that uses
it loads back with `keras.saving.load_model(path)` once `kerakit.layers` is imported.
"""

# Importing registers the layers for deserialization.
from kerakit.layers import diffusion, generative, graph, sequence, vision  # noqa: F401
from kerakit.layers.vision import LayerScale, StochasticDepth  # noqa: F401
