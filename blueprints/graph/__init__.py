"""Graph blueprints: node classification (`gcn`, `gat`, `graphsage`) and graph classification (`gin`)."""

from blueprints.graph import gnn  # noqa: F401  (imported to register)
