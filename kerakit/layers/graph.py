"""Message-passing graph layers over edge lists (no dense N x N adjacency anywhere: memory grows with edges).

A graph is given as tensors, called functionally: node features `x` (N, F), `senders` (E,) and `receivers` (E,)
int32 (a message flows `senders[e] -> receivers[e]` and is aggregated at `receivers[e]`; an undirected graph stores
both directions), and optionally `edge_weight` (E,). Feed graphs to a model as inputs, never as Python constants
(XLA would constant-fold the gathers and scatters and compile for minutes).

Every layer follows the split of Gilmer et al., "Neural Message Passing for Quantum Chemistry" (ICML 2017):
`message` (per edge, from gathered node features) -> `aggregate` (`keras.ops.segment_sum` / `segment_max` at the
receivers: sum, mean or max) -> `update` (per node). The number of segments is the static node count of `x`
(`keras.ops.shape(x)[0]`), so the layers compile under JAX `jit`, TensorFlow `tf.function`/XLA and export to
SavedModel (on JAX through jax2tf with polymorphic shapes).

Conventions:
- A node that receives no message aggregates to zero (sum, mean and max alike), so isolated nodes have finite
  outputs.
- Self loops (`add_self_loops=True`, GCN and GAT) follow PyTorch Geometric's `add_remaining_self_loops`: every node
  gets exactly one self loop; a loop already in the edge list is not counted twice (for GCN its weight becomes the
  new loop's weight, summed if there are several; for GAT it gets attention zero). So `A + I` means "A with its
  diagonal set to 1 where A had no loop".
- Padded batches (jraph-style): padding edges join padding nodes only, so a real node's output never depends on
  padding and no edge mask is needed. Pooling takes the graph mask and returns zeros for padding graph slots.

- `gcn_norm`, `GCNConv`: Kipf and Welling, "Semi-Supervised Classification with Graph Convolutional Networks"
  (ICLR 2017, arXiv:1609.02907).
- `GATConv`: Velickovic et al., "Graph Attention Networks" (ICLR 2018, arXiv:1710.10903).
- `SAGEConv`: Hamilton et al., "Inductive Representation Learning on Large Graphs" (NeurIPS 2017,
  arXiv:1706.02216).
- `GINConv`: Xu et al., "How Powerful are Graph Neural Networks?" (ICLR 2019, arXiv:1810.00826).
- `AttentionReadout`: the gated graph-level output of Li et al., "Gated Graph Sequence Neural Networks" (ICLR 2016,
  arXiv:1511.05493), section 3.3.
- `PairScore`: the inner-product link decoder of Kipf and Welling, "Variational Graph Auto-Encoders" (2016).
"""

import numbers

import keras
from keras import ops

from kerakit import errors

AGGREGATIONS = ("sum", "mean", "max")
SAGE_AGGREGATORS = ("mean", "max", "pool")
READOUT_GATINGS = ("softmax", "sigmoid")


# ----------------------------------------------------------------------------------------------- free functions


def _num_nodes(x):
    return ops.shape(x)[0]


def aggregate(messages, segment_ids, num_segments, aggregation="sum"):
    """Reduces `messages` (E, ...) into `num_segments` rows by `segment_ids`: sum, mean or max.

    A segment that receives nothing gets zeros (the mean of nothing and the max of nothing are 0, never NaN/-inf).

    Args:
        messages: tensor (E, ...). One row per edge (or per node when pooling).
        segment_ids: int tensor (E,). Destination row of each message, in [0, num_segments).
        num_segments: int. Number of output rows (static under jit: the node or graph count).
        aggregation: str. `"sum"`, `"mean"` or `"max"`. Defaults to `"sum"`.

    Returns:
        Tensor (num_segments, ...).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.graph import aggregate
    m = np.array([[1.0], [3.0], [5.0]], "float32")
    ids = np.array([0, 0, 2], "int32")
    np.asarray(aggregate(m, ids, 4, "mean"))[:, 0].tolist()  # [2.0, 0.0, 5.0, 0.0]
    np.asarray(aggregate(m, ids, 4, "max"))[:, 0].tolist()  # [3.0, 0.0, 5.0, 0.0]
    ```
    """
    errors.check_choice("aggregate", "aggregation", aggregation, AGGREGATIONS)
    if aggregation == "sum":
        return ops.segment_sum(messages, segment_ids, num_segments=num_segments)
    counts = _segment_counts(segment_ids, num_segments, messages.dtype)
    counts = ops.reshape(counts, (-1,) + (1,) * (len(messages.shape) - 1))
    if aggregation == "mean":
        total = ops.segment_sum(messages, segment_ids, num_segments=num_segments)
        return total / ops.maximum(counts, 1.0)
    largest = ops.segment_max(messages, segment_ids, num_segments=num_segments)
    return ops.where(counts > 0, largest, ops.zeros_like(largest))  # empty segments: -inf (JAX) / lowest (TF)


