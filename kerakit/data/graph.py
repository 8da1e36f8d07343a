"""Graph data: the `Graph` container, padded batches of graphs, neighbour sampling, and offline graph datasets.

A graph is node features `x` (N, F), and its edges as two int32 index arrays, `senders` and `receivers` (E,): a
message flows from `senders[e]` to `receivers[e]`, and an undirected tie is stored in both directions. No dense
N x N adjacency is ever built, so memory grows with the edges.

Models (the `graph` blueprints) take dict inputs: `node_features`, `senders`, `receivers`, plus `node_graph_ids` and
`graph_mask` for graph-level tasks. Three ways to feed them, all with shapes that stay fixed so that XLA and JAX
compile once:

- full graph (node tasks): the whole graph is one step; the train, validation and test node masks become the sample
  weights, so the other nodes count for nothing in the loss and the metrics;
- padded batches (graph tasks, `batch_graphs`): many graphs packed into a node budget and an edge budget, jraph-style:
  at least one padding node, padding edges join padding nodes only, padding nodes belong to a padding graph slot, so
  padding never changes a real node's output;
- neighbour sampling (`NeighborSampler`, GraphSAGE mini-batches on large graphs): fixed fan-outs, fixed shapes.

Bundled and generated datasets, offline: `karate_club()` (Zachary 1977), `stochastic_block_model()`,
`synthetic_graphs()`; `kerakit.data.load("karate" | "sbm" | "graphs" | "sbm_links")` gives them as `DataBundle`s
(node, graph and link tasks).

```python
from kerakit.data.graph import Graph
g = Graph.from_edge_list([(0, 1), (1, 2)], num_nodes=3, name="path")
g.num_nodes, g.num_edges, g.senders.tolist(), g.receivers.tolist()  # 3, 4, [0, 1, 1, 2], [1, 0, 2, 1]
```
"""

import csv
import numbers

import numpy as np

from kerakit.data._bundled import BUNDLED_DIR
from kerakit.errors import KerakitError, check_int, check_int_sequence, invalid

NODE_TASK = "node_classification"
GRAPH_TASK = "graph_classification"
LINK_TASK = "link_prediction"
GRAPH_TASKS = (NODE_TASK, GRAPH_TASK, LINK_TASK)

# The names of the model inputs, and of the size each one's first axis counts (for exports).
INPUT_AXES = {
    "node_features": "nodes",
    "senders": "edges",
    "receivers": "edges",
    "edge_weight": "edges",
    "node_graph_ids": "nodes",
    "graph_mask": "graphs",
    "pair_senders": "pairs",
    "pair_receivers": "pairs",
}
_INDEX_INPUTS = {"senders": "nodes", "receivers": "nodes", "pair_senders": "nodes", "pair_receivers": "nodes",
                 "node_graph_ids": "graphs"}

KARATE_SOURCE = (
    "W. W. Zachary, An Information Flow Model for Conflict and Fission in Small Groups, J. Anthropological Research "
    "33(4):452-473, 1977: 34 members, 78 ties, factions 'Mr. Hi' (0) and 'Officer' (1)"
)


