"""Graph neural networks over edge lists: GCN, GAT and GraphSAGE for node classification, GIN for graph
classification, a GCN or GraphSAGE encoder with a pair score for link prediction (layers from
`kerakit.layers.graph`).

Every model takes a dict of inputs: `node_features` (N, F) float, `senders` and `receivers` (E,) int32 (a message
flows `senders[e] -> receivers[e]`; undirected graphs store both directions), and for graph tasks `node_graph_ids`
(N,) int32 and `graph_mask` (G,) float, for link prediction `pair_senders` and `pair_receivers` (P,) int32. The
sizes N, E, G and P are free, so one model serves any graph (one graph per step for node tasks; padded batches of a
fixed budget for graph tasks, see `kerakit.data.graph`). Heads return logits: (N, num_classes) for node tasks, (G, num_classes) for graph tasks, (P,) for node pairs.

- `gcn`: Kipf and Welling, "Semi-Supervised Classification with Graph Convolutional Networks", ICLR 2017.
- `gat`: Velickovic et al., "Graph Attention Networks", ICLR 2018.
- `graphsage`: Hamilton, Ying and Leskovec, "Inductive Representation Learning on Large Graphs", NeurIPS 2017.
- `gin`: Xu, Hu, Leskovec and Jegelka, "How Powerful are Graph Neural Networks?", ICLR 2019.
- `gnn_link_predictor`: Kipf and Welling, "Variational Graph Auto-Encoders", NeurIPS workshop 2016 (the inner-product
  decoder), trained with negative sampling.
"""

from kerakit import errors
from kerakit.registry import blueprint

NODE_INPUTS = ("node_features", "senders", "receivers")
GRAPH_INPUTS = NODE_INPUTS + ("node_graph_ids", "graph_mask")


def _sample_inputs(model, batch_size, seed):
    """Valid random graph inputs (the registry's hook for the test suite)."""
    from kerakit.data.graph import sample_inputs

    return sample_inputs(model, batch_size=batch_size, seed=seed)


def _graph_inputs(input_shape, names):
    """The dict of symbolic inputs: node features of width F, int32 index arrays, a float graph mask."""
    import keras

    shapes = {"node_features": ((input_shape[0],), "float32"), "graph_mask": ((), "float32")}
    return {key: keras.Input(shape=shapes.get(key, ((), "int32"))[0], dtype=shapes.get(key, ((), "int32"))[1],
                             name=key) for key in names}


def _check_common(owner, input_shape, num_classes, dropout, activation):
    input_shape = errors.check_input_shape(owner, input_shape, rank=1)
    if input_shape[0] is None:
        raise errors.invalid(owner, "input_shape", "(F,) with a known number of node features F", input_shape)
    errors.check_int(owner, "num_classes", num_classes)
    errors.check_rate(owner, "dropout", dropout)
    errors.check_activation(owner, "activation", activation)
    return input_shape


def _node_classifier(input_shape, widths, dropout, name, make_conv):
    """The node-classification stack shared by gcn, gat and graphsage: dropout on the features entering each
    convolution, then `make_conv(index, units, last)` (a graph layer called as `layer(x, senders, receivers)`)."""
    import keras

    inputs = _graph_inputs(input_shape, NODE_INPUTS)
    x, s, r = inputs["node_features"], inputs["senders"], inputs["receivers"]
    for i, units in enumerate(widths, start=1):
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout{i}")(x)
        x = make_conv(i, units, i == len(widths))(x, s, r)
    return keras.Model(inputs, x, name=name)


_NODE_TINY = {"input_shape": (4,), "num_classes": 3}


@blueprint(family="graph", task="node_classification", tiny={**_NODE_TINY, "hidden_units": (8,)},
           sample_inputs=_sample_inputs)
