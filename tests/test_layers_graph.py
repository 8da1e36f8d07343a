"""kerakit.layers.graph: message passing (GCN, GAT, GraphSAGE, GIN), pooling and readout against NumPy references."""

import os

import keras
import numpy as np
import pytest

from kerakit.errors import KerakitError
from kerakit.layers import graph
from kerakit.layers.graph import (AttentionReadout, GATConv, GCNConv, GINConv, GlobalPooling, MessagePassing,
                                  PairScore, SAGEConv, gcn_norm)
from tests.helpers import assert_outputs_close

# A hand-built 4-node graph: an undirected path 0-1-2 (both directions), an existing self loop at 2 and a directed
# edge 2 -> 3 (node 3 only receives). Edge e flows senders[e] -> receivers[e].
SENDERS = np.array([0, 1, 1, 2, 2, 2], "int32")
RECEIVERS = np.array([1, 0, 2, 1, 2, 3], "int32")
X = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")


def _np(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def _dense_adjacency(senders, receivers, num_nodes, weights=None):
    """A[r, s] = summed weight of the edges s -> r (the reference only; the layers never build it)."""
    a = np.zeros((num_nodes, num_nodes))
    np.add.at(a, (receivers, senders), 1.0 if weights is None else weights)
    return a


def _neighbours(senders, receivers, i):
    return senders[receivers == i]


def _layer_cases():
    return {
        "gcn": lambda: GCNConv(5),
        "gat": lambda: GATConv(2, num_heads=3),
        "sage_mean": lambda: SAGEConv(5, aggregator="mean"),
        "sage_max": lambda: SAGEConv(5, aggregator="max"),
        "sage_pool": lambda: SAGEConv(5, aggregator="pool", normalize=True),
        "gin": lambda: GINConv((4, 5), epsilon=0.3),
    }


def test_gcn_equals_the_dense_formula():
    layer = GCNConv(2, use_bias=False)
    out = _np(layer(X, SENDERS, RECEIVERS))
    a = _dense_adjacency(SENDERS, RECEIVERS, 4)
    np.fill_diagonal(a, 1.0)  # A + I where A had no loop; node 2's own loop is not counted twice
    d = a.sum(axis=1)
    expected = np.diag(d ** -0.5) @ a @ np.diag(d ** -0.5) @ X @ _np(layer.kernel)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_gcn_with_edge_weights_equals_the_weighted_dense_formula():
    weights = np.array([0.5, 0.5, 2.0, 2.0, 3.0, 1.5], "float32")
    layer = GCNConv(2)
    out = _np(layer(X, SENDERS, RECEIVERS, weights))
    a = _dense_adjacency(SENDERS, RECEIVERS, 4, weights)
    a[[0, 1, 3], [0, 1, 3]] = 1.0  # the new loops weigh 1; node 2 keeps its own loop's weight 3
    d = a.sum(axis=1)
    expected = np.diag(d ** -0.5) @ a @ np.diag(d ** -0.5) @ X @ _np(layer.kernel) + _np(layer.bias)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_gcn_norm_without_self_loops_gives_isolated_nodes_zero_weight():
    s, r, w = gcn_norm(np.array([0], "int32"), np.array([1], "int32"), 3, add_self_loops=False)
    assert _np(s).tolist() == [0]
    np.testing.assert_allclose(_np(w), [0.0])  # d_0 = 0 (node 0 receives nothing): weight 0, not inf/NaN
    s, r, w = gcn_norm(np.array([0], "int32"), np.array([1], "int32"), 3)
    assert _np(s).tolist() == [0, 0, 1, 2] and _np(r).tolist() == [1, 0, 1, 2]
    np.testing.assert_allclose(_np(w), [1 / np.sqrt(2), 1.0, 0.5, 1.0], atol=1e-6)


@pytest.mark.parametrize("case", sorted(_layer_cases()))
def test_permuting_nodes_permutes_outputs(case):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3)).astype("float32")
    senders, receivers = rng.integers(0, 6, size=12).astype("int32"), rng.integers(0, 6, size=12).astype("int32")
    layer = _layer_cases()[case]()
    out = _np(layer(x, senders, receivers))
    perm = rng.permutation(6)
    inverse = np.argsort(perm)  # new node k is old node perm[k]; old node i is new node inverse[i]
    edge_order = rng.permutation(12)
    permuted = _np(layer(x[perm], inverse[senders][edge_order].astype("int32"),
                         inverse[receivers][edge_order].astype("int32")))
    np.testing.assert_allclose(permuted, out[perm], atol=1e-5)
    assert not np.allclose(out, out[perm])  # the check would catch a layer that ignored the structure