def _segment_counts(segment_ids, num_segments, dtype):
    ones = ops.ones_like(segment_ids, dtype=dtype)
    return ops.segment_sum(ones, segment_ids, num_segments=num_segments)


def segment_softmax(logits, segment_ids, num_segments):
    """Softmax of `logits` (E, ...) over the entries that share a segment id (each node's incoming edges).

    Subtracts each segment's max (gathered back to its entries), exponentiates, divides by the segment's sum, so
    the entries of every non-empty segment sum to one. Entries equal to `-inf` get weight zero (a segment needs at
    least one finite entry).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.graph import segment_softmax
    w = np.asarray(segment_softmax(np.array([0.0, 0.0, 5.0], "float32"), np.array([1, 1, 0], "int32"), 2))
    w.tolist()  # [0.5, 0.5, 1.0]
    ```
    """
    largest = ops.stop_gradient(ops.segment_max(logits, segment_ids, num_segments=num_segments))
    exp = ops.exp(logits - ops.take(largest, segment_ids, axis=0))
    total = ops.segment_sum(exp, segment_ids, num_segments=num_segments)
    return exp / ops.take(total, segment_ids, axis=0)


def _loop_mask(senders, receivers, dtype):
    return ops.cast(ops.equal(senders, receivers), dtype)


def gcn_norm(senders, receivers, num_nodes, edge_weight=None, add_self_loops=True, dtype="float32"):
    """Edge weights of the symmetric normalisation `D^-1/2 (A + I) D^-1/2` (Kipf and Welling 2017, eq. 2).

    `A[r, s]` is the weight of the edge `s -> r` (1 without `edge_weight`) and `D` the diagonal of `A + I`'s row
    sums (each receiver's weighted in-degree, self loop included). With `add_self_loops=True` one loop per node is
    appended (PyG's `add_remaining_self_loops`): a node that already has loops keeps their summed weight on the new
    loop and the old loop edges get weight 0, so `A + I` never counts a loop twice. A node of degree 0 (no loop, no
    edge) gets weight 0, never `inf`.

    Args:
        senders: int tensor (E,). Source node of each edge.
        receivers: int tensor (E,). Destination node of each edge.
        num_nodes: int. N, the number of nodes (static under jit: `keras.ops.shape(x)[0]`).
        edge_weight: float tensor (E,) or None. Edge weights; `None` means 1. Defaults to `None`.
        add_self_loops: bool. Append one self loop per node. Defaults to `True`.
        dtype: str. dtype of the returned weights. Defaults to `"float32"`.

    Returns:
        `(senders, receivers, weights)`: with self loops, E + N edges (the loops `i -> i` last, in node order).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.graph import gcn_norm
    s, r, w = gcn_norm(np.array([0, 1], "int32"), np.array([1, 0], "int32"), 2)
    np.asarray(s).tolist(), np.round(np.asarray(w), 3).tolist()  # ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    ```
    """
    senders = ops.cast(senders, "int32")
    receivers = ops.cast(receivers, "int32")
    weights, loop_weights = _gcn_weights(senders, receivers, num_nodes, edge_weight, add_self_loops, dtype)
    if add_self_loops:
        nodes = ops.arange(num_nodes, dtype="int32")
        senders = ops.concatenate([senders, nodes], axis=0)
        receivers = ops.concatenate([receivers, nodes], axis=0)
        weights = ops.concatenate([weights, loop_weights], axis=0)
    return senders, receivers, weights


def _gcn_weights(senders, receivers, num_nodes, edge_weight, add_self_loops, dtype):
    """`gcn_norm`'s weights with the self loops apart: `(edge weights (E,), loop weights (N,) or None)`.

    One scatter over the edges gives the degrees and the existing loops' weights; the loops are never appended to
    the edge list (GCNConv adds their term per node, one gather/scatter of N rows fewer).
    """
    weights = ops.ones(ops.shape(senders), dtype=dtype) if edge_weight is None else ops.cast(edge_weight, dtype)
    if not add_self_loops:
        degree = ops.segment_sum(weights, receivers, num_segments=num_nodes)
        inv_sqrt = _inverse_sqrt(degree)
        return ops.take(inv_sqrt, senders, axis=0) * weights * ops.take(inv_sqrt, receivers, axis=0), None
    is_loop = _loop_mask(senders, receivers, dtype)
    old_loops = weights * is_loop
    weights = weights - old_loops
    sums = ops.segment_sum(ops.stack([weights, old_loops, is_loop], axis=1), receivers, num_segments=num_nodes)
    loop_weights = ops.where(sums[:, 2] > 0, sums[:, 1], ops.ones_like(sums[:, 1]))
    inv_sqrt = _inverse_sqrt(sums[:, 0] + loop_weights)
    weights = ops.take(inv_sqrt, senders, axis=0) * weights * ops.take(inv_sqrt, receivers, axis=0)
    return weights, inv_sqrt * loop_weights * inv_sqrt


