"""Graph blueprints (`gcn`, `gat`, `graphsage`, `gin`, `gnn_link_predictor`) on real graphs: shapes, parameter counts, masks as sample
weights, padding invariance, a short karate-club run, and `kerakit train` with a verified SavedModel."""

import os

import keras
import numpy as np
import pytest

import kerakit
from kerakit.data import graph as kgraph
from kerakit.errors import KerakitError
from kerakit.training import compile_for_task


def _call(model, inputs):
    """The model's outputs on one graph (or padded batch), compiled once through `predict`: an eager call on JAX
    compiles every op on its own, and `predict` on arrays wants one leading size for all inputs."""
    import tensorflow as tf

    return model.predict(tf.data.Dataset.from_tensors(inputs), verbose=0)


def _small_graph():
    """5 nodes, 8 directed edges, so that N and E differ (inputs of their own sizes)."""
    return kgraph.Graph.from_edge_list([(0, 1), (1, 2), (2, 3), (3, 4)], node_features=np.random.default_rng(0)
                                       .normal(size=(5, 4)).astype("float32"), name="path")


@pytest.mark.parametrize("name", ["gcn", "gat", "graphsage"])
def test_node_blueprints_give_logits_per_node(name):
    model = kerakit.build(name, **kerakit.get_blueprint(name).tiny)
    assert _call(model, _small_graph().inputs()).shape == (5, 3)
    assert model.output_shape == (None, 3)


def test_gin_gives_logits_per_graph_slot():
    model = kerakit.build("gin", **kerakit.get_blueprint("gin").tiny)
    graphs = kgraph.synthetic_graphs(3, num_features=4, seed=0)
    inputs, _, _ = kgraph.pad_graphs(graphs, node_budget=80, edge_budget=150, graph_budget=5)
    assert _call(model, inputs).shape == (5, 3)


def test_gcn_parameter_count_follows_the_formula():
    # Kipf and Welling's two layers: F*16 + 16 (first GCNConv), 16*C + C (second).
    assert kerakit.build("gcn", input_shape=(1433,), num_classes=7).count_params() == 1433 * 16 + 16 + 16 * 7 + 7
    model = kerakit.build("gcn", input_shape=(10,), num_classes=3, hidden_units=(32, 8))
    assert model.count_params() == (10 * 32 + 32) + (32 * 8 + 8) + (8 * 3 + 3)
    assert [layer.name for layer in model.layers if "conv" in layer.name] == ["gcn_conv1", "gcn_conv2", "gcn_conv3"]


def test_gat_heads_concatenate_then_average():
    model = kerakit.build("gat", input_shape=(6,), num_classes=4, hidden_units=5, num_heads=3, output_heads=2)
    assert _call(model, _small_graph().inputs() | {"node_features": np.ones((5, 6), "float32")}).shape == (5, 4)
    # First layer: W (6, 3*5) + attention 2*3*5 + bias 15; second: W (15, 2*4) + attention 2*2*4 + bias 4.
    assert model.count_params() == (6 * 15 + 30 + 15) + (15 * 8 + 16 + 4)


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("gcn", {"input_shape": (4,), "hidden_units": (8, 0)}, r"gcn: `hidden_units` must be a sequence of integers"),
        ("gcn", {"input_shape": (None,)}, r"gcn: `input_shape` must be \(F,\) with a known number of node features"),
        ("gcn", {"input_shape": (4, 4)}, r"gcn: `input_shape` must be a tuple of 1 positive integers"),
        ("gat", {"input_shape": (4,), "num_heads": 0}, r"gat: `num_heads` must be an integer >= 1"),
        ("graphsage", {"input_shape": (4,), "aggregator": "sum"}, r"graphsage: `aggregator` must be one of"),
        ("gin", {"input_shape": (4,), "readout": "median"}, r"gin: `readout` must be one of \['sum', 'mean', 'max'\]"),
        ("gin", {"input_shape": (4,), "dropout": 1.0}, r"gin: `dropout` must be a float in \[0, 1\)"),
    ],
)
def test_bad_arguments_are_refused(name, kwargs, message):
    with pytest.raises(KerakitError, match=message):
        kerakit.build(name, **kwargs)


