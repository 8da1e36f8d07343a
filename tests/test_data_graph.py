"""Graph data: the `Graph` container and its errors, karate club, SBM, synthetic graphs, padded batches, neighbour
sampling and the graph `DataBundle`s."""

import sys

import numpy as np
import pytest

import kerakit.data
from kerakit.data import graph as kgraph
from kerakit.data.graph import Graph, NeighborSampler, batch_graphs, pad_graphs
from kerakit.errors import KerakitError
from tests.helpers import run_docstring_examples


def _edges(g):
    return set(zip(g.senders.tolist(), g.receivers.tolist()))


# --- the container ------------------------------------------------------------------------------------------------


def test_docstring_examples_run_and_show_the_right_values():
    objects = [kgraph, Graph, Graph.from_edge_list, pad_graphs, batch_graphs, NeighborSampler, kgraph.karate_club,
               kgraph.stochastic_block_model, kgraph.synthetic_graphs, kgraph.split_edges]
    assert sum(run_docstring_examples(obj) for obj in objects) > 20


def test_from_edge_list_stores_both_directions_once():
    g = Graph.from_edge_list([(0, 1), (1, 0), (2, 1), (2, 2)], name="g")
    assert g.num_nodes == 3 and g.node_features.shape == (3, 1)
    assert _edges(g) == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 2)}
    assert g.senders.dtype == np.int32 and g.receivers.dtype == np.int32
    directed = Graph.from_edge_list([(0, 1), (2, 1)], num_nodes=4, undirected=False)
    assert (directed.num_nodes, _edges(directed)) == (4, {(0, 1), (2, 1)})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Graph(np.ones((34, 2)), np.r_[np.zeros(17), 40, 1].astype(int), np.zeros(19, int), name="karate"),
         r"^graph 'karate': senders\[17\] = 40 is out of range for 34 nodes \(valid indices are 0 to 33\)\.$"),
        (lambda: Graph(np.ones((3, 2)), [0, 1], [1, -1], name="g"),
         r"graph 'g': receivers\[1\] = -1 is out of range for 3 nodes"),
        (lambda: Graph(np.ones((3, 2)), [0, 1], [1], name="g"),
         r"graph 'g': senders has 2 entries and receivers 1; they must match"),
        (lambda: Graph(np.ones(3), [0], [1], name="g"),
         r"graph 'g': `node_features` must be a 2-D array of numbers \(nodes, features\)\. Received: "
         r"node_features='an array of shape \(3,\)"),
        (lambda: Graph(np.ones((3, 2)), [0.0], [1.0], name="g"), r"`senders` must be a 1-D array of integer node"),
        (lambda: Graph.from_edge_list([(0, 1)], num_nodes=4, node_features=np.ones((3, 2)), name="g"),
         r"graph 'g': node_features has 3 rows but num_nodes=4; they must agree"),
        (lambda: Graph.from_edge_list([(0, 1), (3, 5)], num_nodes=4, name="g"),
         r"graph 'g': edges\[1\] = \(3, 5\) names node 5, out of range for 4 nodes"),
        (lambda: Graph(np.ones((3, 2)), [0], [1], labels=[0, 1], name="g"),
         r"graph 'g': labels has shape \(2,\); expected one entry per node \(3 nodes\)"),
        (lambda: Graph(np.ones((3, 2)), [0], [1], edge_features=np.ones((2, 4)), name="g"),
         r"graph 'g': edge_features has shape \(2, 4\); expected 1 rows, one per edge"),
        (lambda: Graph(np.ones((3, 2)), [0], [1], masks={"train": [1, 0, 1]}, name="g"),
         r"graph 'g': `masks\['train'\]` must be a boolean array"),
        (lambda: Graph(np.ones((3, 2)), [0], [1], label=-1, name="g"), r"graph 'g': `label` must be an integer"),
    ],
)
def test_bad_graphs_are_refused_with_the_graph_and_the_index(make, message):
    with pytest.raises(KerakitError, match=message):
        make()


def test_from_networkx_without_networkx_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "networkx", None)  # makes `import networkx` fail
    with pytest.raises(KerakitError, match=r"Graph.from_networkx needs networkx.*pip install networkx"):
        Graph.from_networkx(object())


def test_karate_matches_networkx_when_it_is_installed():
    networkx = pytest.importorskip("networkx")
    reference = networkx.karate_club_graph()
    g = Graph.from_networkx(reference, label_attribute="club", name="karate")
    ours = kgraph.karate_club()
    assert _edges(g) == _edges(ours)
    np.testing.assert_array_equal(g.labels, ours.labels)  # 'Mr. Hi' < 'Officer': 0 and 1 as ours