def _inverse_sqrt(degree):
    """`degree ** -0.5`, and 0 where the degree is 0 (never inf, no NaN gradient)."""
    positive = degree > 0
    return ops.where(positive, ops.rsqrt(ops.where(positive, degree, ops.ones_like(degree))),
                     ops.zeros_like(degree))


# ---------------------------------------------------------------------------------------------- argument checks


def _check_rank(owner, argument, tensor, rank, what):
    if tensor is None:
        raise errors.invalid(owner, argument, f"a tensor of rank {rank} {what}", None)
    shape = getattr(tensor, "shape", None)
    if shape is None or len(shape) != rank:
        got = tuple(shape) if shape is not None else type(tensor).__name__
        raise errors.invalid(owner, argument, f"a tensor of rank {rank} {what}", f"shape {got}")


def _check_graph(owner, x, senders, receivers, edge_weight=None, names=("x", "senders", "receivers")):
    """Static checks (ranks, index dtypes) of the graph tensors; returns senders and receivers as int32."""
    _check_rank(owner, names[0], x, 2, "(num_nodes, features)")
    _check_rank(owner, names[1], senders, 1, "(num_edges,)")
    _check_rank(owner, names[2], receivers, 1, "(num_edges,)")
    if edge_weight is not None:
        _check_rank(owner, "edge_weight", edge_weight, 1, "(num_edges,)")
    for name, tensor in ((names[1], senders), (names[2], receivers)):
        dtype = keras.backend.standardize_dtype(tensor.dtype)
        if "int" not in dtype:
            raise errors.invalid(owner, name, "an integer tensor of node indices", f"dtype {dtype}")
    return ops.cast(senders, "int32"), ops.cast(receivers, "int32")


def _check_units(owner, units):
    return errors.check_int(owner, "units", units, minimum=1)


def _check_bool(owner, argument, value):
    if not isinstance(value, bool):
        raise errors.invalid(owner, argument, "True or False", value)
    return value


# ------------------------------------------------------------------------------------------------------ layers


@keras.saving.register_keras_serializable(package="kerakit")
class MessagePassing(keras.layers.Layer):
    """Base of the message-passing layers: `message` -> `aggregate` -> `update`.

    `propagate(x, senders, receivers, edge_weight)` computes, for every node i,
    `update(AGG_{e: receivers[e] = i} message(x[senders[e]], edge_weight[e]), x_i)`, with `AGG` the sum, mean or
    max over the node's incoming edges (`keras.ops.segment_sum` / `segment_max` with the static node count as
    `num_segments`; a node with no incoming edge aggregates to 0). The defaults are the identity message (scaled by
    the edge weight if given) and the identity update, so the base layer itself sums/averages/maxes neighbours'
    features. Subclasses override `message` and `update` (and `call`), as in PyTorch Geometric's `MessagePassing`
    (Gilmer et al., ICML 2017).

    Args:
        aggregation: str. `"sum"`, `"mean"` or `"max"`. Defaults to `"sum"`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        x: float tensor (N, F). Node features.
        senders: int tensor (E,). Source node of each edge.
        receivers: int tensor (E,). Destination node of each edge.
        edge_weight: float tensor (E,) or None. Scales each message. Defaults to `None`.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.graph import MessagePassing
    x = np.array([[1.0], [2.0], [4.0]], "float32")
    s, r = np.array([0, 1, 2], "int32"), np.array([2, 2, 0], "int32")
    np.asarray(MessagePassing("mean")(x, s, r))[:, 0].tolist()  # [4.0, 0.0, 1.5]
    ```
    """

    def __init__(self, aggregation="sum", **kwargs):
        super().__init__(**kwargs)
        self.aggregation = errors.check_choice(type(self).__name__, "aggregation", aggregation, AGGREGATIONS)

    def message(self, x_senders, edge_weight=None):
        """One message per edge from the gathered sender features (E, ...); scaled by `edge_weight` if given."""
        if edge_weight is None:
            return x_senders
        weight = ops.cast(edge_weight, x_senders.dtype)
        return x_senders * ops.reshape(weight, (-1,) + (1,) * (len(x_senders.shape) - 1))

    def aggregate(self, messages, receivers, num_nodes):
        """Reduces the messages at their receivers with `self.aggregation` -> (N, ...)."""
        return aggregate(messages, receivers, num_nodes, self.aggregation)

    def update(self, aggregated, x):
        """The new node state from the aggregate and the node's own features; the identity here."""
        return aggregated

    def propagate(self, x, senders, receivers, edge_weight=None, num_nodes=None):
        """message -> aggregate -> update. `num_nodes` defaults to `x`'s static row count."""
        num_nodes = _num_nodes(x) if num_nodes is None else num_nodes
        messages = self.message(ops.take(x, senders, axis=0), edge_weight)
        return self.update(self.aggregate(messages, receivers, num_nodes), x)

    def call(self, x, senders, receivers, edge_weight=None):
        senders, receivers = _check_graph(type(self).__name__, x, senders, receivers, edge_weight)
        return self.propagate(x, senders, receivers, edge_weight)

    def get_config(self):
        return {**super().get_config(), "aggregation": self.aggregation}


