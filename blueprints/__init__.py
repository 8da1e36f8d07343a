"""kerakit's built-in blueprints, one module per architecture family.

Importing this package registers every built-in blueprint in `kerakit.registry`; `kerakit.build` does it for you.
"""

from blueprints import dense, generative, graph, sequence, vision  # noqa: F401  (imported to register)