def test_masked_out_nodes_reach_neither_the_loss_nor_the_metrics():
    bundle = kerakit.data.load("karate")
    model = kerakit.build("gcn", input_shape=(34,), num_classes=2, dropout=0.0)
    compile_for_task(model, keras.optimizers.SGD(), bundle.info)  # as the run compiles it
    (x, y, w), = list(bundle.train)
    logits = _call(model, x)
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    labels = y.numpy()
    expected = -np.mean([log_probs[i, labels[i]] for i in (0, 33)])  # the mean over the two training nodes
    result = model.evaluate(bundle.train, verbose=0, return_dict=True)
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    assert result["accuracy"] in (0.0, 0.5, 1.0)
    flipped = labels.copy()
    flipped[1:33] = 1 - flipped[1:33]  # every node but the two labelled ones
    import tensorflow as tf

    relabelled = tf.data.Dataset.from_tensors((x, flipped, w))
    assert model.evaluate(relabelled, verbose=0, return_dict=True) == pytest.approx(result)


def test_padding_never_changes_a_real_graphs_or_nodes_output():
    graphs = kgraph.synthetic_graphs(4, num_features=4, seed=2)
    model = kerakit.build("gin", **kerakit.get_blueprint("gin").tiny)
    tight, _, _ = kgraph.pad_graphs(graphs, node_budget=sum(g.num_nodes for g in graphs) + 1,
                                    edge_budget=sum(g.num_edges for g in graphs), graph_budget=5)
    loose, _, _ = kgraph.pad_graphs(graphs, node_budget=200, edge_budget=400, graph_budget=9)
    np.testing.assert_allclose(_call(model, loose)[:4], _call(model, tight)[:4], atol=1e-5)
    for name in ("gcn", "gat"):  # graphsage aggregates like gcn (segment sums at the receivers)
        node_model = kerakit.build(name, **kerakit.get_blueprint(name).tiny)
        inputs = _small_graph().inputs()
        padded = {"node_features": np.concatenate([inputs["node_features"], np.full((3, 4), 7.0, "float32")]),
                  "senders": np.concatenate([inputs["senders"], [5, 5, 6]]).astype("int32"),
                  "receivers": np.concatenate([inputs["receivers"], [5, 6, 5]]).astype("int32")}
        np.testing.assert_allclose(_call(node_model, padded)[:5], _call(node_model, inputs), atol=1e-5,
                                   err_msg=name)