class _DenseMixin:
    """Kernel/bias weights and the activation shared by the convolutions."""

    def _dense_options(self, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer):
        self.activation = keras.activations.get(activation)
        self.use_bias = _check_bool(type(self).__name__, "use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def _kernel(self, name, shape):
        return self.add_weight(name=name, shape=shape, initializer=self.kernel_initializer,
                               regularizer=self.kernel_regularizer)

    def _bias(self, size):
        return self.add_weight(name="bias", shape=(size,), initializer=self.bias_initializer) if self.use_bias else None

    def _finish(self, out):
        if self.use_bias:
            out = out + self.bias
        return self.activation(out)

    def _dense_config(self):
        return {
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


def _features(owner, input_shape):
    features = input_shape[-1]
    if features is None:
        raise errors.invalid(owner, "x", "node features with a known last dimension", f"shape {tuple(input_shape)}")
    return int(features)


@keras.saving.register_keras_serializable(package="kerakit")
class GCNConv(_DenseMixin, MessagePassing):
    """Graph convolution of Kipf and Welling (ICLR 2017): `X' = D^-1/2 (A + I) D^-1/2 X W + b`.

    Per node: `x'_i = sum_{j in N(i) + {i}} x_j W / sqrt(d_i d_j)` with `d_i = 1 + sum_{j in N(i)} a_ij` (weighted
    in-degree plus the self loop). The weights come from `gcn_norm` (self loops as PyG's
    `add_remaining_self_loops`: an existing loop is not counted twice; a node with no edges gets `x_i W + b`).
    `X W` is computed before the aggregation when `units` is smaller than the input width, after it otherwise
    (the same result, fewer gathered features). With `normalize=False` the weights are the raw edge weights
    (plus unit self loops when `add_self_loops`), i.e. a plain sum.

    Args:
        units: int. Output features per node.
        activation: activation or None. Defaults to `None`.
        use_bias: bool. Add a bias. Defaults to `True`.
        add_self_loops: bool. The `+ I`. Defaults to `True`.
        normalize: bool. Apply the symmetric normalisation. Defaults to `True`.
        kernel_initializer, bias_initializer, kernel_regularizer: the usual Keras options. Default to
            `"glorot_uniform"`, `"zeros"`, `None`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments: `x` (N, F), `senders` (E,), `receivers` (E,), `edge_weight` (E,) or None. Returns (N, units).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.graph import GCNConv
    x = np.ones((3, 4), "float32")  # the path 0 - 1 - 2, both directions; degrees with loops 2, 3, 2
    s, r = np.array([0, 1, 1, 2], "int32"), np.array([1, 0, 2, 1], "int32")
    layer = GCNConv(2, kernel_initializer="ones")
    out = np.asarray(layer(x, s, r))
    out.shape, [round(float(v), 3) for v in out[:, 0]]  # ((3, 2), [3.633, 4.599, 3.633])
    round(4 * (1 / 2 + 1 / 6 ** 0.5), 3)  # 3.633
    ```
    """

    def __init__(self, units, activation=None, use_bias=True, add_self_loops=True, normalize=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None, **kwargs):
        super().__init__(aggregation="sum", **kwargs)
        owner = type(self).__name__
        self.units = _check_units(owner, units)
        self.add_self_loops = _check_bool(owner, "add_self_loops", add_self_loops)
        self.normalize = _check_bool(owner, "normalize", normalize)
        self._dense_options(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer)

    def build(self, input_shape):
        self.kernel = self._kernel("kernel", (_features(type(self).__name__, input_shape), self.units))
        self.bias = self._bias(self.units)

    def call(self, x, senders, receivers, edge_weight=None):
        senders, receivers = _check_graph(type(self).__name__, x, senders, receivers, edge_weight)
        num_nodes = _num_nodes(x)
        if self.normalize:
            weights, loop_weights = _gcn_weights(senders, receivers, num_nodes, edge_weight, self.add_self_loops,
                                                 x.dtype)
        else:
            weights = None if edge_weight is None else ops.cast(edge_weight, x.dtype)
            loop_weights = ops.ones((num_nodes,), dtype=x.dtype) if self.add_self_loops else None
        transform_first = self.units <= self.kernel.shape[0]
        h = ops.matmul(x, self.kernel) if transform_first else x
        out = self.propagate(h, senders, receivers, weights)
        if loop_weights is not None:  # the self loops' term, per node (not appended to the edge list)
            out = out + h * ops.expand_dims(loop_weights, -1)
        if not transform_first:
            out = ops.matmul(out, self.kernel)
        return self._finish(out)

    def get_config(self):
        config = {key: value for key, value in super().get_config().items() if key != "aggregation"}
        return {**config, "units": self.units, "add_self_loops": self.add_self_loops, "normalize": self.normalize,
                **self._dense_config()}


@keras.saving.register_keras_serializable(package="kerakit")
class GATConv(_DenseMixin, MessagePassing):
    """Graph attention of Velickovic et al. (ICLR 2018), multi-head.

    Per head k: `h = x W_k`; for each edge j -> i, `e_ij = LeakyReLU(a_src . h_j + a_dst . h_i)` (eq. 3, the
    concatenation `a^T [W h_i || W h_j]` split in two); `alpha_ij = softmax_j(e_ij)` over node i's incoming edges
    (a segment softmax: subtract the segment max, exponentiate, divide by the segment sum); `x'_i = sum_j alpha_ij
    h_j`. Heads are concatenated (N, heads * units) or averaged (N, units) (eqs. 5, 6), then the bias and the
    activation. Attention dropout (on `alpha`, in training) draws from the layer's `keras.random.SeedGenerator`.
    With `add_self_loops=True` every node attends to itself once (PyG's `add_remaining_self_loops`: loops already
    in the edge list get attention 0), so every node has at least one neighbour; without it a node with no incoming
    edge outputs just the bias.

    Args:
        units: int. Output features per head.
        num_heads: int. Attention heads. Defaults to 1.
        concat_heads: bool. Concatenate the heads (else average them). Defaults to `True`.
        attention_dropout: float in [0, 1). Dropout on the attention weights. Defaults to 0.
        negative_slope: float. LeakyReLU slope. Defaults to 0.2.
        add_self_loops: bool. Defaults to `True`.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer: as in `GCNConv`.
        seed: int or None. Seed of the dropout's `SeedGenerator`. Defaults to `None`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments: `x` (N, F), `senders` (E,), `receivers` (E,), `return_attention_scores` (bool), `training`.
    Returns (N, heads * units) or (N, units); with `return_attention_scores=True` also the attention weights
    (E', heads), E' = E + N with self loops (the loops `i -> i` last, in node order), E without.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.graph import GATConv
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    s, r = np.array([0, 1, 2], "int32"), np.array([1, 2, 1], "int32")
    out, att = GATConv(5, num_heads=2)(x, s, r, return_attention_scores=True)
    tuple(out.shape), tuple(att.shape)  # ((3, 10), (6, 2))
    tuple(GATConv(5, num_heads=2, concat_heads=False)(x, s, r).shape)  # (3, 5)
    ```
    """

    def __init__(self, units, num_heads=1, concat_heads=True, attention_dropout=0.0, negative_slope=0.2,
                 add_self_loops=True, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, seed=None, **kwargs):
        super().__init__(aggregation="sum", **kwargs)
        owner = type(self).__name__
        self.units = _check_units(owner, units)
        self.num_heads = errors.check_int(owner, "num_heads", num_heads, minimum=1)
        self.concat_heads = _check_bool(owner, "concat_heads", concat_heads)
        self.attention_dropout = errors.check_rate(owner, "attention_dropout", attention_dropout)
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real) or negative_slope < 0:
            raise errors.invalid(owner, "negative_slope", "a number >= 0", negative_slope)
        self.negative_slope = float(negative_slope)
        self.add_self_loops = _check_bool(owner, "add_self_loops", add_self_loops)
        if seed is not None:
            seed = errors.check_int(owner, "seed", seed, minimum=0)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._dense_options(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer)

    @property
    def _out_width(self):
        return self.units * self.num_heads if self.concat_heads else self.units

    def build(self, input_shape):
        features = _features(type(self).__name__, input_shape)
        self.kernel = self._kernel("kernel", (features, self.num_heads * self.units))
        self.attention_source = self._kernel("attention_source", (self.num_heads, self.units))
        self.attention_target = self._kernel("attention_target", (self.num_heads, self.units))
        self.bias = self._bias(self._out_width)

    def call(self, x, senders, receivers, return_attention_scores=False, training=None):
        senders, receivers = _check_graph(type(self).__name__, x, senders, receivers)
        num_nodes = _num_nodes(x)
        h = ops.reshape(ops.matmul(x, self.kernel), (num_nodes, self.num_heads, self.units))
        score_source = ops.sum(h * self.attention_source, axis=-1)  # (N, heads)
        score_target = ops.sum(h * self.attention_target, axis=-1)
        if self.add_self_loops:
            old_loop = ops.equal(senders, receivers)
            nodes = ops.arange(num_nodes, dtype="int32")
            senders = ops.concatenate([senders, nodes], axis=0)
            receivers = ops.concatenate([receivers, nodes], axis=0)
        logits = ops.take(score_source, senders, axis=0) + ops.take(score_target, receivers, axis=0)
        logits = ops.leaky_relu(logits, negative_slope=self.negative_slope)
        if self.add_self_loops:
            keep = ops.concatenate([ops.logical_not(old_loop), ops.ones((num_nodes,), dtype="bool")], axis=0)
            logits = ops.where(ops.expand_dims(keep, -1), logits, ops.full_like(logits, float("-inf")))
        attention = segment_softmax(logits, receivers, num_nodes)  # (E', heads)
        weights = attention
        if training and self.attention_dropout > 0:
            weights = keras.random.dropout(attention, self.attention_dropout, seed=self.seed_generator)
        messages = ops.take(h, senders, axis=0) * ops.expand_dims(weights, -1)  # (E', heads, units)
        out = self.aggregate(messages, receivers, num_nodes)
        if self.concat_heads:
            out = ops.reshape(out, (num_nodes, self.num_heads * self.units))
        else:
            out = ops.mean(out, axis=1)
        out = self._finish(out)
        return (out, attention) if return_attention_scores else out

    def get_config(self):
        config = {key: value for key, value in super().get_config().items() if key != "aggregation"}
        return {**config, "units": self.units, "num_heads": self.num_heads, "concat_heads": self.concat_heads,
                "attention_dropout": self.attention_dropout, "negative_slope": self.negative_slope,
                "add_self_loops": self.add_self_loops, "seed": self.seed, **self._dense_config()}


@keras.saving.register_keras_serializable(package="kerakit")
class SAGEConv(_DenseMixin, MessagePassing):
    """GraphSAGE of Hamilton et al. (NeurIPS 2017): `x'_i = W_root x_i + W_neigh AGG_{j in N(i)} m_j + b`.

    Aggregators (section 3.3): `"mean"` (`m_j = x_j`, averaged; `W_neigh` is applied before averaging when that
    is cheaper, the same result), `"max"` (`m_j = x_j`, element-wise max) and `"pool"` (`m_j = ReLU(W_pool x_j +
    b_pool)`, element-wise max, with `W_pool` square as in PyG). A node with no incoming edge aggregates to 0.
    `root_weight=False` drops the `W_root x_i` term (the mean then is GCN-like). `normalize=True` divides each
    output row by its L2 norm (eq. in Algorithm 1, line 7), after the activation.

    Args:
        units: int. Output features per node.
        aggregator: str. `"mean"`, `"max"` or `"pool"`. Defaults to `"mean"`.
        root_weight: bool. Add `W_root x_i`. Defaults to `True`.
        normalize: bool. L2-normalise the outputs. Defaults to `False`.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer: as in `GCNConv`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments: `x` (N, F), `senders` (E,), `receivers` (E,). Returns (N, units).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.graph import SAGEConv
    x = np.array([[1.0], [2.0], [6.0]], "float32")
    s, r = np.array([1, 2], "int32"), np.array([0, 0], "int32")
    layer = SAGEConv(1, aggregator="max", root_weight=False, kernel_initializer="ones")
    np.asarray(layer(x, s, r))[:, 0].tolist()  # [6.0, 0.0, 0.0]
    ```
    """

    def __init__(self, units, aggregator="mean", root_weight=True, normalize=False, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None, **kwargs):
        owner = type(self).__name__
        aggregator = errors.check_choice(owner, "aggregator", aggregator, SAGE_AGGREGATORS)
        super().__init__(aggregation="mean" if aggregator == "mean" else "max", **kwargs)
        self.units = _check_units(owner, units)
        self.aggregator = aggregator
        self.root_weight = _check_bool(owner, "root_weight", root_weight)
        self.normalize = _check_bool(owner, "normalize", normalize)
        self._dense_options(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer)

    def build(self, input_shape):
        features = _features(type(self).__name__, input_shape)
        if self.aggregator == "pool":
            self.pool_kernel = self._kernel("pool_kernel", (features, features))
            self.pool_bias = self.add_weight(name="pool_bias", shape=(features,), initializer="zeros")
        self.neighbor_kernel = self._kernel("neighbor_kernel", (features, self.units))
        if self.root_weight:
            self.root_kernel = self._kernel("root_kernel", (features, self.units))
        self.bias = self._bias(self.units)

    def call(self, x, senders, receivers):
        senders, receivers = _check_graph(type(self).__name__, x, senders, receivers)
        if self.aggregator == "mean" and self.units < self.neighbor_kernel.shape[0]:
            out = self.propagate(ops.matmul(x, self.neighbor_kernel), senders, receivers)  # linear: W first
        else:
            source = x
            if self.aggregator == "pool":
                source = ops.relu(ops.matmul(x, self.pool_kernel) + self.pool_bias)
            out = ops.matmul(self.propagate(source, senders, receivers), self.neighbor_kernel)
        if self.root_weight:
            out = out + ops.matmul(x, self.root_kernel)
        out = self._finish(out)
        if self.normalize:
            out = out / ops.maximum(ops.sqrt(ops.sum(ops.square(out), axis=-1, keepdims=True)), 1e-12)
        return out

    def get_config(self):
        config = {key: value for key, value in super().get_config().items() if key != "aggregation"}
        return {**config, "units": self.units, "aggregator": self.aggregator, "root_weight": self.root_weight,
                "normalize": self.normalize, **self._dense_config()}


@keras.saving.register_keras_serializable(package="kerakit")
class GINConv(MessagePassing):
    """Graph isomorphism network layer of Xu et al. (ICLR 2019), eq. 4.1: `x'_i = MLP((1 + eps) x_i + sum_j x_j)`.

    The neighbour sum runs over node i's incoming edges. `eps` is a constant, or a trainable scalar initialised to
    `epsilon` with `train_epsilon=True` (GIN-eps vs GIN-0).

    Args:
        mlp: int, sequence of ints, or a Keras layer. The MLP: widths of `Dense` layers with ReLU between them (none
            after the last), or any layer mapping (N, F) -> (N, F').
        epsilon: float. The initial/constant `eps`. Defaults to 0.
        train_epsilon: bool. Learn `eps`. Defaults to `False`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments: `x` (N, F), `senders` (E,), `receivers` (E,). Returns (N, F').

    Example:

    ```python
    import keras
    import numpy as np
    from kerakit.layers.graph import GINConv
    x = np.array([[1.0], [2.0], [3.0]], "float32")
    s, r = np.array([1, 2], "int32"), np.array([0, 0], "int32")
    layer = GINConv(keras.layers.Identity(), epsilon=0.5)
    np.asarray(layer(x, s, r))[:, 0].tolist()  # [6.5, 3.0, 4.5]
    tuple(GINConv((8, 4))(x, s, r).shape)  # (3, 4)
    ```
    """

    def __init__(self, mlp, epsilon=0.0, train_epsilon=False, **kwargs):
        super().__init__(aggregation="sum", **kwargs)
        owner = type(self).__name__
        if isinstance(mlp, dict):
            mlp = keras.saving.deserialize_keras_object(mlp)
        if isinstance(mlp, keras.layers.Layer):
            self.mlp = mlp
            self.mlp_units = None
        else:
            self.mlp_units = (errors.check_int(owner, "mlp", mlp),) if isinstance(mlp, numbers.Integral) and \
                not isinstance(mlp, bool) else errors.check_int_sequence(owner, "mlp", mlp)
            layers = []
            for index, width in enumerate(self.mlp_units):
                last = index == len(self.mlp_units) - 1
                layers.append(keras.layers.Dense(width, activation=None if last else "relu", name=f"dense_{index}"))
            self.mlp = keras.Sequential(layers, name="mlp")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real):
            raise errors.invalid(owner, "epsilon", "a number", epsilon)
        self.epsilon = float(epsilon)
        self.train_epsilon = _check_bool(owner, "train_epsilon", train_epsilon)

    def build(self, input_shape):
        features = _features(type(self).__name__, input_shape)
        if self.train_epsilon:
            self.eps = self.add_weight(name="epsilon", shape=(), initializer=keras.initializers.Constant(self.epsilon))
        if not self.mlp.built:
            self.mlp.build((None, features))

    def call(self, x, senders, receivers):
        senders, receivers = _check_graph(type(self).__name__, x, senders, receivers)
        eps = self.eps if self.train_epsilon else self.epsilon
        return self.mlp((1.0 + eps) * x + self.propagate(x, senders, receivers))

    def get_config(self):
        config = {key: value for key, value in super().get_config().items() if key != "aggregation"}
        mlp = list(self.mlp_units) if self.mlp_units is not None else keras.saving.serialize_keras_object(self.mlp)
        return {**config, "mlp": mlp, "epsilon": self.epsilon, "train_epsilon": self.train_epsilon}


