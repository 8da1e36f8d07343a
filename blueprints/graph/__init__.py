"""Graph blueprints: node classification (`gcn`, `gat`, `graphsage`), graph classification (`gin`) and link
prediction (`gnn_link_predictor`)."""

from blueprints.graph import gnn  # noqa: F401  (imported to register)