class Graph:
    """One graph: node features, edges as sender/receiver index arrays, optional edge data, labels and masks.

    Everything is checked when the graph is made, and a bad index names the graph, the array and the position,
    e.g. `graph 'karate': senders[17] = 40 is out of range for 34 nodes`.

    Args:
        node_features: array (N, F). Node features (stored as float32).
        senders: int array (E,). The source node of each edge.
        receivers: int array (E,). The target node of each edge (where the message is aggregated).
        edge_weight: array (E,) or None. A weight per edge. Defaults to `None`.
        edge_features: array (E, Fe) or None. Features per edge. Defaults to `None`.
        labels: int array (N,) or None. Node labels. Defaults to `None`.
        label: int or None. The graph's label (graph classification). Defaults to `None`.
        masks: dict or None. `{split: bool array (N,)}`, e.g. the train, validation and test nodes. Defaults to
            `None`.
        name: str. The graph's name in error messages. Defaults to `"graph"`.

    Example:

    ```python
    import numpy as np
    from kerakit.data.graph import Graph
    g = Graph(np.ones((3, 2)), senders=[0, 1], receivers=[1, 2], labels=[0, 1, 1], name="tiny")
    g.num_nodes, g.num_edges, g.num_features  # 3, 2, 2
    sorted(g.inputs())  # ['node_features', 'receivers', 'senders']
    ```
    """

    def __init__(self, node_features, senders, receivers, *, edge_weight=None, edge_features=None, labels=None,
                 label=None, masks=None, name="graph"):
        if not isinstance(name, str):
            raise invalid("Graph", "name", "a str", name)
        self.name = name
        owner = f"graph {name!r}"
        x = np.asarray(node_features)
        if x.ndim != 2 or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise invalid(owner, "node_features", "a 2-D array of numbers (nodes, features)",
                          f"an array of shape {x.shape} and dtype {x.dtype}")
        self.node_features = x.astype(np.float32)
        n = x.shape[0]
        self.senders = _check_indices(owner, "senders", senders, n, "nodes")
        self.receivers = _check_indices(owner, "receivers", receivers, n, "nodes")
        if len(self.senders) != len(self.receivers):
            raise KerakitError(f"{owner}: senders has {len(self.senders)} entries and receivers "
                               f"{len(self.receivers)}; they must match (one of each per edge).")
        e = len(self.senders)
        self.edge_weight = None if edge_weight is None else _check_rows(owner, "edge_weight", edge_weight, e,
                                                                        "edges", ndim=1).astype(np.float32)
        self.edge_features = None if edge_features is None else _check_rows(owner, "edge_features", edge_features,
                                                                            e, "edges", ndim=2).astype(np.float32)
        self.labels = None
        if labels is not None:
            self.labels = _check_rows(owner, "labels", labels, n, "nodes", ndim=1)
            if not np.issubdtype(self.labels.dtype, np.integer) or (n and self.labels.min() < 0):
                raise invalid(owner, "labels", "integer class labels >= 0", labels)
            self.labels = self.labels.astype(np.int32)
        if label is not None and (isinstance(label, bool) or not isinstance(label, numbers.Integral) or label < 0):
            raise invalid(owner, "label", "an integer class label >= 0 (the graph's class) or None", label)
        self.label = None if label is None else int(label)
        self.masks = {}
        for split, mask in (masks or {}).items():
            mask = _check_rows(owner, f"masks[{split!r}]", mask, n, "nodes", ndim=1)
            if mask.dtype != bool:
                raise invalid(owner, f"masks[{split!r}]", "a boolean array, one entry per node", mask.dtype)
            self.masks[split] = mask

    @property
    def num_nodes(self):
        """int. The number of nodes N."""
        return int(self.node_features.shape[0])

    @property
    def num_edges(self):
        """int. The number of (directed) edges E; an undirected tie counts twice."""
        return int(self.senders.shape[0])

    @property
    def num_features(self):
        """int. The node feature size F."""
        return int(self.node_features.shape[1])

    def inputs(self):
        """The model inputs of the whole graph: `{"node_features", "senders", "receivers"}` NumPy arrays."""
        return {"node_features": self.node_features, "senders": self.senders, "receivers": self.receivers}

    def __repr__(self):
        return f"Graph(name={self.name!r}, num_nodes={self.num_nodes}, num_edges={self.num_edges}, " \
               f"num_features={self.num_features})"

    @classmethod
    def from_edge_list(cls, edges, *, num_nodes=None, node_features=None, undirected=True, **kwargs):
        """A graph from a list of `(sender, receiver)` pairs.

        Args:
            edges: sequence of pairs or int array (E, 2).
            num_nodes: int or None. Defaults to the rows of `node_features`, else the largest index + 1.
            node_features: array (N, F) or None. Defaults to a constant feature, ones (N, 1).
            undirected: bool. Store each pair in both directions (repeats removed). Defaults to `True`.
            **kwargs: the other `Graph` arguments (`labels`, `masks`, `name`, ...).

        Example:

        ```python
        from kerakit.data.graph import Graph
        Graph.from_edge_list([(0, 1), (1, 0), (1, 2)], undirected=False).num_edges  # 3
        ```
        """
        name = kwargs.get("name", "graph")
        owner = f"graph {name!r}"
        pairs = np.asarray(edges if len(edges) else np.zeros((0, 2), np.int64))
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise invalid(owner, "edges", "pairs (sender, receiver): an array of shape (E, 2)",
                          f"an array of shape {pairs.shape}")
        if node_features is not None:
            rows = np.shape(node_features)[0] if np.ndim(node_features) else 0
            if num_nodes is not None and rows != num_nodes:
                raise KerakitError(f"{owner}: node_features has {rows} rows but num_nodes={num_nodes}; they must "
                                   "agree (one row of features per node).")
            num_nodes = rows
        if num_nodes is None:
            num_nodes = int(pairs.max()) + 1 if pairs.size else 0
        num_nodes = check_int(owner, "num_nodes", num_nodes, minimum=0)
        if not np.issubdtype(pairs.dtype, np.integer) and pairs.size:
            raise invalid(owner, "edges", "pairs of integer node indices", f"an array of dtype {pairs.dtype}")
        bad = np.flatnonzero(((pairs < 0) | (pairs >= num_nodes)).any(axis=1))
        if bad.size:
            i = int(bad[0])
            a, b = (int(v) for v in pairs[i])
            raise KerakitError(f"{owner}: edges[{i}] = ({a}, {b}) names node {a if not 0 <= a < num_nodes else b}, "
                               f"out of range for {num_nodes} nodes (valid indices are 0 to {num_nodes - 1}).")
        senders, receivers = pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32)
        if undirected:
            both = np.unique(np.stack([np.concatenate([senders, receivers]), np.concatenate([receivers, senders])],
                                      axis=1), axis=0)
            senders, receivers = both[:, 0], both[:, 1]
        if node_features is None:
            node_features = np.ones((num_nodes, 1), np.float32)
        return cls(node_features, senders, receivers, **kwargs)

    @classmethod
    def from_networkx(cls, graph, *, node_features=None, label_attribute=None, name=None):
        """A graph from a networkx graph (networkx is imported here only; install it with `pip install networkx`).

        Nodes are numbered in `graph.nodes` order; an undirected graph stores each tie in both directions.

        Args:
            graph: networkx.Graph or DiGraph.
            node_features: array (N, F), str or None. An array, the name of a node attribute holding each node's
                feature vector, or `None` for a one-hot identity (N, N). Defaults to `None`.
            label_attribute: str or None. A node attribute holding class labels; string labels are numbered in
                sorted order. Defaults to `None`.
            name: str or None. Defaults to `graph.name` or `"graph"`.
        """
        try:
            import networkx
        except ImportError:
            raise KerakitError("Graph.from_networkx needs networkx, which is not installed: "
                               "`pip install networkx`.") from None
        if not isinstance(graph, networkx.Graph):
            raise invalid("Graph.from_networkx", "graph", "a networkx.Graph or DiGraph", type(graph).__name__)
        name = name or graph.name or "graph"
        nodes = list(graph.nodes)
        index = {node: i for i, node in enumerate(nodes)}
        edges = [(index[a], index[b]) for a, b in graph.edges]
        if isinstance(node_features, str):
            node_features = np.asarray([graph.nodes[node][node_features] for node in nodes], np.float32)
        elif node_features is None:
            node_features = np.eye(len(nodes), dtype=np.float32)
        labels = None
        if label_attribute is not None:
            values = [graph.nodes[node][label_attribute] for node in nodes]
            classes = {value: i for i, value in enumerate(sorted(set(values)))}
            labels = np.asarray([classes[value] for value in values], np.int32)
        return cls.from_edge_list(edges, num_nodes=len(nodes), node_features=node_features,
                                  undirected=not graph.is_directed(), labels=labels, name=name)