def _check_pooling(owner, x, node_graph_ids, graph_mask):
    _check_rank(owner, "x", x, 2, "(num_nodes, features)")
    _check_rank(owner, "node_graph_ids", node_graph_ids, 1, "(num_nodes,)")
    _check_rank(owner, "graph_mask", graph_mask, 1, "(num_graphs,)")
    dtype = keras.backend.standardize_dtype(node_graph_ids.dtype)
    if "int" not in dtype:
        raise errors.invalid(owner, "node_graph_ids", "an integer tensor of graph indices", f"dtype {dtype}")
    return ops.cast(node_graph_ids, "int32"), ops.shape(graph_mask)[0]


def _mask_graphs(pooled, graph_mask):
    return pooled * ops.expand_dims(ops.cast(graph_mask, pooled.dtype), -1)


@keras.saving.register_keras_serializable(package="kerakit")
class GlobalPooling(keras.layers.Layer):
    """Graph-level readout: the sum, mean or max of each graph's node features -> (G, F).

    `node_graph_ids` (N,) says which graph slot each node belongs to; G is `graph_mask`'s length (static, so the
    segment count is known under jit). A slot with no node pools to 0, and padding slots (`graph_mask == 0`) are
    zeroed, so padding never leaks into the output.

    Args:
        mode: str. `"sum"`, `"mean"` or `"max"`. Defaults to `"mean"`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments: `x` (N, F), `node_graph_ids` (N,) int, `graph_mask` (G,) 1.0 real / 0.0 padding.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.graph import GlobalPooling
    x = np.array([[1.0], [3.0], [5.0], [9.0]], "float32")
    ids, mask = np.array([0, 0, 1, 2], "int32"), np.array([1.0, 1.0, 0.0], "float32")
    np.asarray(GlobalPooling("mean")(x, ids, mask))[:, 0].tolist()  # [2.0, 5.0, 0.0]
    ```
    """

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        self.mode = errors.check_choice(type(self).__name__, "mode", mode, AGGREGATIONS)

    def call(self, x, node_graph_ids, graph_mask):
        node_graph_ids, num_graphs = _check_pooling(type(self).__name__, x, node_graph_ids, graph_mask)
        return _mask_graphs(aggregate(x, node_graph_ids, num_graphs, self.mode), graph_mask)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="kerakit")