def test_gat_attention_sums_to_one_over_each_nodes_neighbours():
    layer = GATConv(4, num_heads=3)
    out, attention = layer(X, SENDERS, RECEIVERS, return_attention_scores=True)
    attention = _np(attention)
    assert _np(out).shape == (4, 12) and attention.shape == (len(SENDERS) + 4, 3)
    all_receivers = np.concatenate([RECEIVERS, np.arange(4)])
    for node in range(4):
        np.testing.assert_allclose(attention[all_receivers == node].sum(axis=0), np.ones(3), atol=1e-6)
    assert np.all(attention[4] == 0.0)  # node 2's own loop 2 -> 2: replaced by the added loop, not counted twice


def test_gat_matches_a_numpy_reference_and_heads_average():
    layer = GATConv(2, num_heads=2, concat_heads=False, add_self_loops=False, use_bias=False)
    out = _np(layer(X, SENDERS, RECEIVERS))
    assert out.shape == (4, 2)
    h = (X @ _np(layer.kernel)).reshape(4, 2, 2)
    src = (h * _np(layer.attention_source)).sum(-1)
    dst = (h * _np(layer.attention_target)).sum(-1)
    expected = np.zeros((4, 2, 2))
    for i in range(4):
        edges = np.where(RECEIVERS == i)[0]
        if len(edges) == 0:
            continue
        logits = src[SENDERS[edges]] + dst[i]
        logits = np.where(logits > 0, logits, 0.2 * logits)
        alpha = np.exp(logits - logits.max(0)) / np.exp(logits - logits.max(0)).sum(0)
        expected[i] = (alpha[:, :, None] * h[SENDERS[edges]]).sum(0)
    np.testing.assert_allclose(out, expected.mean(axis=1), atol=1e-5)


def test_gat_attention_dropout_only_in_training_and_seeded():
    layer = GATConv(3, num_heads=2, attention_dropout=0.5, seed=3)
    inference = _np(layer(X, SENDERS, RECEIVERS))
    np.testing.assert_array_equal(_np(layer(X, SENDERS, RECEIVERS, training=False)), inference)
    trained = _np(layer(X, SENDERS, RECEIVERS, training=True))
    assert trained.shape == inference.shape and not np.allclose(trained, inference)


def test_isolated_nodes_and_self_loops_have_defined_outputs():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], "float32")
    senders, receivers = np.array([0, 1], "int32"), np.array([1, 0], "int32")  # node 2 is isolated
    gcn = GCNConv(2, bias_initializer="ones")
    np.testing.assert_allclose(_np(gcn(x, senders, receivers))[2], x[2] @ _np(gcn.kernel) + 1.0, atol=1e-6)
    no_loops = GCNConv(2, add_self_loops=False, bias_initializer="ones")
    np.testing.assert_allclose(_np(no_loops(x, senders, receivers))[2], [1.0, 1.0])
    gat = GATConv(2, add_self_loops=False, bias_initializer="ones")
    np.testing.assert_allclose(_np(gat(x, senders, receivers))[2], [1.0, 1.0])
    gat_loops = GATConv(2)
    np.testing.assert_allclose(_np(gat_loops(x, senders, receivers))[2], x[2] @ _np(gat_loops.kernel), atol=1e-6)
    for aggregator in ("mean", "max", "pool"):
        sage = SAGEConv(2, aggregator=aggregator)
        np.testing.assert_allclose(_np(sage(x, senders, receivers))[2], x[2] @ _np(sage.root_kernel), atol=1e-6)
    # No edges at all: finite everywhere.
    empty = np.zeros((0,), "int32")
    for layer in [GCNConv(2), GATConv(2), SAGEConv(2, aggregator="max"), GINConv(2)]:
        assert np.isfinite(_np(layer(x, empty, empty))).all(), type(layer).__name__