def _check_indices(owner, argument, values, num_nodes, what):
    """int32 indices in [0, num_nodes); the first bad one is named with its position."""
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros((0,), np.int32)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise invalid(owner, argument, f"a 1-D array of integer {what[:-1]} indices",
                      f"an array of shape {array.shape} and dtype {array.dtype}")
    bad = np.flatnonzero((array < 0) | (array >= num_nodes))
    if bad.size:
        i = int(bad[0])
        raise KerakitError(f"{owner}: {argument}[{i}] = {int(array[i])} is out of range for {num_nodes} {what} "
                           f"(valid indices are 0 to {num_nodes - 1}).")
    return array.astype(np.int32)


def _check_rows(owner, argument, values, rows, what, ndim):
    array = np.asarray(values)
    if array.ndim != ndim or array.shape[0] != rows:
        expected = f"one entry per {what[:-1]} ({rows} {what})" if ndim == 1 else f"{rows} rows, one per {what[:-1]}"
        raise KerakitError(f"{owner}: {argument} has shape {array.shape}; expected {expected}.")
    return array


# -- padded batches of graphs ---------------------------------------------------------------------------------------


def pad_graphs(graphs, *, node_budget, edge_budget, graph_budget):
    """Packs graphs into one padded batch of fixed shapes (the budgets), jraph-style.

    Real nodes come first, graph after graph; the remaining `node_budget - nodes` (at least one) are padding nodes,
    and padding edges join the first padding node to itself, so padding never reaches a real node. Graph slot
    `graph_budget - 1` (and every unused slot) is a padding graph: `graph_mask` 0, and padding nodes belong to it.

    Args:
        graphs: sequence of `Graph`. At most `graph_budget - 1` graphs, with a `label` each (or none at all).
        node_budget: int. Nodes in the batch, padding included: the real nodes must leave at least one.
        edge_budget: int. Edges in the batch, padding included.
        graph_budget: int. Graph slots, the padding slot included.

    Returns:
        `(inputs, labels, weights)`: `inputs` a dict of `node_features` (node_budget, F), `senders`, `receivers`
        (edge_budget,), `node_graph_ids` (node_budget,), `graph_mask` (graph_budget,); `labels` int32
        (graph_budget,), 0 in padding slots; `weights` float32 (graph_budget,), the graph mask scaled by
        `graph_budget / (graph_budget - 1)` (so a full batch's mean loss is the mean over its real graphs).

    Example:

    ```python
    from kerakit.data.graph import Graph, pad_graphs
    a = Graph.from_edge_list([(0, 1)], label=0, name="a")
    b = Graph.from_edge_list([(0, 1), (1, 2)], label=1, name="b")
    inputs, labels, weights = pad_graphs([a, b], node_budget=8, edge_budget=10, graph_budget=3)
    inputs["node_graph_ids"].tolist()  # [0, 0, 1, 1, 1, 2, 2, 2]
    inputs["graph_mask"].tolist(), labels.tolist()  # [1.0, 1.0, 0.0], [0, 1, 0]
    ```
    """
    owner = "pad_graphs"
    node_budget = check_int(owner, "node_budget", node_budget, minimum=1)
    edge_budget = check_int(owner, "edge_budget", edge_budget, minimum=0)
    graph_budget = check_int(owner, "graph_budget", graph_budget, minimum=2)
    graphs = list(graphs)
    for graph in graphs:
        if not isinstance(graph, Graph):
            raise invalid(owner, "graphs", "a sequence of kerakit.data.graph.Graph", type(graph).__name__)
    if len(graphs) > graph_budget - 1:
        raise KerakitError(f"{owner}: {len(graphs)} graphs do not fit graph_budget={graph_budget} (at most "
                           f"{graph_budget - 1} graphs; one slot is kept for padding).")
    nodes = sum(g.num_nodes for g in graphs)
    edges = sum(g.num_edges for g in graphs)
    names = ", ".join(repr(g.name) for g in graphs[:5]) + (", ..." if len(graphs) > 5 else "")
    if nodes > node_budget - 1:
        raise KerakitError(f"{owner}: the batch of graphs {names} has {nodes} nodes, over node_budget={node_budget} "
                           f"(at most {node_budget - 1} real nodes; one is kept for padding).")
    if edges > edge_budget:
        raise KerakitError(f"{owner}: the batch of graphs {names} has {edges} edges, over edge_budget={edge_budget}.")
    features = {g.num_features for g in graphs}
    if len(features) > 1:
        raise KerakitError(f"{owner}: the graphs {names} have different feature sizes {sorted(features)}.")
    labelled = [g.label is not None for g in graphs]
    if any(labelled) and not all(labelled):
        unlabelled = next(g.name for g in graphs if g.label is None)
        raise KerakitError(f"{owner}: graph {unlabelled!r} has no label, but others in the batch do.")
    num_features = features.pop() if features else 1

    x = np.zeros((node_budget, num_features), np.float32)
    senders = np.full((edge_budget,), nodes, np.int32)  # padding edges: first padding node to itself
    receivers = np.full((edge_budget,), nodes, np.int32)
    graph_ids = np.full((node_budget,), graph_budget - 1, np.int32)
    graph_mask = np.zeros((graph_budget,), np.float32)
    labels = np.zeros((graph_budget,), np.int32)
    node_offset = edge_offset = 0
    for slot, g in enumerate(graphs):
        x[node_offset:node_offset + g.num_nodes] = g.node_features
        senders[edge_offset:edge_offset + g.num_edges] = g.senders + node_offset
        receivers[edge_offset:edge_offset + g.num_edges] = g.receivers + node_offset
        graph_ids[node_offset:node_offset + g.num_nodes] = slot
        graph_mask[slot] = 1.0
        labels[slot] = g.label or 0
        node_offset += g.num_nodes
        edge_offset += g.num_edges
    inputs = {"node_features": x, "senders": senders, "receivers": receivers, "node_graph_ids": graph_ids,
              "graph_mask": graph_mask}
    return inputs, labels, graph_mask * (graph_budget / (graph_budget - 1))