def gcn(input_shape, num_classes=7, hidden_units=(16,), activation="relu", dropout=0.5, name="gcn"):
    """GCN (Kipf and Welling, ICLR 2017): graph convolutions `D^-1/2 (A + I) D^-1/2 X W`, node logits.

    Dropout on the input features and after each hidden layer, then a last `GCNConv(num_classes)`: with one hidden
    layer of 16 units, the paper's two-layer model, `F*16 + 16 + 16*C + C` parameters.

    Args:
        input_shape: tuple. `(F,)`, the node feature size.
        num_classes: int. Classes per node. Defaults to `7`.
        hidden_units: sequence of int. Widths of the hidden graph convolutions. Defaults to `(16,)`.
        activation: str. Activation of the hidden layers. Defaults to `"relu"`.
        dropout: float. Dropout rate on the features entering each convolution. Defaults to `0.5`.
        name: str. Model name and layer-name prefix. Defaults to `"gcn"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("gcn", input_shape=(34,), num_classes=2)
    model.count_params(), sorted(model.input)  # 594, ['node_features', 'receivers', 'senders']
    ```
    """
    owner = "gcn"
    input_shape = _check_common(owner, input_shape, num_classes, dropout, activation)
    hidden_units = errors.check_int_sequence(owner, "hidden_units", hidden_units, allow_empty=True)
    from kerakit.layers.graph import GCNConv

    return _node_classifier(input_shape, (*hidden_units, num_classes), dropout, name, lambda i, units, last: GCNConv(
        units, activation=None if last else activation, name=f"{name}_conv{i}"))


@blueprint(family="graph", task="node_classification",
           tiny={**_NODE_TINY, "hidden_units": 4, "num_heads": 2}, sample_inputs=_sample_inputs)
def gat(input_shape, num_classes=7, hidden_units=8, num_heads=8, output_heads=1, num_layers=2, activation="elu",
        dropout=0.6, attention_dropout=0.6, name="gat"):
    """GAT (Velickovic et al., ICLR 2018): multi-head graph attention, node logits.

    `num_layers - 1` hidden `GATConv` layers of `num_heads` heads of `hidden_units` each, concatenated, then an
    output `GATConv(num_classes)` whose `output_heads` heads are averaged; dropout on the features entering each
    layer and on the attention weights (the paper's Cora model: 8 heads of 8, one output head, dropout 0.6).

    Args:
        input_shape: tuple. `(F,)`, the node feature size.
        num_classes: int. Classes per node. Defaults to `7`.
        hidden_units: int. Features per head in the hidden layers. Defaults to `8`.
        num_heads: int. Heads of the hidden layers. Defaults to `8`.
        output_heads: int. Heads of the output layer (averaged). Defaults to `1`.
        num_layers: int. Attention layers, the output layer included. Defaults to `2`.
        activation: str. Activation of the hidden layers. Defaults to `"elu"`.
        dropout: float. Dropout on the features entering each layer. Defaults to `0.6`.
        attention_dropout: float. Dropout on the attention weights. Defaults to `0.6`.
        name: str. Model name and layer-name prefix. Defaults to `"gat"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("gat", input_shape=(16,), num_classes=4)
    model.get_layer("gat_conv1").num_heads, model.output_shape  # 8, (None, 4)
    ```
    """
    owner = "gat"
    input_shape = _check_common(owner, input_shape, num_classes, dropout, activation)
    for argument, value in (("hidden_units", hidden_units), ("num_heads", num_heads), ("output_heads", output_heads),
                            ("num_layers", num_layers)):
        errors.check_int(owner, argument, value)
    errors.check_rate(owner, "attention_dropout", attention_dropout)
    from kerakit.layers.graph import GATConv

    widths = (hidden_units,) * (num_layers - 1) + (num_classes,)
    return _node_classifier(input_shape, widths, dropout, name, lambda i, units, last: GATConv(
        units, num_heads=output_heads if last else num_heads, concat_heads=not last,
        attention_dropout=attention_dropout, activation=None if last else activation, name=f"{name}_conv{i}"))


@blueprint(family="graph", task="node_classification", tiny={**_NODE_TINY, "hidden_units": (8,)},
           sample_inputs=_sample_inputs)
