"""Graph convolutions, one full-graph training step (forward + backward) on each backend and beside PyG.

`GCNConv`, `GATConv` (8 heads x 8 features, concatenated: the first layer of Velickovic et al.'s Cora model) and
`SAGEConv` (mean) from `kerakit.layers.graph`, on random graphs shaped like Cora (2,708 nodes, 10,556 edges,
1,433 -> 16 features) and a large one (100,000 nodes, 1,000,000 edges, 128 -> 16). One step is the loss (mean
squared error against random targets) and its gradients with respect to the layer's weights, compiled: JAX `jit`,
TensorFlow `tf.function(jit_compile=True)`; the graph is passed as arguments, never captured as constants. PyTorch
Geometric's `GCNConv`, `GATConv(heads=8)` and `SAGEConv` do the same step eagerly (its usual way) when
`torch_geometric` imports. Each (runner, graph) runs in its own process; median of `--repeats` steps after two
warm-up steps (the first compiles). Then the peak resident memory (VmHWM) of three GCN steps, compiling included,
against the edge count (100,000 nodes, 128 -> 16), each size in a fresh process, and on JAX XLA's own count of the
step's scratch buffers: memory grows linearly with edges (no N x N matrix).

    nice -n 10 python benchmarks/graph_conv.py                      # everything
    nice -n 10 python benchmarks/graph_conv.py --graphs cora --layers gcn --memory-edges ""
    nice -n 10 python benchmarks/graph_conv.py --graphs "" --memory-edges 250000,1000000     # memory only
    pip install torch==2.13.0 torch_geometric                       # the side-by-side runner (CPU wheel)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

GRAPHS = {"cora": (2_708, 10_556, 1_433, 16), "large": (100_000, 1_000_000, 128, 16)}
LAYERS = ("gcn", "gat", "sage")
GAT_HEADS, GAT_UNITS = 8, 8


def _graph(num_nodes, num_edges, features, units, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_nodes, features)).astype("float32")
    senders = rng.integers(0, num_nodes, size=num_edges).astype("int32")
    receivers = rng.integers(0, num_nodes, size=num_edges).astype("int32")
    return x, senders, receivers


def _out_width(layer, units):
    return GAT_HEADS * GAT_UNITS if layer == "gat" else units


def _keras_step(layer_name, features, units):
    """A compiled `step(x, senders, receivers, targets) -> loss` (gradients computed, returned to the caller)."""
    import keras

    from kerakit.layers.graph import GATConv, GCNConv, SAGEConv

    make = {"gcn": lambda: GCNConv(units), "gat": lambda: GATConv(GAT_UNITS, num_heads=GAT_HEADS),
            "sage": lambda: SAGEConv(units, aggregator="mean")}[layer_name]
    x_in = keras.Input((features,))
    s_in, r_in = keras.Input((), dtype="int32"), keras.Input((), dtype="int32")
    model = keras.Model([x_in, s_in, r_in], make()(x_in, s_in, r_in))

    if keras.backend.backend() == "jax":
        import jax
        import jax.numpy as jnp

        def loss_fn(trainable, non_trainable, x, s, r, y):
            out, _ = model.stateless_call(trainable, non_trainable, [x, s, r], training=True)
            return jnp.mean(jnp.square(out - y))

        grad_fn = jax.jit(jax.value_and_grad(loss_fn))
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def step(x, s, r, y):
            loss, grads = grad_fn(trainable, non_trainable, x, s, r, y)
            jax.block_until_ready(grads)
            return float(loss)

        def temp_mb(x, s, r, y):  # XLA's own count of the step's scratch buffers
            compiled = grad_fn.lower(trainable, non_trainable, x, s, r, y).compile()
            return compiled.memory_analysis().temp_size_in_bytes / 2 ** 20

        step.temp_mb = temp_mb
        return step, jnp.asarray
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def tf_step(x, s, r, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model([x, s, r], training=True) - y))
        return loss, tape.gradient(loss, model.trainable_variables)

    def step(x, s, r, y):
        loss, grads = tf_step(x, s, r, y)
        _ = [g.numpy() for g in grads]
        return float(loss)

    return step, tf.convert_to_tensor


def _pyg_step(layer_name, features, units):
    import torch
    from torch_geometric.nn import GATConv, GCNConv, SAGEConv

    torch.manual_seed(0)
    conv = {"gcn": lambda: GCNConv(features, units), "gat": lambda: GATConv(features, GAT_UNITS, heads=GAT_HEADS),
            "sage": lambda: SAGEConv(features, units)}[layer_name]()

    def step(x, edge_index, y):
        conv.zero_grad()
        loss = torch.mean(torch.square(conv(x, edge_index) - y))
        loss.backward()
        return float(loss.detach())

    return step


def _time(step, args, repeats):
    started = time.perf_counter()
    step(*args)
    first = time.perf_counter() - started
    step(*args)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        step(*args)
        seconds.append(time.perf_counter() - started)
    return first, seconds


def _child(runner, graph, layers, repeats):
    """Prints one JSON line per layer as soon as it is measured (a timeout keeps what finished)."""
    import numpy as np

    num_nodes, num_edges, features, units = GRAPHS[graph]
    x, senders, receivers = _graph(num_nodes, num_edges, features, units)
    for layer in layers:
        y = np.random.default_rng(1).normal(size=(num_nodes, _out_width(layer, units))).astype("float32")
        if runner == "pyg":
            import torch

            step = _pyg_step(layer, features, units)
            edge_index = torch.from_numpy(np.stack([senders, receivers]).astype("int64"))
            args = (torch.from_numpy(x), edge_index, torch.from_numpy(y))
        else:
            step, convert = _keras_step(layer, features, units)
            args = tuple(convert(a) for a in (x, senders, receivers, y))
        first, seconds = _time(step, args, repeats)
        print(json.dumps({"layer": layer, "ms": [1000 * s for s in seconds], "first_s": first}), flush=True)


def _memory_child(runner, num_edges):
    import numpy as np

    num_nodes, _, features, units = GRAPHS["large"]
    x, senders, receivers = _graph(num_nodes, num_edges, features, units)
    y = np.random.default_rng(1).normal(size=(num_nodes, units)).astype("float32")
    # The peak resident size from just before the first step (compiling included: a constant that the slope over
    # edge counts removes) to the end of the third; the baseline already holds the graph's arrays.
    if runner == "pyg":
        import torch

        step = _pyg_step("gcn", features, units)
        args = (torch.from_numpy(x), torch.from_numpy(np.stack([senders, receivers]).astype("int64")),
                torch.from_numpy(y))
    else:
        step, convert = _keras_step("gcn", features, units)
        args = tuple(convert(a) for a in (x, senders, receivers, y))
    current = _status_mb("VmRSS")
    _reset_peak_rss()
    for _ in range(3):
        step(*args)
    row = {"edges": num_edges, "peak_mb": _status_mb("VmHWM"), "before_mb": current}
    if hasattr(step, "temp_mb"):
        row["xla_temp_mb"] = step.temp_mb(*args)
    print(json.dumps(row), flush=True)


def _status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss():
    """Resets VmHWM (the peak resident size) to the current size (Linux)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _run_child(args, backend, timeout, **extra_env):
    # OMP_WAIT_POLICY=PASSIVE: on a busy machine, PyTorch's OpenMP threads spin-waiting for each other made PyG's
    # Cora GCN step 10x slower (427 -> 48 ms measured); the setting does not touch XLA's or TensorFlow's thread pools.
    env = dict(os.environ, KERAS_BACKEND=backend if backend != "pyg" else "tensorflow", TF_CPP_MIN_LOG_LEVEL="3",
               OMP_WAIT_POLICY="PASSIVE", **extra_env)
    command = [sys.executable, __file__, *args]
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        stdout, note = result.stdout, "" if result.returncode == 0 else result.stderr.strip().splitlines()[-1:]
    except subprocess.TimeoutExpired as expired:
        stdout = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        note = f"timed out after {timeout} s"
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return rows, note