# --- bundled and generated datasets -------------------------------------------------------------------------------


def test_karate_has_34_members_78_ties_and_two_factions_of_17():
    g = kgraph.karate_club()
    assert (g.num_nodes, g.num_edges, g.num_features) == (34, 156, 34)
    undirected = {tuple(sorted(e)) for e in _edges(g)}
    assert len(undirected) == 78 and all(a != b for a, b in undirected)
    assert _edges(g) == {(b, a) for a, b in _edges(g)}
    degrees = np.bincount(g.receivers, minlength=34)
    assert (degrees[0], degrees[33], degrees[32]) == (16, 17, 12)  # the instructor, the administrator
    assert np.bincount(g.labels).tolist() == [17, 17] and (g.labels[0], g.labels[33]) == (0, 1)
    masks = g.masks
    assert np.flatnonzero(masks["train"]).tolist() == [0, 33]
    assert (masks["validation"].sum(), masks["test"].sum()) == (16, 16)
    assert not (masks["train"] & masks["validation"]).any() and not (masks["validation"] & masks["test"]).any()


def test_sbm_has_more_ties_inside_communities_than_between():
    g = kgraph.stochastic_block_model(num_nodes=400, num_classes=4, labels_per_class=5, num_validation=50,
                                      num_test=100, seed=3)
    same = g.labels[g.senders] == g.labels[g.receivers]
    assert same.mean() > 0.7  # 0.8 asked for; a random graph would give 0.25
    assert np.bincount(g.labels).tolist() == [100] * 4
    assert abs(g.num_edges / g.num_nodes - 10) < 1  # average degree 10
    assert (g.senders != g.receivers).all() and _edges(g) == {(b, a) for a, b in _edges(g)}
    assert np.bincount(g.labels[g.masks["train"]]).tolist() == [5] * 4
    assert (g.masks["validation"].sum(), g.masks["test"].sum()) == (50, 100)
    other = kgraph.stochastic_block_model(num_nodes=400, num_classes=4, labels_per_class=5, num_validation=50,
                                          num_test=100, seed=3)
    np.testing.assert_array_equal(other.senders, g.senders)  # seeded


