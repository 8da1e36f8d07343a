"""Quality of the graph blueprints on the offline graph data; prints a table (median and min over seeds).

- karate: `gcn` with only the two leaders labelled (members 0 and 33), one-hot identity features; accuracy on the
  other 32 members (Kipf and Welling's semi-supervised setting on Zachary's club).
- sbm: `gcn`, `gat`, `graphsage` (and an MLP on the features alone, for scale) on the 2,000-node stochastic block
  model, 20 labels per class; up to 300 full-graph steps, test accuracy (1,000 nodes) at the best validation loss
  (checked every 10 steps).
- graphs: `gin` on the synthetic graph-classification set (trees holding a 4-clique / three triangles / a friendship
  graph, every graph with nodes + 2 ties, constant node features), and an MLP on each graph's pooled node features
  (sum and mean) for scale: it can only see the node count, which says nothing about the class (chance: 1/3); test
  accuracy (90 graphs) at the best validation loss.

    KERAS_BACKEND=jax nice -n 10 python benchmarks/graph_quality.py [--seeds 5] [--quick]
"""

import argparse
import statistics
import time

import keras
import numpy as np

import kerakit
from kerakit.data import graph as kgraph


def _compile(model, learning_rate, weight_decay):
    # Graph data weights nodes and graph slots by their masks, and Keras applies weights to `weighted_metrics` only:
    # otherwise padding slots and unlabelled nodes would count in the accuracy.
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), weighted_metrics=["accuracy"])


def _fit(model, bundle, steps, patience, every=10):
    """`steps` training steps, validated every `every` steps (one full-graph step is short: Keras's per-epoch work
    would dominate), keeping the weights of the best validation loss."""
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=max(1, patience // every),
                                         restore_best_weights=True)
    model.fit(bundle.train.repeat(every), validation_data=bundle.validation, epochs=max(1, steps // every), verbose=0,
              callbacks=[stop])


def karate(seed, epochs):
    keras.utils.set_random_seed(seed)
    g = kgraph.karate_club()
    bundle = kerakit.data.load("karate")
    model = kerakit.build("gcn", input_shape=(34,), num_classes=2)
    _compile(model, 0.01, 5e-4)
    model.fit(bundle.train.repeat(epochs), epochs=1, verbose=0)  # two labels: no validation-based stopping
    predicted = model.predict(bundle.train.map(lambda x, y, w: x), verbose=0).argmax(-1)
    others = ~g.masks["train"]
    return float((predicted[others] == g.labels[others]).mean())


def sbm(name, seed, epochs):
    keras.utils.set_random_seed(seed)
    bundle = kerakit.data.load("sbm")
    model = kerakit.build(name, input_shape=bundle.info.input_shape, num_classes=bundle.info.num_classes)
    _compile(model, 0.01, 5e-4)
    _fit(model, bundle, epochs, patience=50)
    return model.evaluate(bundle.test, verbose=0, return_dict=True)["accuracy"]


def sbm_mlp(seed, epochs):
    keras.utils.set_random_seed(seed)
    g = kgraph.stochastic_block_model(seed=0)
    model = kerakit.build("mlp", input_shape=(g.num_features,), num_classes=4, hidden_units=(64,), dropout=0.5)
    _compile(model, 0.01, 5e-4)
    train, val, test = (g.masks[s] for s in ("train", "validation", "test"))
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=50, restore_best_weights=True)
    model.fit(g.node_features[train], g.labels[train], validation_data=(g.node_features[val], g.labels[val]),
              epochs=epochs, batch_size=int(train.sum()), verbose=0, callbacks=[stop])
    return model.evaluate(g.node_features[test], g.labels[test], verbose=0, return_dict=True)["accuracy"]


def gin(seed, epochs):
    keras.utils.set_random_seed(seed)
    bundle = kerakit.data.load("graphs", batch_size=32, seed=seed)
    model = kerakit.build("gin", input_shape=bundle.info.input_shape, num_classes=bundle.info.num_classes)
    _compile(model, 5e-4, 1e-4)  # at 5e-3 (and on some seeds 1e-3) constant features leave every ReLU dead
    # An epoch of graph batches is 14 steps. GIN leaves a plateau only after tens of epochs here: a long patience.
    _fit(model, bundle, epochs, patience=100, every=1)
    return model.evaluate(bundle.test, verbose=0, return_dict=True)["accuracy"]


def _pooled(dataset):
    """Each real graph's node features summed and averaged (the graph-level features an MLP can see), and labels."""
    features, labels = [], []
    for x, y, w in dataset:
        ids, mask, nodes = (x[k].numpy() for k in ("node_graph_ids", "graph_mask", "node_features"))
        sums = np.zeros((len(mask), nodes.shape[1]), np.float32)
        np.add.at(sums, ids, nodes)
        counts = np.maximum(np.bincount(ids, minlength=len(mask)), 1)[:, None]
        real = mask > 0
        features.append(np.concatenate([sums, sums / counts], 1)[real])
        labels.append(y.numpy()[real])
    return np.concatenate(features), np.concatenate(labels)


def graphs_mlp(seed, epochs):
    keras.utils.set_random_seed(seed)
    bundle = kerakit.data.load("graphs", batch_size=32, seed=seed)
    (x, y), val, test = (_pooled(getattr(bundle, s)) for s in ("train", "validation", "test"))
    scale = x.std(0) + 1e-6
    model = kerakit.build("mlp", input_shape=x.shape[1:], num_classes=bundle.info.num_classes, hidden_units=(64,),
                          dropout=0.5)
    _compile(model, 0.005, 1e-4)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=30, restore_best_weights=True)
    model.fit(x / scale, y, validation_data=(val[0] / scale, val[1]), epochs=epochs, batch_size=32, verbose=0,
              callbacks=[stop])
    return model.evaluate(test[0] / scale, test[1], verbose=0, return_dict=True)["accuracy"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", default=None, help="run only the rows whose blueprint starts with this")
    parser.add_argument("--quick", action="store_true", help="fewer epochs, to check the script runs")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    runs = [
        ("gcn", "karate (2 labels)", lambda s: karate(s, int(200 * scale))),
        ("gcn", "sbm (20 per class)", lambda s: sbm("gcn", s, int(300 * scale))),
        ("gat", "sbm (20 per class)", lambda s: sbm("gat", s, int(300 * scale))),
        ("graphsage", "sbm (20 per class)", lambda s: sbm("graphsage", s, int(300 * scale))),
        ("mlp (features only)", "sbm (20 per class)", lambda s: sbm_mlp(s, int(300 * scale))),
        ("gin", "graphs (3 classes)", lambda s: gin(s, int(150 * scale))),
        ("mlp (pooled features)", "graphs (3 classes)", lambda s: graphs_mlp(s, int(150 * scale))),
    ]
    print(f"backend {keras.backend.backend()}, {args.seeds} seeds")
    print(f"| blueprint | data | median accuracy | min accuracy | seconds per run |")
    print("| --- | --- | --- | --- | --- |")
    for name, data, run in runs:
        if args.only and not name.startswith(args.only):
            continue
        started = time.perf_counter()
        scores = [run(seed) for seed in range(args.seeds)]
        seconds = (time.perf_counter() - started) / args.seeds
        print(f"| {name} | {data} | {statistics.median(scores):.3f} | {min(scores):.3f} | {seconds:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