def _pyg_available():
    command = [sys.executable, "-c", "import torch_geometric"]
    return subprocess.run(command, capture_output=True).returncode == 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", default="cora,large")
    parser.add_argument("--layers", default=",".join(LAYERS))
    parser.add_argument("--runners", default="tensorflow,jax,pyg")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per (runner, graph) process")
    parser.add_argument("--memory-edges", default="250000,500000,1000000")
    parser.add_argument("--memory-runners", default="jax,tensorflow,pyg")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child[0], args.child[1], args.layers.split(","), args.repeats)
    if args.memory_child:
        return _memory_child(args.memory_child[0], int(args.memory_child[1]))

    runners = [r for r in args.runners.split(",") if r]
    if "pyg" in runners and not _pyg_available():
        print("torch_geometric does not import: PyG column skipped (pip install torch==2.13.0 torch_geometric)")
        runners.remove("pyg")
    results, notes = {}, []
    graphs = [g for g in args.graphs.split(",") if g]
    for graph in graphs:
        for runner in runners:
            rows, note = _run_child(["--child", runner, graph, "--layers", args.layers, "--repeats",
                                     str(args.repeats)], runner, args.timeout)
            for row in rows:
                results[graph, row["layer"], runner] = row
            if note:
                notes.append(f"{runner} on {graph}: {note}")

    if graphs:
        print(f"{'graph':<6} {'layer':<5} " + " ".join(f"{r + ' ms':>14}" for r in runners)
              + "".join(f" {r[:3] + '/pyg':>9}" for r in runners if r != "pyg" and "pyg" in runners)
              + "   first step s (compile)")
    for graph in graphs:
        for layer in args.layers.split(","):
            medians = {r: statistics.median(results[graph, layer, r]["ms"]) for r in runners
                       if (graph, layer, r) in results}
            cells = " ".join(f"{medians[r]:>14.1f}" if r in medians else f"{'-':>14}" for r in runners)
            ratios = "".join(f" {medians[r] / medians['pyg']:>9.2f}" if r in medians and "pyg" in medians
                             else f" {'-':>9}" for r in runners if r != "pyg" and "pyg" in runners)
            firsts = " ".join(f"{r}={results[graph, layer, r]['first_s']:.1f}" for r in runners
                              if (graph, layer, r) in results)
            print(f"{graph:<6} {layer:<5} {cells}{ratios}   {firsts}")
    for note in notes:
        print("note:", note)

    sizes = [int(e) for e in args.memory_edges.split(",") if e]
    memory_runners = [r for r in args.memory_runners.split(",") if r and (r != "pyg" or "pyg" in runners)]
    if sizes:
        print("\nGCN step peak memory, 100,000 nodes, 128 -> 16 (peak MB above the resident size before the first "
              "step, compiling included)")
        print(f"{'edges':>10} " + " ".join(f"{r + ' MB':>14}" for r in memory_runners))
        growth = {}
        for edges in sizes:
            cells = []
            for runner in memory_runners:
                # Large buffers straight from mmap, so that freed memory leaves the resident size at once.
                rows, note = _run_child(["--memory-child", runner, str(edges)], runner, args.timeout,
                                        MALLOC_MMAP_THRESHOLD_="65536")
                if rows:
                    growth[runner, edges] = rows[0]["peak_mb"] - rows[0]["before_mb"]
                    cells.append(f"{growth[runner, edges]:>14.0f}")
                    if "xla_temp_mb" in rows[0]:
                        growth["xla temp", edges] = rows[0]["xla_temp_mb"]
                else:
                    cells.append(f"{'-':>14}")
                    notes.append(f"memory {runner} {edges}: {note}")
            xla = f"   (JAX step's XLA temp buffers {growth['xla temp', edges]:.0f} MB)" \
                if ("xla temp", edges) in growth else ""
            print(f"{edges:>10} " + " ".join(cells) + xla)
        for runner in [*memory_runners, "xla temp"]:
            points = [(e, growth[runner, e]) for e in sizes if (runner, e) in growth]
            if len(points) >= 2:
                (e0, m0), (e1, m1) = points[0], points[-1]
                print(f"{runner}: {1e6 * (m1 - m0) / (e1 - e0):.0f} MB per million edges "
                      f"(slope between {e0:,} and {e1:,} edges)")
    return results


if __name__ == "__main__":
    main()