@pytest.mark.parametrize("aggregator", ["mean", "max", "pool"])
@pytest.mark.parametrize("root_weight, normalize", [(True, False), (False, True)])
def test_sage_against_numpy(aggregator, root_weight, normalize):
    layer = SAGEConv(3, aggregator=aggregator, root_weight=root_weight, normalize=normalize,
                     bias_initializer="random_normal")
    out = _np(layer(X, SENDERS, RECEIVERS))
    source = X
    if aggregator == "pool":
        source = np.maximum(X @ _np(layer.pool_kernel) + _np(layer.pool_bias), 0.0)
    reduce = np.mean if aggregator == "mean" else np.max
    neighbours = np.stack([reduce(source[_neighbours(SENDERS, RECEIVERS, i)], axis=0) for i in range(4)])
    expected = neighbours @ _np(layer.neighbor_kernel) + _np(layer.bias)
    if root_weight:
        expected += X @ _np(layer.root_kernel)
    if normalize:
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("train_epsilon", [False, True])
def test_gin_against_numpy_with_epsilon(train_epsilon):
    layer = GINConv(keras.layers.Dense(2, kernel_initializer="ones"), epsilon=0.25, train_epsilon=train_epsilon)
    out = _np(layer(X, SENDERS, RECEIVERS))
    summed = _dense_adjacency(SENDERS, RECEIVERS, 4) @ X
    np.testing.assert_allclose(out, ((1.25 * X + summed) @ np.ones((3, 2))), atol=1e-5)
    assert len(layer.trainable_weights) == 2 + int(train_epsilon)


def test_message_passing_base_aggregations():
    x = np.array([[1.0], [2.0], [4.0]], "float32")
    senders, receivers = np.array([0, 1, 2], "int32"), np.array([2, 2, 0], "int32")
    weight = np.array([1.0, 0.5, 2.0], "float32")
    assert _np(MessagePassing("sum")(x, senders, receivers))[:, 0].tolist() == [4.0, 0.0, 3.0]
    assert _np(MessagePassing("max")(x, senders, receivers))[:, 0].tolist() == [4.0, 0.0, 2.0]
    assert _np(MessagePassing("sum")(x, senders, receivers, weight))[:, 0].tolist() == [8.0, 0.0, 2.0]


def _pad(x, senders, receivers, extra_nodes=3, extra_edges=5):
    """Appends padding nodes (non-zero features) and padding edges from the first padding node to itself."""
    n = len(x)
    padded_x = np.concatenate([x, np.full((extra_nodes, x.shape[1]), 7.0, "float32")])
    pad_edges = np.full((extra_edges,), n, "int32")
    return padded_x, np.concatenate([senders, pad_edges]), np.concatenate([receivers, pad_edges])


@pytest.mark.parametrize("case", sorted(_layer_cases()))
def test_padding_does_not_change_real_nodes(case):
    layer = _layer_cases()[case]()
    out = _np(layer(X, SENDERS, RECEIVERS))
    padded = _np(layer(*_pad(X, SENDERS, RECEIVERS)))
    assert padded.shape[0] == 7
    np.testing.assert_allclose(padded[:4], out, atol=1e-5)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_global_pooling_against_numpy_and_ignores_padding(mode):
    x = np.random.default_rng(2).normal(size=(6, 3)).astype("float32")
    ids = np.array([0, 0, 1, 1, 1, 3], "int32")  # graph 2 is empty; node 5 is padding in slot 3
    mask = np.array([1.0, 1.0, 1.0, 0.0], "float32")
    out = _np(GlobalPooling(mode)(x, ids, mask))
    reduce = {"sum": np.sum, "mean": np.mean, "max": np.max}[mode]
    expected = np.stack([reduce(x[:2], 0), reduce(x[2:5], 0), np.zeros(3), np.zeros(3)])
    np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("gating", ["softmax", "sigmoid"])