def batch_graphs(graphs, *, batch_size, node_budget=None, edge_budget=None):
    """Packs graphs, in order, into padded batches of the same shapes (see `pad_graphs`).

    Each batch takes up to `batch_size` graphs (graph budget `batch_size + 1`), fewer when the next graph would
    overflow the node or edge budget. The default budgets fit `batch_size` of the largest graphs, so every batch but
    the last is full. A graph too large for a budget on its own is an error naming it.

    Args:
        graphs: sequence of `Graph`.
        batch_size: int. The most graphs in a batch.
        node_budget: int or None. Nodes per batch, padding included. Defaults to `batch_size * max_nodes + 1`.
        edge_budget: int or None. Edges per batch. Defaults to `batch_size * max_edges`.

    Returns:
        A list of `(inputs, labels, weights)` batches, all of the same shapes.

    Example:

    ```python
    from kerakit.data.graph import batch_graphs, synthetic_graphs
    graphs = synthetic_graphs(10, seed=0)
    batches = batch_graphs(graphs, batch_size=4, node_budget=100, edge_budget=200)
    len(batches), batches[0][0]["node_features"].shape, batches[-1][0]["senders"].shape  # 3, (100, 1), (200,)
    ```
    """
    owner = "batch_graphs"
    batch_size = check_int(owner, "batch_size", batch_size)
    graphs = list(graphs)
    if not graphs:
        raise invalid(owner, "graphs", "a non-empty sequence of Graph", graphs)
    if node_budget is None:
        node_budget = batch_size * max(g.num_nodes for g in graphs) + 1
    if edge_budget is None:
        edge_budget = max(1, batch_size * max(g.num_edges for g in graphs))
    node_budget = check_int(owner, "node_budget", node_budget, minimum=2)
    edge_budget = check_int(owner, "edge_budget", edge_budget, minimum=1)
    batches, current, nodes, edges = [], [], 0, 0
    for g in graphs:
        if g.num_nodes > node_budget - 1 or g.num_edges > edge_budget:
            raise KerakitError(f"{owner}: graph {g.name!r} ({g.num_nodes} nodes, {g.num_edges} edges) does not fit "
                               f"node_budget={node_budget} (one node kept for padding) and edge_budget={edge_budget} "
                               "on its own; raise the budgets.")
        if len(current) == batch_size or nodes + g.num_nodes > node_budget - 1 or edges + g.num_edges > edge_budget:
            batches.append(current)
            current, nodes, edges = [], 0, 0
        current.append(g)
        nodes += g.num_nodes
        edges += g.num_edges
    batches.append(current)
    return [pad_graphs(b, node_budget=node_budget, edge_budget=edge_budget, graph_budget=batch_size + 1)
            for b in batches]


# -- neighbour sampling ---------------------------------------------------------------------------------------------


class NeighborSampler:
    """GraphSAGE-style mini-batches of a large graph: for each seed node, `fanouts[0]` neighbours, then `fanouts[1]`
    neighbours of each of those, and so on (uniformly, with replacement), as one subgraph of fixed shapes (Hamilton,
    Ying and Leskovec, "Inductive Representation Learning on Large Graphs", NeurIPS 2017).

    The subgraph is the computation tree of the seeds: layer 0 holds `batch_size` seed slots, layer k
    `batch_size * fanouts[0] * ... * fanouts[k-1]` slots, each joined by an edge to its parent in layer k-1 (a
    message flows from the sampled neighbour to its parent); one padding node comes last. Seed slots left empty
    (the last batch) and neighbours of nodes that have none are padding, whose edges join the padding node to
    itself. So `node_features` has `batch_size * (1 + f0 + f0 f1 + ...) + 1` rows whatever the seeds, and a model
    with as many message-passing layers as fan-outs computes the seeds' outputs from sampled neighbourhoods.

    Args:
        graph: Graph. The graph to sample from (neighbours are the senders of each node's incoming edges).
        fanouts: sequence of int. Neighbours sampled per node, hop by hop. Defaults to `(10, 5)`.
        batch_size: int. Seed nodes per batch. Defaults to `64`.
        seed: int. Seeds the sampling. Defaults to `0`.

    Example:

    ```python
    from kerakit.data.graph import NeighborSampler, karate_club
    sampler = NeighborSampler(karate_club(), fanouts=(3, 2), batch_size=4, seed=0)
    inputs, labels, weights = sampler.sample([0, 33])
    inputs["node_features"].shape, inputs["senders"].shape, weights[:4].tolist()  # (41, 34), (36,), [2.0, 2.0, 0.0, 0.0]
    ```
    """

    def __init__(self, graph, fanouts=(10, 5), batch_size=64, seed=0):
        owner = "NeighborSampler"
        if not isinstance(graph, Graph):
            raise invalid(owner, "graph", "a kerakit.data.graph.Graph", type(graph).__name__)
        self.graph = graph
        self.fanouts = check_int_sequence(owner, "fanouts", fanouts)
        self.batch_size = check_int(owner, "batch_size", batch_size)
        self.seed = check_int(owner, "seed", seed, minimum=0)
        self._rng = np.random.default_rng(self.seed)
        order = np.argsort(graph.receivers, kind="stable")  # in-neighbours of each node, contiguous
        self._neighbors = graph.senders[order]
        self._offsets = np.concatenate([[0], np.cumsum(np.bincount(graph.receivers, minlength=graph.num_nodes))])
        sizes = [self.batch_size]
        for fanout in self.fanouts:
            sizes.append(sizes[-1] * fanout)
        self.layer_sizes = tuple(sizes)
        self.num_nodes = sum(sizes) + 1
        self.num_edges = sum(sizes[1:])

    def sample(self, seeds):
        """Samples the subgraph of `seeds` (at most `batch_size` node indices).

        Returns:
            `(inputs, labels, weights)`: the model inputs (`node_features`, `senders`, `receivers`), the node labels
            (0 where the graph has none), and weights that are `batch_size / len(seeds)` on the seed slots and 0
            elsewhere (the loss is the seeds' mean). `self.last_node_ids` then holds each slot's node index in the
            graph (-1 for padding).
        """
        owner = "NeighborSampler.sample"
        seeds = _check_indices(f"graph {self.graph.name!r}", "seeds", np.asarray(seeds).reshape(-1),
                               self.graph.num_nodes, "nodes")
        if not 0 < len(seeds) <= self.batch_size:
            raise invalid(owner, "seeds", f"1 to batch_size={self.batch_size} node indices", len(seeds))
        padding = self.num_nodes - 1
        layer = np.full((self.batch_size,), -1, np.int64)
        layer[:len(seeds)] = seeds
        node_ids, senders, receivers = [layer], [], []
        start = 0
        for fanout in self.fanouts:
            parents = np.repeat(layer, fanout)
            degrees = np.where(parents >= 0, self._offsets[np.maximum(parents, 0) + 1]
                               - self._offsets[np.maximum(parents, 0)], 0)
            draws = np.floor(self._rng.random(parents.shape) * np.maximum(degrees, 1)).astype(np.int64)
            if len(self._neighbors):
                picked = self._neighbors[np.minimum(self._offsets[np.maximum(parents, 0)] + draws,
                                                    len(self._neighbors) - 1)]
                children = np.where(degrees > 0, picked, -1)
            else:  # a graph without edges: every neighbour is padding
                children = np.full(parents.shape, -1, np.int64)
            child_start = start + len(layer)
            child_slots = child_start + np.arange(len(children))
            parent_slots = start + np.arange(len(children)) // fanout
            real = children >= 0
            senders.append(np.where(real, child_slots, padding))
            receivers.append(np.where(real, parent_slots, padding))
            node_ids.append(children)
            start, layer = child_start, children
        ids = np.concatenate(node_ids + [np.array([-1])])
        x = np.where((ids >= 0)[:, None], self.graph.node_features[np.maximum(ids, 0)], 0.0).astype(np.float32)
        labels = np.zeros((self.num_nodes,), np.int32)
        if self.graph.labels is not None:
            labels = np.where(ids >= 0, self.graph.labels[np.maximum(ids, 0)], 0).astype(np.int32)
        weights = np.zeros((self.num_nodes,), np.float32)
        weights[:len(seeds)] = self.batch_size / len(seeds)
        self.last_node_ids = ids
        inputs = {"node_features": x, "senders": np.concatenate(senders).astype(np.int32),
                  "receivers": np.concatenate(receivers).astype(np.int32)}
        return inputs, labels, weights

    def dataset(self, nodes, shuffle=True):
        """A `tf.data.Dataset` of `sample` batches over `nodes` (a mask or indices), reshuffled every epoch."""
        import tensorflow as tf

        nodes = np.asarray(nodes)
        nodes = np.flatnonzero(nodes) if nodes.dtype == bool else nodes.astype(np.int64)
        rng = np.random.default_rng(self.seed)

        def batches():
            order = rng.permutation(nodes) if shuffle else nodes
            for i in range(0, len(order), self.batch_size):
                yield self.sample(order[i:i + self.batch_size])

        f = self.graph.num_features
        signature = ({"node_features": tf.TensorSpec((self.num_nodes, f), tf.float32),
                      "senders": tf.TensorSpec((self.num_edges,), tf.int32),
                      "receivers": tf.TensorSpec((self.num_edges,), tf.int32)},
                     tf.TensorSpec((self.num_nodes,), tf.int32), tf.TensorSpec((self.num_nodes,), tf.float32))
        return tf.data.Dataset.from_generator(batches, output_signature=signature)