class AttentionReadout(keras.layers.Layer):
    """Gated attention readout (Li et al., ICLR 2016, eq. 7): `h_G = sum_{i in G} gate_i * f(x_i)`.

    `f(x) = x W_f + b_f` (or the identity with `units=None`). With `gating="sigmoid"` the gate is
    `sigmoid(x w_g + b_g)` per node, as in the paper; with `gating="softmax"` (the default) the gate logits are
    normalised over each graph's nodes (a segment softmax, PyG's `AttentionalAggregation`), so the readout is a
    weighted mean. Padding slots (`graph_mask == 0`) and empty slots give 0.

    Args:
        units: int or None. Width of `f`; `None` keeps the input features. Defaults to `None`.
        gating: str. `"softmax"` or `"sigmoid"`. Defaults to `"softmax"`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments: `x` (N, F), `node_graph_ids` (N,) int, `graph_mask` (G,). Returns (G, units or F).

    Example:

    ```python
    import numpy as np
    from kerakit.layers.graph import AttentionReadout
    x = np.array([[1.0], [3.0], [5.0]], "float32")
    ids, mask = np.array([0, 0, 1], "int32"), np.array([1.0, 1.0], "float32")
    readout = AttentionReadout(gate_initializer="zeros")  # equal gates: the mean
    np.asarray(readout(x, ids, mask))[:, 0].tolist()  # [2.0, 5.0]
    ```
    """

    def __init__(self, units=None, gating="softmax", gate_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.units = None if units is None else _check_units(owner, units)
        self.gating = errors.check_choice(owner, "gating", gating, READOUT_GATINGS)
        self.gate_initializer = keras.initializers.get(gate_initializer)
        self.gate = keras.layers.Dense(1, kernel_initializer=self.gate_initializer, name="gate")
        self.transform = None if units is None else keras.layers.Dense(self.units, name="transform")

    def build(self, input_shape):
        features = int(input_shape[-1])
        self.gate.build((None, features))
        if self.transform is not None:
            self.transform.build((None, features))

    def call(self, x, node_graph_ids, graph_mask):
        node_graph_ids, num_graphs = _check_pooling(type(self).__name__, x, node_graph_ids, graph_mask)
        logits = self.gate(x)  # (N, 1)
        if self.gating == "softmax":
            gate = segment_softmax(logits, node_graph_ids, num_graphs)
        else:
            gate = ops.sigmoid(logits)
        values = x if self.transform is None else self.transform(x)
        pooled = ops.segment_sum(gate * values, node_graph_ids, num_segments=num_graphs)
        return _mask_graphs(pooled, graph_mask)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "gating": self.gating,
                "gate_initializer": keras.initializers.serialize(self.gate_initializer)}