def graphsage(input_shape, num_classes=7, hidden_units=(64,), aggregator="mean", activation="relu", dropout=0.5,
              normalize=False, name="graphsage"):
    """GraphSAGE (Hamilton et al., NeurIPS 2017): `W_root x_i + W_neigh AGG_j x_j`, node logits.

    Hidden `SAGEConv` layers (mean, max or pooling aggregator), then `SAGEConv(num_classes)`. On large graphs, train
    it on neighbour-sampled mini-batches (`kerakit.data.graph.NeighborSampler`, one fan-out per layer).

    Args:
        input_shape: tuple. `(F,)`, the node feature size.
        num_classes: int. Classes per node. Defaults to `7`.
        hidden_units: sequence of int. Widths of the hidden layers. Defaults to `(64,)`.
        aggregator: str. `"mean"`, `"max"` or `"pool"`. Defaults to `"mean"`.
        activation: str. Activation of the hidden layers. Defaults to `"relu"`.
        dropout: float. Dropout on the features entering each layer. Defaults to `0.5`.
        normalize: bool. L2-normalise the hidden layers' outputs (the paper's line 7). Defaults to `False`.
        name: str. Model name and layer-name prefix. Defaults to `"graphsage"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("graphsage", input_shape=(16,), num_classes=4, aggregator="max")
    model.output_shape  # (None, 4)
    ```
    """
    owner = "graphsage"
    input_shape = _check_common(owner, input_shape, num_classes, dropout, activation)
    hidden_units = errors.check_int_sequence(owner, "hidden_units", hidden_units, allow_empty=True)
    from kerakit.layers.graph import SAGE_AGGREGATORS, SAGEConv

    errors.check_choice(owner, "aggregator", aggregator, SAGE_AGGREGATORS)
    return _node_classifier(input_shape, (*hidden_units, num_classes), dropout, name, lambda i, units, last: SAGEConv(
        units, aggregator=aggregator, normalize=normalize and not last, activation=None if last else activation,
        name=f"{name}_conv{i}"))


@blueprint(family="graph", task="graph_classification",
           tiny={**_NODE_TINY, "hidden_units": 8, "num_layers": 2}, sample_inputs=_sample_inputs)
def gin(input_shape, num_classes=2, hidden_units=64, num_layers=3, readout="sum", train_epsilon=False,
        activation="relu", dropout=0.5, name="gin"):
    """GIN (Xu et al., ICLR 2019): `MLP((1 + eps) x_i + sum_j x_j)` layers, graph logits from every layer's readout.

    `num_layers` `GINConv` layers, each with a two-layer MLP of `hidden_units` and an activation; each layer's node
    features (the input's too) are pooled per graph (`readout`, sum by default, the most expressive) and
    concatenated (the paper's eq. 4.2), layer-normalised per graph, then `Dense(hidden_units)`, dropout and
    `Dense(num_classes)`. There is no batch normalisation, so that padding nodes never change a real graph's output,
    in training as well.

    Args:
        input_shape: tuple. `(F,)`, the node feature size.
        num_classes: int. Classes per graph. Defaults to `2`.
        hidden_units: int. Width of the MLPs and of the head. Defaults to `64`.
        num_layers: int. GIN layers. Defaults to `3`.
        readout: str. `"sum"`, `"mean"` or `"max"` pooling of each graph's nodes. Defaults to `"sum"`.
        train_epsilon: bool. Learn each layer's `eps` (GIN-eps) instead of `eps = 0` (GIN-0). Defaults to `False`.
        activation: str. Activation after each MLP and in the head. Defaults to `"relu"`.
        dropout: float. Dropout before the output layer. Defaults to `0.5`.
        name: str. Model name and layer-name prefix. Defaults to `"gin"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("gin", input_shape=(8,), num_classes=3)
    sorted(model.input)  # ['graph_mask', 'node_features', 'node_graph_ids', 'receivers', 'senders']
    ```
    """
    owner = "gin"
    input_shape = _check_common(owner, input_shape, num_classes, dropout, activation)
    errors.check_int(owner, "hidden_units", hidden_units)
    errors.check_int(owner, "num_layers", num_layers)
    import keras

    from kerakit.layers.graph import AGGREGATIONS, GINConv, GlobalPooling

    errors.check_choice(owner, "readout", readout, AGGREGATIONS)
    inputs = _graph_inputs(input_shape, GRAPH_INPUTS)
    x, s, r = inputs["node_features"], inputs["senders"], inputs["receivers"]
    ids, mask = inputs["node_graph_ids"], inputs["graph_mask"]
    pooled = [GlobalPooling(readout, name=f"{name}_readout0")(x, ids, mask)]
    for i in range(1, num_layers + 1):
        x = GINConv((hidden_units, hidden_units), train_epsilon=train_epsilon, name=f"{name}_conv{i}")(x, s, r)
        x = keras.layers.Activation(activation, name=f"{name}_act{i}")(x)
        pooled.append(GlobalPooling(readout, name=f"{name}_readout{i}")(x, ids, mask))
    h = keras.layers.Concatenate(name=f"{name}_readouts")(pooled)
    # Sum readouts grow with the graph's size and degrees; normalising each graph's row (never across graphs, so
    # padding cannot leak in) keeps the head's first step from killing its ReLUs, as batch norm does in the paper.
    h = keras.layers.LayerNormalization(name=f"{name}_readout_norm")(h)
    h = keras.layers.Dense(hidden_units, activation=activation, name=f"{name}_head_dense")(h)
    if dropout:
        h = keras.layers.Dropout(dropout, name=f"{name}_head_dropout")(h)
    outputs = keras.layers.Dense(num_classes, name=f"{name}_predictions")(h)
    return keras.Model(inputs, outputs, name=name)


