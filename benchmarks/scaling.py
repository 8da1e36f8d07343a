"""Data-parallel throughput (training examples per second) with 1, 2, ... processes, or on several local GPUs.

Weak scaling: every process (or device) takes `--per-process-batch` examples of each global batch, so the global
batch (what `kerakit.train`'s `batch_size` means) is `per-process batch x processes`. Each worker trains the
`convnet` blueprint (28x28x1, 10 classes) on random data with `model.fit` under `kerakit.distribute.scope("all")`
(JAX: `keras.distribution.DataParallel` over every device of the job; Keras shards each global batch by process
index), and times `--steps` steps after `--warmup` steps (compilation). Process 0 prints one line `RESULT {json}`.

On this machine (2 CPU cores, JAX on CPU over loopback with gloo collectives), 2 processes share the same 2 cores
that 1 process already uses, so no speed-up is expected: the figure measures the cost of the collectives.

    # this machine: 1 and 2 processes on loopback (the script starts the workers)
    KERAS_BACKEND=jax nice -n 10 python benchmarks/scaling.py --processes 1 2
    # one host with several GPUs: one process, data-parallel over all of them (either backend)
    KERAS_BACKEND=jax python benchmarks/scaling.py --devices all --per-process-batch 256
    # several hosts (JAX): the same command on each, I = 0..N-1, HOST = process 0's address
    KERAS_BACKEND=jax python benchmarks/scaling.py --coordinator HOST:1234 --num-processes N --process-id I
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time


def worker(args):
    import keras
    import numpy as np
    import tensorflow as tf

    import kerakit
    import kerakit.distribute as distribute

    job = distribute.initialize(args.coordinator, args.num_processes, args.process_id)
    processes = job["num_processes"]
    devices = "all" if processes > 1 else distribute.resolve_devices(args.devices)
    replicas = len(distribute.global_devices()) if processes > 1 else len(devices or [None])
    global_batch = args.per_process_batch * (processes if processes > 1 else replicas)
    steps = args.warmup + args.steps
    rng = np.random.default_rng(0)
    x = rng.normal(size=(global_batch, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=global_batch)
    data = tf.data.Dataset.from_tensors((x, y)).repeat(steps)  # global batches, the same one each step

    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter())

    keras.utils.set_random_seed(0)
    with distribute.scope(devices):
        model = kerakit.build("convnet", input_shape=(28, 28, 1), num_classes=10)
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(data, epochs=1, verbose=0, callbacks=[Clock()])
    # Keras runs steps asynchronously on JAX; the last loss forces the final step to finish before timing ends.
    float(history.history["loss"][-1])
    seconds = times[-1] - times[args.warmup - 1]
    result = {"processes": processes, "devices": replicas, "backend": keras.backend.backend(),
              "global_batch": global_batch, "steps": args.steps, "seconds": seconds,
              "examples_per_second": global_batch * args.steps / seconds,
              "describe": distribute.describe(devices)}
    if distribute.is_writer():
        print("RESULT " + json.dumps(result))
        sys.stdout.flush()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(count, args):
    """Starts `count` worker processes of a loopback job; returns process 0's result."""
    port = free_port()
    base = [sys.executable, __file__, "--per-process-batch", str(args.per_process_batch), "--steps", str(args.steps),
            "--warmup", str(args.warmup)]
    if count > 1:
        commands = [base + ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(count), "--process-id",
                            str(index)] for index in range(count)]
    else:
        commands = [base]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for command in commands]
    outputs = [process.communicate(timeout=1800)[0] for process in workers]
    lines = [line for line in outputs[0].splitlines() if line.startswith("RESULT ")]
    if any(process.returncode for process in workers) or not lines:
        raise SystemExit(f"a worker failed: {[process.returncode for process in workers]}")
    return json.loads(lines[-1][len("RESULT "):])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="*", help="start jobs of these sizes on loopback")
    parser.add_argument("--coordinator")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--devices", default=None, help="one process: 'all' local devices, a count, or none")
    parser.add_argument("--per-process-batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not args.processes:
        return worker(args)
    results = [launch(count, args) for count in args.processes]
    first = results[0]["examples_per_second"]
    print(f"{'processes':>9} {'global batch':>12} {'examples/s':>10} {'vs first':>8}")
    for result in results:
        print(f"{result['processes']:>9} {result['global_batch']:>12} {result['examples_per_second']:>10.0f} "
              f"{result['examples_per_second'] / first:>8.2f}")
    print("RESULTS " + json.dumps(results))


if __name__ == "__main__":
    main()