def test_attention_readout_against_numpy(gating):
    x = np.random.default_rng(3).normal(size=(5, 3)).astype("float32")
    ids, mask = np.array([0, 0, 0, 1, 2], "int32"), np.array([1.0, 1.0, 0.0], "float32")
    layer = AttentionReadout(units=4, gating=gating)
    out = _np(layer(x, ids, mask))
    gate = (x @ _np(layer.gate.kernel) + _np(layer.gate.bias))[:, 0]
    values = x @ _np(layer.transform.kernel) + _np(layer.transform.bias)
    expected = np.zeros((3, 4))
    for g in range(2):
        rows = ids == g
        weights = np.exp(gate[rows]) / np.exp(gate[rows]).sum() if gating == "softmax" else 1 / (1 + np.exp(
            -gate[rows]))
        expected[g] = (weights[:, None] * values[rows]).sum(0)
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("mode", ["dot", "cosine"])
def test_pair_score_against_numpy(mode):
    pairs_s, pairs_r = np.array([0, 3, 2], "int32"), np.array([1, 3, 0], "int32")
    out = _np(PairScore(mode)(X, pairs_s, pairs_r))
    z = X / np.linalg.norm(X, axis=1, keepdims=True) if mode == "cosine" else X
    np.testing.assert_allclose(out, (z[pairs_s] * z[pairs_r]).sum(-1), atol=1e-5)


def _node_model():
    x = keras.Input((3,), name="node_features")
    s = keras.Input((), dtype="int32", name="senders")
    r = keras.Input((), dtype="int32", name="receivers")
    h = GCNConv(8, activation="relu")(x, s, r)
    h = GATConv(3, num_heads=2, attention_dropout=0.1, seed=1)(h, s, r)
    h = SAGEConv(4, aggregator="pool")(h, s, r)
    h = GINConv((4, 3), train_epsilon=True)(h, s, r)
    return keras.Model({"node_features": x, "senders": s, "receivers": r}, h)


def _node_inputs():
    return {"node_features": X, "senders": SENDERS, "receivers": RECEIVERS}


def test_config_round_trips():
    for layer in [*[make() for make in _layer_cases().values()], MessagePassing("max"), GlobalPooling("max"),
                  AttentionReadout(5, gating="sigmoid"), GINConv(keras.layers.Dense(3)), PairScore("cosine")]:
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config, type(layer).__name__