PAIR_SCORES = ("dot", "cosine")


@keras.saving.register_keras_serializable(package="kerakit")
class PairScore(keras.layers.Layer):
    """Scores node pairs from node embeddings, for link prediction: `score_p = sim(z[s_p], z[r_p])` -> (P,).

    `"dot"`: `sum(z_s * z_r)` (the inner-product decoder of Kipf and Welling, "Variational Graph Auto-Encoders",
    2016, arXiv:1611.07308); `"cosine"`: the same on L2-normalised embeddings. The scores are logits (no sigmoid).

    Args:
        mode: str. `"dot"` or `"cosine"`. Defaults to `"dot"`.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments: `z` (N, D) node embeddings, `pair_senders` (P,) and `pair_receivers` (P,) int node indices.

    Example:

    ```python
    import numpy as np
    from kerakit.layers.graph import PairScore
    z = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]], "float32")
    np.asarray(PairScore()(z, np.array([0, 1], "int32"), np.array([1, 2], "int32"))).tolist()  # [2.0, 3.0]
    ```
    """

    def __init__(self, mode="dot", **kwargs):
        super().__init__(**kwargs)
        self.mode = errors.check_choice(type(self).__name__, "mode", mode, PAIR_SCORES)

    def call(self, z, pair_senders, pair_receivers):
        owner = type(self).__name__
        pair_senders, pair_receivers = _check_graph(owner, z, pair_senders, pair_receivers,
                                                    names=("z", "pair_senders", "pair_receivers"))
        if self.mode == "cosine":
            z = z / ops.maximum(ops.sqrt(ops.sum(ops.square(z), axis=-1, keepdims=True)), 1e-12)
        return ops.sum(ops.take(z, pair_senders, axis=0) * ops.take(z, pair_receivers, axis=0), axis=-1)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