@blueprint(family="graph", task="link_prediction", tiny={"input_shape": (4,), "hidden_units": (8, 4)},
           sample_inputs=_sample_inputs)
def gnn_link_predictor(input_shape, hidden_units=(64, 32), encoder="gcn", score="dot", activation="relu",
                       dropout=0.0, name="gnn_link_predictor"):
    """Link prediction: a graph encoder embeds the nodes, then a pair score gives one logit per node pair.

    The encoder is a stack of `GCNConv` (graph auto-encoder style, Kipf and Welling, "Variational Graph
    Auto-Encoders", 2016) or `SAGEConv` layers, the last without activation; `PairScore` scores each pair
    `(pair_senders[p], pair_receivers[p])` by the dot product (or cosine) of their embeddings. Train it with binary
    cross-entropy on the true edges and sampled non-edges (negative sampling: `kerakit.data.load("sbm_links")`
    draws new negatives every epoch), with the message-passing graph holding the training edges only.

    Args:
        input_shape: tuple. `(F,)`, the node feature size.
        hidden_units: sequence of int. Widths of the encoder layers; the last is the embedding size. Defaults to
            `(64, 32)`.
        encoder: str. `"gcn"` or `"graphsage"`. Defaults to `"gcn"`.
        score: str. `"dot"` or `"cosine"`. Defaults to `"dot"`.
        activation: str. Activation between encoder layers. Defaults to `"relu"`.
        dropout: float. Dropout on the features entering each encoder layer. Defaults to `0.0`.
        name: str. Model name and layer-name prefix. Defaults to `"gnn_link_predictor"`.

    Example:

    ```python
    import kerakit
    model = kerakit.build("gnn_link_predictor", input_shape=(16,), hidden_units=(32, 16))
    model.output_shape, sorted(model.input)[:2]  # (None,), ['node_features', 'pair_receivers']
    ```
    """
    owner = "gnn_link_predictor"
    input_shape = _check_common(owner, input_shape, 1, dropout, activation)
    hidden_units = errors.check_int_sequence(owner, "hidden_units", hidden_units)
    errors.check_choice(owner, "encoder", encoder, ("gcn", "graphsage"))
    import keras

    from kerakit.layers.graph import PAIR_SCORES, GCNConv, PairScore, SAGEConv

    errors.check_choice(owner, "score", score, PAIR_SCORES)
    inputs = _graph_inputs(input_shape, NODE_INPUTS + ("pair_senders", "pair_receivers"))
    x, s, r = inputs["node_features"], inputs["senders"], inputs["receivers"]
    conv = GCNConv if encoder == "gcn" else SAGEConv
    for i, units in enumerate(hidden_units, start=1):
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout{i}")(x)
        last = i == len(hidden_units)
        x = conv(units, activation=None if last else activation, name=f"{name}_conv{i}")(x, s, r)
    outputs = PairScore(score, name=f"{name}_score")(x, inputs["pair_senders"], inputs["pair_receivers"])
    return keras.Model(inputs, outputs, name=name)