def test_gcn_classifies_the_karate_club_from_its_two_leaders():
    keras.utils.set_random_seed(0)
    graph = kgraph.karate_club()
    bundle = kerakit.data.load("karate")
    model = kerakit.build("gcn", input_shape=(34,), num_classes=2)
    model.compile(optimizer=keras.optimizers.AdamW(0.01, weight_decay=5e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(bundle.train.repeat(150), epochs=1, verbose=0)  # 150 full-graph steps in one epoch
    predicted = _call(model, graph.inputs()).argmax(-1)
    others = ~graph.masks["train"]
    assert (predicted[others] == graph.labels[others]).mean() >= 0.9


def test_graphsage_trains_on_neighbour_sampled_batches():
    graph = kgraph.stochastic_block_model(num_nodes=300, num_features=8, labels_per_class=10, seed=0)
    sampler = kgraph.NeighborSampler(graph, fanouts=(4, 3), batch_size=16, seed=0)
    model = kerakit.build("graphsage", input_shape=(8,), num_classes=4, hidden_units=(8,))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(sampler.dataset(graph.masks["train"]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(b, np.array(a)) for b, a in zip(before, model.trainable_weights))


def test_train_gcn_on_karate_writes_a_run_folder_and_a_verified_saved_model(tmp_path):
    import tensorflow as tf

    result = kerakit.train("gcn", "karate", epochs=3, verbose=0, run_dir=tmp_path / "run")
    for item in ("config.json", "model.keras", "history.csv", "metrics.json", "saved_model"):
        assert os.path.exists(os.path.join(result.run_dir, item)), item
    assert result.config["data_info"]["task"] == "node_classification"
    assert set(result.test_metrics) >= {"loss", "accuracy"}
    # Served on the whole club: 34 nodes and 156 edges, sizes the export was never verified with.
    graph = kgraph.karate_club()
    exported = tf.saved_model.load(result.saved_model)
    served = exported.serve({k: tf.constant(v) for k, v in graph.inputs().items()})
    np.testing.assert_allclose(np.asarray(served), _call(result.model, graph.inputs()), atol=1e-4)


def test_gin_exports_for_batches_of_any_budget(tmp_path):
    import tensorflow as tf

    model = kerakit.build("gin", **kerakit.get_blueprint("gin").tiny)
    report = kerakit.export.saved_model(model, os.path.join(tmp_path, "gin"), **kgraph.export_options(model))
    exported = tf.saved_model.load(report.path)
    graphs = kgraph.synthetic_graphs(3, num_features=4, seed=0)
    inputs, _, _ = kgraph.pad_graphs(graphs, node_budget=70, edge_budget=130, graph_budget=6)
    served = exported.serve({k: tf.constant(v) for k, v in inputs.items()})
    np.testing.assert_allclose(np.asarray(served), _call(model, inputs), atol=1e-4)


def test_link_predictor_trains_on_sampled_negatives_with_accuracy_and_auc():
    model = kerakit.build("gnn_link_predictor", input_shape=(32,), hidden_units=(8, 4))
    inputs = {**_small_graph().inputs(), "node_features": np.ones((5, 32), "float32"),
              "pair_senders": np.array([0, 1, 4], "int32"), "pair_receivers": np.array([1, 3, 4], "int32")}
    assert _call(model, inputs).shape == (3,)
    bundle = kerakit.data.load("sbm_links")
    compile_for_task(model, keras.optimizers.Adam(0.01), bundle.info)
    history = model.fit(bundle.train, validation_data=bundle.validation, epochs=1, verbose=0).history
    assert {"loss", "accuracy", "auc", "val_auc"} <= set(history)
    assert np.isfinite(history["loss"]).all() and 0.0 <= history["val_auc"][-1] <= 1.0


def test_export_command_serves_a_saved_graph_model_on_graphs_of_any_size(tmp_path, capsys):
    import tensorflow as tf

    from kerakit.cli import main

    model = kerakit.build("gcn", input_shape=(34,), num_classes=2, hidden_units=(4,))
    model.save(tmp_path / "gcn.keras")
    # Verification runs on valid one-node samples (random indices would point past node 0 and fail on TensorFlow).
    assert main(["export", str(tmp_path / "gcn.keras")]) == 0
    assert "SavedModel (verified" in capsys.readouterr().out
    graph = kgraph.karate_club()
    exported = tf.saved_model.load(str(tmp_path / "gcn_saved_model"))
    served = exported.serve({k: tf.constant(v) for k, v in graph.inputs().items()})
    assert served.shape == (34, 2)
    np.testing.assert_allclose(np.asarray(served), _call(model, graph.inputs()), atol=1e-4)


@pytest.mark.parametrize("model, data, devices, what", [("gcn", "karate", 2, "node_classification"),
                                                          ("gin", "graphs", "all", "graph_classification"),
                                                          ("mlp", "sbm", ["cpu:0", "cpu:1"], "data 'sbm'")])
def test_train_refuses_data_parallelism_on_graphs_before_any_work(tmp_path, model, data, devices, what):
    message = (rf"train: devices={devices!r} is not supported for graph tasks \({what}\): one graph \(or one padded "
               r"batch of graphs\) is one step").replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(KerakitError, match=message):
        kerakit.train(model, data, epochs=1, verbose=0, devices=devices, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()