def test_synthetic_graphs_differ_only_in_structure():
    graphs = kgraph.synthetic_graphs(30, seed=1)
    assert [g.label for g in graphs] == [0, 1, 2] * 10
    for g in graphs:
        n = g.num_nodes
        # Every class: nodes + 2 ties (a tree and three more), so counts say nothing; features are a constant 1.
        assert g.num_edges == 2 * (n + 2) and 12 <= n <= 24
        assert g.num_features == 1 and (g.node_features == 1).all()
        seen, frontier = {0}, [0]  # connected: one graph, not a forest
        while frontier:
            node = frontier.pop()
            for other in g.receivers[g.senders == node].tolist():
                if other not in seen:
                    seen.add(other)
                    frontier.append(other)
        assert len(seen) == n
        neighbours = [set(g.receivers[g.senders == i].tolist()) for i in range(n)]
        # Triangles through each node (the tree and its one tie to the motif close no cycle, so only the motif's).
        through = np.array([sum(len(neighbours[i] & neighbours[j]) for j in neighbours[i]) // 2 for i in range(n)])
        expected = {0: [3, 3, 3, 3],                      # a 4-clique: four triangles, each node in three
                    1: [1] * 9,                           # three triangles apart
                    2: [3] + [1] * 6}[g.label]            # the friendship graph: three triangles at one hub
        assert sorted(through[through > 0].tolist(), reverse=True) == expected, g.name
        if g.label == 2:
            assert np.bincount(g.receivers, minlength=n)[through.argmax()] in (6, 7)  # the hub (+ maybe the tie)
    again = kgraph.synthetic_graphs(30, seed=1)
    np.testing.assert_array_equal(again[4].senders, graphs[4].senders)  # seeded
    assert not all(np.array_equal(a.senders, b.senders) for a, b in zip(graphs, kgraph.synthetic_graphs(30, seed=2))
                   if a.num_edges == b.num_edges)
    noisy = kgraph.synthetic_graphs(3, num_features=3, seed=1)
    assert noisy[0].num_features == 3 and (noisy[0].node_features[:, 0] == 1).all()


# --- padded batches -----------------------------------------------------------------------------------------------


def test_pad_graphs_puts_padding_apart_from_real_nodes():
    a = Graph.from_edge_list([(0, 1)], label=0, name="a")
    b = Graph.from_edge_list([(0, 1), (1, 2)], label=2, name="b")
    inputs, labels, weights = pad_graphs([a, b], node_budget=7, edge_budget=9, graph_budget=4)
    assert inputs["node_features"].shape == (7, 1) and inputs["senders"].shape == (9,)
    assert inputs["senders"][:6].tolist() == [0, 1, 2, 3, 3, 4] and (inputs["senders"][6:] == 5).all()
    assert (inputs["receivers"][6:] == 5).all() and (inputs["node_features"][5:] == 0).all()
    assert inputs["node_graph_ids"].tolist() == [0, 0, 1, 1, 1, 3, 3]
    assert inputs["graph_mask"].tolist() == [1, 1, 0, 0] and labels.tolist() == [0, 2, 0, 0]
    np.testing.assert_allclose(weights, [4 / 3, 4 / 3, 0, 0])


def test_pad_graphs_refuses_a_batch_over_its_budgets():
    a = Graph.from_edge_list([(0, 1), (1, 2)], label=0, name="a")
    b = Graph.from_edge_list([(0, 1), (1, 2)], label=1, name="b")
    with pytest.raises(KerakitError, match=r"pad_graphs: the batch of graphs 'a', 'b' has 6 nodes, over "
                                           r"node_budget=6 \(at most 5 real nodes; one is kept for padding\)"):
        pad_graphs([a, b], node_budget=6, edge_budget=10, graph_budget=3)
    with pytest.raises(KerakitError, match=r"has 8 edges, over edge_budget=7"):
        pad_graphs([a, b], node_budget=7, edge_budget=7, graph_budget=3)
    with pytest.raises(KerakitError, match=r"2 graphs do not fit graph_budget=2 \(at most 1 graphs"):
        pad_graphs([a, b], node_budget=7, edge_budget=8, graph_budget=2)


def test_batch_graphs_keeps_one_shape_and_respects_the_budgets():
    graphs = kgraph.synthetic_graphs(25, seed=0)
    batches = batch_graphs(graphs, batch_size=8, node_budget=120, edge_budget=260)
    shapes = {tuple((k, v.shape) for k, v in sorted(b[0].items())) for b in batches}
    assert len(shapes) == 1 and len(batches) >= 4
    taken = 0
    for inputs, labels, weights in batches:
        real = int(inputs["graph_mask"].sum())
        nodes = sum(g.num_nodes for g in graphs[taken:taken + real])
        edges = sum(g.num_edges for g in graphs[taken:taken + real])
        assert 1 <= real <= 8 and nodes <= 119 and edges <= 260
        assert (inputs["node_graph_ids"][nodes:] == 8).all() and (inputs["node_graph_ids"][:nodes] < real).all()
        assert labels[:real].tolist() == [g.label for g in graphs[taken:taken + real]]
        taken += real
    assert taken == 25
    with pytest.raises(KerakitError, match=r"batch_graphs: graph 'clique_0' \(\d+ nodes, \d+ edges\) does not fit "
                                           r"node_budget=10"):
        batch_graphs(graphs, batch_size=4, node_budget=10, edge_budget=100)


# --- neighbour sampling -------------------------------------------------------------------------------------------


def test_neighbor_sampler_has_fixed_shapes_and_samples_real_neighbours():
    g = Graph.from_edge_list([(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)], num_nodes=6,
                             node_features=np.arange(12, dtype="float32").reshape(6, 2), labels=[0, 1, 0, 1, 0, 1])
    sampler = NeighborSampler(g, fanouts=(3, 2), batch_size=4, seed=0)
    assert sampler.layer_sizes == (4, 12, 24) and (sampler.num_nodes, sampler.num_edges) == (41, 36)
    edges = _edges(g)
    for seeds in ([0, 1, 2, 3], [2], [5, 0]):  # node 5 has no neighbours
        inputs, labels, weights = sampler.sample(seeds)
        assert inputs["node_features"].shape == (41, 2) and inputs["senders"].shape == (36,)
        ids = sampler.last_node_ids
        assert ids[:len(seeds)].tolist() == list(seeds)
        real = inputs["senders"] != 40
        assert real.any()
        for s, r in zip(inputs["senders"][real], inputs["receivers"][real]):
            assert (ids[s], ids[r]) in edges  # a message flows from a sampled neighbour to its parent
            assert s > r  # children sit in a later layer
        assert (inputs["receivers"][~real] == 40).all() and (ids[-1], labels[-1]) == (-1, 0)
        np.testing.assert_array_equal(inputs["node_features"][ids >= 0], g.node_features[ids[ids >= 0]])
        assert weights.sum() == pytest.approx(4) and (weights[len(seeds):] == 0).all()
    inputs, _, _ = sampler.sample([5])
    assert (inputs["senders"] == 40).all()  # an isolated seed: every edge is padding
    with pytest.raises(KerakitError, match=r"graph 'graph': seeds\[0\] = 9 is out of range for 6 nodes"):
        sampler.sample([9])


def test_neighbor_sampler_dataset_yields_fixed_shapes():
    g = kgraph.karate_club()
    dataset = NeighborSampler(g, fanouts=(2,), batch_size=8, seed=1).dataset(np.arange(20))
    batches = list(dataset)
    assert len(batches) == 3
    assert {tuple(b[0]["node_features"].shape) for b in batches} == {(25, 34)}
    assert [float(b[2].numpy().sum()) for b in batches] == [8.0, 8.0, 8.0]


# --- bundles ------------------------------------------------------------------------------------------------------


def test_karate_bundle_weights_each_split_by_its_mask_with_mean_one():
    bundle = kerakit.data.load("karate")
    info = bundle.info
    assert (info.task, info.input_shape, info.num_classes) == ("node_classification", (34,), 2)
    assert info.num_examples == {"train": 2, "validation": 16, "test": 16} and bundle.steps_per_epoch == 1
    g = kgraph.karate_club()
    for split in ("train", "validation", "test"):
        (x, y, w), = list(getattr(bundle, split))
        assert x["node_features"].shape == (34, 34) and x["senders"].shape == (156,)
        w = w.numpy()
        assert w.sum() == pytest.approx(34) and ((w > 0) == g.masks[split]).all()
        np.testing.assert_array_equal(y.numpy(), g.labels)


def test_graphs_bundle_is_padded_batches_of_one_shape():
    bundle = kerakit.data.load("graphs", batch_size=16)
    info = bundle.info
    assert (info.task, info.input_shape, info.num_classes) == ("graph_classification", (1,), 3)
    assert info.num_examples == {"train": 420, "validation": 90, "test": 90}
    shapes = set()
    seen = 0
    for split in ("train", "validation", "test"):
        for x, y, w in getattr(bundle, split):
            shapes.add((x["node_features"].shape, x["senders"].shape, x["graph_mask"].shape, y.shape))
            seen += int(x["graph_mask"].numpy().sum())
    assert len(shapes) == 1 and seen == 600
    (node_shape, edge_shape, graph_shape, _), = shapes
    assert graph_shape == (17,) and node_shape == (16 * 24 + 1, 1)


def test_graph_data_refuses_image_size():
    with pytest.raises(KerakitError, match=r"`image_size` must be None for the graph dataset 'karate'"):
        kerakit.data.load("karate", image_size=(8, 8))


def test_sbm_links_bundle_hides_held_out_ties_and_draws_new_negatives_every_epoch():
    bundle = kerakit.data.load("sbm_links")
    info = bundle.info
    assert (info.task, info.input_shape, info.num_classes, bundle.steps_per_epoch) == ("link_prediction", (32,), 2, 1)
    (x1, y1, w1), = list(bundle.train)
    (x2, y2, _), = list(bundle.train)
    x1, x2 = ({k: v.numpy() for k, v in x.items()} for x in (x1, x2))
    p = len(y1) // 2
    assert y1.numpy()[:p].tolist() == [1.0] * p and y1.numpy()[p:].tolist() == [0.0] * p and w1.numpy().min() == 1
    assert p == info.num_examples["train"] // 2 and 2 * p == x1["senders"].shape[0]  # both directions
    message_edges = set(zip(x1["senders"].tolist(), x1["receivers"].tolist()))
    assert set(zip(x1["pair_senders"][:p].tolist(), x1["pair_receivers"][:p].tolist())) <= message_edges
    np.testing.assert_array_equal(x1["pair_senders"][:p], x2["pair_senders"][:p])
    assert not np.array_equal(x1["pair_senders"][p:], x2["pair_senders"][p:])  # fresh negatives
    for split in ("validation", "test"):
        (x, y, _), = list(getattr(bundle, split))
        np.testing.assert_array_equal(x["senders"].numpy(), x1["senders"])  # messages use training ties only
        q = len(y) // 2
        held_out = set(zip(x["pair_senders"].numpy()[:q].tolist(), x["pair_receivers"].numpy()[:q].tolist()))
        assert q > 0 and not held_out & message_edges and not {(b, a) for a, b in held_out} & message_edges