# -- datasets -------------------------------------------------------------------------------------------------------


def karate_club():
    """Zachary's karate club (Zachary 1977): 34 members, 78 ties (156 directed edges), labels the two factions
    after the split (0 `Mr. Hi`, 1 `Officer`, 17 each), one-hot identity features (34, 34). Bundled, offline.

    Masks: `train` holds only the two leaders (member 0, the instructor, and member 33, the administrator);
    `validation` and `test` split the other 32 members in halves (fixed, stratified).

    Example:

    ```python
    from kerakit.data.graph import karate_club
    g = karate_club()
    g.num_nodes, g.num_edges // 2, g.labels.sum(), g.masks["train"].nonzero()[0].tolist()  # 34, 78, 17, [0, 33]
    ```
    """
    with open(BUNDLED_DIR / "karate_edges.csv", newline="") as handle:
        edges = [(int(row["member_a"]) - 1, int(row["member_b"]) - 1) for row in csv.DictReader(handle)]
    with open(BUNDLED_DIR / "karate_factions.csv", newline="") as handle:
        labels = np.asarray([row["faction"] == "Officer" for row in csv.DictReader(handle)], np.int32)
    train = np.zeros(34, bool)
    train[[0, 33]] = True
    rest = np.flatnonzero(~train)
    rng = np.random.default_rng(1977)
    validation = np.zeros(34, bool)
    for c in (0, 1):
        members = rng.permutation(rest[labels[rest] == c])
        validation[members[: len(members) // 2]] = True
    test = ~train & ~validation
    return Graph.from_edge_list(edges, num_nodes=34, node_features=np.eye(34, dtype=np.float32), labels=labels,
                                masks={"train": train, "validation": validation, "test": test}, name="karate")


def stochastic_block_model(num_nodes=2000, num_classes=4, average_degree=10.0, intra_fraction=0.8, num_features=32,
                           feature_signal=0.3, labels_per_class=20, num_validation=None, num_test=None, seed=0,
                           name="sbm"):
    """A stochastic-block-model graph (Holland, Laskey and Leinhardt 1983) with community labels and noisy features.

    Nodes fall into `num_classes` equal communities; `intra_fraction` of the ties join two members of one
    community, the rest two members of different ones. Features are a per-community mean (Gaussian, scaled by
    `feature_signal`) plus unit Gaussian noise, so features alone classify poorly and the structure helps. Masks
    follow the Planetoid split (Yang, Cohen and Salakhutdinov 2016): `labels_per_class` training nodes per class,
    then `num_validation` and `num_test` other nodes (by default 500 and 1,000, at most a quarter and a half of
    the unlabelled nodes).

    Example:

    ```python
    from kerakit.data.graph import stochastic_block_model
    g = stochastic_block_model(num_nodes=200, num_classes=2, seed=0)
    same = g.labels[g.senders] == g.labels[g.receivers]
    g.num_nodes, int(g.masks["train"].sum()), bool(same.mean() > 0.7)  # 200, 40, True
    ```
    """
    owner = "stochastic_block_model"
    num_nodes = check_int(owner, "num_nodes", num_nodes, minimum=2)
    num_classes = check_int(owner, "num_classes", num_classes, minimum=1)
    num_features = check_int(owner, "num_features", num_features)
    unlabelled = num_nodes - num_classes * labels_per_class
    num_validation = min(500, unlabelled // 4) if num_validation is None else num_validation
    num_test = min(1000, unlabelled // 2) if num_test is None else num_test
    if not 0.0 <= intra_fraction <= 1.0:
        raise invalid(owner, "intra_fraction", "a float in [0, 1]", intra_fraction)
    if num_classes * labels_per_class + num_validation + num_test > num_nodes:
        raise invalid(owner, "num_nodes", f"at least num_classes * labels_per_class + num_validation + num_test = "
                      f"{num_classes * labels_per_class + num_validation + num_test}", num_nodes)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_nodes) % num_classes).astype(np.int32)
    members = [np.flatnonzero(labels == c) for c in range(num_classes)]
    ties = int(round(num_nodes * average_degree / 2))
    intra = int(round(ties * intra_fraction))
    blocks = rng.integers(0, num_classes, intra)
    a = np.array([members[c][rng.integers(0, len(members[c]))] for c in blocks], np.int64).reshape(-1)
    b = np.array([members[c][rng.integers(0, len(members[c]))] for c in blocks], np.int64).reshape(-1)
    pairs = [np.stack([a, b], 1)]
    needed = ties - intra
    while needed > 0 and num_classes > 1:
        u, v = rng.integers(0, num_nodes, (2, 2 * needed))
        keep = labels[u] != labels[v]
        chosen = np.stack([u[keep], v[keep]], 1)[:needed]
        pairs.append(chosen)
        needed -= len(chosen)
    pairs = np.concatenate(pairs)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    centroids = rng.normal(size=(num_classes, num_features)) * feature_signal
    x = centroids[labels] + rng.normal(size=(num_nodes, num_features))
    masks = planetoid_masks(labels, labels_per_class, num_validation, num_test, seed=seed)
    return Graph.from_edge_list(pairs, num_nodes=num_nodes, node_features=x.astype(np.float32), labels=labels,
                                masks=masks, name=name)


def planetoid_masks(labels, labels_per_class, num_validation, num_test, seed=0):
    """Train/validation/test node masks: `labels_per_class` training nodes per class, then `num_validation` and
    `num_test` nodes drawn from the rest (Yang et al. 2016)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    train = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        train[rng.permutation(np.flatnonzero(labels == c))[:labels_per_class]] = True
    rest = rng.permutation(np.flatnonzero(~train))
    validation = np.zeros(len(labels), bool)
    test = np.zeros(len(labels), bool)
    validation[rest[:num_validation]] = True
    test[rest[num_validation:num_validation + num_test]] = True
    return {"train": train, "validation": validation, "test": test}


GRAPH_CLASSES = ("clique", "triangles", "friendship")

# Each class's motif: (nodes, ties) with three independent cycles (ties = nodes - 1 + 3) and no node numbers in common.
_MOTIFS = {
    "clique": (4, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]),  # K4: four nodes of degree 3
    "triangles": (9, [(a + o, b + o) for o in (0, 3, 6) for a, b in ((0, 1), (1, 2), (0, 2))]),  # apart: degree 2
    "friendship": (7, [(0, j) for j in range(1, 7)] + [(1, 2), (3, 4), (5, 6)]),  # sharing a hub of degree 6
}


def synthetic_graphs(num_graphs=600, *, min_nodes=12, max_nodes=24, num_features=1, seed=0):
    """A graph-classification set whose classes differ only in local structure: `min_nodes` to `max_nodes` nodes, a
    random tree tied to one motif with three independent cycles: a 4-clique (class 0), three separate
    triangles (class 1), or three triangles sharing one node (the friendship graph F3, class 2).

    Every graph has exactly `nodes + 2` ties (three more than a tree), node counts are drawn alike in every class,
    node numbers are shuffled, and node features are a constant 1 (then `num_features - 1` Gaussian noise values,
    if asked for): neither the node count, the tie count nor the features tell the classes apart, so an MLP on pooled
    node features is at chance (1/3). The motifs differ in their degrees (four nodes of degree 3 / nine of degree 2 /
    a hub of degree 6 with six of degree 2, and their neighbours' degrees), which a sum-aggregating GIN sees (Xu et
    al., "How Powerful are Graph Neural Networks?", ICLR 2019); the random tree's own degrees blur them. The tree
    grows from one node (each new node tied to a random earlier tree node), then one tie joins it to the motif.
    Classes take turns, so the set is balanced.

    Example:

    ```python
    from kerakit.data.graph import synthetic_graphs
    graphs = synthetic_graphs(6, seed=0)
    [g.label for g in graphs], graphs[1].num_edges == 2 * (graphs[1].num_nodes + 2)  # [0, 1, 2, 0, 1, 2], True
    ```
    """
    owner = "synthetic_graphs"
    num_graphs = check_int(owner, "num_graphs", num_graphs)
    largest = max(size for size, _ in _MOTIFS.values())
    min_nodes = check_int(owner, "min_nodes", min_nodes, minimum=largest + 1)
    max_nodes = check_int(owner, "max_nodes", max_nodes, minimum=min_nodes)
    num_features = check_int(owner, "num_features", num_features)
    rng = np.random.default_rng(seed)
    graphs = []
    for i in range(num_graphs):
        label = i % len(GRAPH_CLASSES)
        n = int(rng.integers(min_nodes, max_nodes + 1))
        core, edges = _MOTIFS[GRAPH_CLASSES[label]]
        if GRAPH_CLASSES[label] == "triangles":  # join the three triangles into one graph by two tree ties
            edges = edges + [(int(rng.integers(0, 3)), 3 + int(rng.integers(0, 3))),
                             (int(rng.integers(0, 6)), 6 + int(rng.integers(0, 3)))]
        # The tree: node `core` first, each later node tied to an earlier tree node; then one tie to the motif.
        edges = edges + [(int(rng.integers(core, j)), j) for j in range(core + 1, n)]
        edges.append((int(rng.integers(0, core)), int(rng.integers(core, n))))
        order = rng.permutation(n)
        edges = [(int(order[a]), int(order[b])) for a, b in edges]
        x = np.concatenate([np.ones((n, 1)), rng.normal(size=(n, num_features - 1))], 1).astype(np.float32)
        graphs.append(Graph.from_edge_list(edges, num_nodes=n, node_features=x, label=label,
                                           name=f"{GRAPH_CLASSES[label]}_{i}"))
    return graphs


# -- bundles for kerakit.data.load ------------------------------------------------------------------------------------

GRAPH_DATASETS = ("graphs", "karate", "sbm", "sbm_links")


def load(name, options, owner="kerakit.data.load"):
    """The `DataBundle` of a graph dataset by name (`kerakit.data.load` calls this)."""
    if options.image_size is not None:
        raise invalid(owner, "image_size", f"None for the graph dataset {name!r}", options.image_size)
    if name == "karate":
        return node_bundle(karate_club(), source=KARATE_SOURCE, options=options)
    if name == "sbm":
        source = ("a stochastic block model generated by kerakit: 2,000 nodes, 4 communities, average degree 10, "
                  "80% of ties inside a community, 32 noisy features, 20 labels per class (seed 0)")
        return node_bundle(stochastic_block_model(seed=0), source=source, options=options)
    if name == "graphs":
        source = ("synthetic graphs generated by kerakit: 600 trees of 12-24 nodes holding a 4-clique / three "
                  "triangles / a friendship graph (all with nodes + 2 ties), constant node features (seed 0)")
        return graphs_bundle(synthetic_graphs(seed=0), name="graphs", num_classes=len(GRAPH_CLASSES), source=source,
                             options=options)
    if name == "sbm_links":
        source = ("link prediction on kerakit's stochastic block model (the 'sbm' graph, seed 0): its ties split "
                  "85/5/10 into train/validation/test, with as many sampled non-edges")
        return link_bundle(stochastic_block_model(seed=0), source=source, options=options, name="sbm_links")
    raise invalid(owner, "source", f"one of {list(GRAPH_DATASETS)}", name)


def node_bundle(graph, *, source, options, num_classes=None):
    """A node-classification `DataBundle` of one graph: every split is the whole graph (one step), weighted by its
    node mask (`graph.masks["train" | "validation" | "test"]`), scaled to mean 1 so that the loss is the mean over
    the split's nodes (Keras divides the weighted sum by the number of entries)."""
    import tensorflow as tf

    from kerakit.data._core import DataBundle, DataInfo

    owner = f"graph {graph.name!r}"
    if graph.labels is None:
        raise KerakitError(f"{owner}: node classification needs node labels (labels=...).")
    for split in ("train", "validation", "test"):
        if split not in graph.masks or not graph.masks[split].any():
            raise KerakitError(f"{owner}: node classification needs a non-empty {split!r} node mask "
                               "(masks={'train': ..., 'validation': ..., 'test': ...}).")
    datasets = {}
    for split in ("train", "validation", "test"):
        mask = graph.masks[split]
        weights = (mask * (graph.num_nodes / mask.sum())).astype(np.float32)
        datasets[split] = tf.data.Dataset.from_tensors((graph.inputs(), graph.labels, weights))
    info = DataInfo(name=graph.name, input_shape=(graph.num_features,),
                    num_classes=int(num_classes or graph.labels.max() + 1), task=NODE_TASK,
                    num_examples={split: int(graph.masks[split].sum()) for split in ("train", "validation", "test")},
                    source=source)
    # One graph is one step: the bundle's batch size is the training nodes, so steps_per_epoch is 1.
    return DataBundle(**datasets, info=info, batch_size=info.num_examples["train"])


def graphs_bundle(graphs, *, name, num_classes, source, options):
    """A graph-classification `DataBundle`: a fixed stratified split (like the bundled arrays'), then padded
    batches of `options.batch_size` graphs (`batch_graphs`) of one shape for all three splits. The training graphs
    are packed once, in an order drawn with `options.seed`; the batches' order is reshuffled every epoch."""
    import tensorflow as tf

    from kerakit.data._arrays import SPLIT_SEED
    from kerakit.data._core import DataBundle, DataInfo

    labels = np.asarray([g.label for g in graphs])
    rng = np.random.default_rng(SPLIT_SEED)
    splits = {"train": [], "validation": [], "test": []}
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(len(members) * options.validation_fraction))
        n_test = int(round(len(members) * options.test_fraction))
        splits["validation"] += list(members[:n_val])
        splits["test"] += list(members[n_val:n_val + n_test])
        splits["train"] += list(members[n_val + n_test:])
    order = np.random.default_rng(options.seed)
    node_budget = options.batch_size * max(g.num_nodes for g in graphs) + 1
    edge_budget = options.batch_size * max(g.num_edges for g in graphs)
    datasets = {}
    for split, members in splits.items():
        members = order.permutation(members) if split == "train" else sorted(members)
        batches = batch_graphs([graphs[i] for i in members], batch_size=options.batch_size, node_budget=node_budget,
                               edge_budget=edge_budget)
        stacked = tuple(_stack([b[k] for b in batches]) for k in range(3))
        dataset = tf.data.Dataset.from_tensor_slices(stacked)
        if split == "train":
            dataset = dataset.shuffle(len(batches), seed=options.seed, reshuffle_each_iteration=True)
        datasets[split] = dataset.prefetch(tf.data.AUTOTUNE)
    info = DataInfo(name=name, input_shape=(graphs[0].num_features,), num_classes=int(num_classes),
                    task=GRAPH_TASK, num_examples={k: len(v) for k, v in splits.items()}, source=source)
    return DataBundle(**datasets, info=info, batch_size=options.batch_size)


def split_edges(graph, validation_fraction=0.05, test_fraction=0.1, seed=0):
    """Splits an undirected graph's ties for link prediction: returns the training graph (the training ties, both
    directions: the only edges messages may use) and `{split: (pairs (P, 2) int32)}` of each split's ties, one
    direction each.

    Example:

    ```python
    from kerakit.data.graph import karate_club, split_edges
    train_graph, pairs = split_edges(karate_club(), validation_fraction=0.1, test_fraction=0.2)
    train_graph.num_edges // 2, [len(pairs[k]) for k in ("train", "validation", "test")]  # 54, [54, 8, 16]
    ```
    """
    ties = np.stack([graph.senders, graph.receivers], 1)
    ties = ties[ties[:, 0] < ties[:, 1]]  # one direction of each undirected tie (self loops dropped)
    ties = np.random.default_rng(seed).permutation(ties)
    n_val = int(round(len(ties) * validation_fraction))
    n_test = int(round(len(ties) * test_fraction))
    pairs = {"validation": ties[:n_val], "test": ties[n_val:n_val + n_test], "train": ties[n_val + n_test:]}
    pairs = {k: v.astype(np.int32) for k, v in pairs.items()}
    train_graph = Graph.from_edge_list(pairs["train"], num_nodes=graph.num_nodes, node_features=graph.node_features,
                                       name=f"{graph.name}_train")
    return train_graph, pairs


def link_bundle(graph, *, source, options, name):
    """A link-prediction `DataBundle`: every split passes the training graph (messages use training ties only) and
    scores pairs: the split's ties (label 1) and as many uniformly drawn node pairs (label 0; negative sampling).
    Training draws new negatives every epoch (seeded); validation and test keep fixed ones."""
    import tensorflow as tf

    from kerakit.data._core import DataBundle, DataInfo

    train_graph, pairs = split_edges(graph, options.validation_fraction, options.test_fraction)
    base = train_graph.inputs()
    n = graph.num_nodes

    def element(positives, negatives):
        both = tf.concat([positives, negatives], 0)
        labels = tf.concat([tf.ones(tf.shape(positives)[:1]), tf.zeros(tf.shape(negatives)[:1])], 0)
        inputs = {**base, "pair_senders": both[:, 0], "pair_receivers": both[:, 1]}
        return inputs, labels, tf.ones_like(labels)

    rng = np.random.default_rng(options.seed + 1)
    datasets = {}
    for split in ("validation", "test"):
        negatives = rng.integers(0, n, pairs[split].shape).astype(np.int32)
        datasets[split] = tf.data.Dataset.from_tensors(element(pairs[split], negatives))
    positives = pairs["train"]

    def sample(seed):
        negatives = tf.random.stateless_uniform(positives.shape, seed=tf.stack([seed, 0]), minval=0, maxval=n,
                                                dtype=tf.int32)
        return element(positives, negatives)

    datasets["train"] = tf.data.Dataset.random(seed=options.seed, rerandomize_each_iteration=True).take(1).map(sample)
    info = DataInfo(name=name, input_shape=(graph.num_features,), num_classes=2, task=LINK_TASK,
                    num_examples={k: 2 * len(v) for k, v in pairs.items()}, source=source)
    return DataBundle(**datasets, info=info, batch_size=info.num_examples["train"])


def _stack(items):
    if isinstance(items[0], dict):
        return {key: np.stack([item[key] for item in items]) for key in items[0]}
    return np.stack(items)


# -- exports --------------------------------------------------------------------------------------------------------


def sample_inputs(model, batch_size=3, seed=0):
    """Valid random inputs for a graph model (dict inputs named as in `INPUT_AXES`), for export verification.

    Every input gets the same leading size `batch_size` (Keras's `predict` wants one), and every index input is a
    valid index in each prefix: entry i is at most i, so the first example alone (`x[:1]`, which
    `kerakit.export.saved_model` also checks) is a valid one-node, one-edge graph. Graph masks are 1.

    Example:

    ```python
    import kerakit
    from kerakit.data.graph import sample_inputs
    model = kerakit.build("gcn", input_shape=(4,), num_classes=2, hidden_units=(8,))
    x = sample_inputs(model, batch_size=5)
    x["node_features"].shape, bool((x["senders"] <= range(5)).all())  # (5, 4), True
    ```
    """
    rng = np.random.default_rng(seed)
    structure = model.input
    if not isinstance(structure, dict):
        raise invalid("sample_inputs", "model", "a graph model with dict inputs", model.name)
    out = {}
    for key in sorted(structure):
        tensor = structure[key]
        shape = (batch_size,) + tuple(8 if d is None else d for d in tuple(tensor.shape)[1:])
        if key in _INDEX_INPUTS:
            out[key] = np.floor(rng.random(batch_size) * (np.arange(batch_size) + 1)).astype(tensor.dtype)
        elif key == "graph_mask":
            out[key] = np.ones(shape, tensor.dtype)
        elif key == "edge_weight":
            out[key] = rng.uniform(0.5, 1.5, shape).astype(tensor.dtype)
        else:
            out[key] = rng.standard_normal(shape).astype(tensor.dtype)
    return out


def export_options(model):
    """`kerakit.export.saved_model` keyword arguments for a graph model: valid `sample_inputs`, and
    `polymorphic_shapes` that give nodes, edges, graphs and pairs each their own size on JAX (Keras's default names
    every first axis `batch`, which would make them one size)."""
    shapes = {}
    for key, tensor in model.input.items():
        axis = INPUT_AXES.get(key, f"{key}_size")
        rest = ", ".join(str(d) for d in tuple(tensor.shape)[1:])
        shapes[key] = f"({axis}, {rest})" if rest else f"({axis},)"
    return {"sample_inputs": sample_inputs(model), "polymorphic_shapes": shapes}


def is_graph_model(model):
    """Whether `model` takes graph inputs (a dict with `node_features`, `senders` and `receivers`)."""
    try:
        structure = model.input
    except (AttributeError, ValueError):
        return False
    return isinstance(structure, dict) and {"node_features", "senders", "receivers"} <= set(structure)