def test_functional_model_trains_and_keras_round_trip_is_identical(tmp_path):
    model = _node_model()
    assert model.output_shape == (None, 3)
    targets = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", jit_compile=True)
    before = [np.array(w) for w in model.trainable_weights]
    loss = model.train_on_batch(_node_inputs(), targets)  # one compiled step (XLA on both backends)
    assert np.isfinite(loss)
    assert all(not np.array_equal(b, np.array(a)) for b, a in zip(before, model.trainable_weights))
    path = os.path.join(tmp_path, "graph.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert_outputs_close(restored.predict_on_batch(_node_inputs()), model.predict_on_batch(_node_inputs()))


def test_pooling_model_round_trip(tmp_path):
    x = keras.Input((3,))
    ids = keras.Input((), dtype="int32")
    mask = keras.Input(())
    model = keras.Model([x, ids, mask], [GlobalPooling("sum")(x, ids, mask), AttentionReadout(2)(x, ids, mask),
                                         PairScore("cosine")(x, ids, ids)])
    inputs = [X, np.array([0, 1, 1, 2], "int32"), np.array([1.0, 1.0, 0.0], "float32")]
    path = os.path.join(tmp_path, "pool.keras")
    model.save(path)
    assert_outputs_close(keras.saving.load_model(path).predict_on_batch(inputs), model.predict_on_batch(inputs))


def test_gcn_model_exports_to_saved_model(tmp_path):
    import tensorflow as tf

    from kerakit.export import saved_model

    x = keras.Input((3,), name="node_features")
    s = keras.Input((), dtype="int32", name="senders")
    r = keras.Input((), dtype="int32", name="receivers")
    model = keras.Model({"node_features": x, "senders": s, "receivers": r}, GCNConv(2)(GCNConv(4)(x, s, r), s, r))
    # Nodes and edges share the leading size only because the verification slices one; their symbols differ.
    sample = {"node_features": np.random.default_rng(0).normal(size=(5, 3)).astype("float32"),
              "senders": np.array([0, 1, 2, 3, 4], "int32"), "receivers": np.array([0, 2, 1, 4, 3], "int32")}
    report = saved_model(model, os.path.join(tmp_path, "gcn"), sample_inputs=sample, polymorphic_shapes={
        "node_features": "(nodes, 3)", "senders": "(edges,)", "receivers": "(edges,)"})
    exported = tf.saved_model.load(report.path)
    inputs = _node_inputs()  # 4 nodes, 6 edges: sizes the export never saw
    np.testing.assert_allclose(np.asarray(exported.serve(inputs)), model.predict_on_batch(inputs), atol=1e-5)


@pytest.mark.parametrize("make, message", [
    (lambda: GCNConv(0), "`units` must be an integer >= 1"),
    (lambda: GATConv(4, num_heads=0), "`num_heads` must be an integer >= 1"),
    (lambda: GATConv(4, attention_dropout=1.0), "`attention_dropout` must be a float in [0, 1)"),
    (lambda: SAGEConv(4, aggregator="lstm"), "`aggregator` must be one of ['mean', 'max', 'pool']"),
    (lambda: MessagePassing("median"), "`aggregation` must be one of ['sum', 'mean', 'max']"),
    (lambda: GlobalPooling("avg"), "`mode` must be one of ['sum', 'mean', 'max']"),
    (lambda: GINConv(()), "`mlp` must be a non-empty sequence"),
    (lambda: AttentionReadout(gating="tanh"), "`gating` must be one of ['softmax', 'sigmoid']"),
    (lambda: PairScore("l2"), "`mode` must be one of ['dot', 'cosine']"),
])
def test_bad_arguments_are_refused(make, message):
    with pytest.raises(KerakitError) as info:
        make()
    assert message in str(info.value)


def test_bad_input_ranks_and_dtypes_are_refused():
    with pytest.raises(KerakitError, match="`senders` must be a tensor of rank 1"):
        GCNConv(2)(X, SENDERS[None], RECEIVERS)
    with pytest.raises(KerakitError, match="`x` must be a tensor of rank 2"):
        SAGEConv(2)(X[None], SENDERS, RECEIVERS)
    with pytest.raises(KerakitError, match="`receivers` must be an integer tensor"):
        GATConv(2)(X, SENDERS, RECEIVERS.astype("float32"))
    with pytest.raises(KerakitError, match="`edge_weight` must be a tensor of rank 1"):
        GCNConv(2)(X, SENDERS, RECEIVERS, np.ones((6, 1), "float32"))
    with pytest.raises(KerakitError, match="`graph_mask` must be a tensor of rank 1"):
        GlobalPooling()(X, np.zeros(4, "int32"), np.ones((1, 1), "float32"))
    with pytest.raises(KerakitError, match="`pair_senders` must be a tensor of rank 1"):
        PairScore()(X, SENDERS[None], RECEIVERS)
    symbolic = keras.Input((3,))
    with pytest.raises(KerakitError, match="`senders` must be a tensor of rank 1"):
        GINConv(2)(symbolic, keras.Input((2,), dtype="int32"), keras.Input((), dtype="int32"))


def test_aggregate_refuses_an_unknown_aggregation():
    with pytest.raises(KerakitError, match="`aggregation` must be one of"):
        graph.aggregate(X, SENDERS[:4], 4, "min")
