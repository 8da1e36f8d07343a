"""Train-step time of kerakit's vision blueprints against the keras.applications models they reproduce.

For each pair (resnet50/ResNet50, efficientnet_b0/EfficientNetB0, densenet121/DenseNet121,
convnext_tiny/ConvNeXtTiny), both models are built with random weights at the same resolution, compiled the same
way (SGD, sparse cross-entropy from logits, XLA where Keras turns it on) and trained on the same batch, steps
alternating between the two so that the machine's drift hits both alike. The script prints the median step time of
each and the ratio kerakit / keras.applications (goal: <= 1.00). Each backend runs in its own process; with both
backends it also prints the JAX / TensorFlow ratio of kerakit's median step.

    python benchmarks/vision_train_step.py                         # both backends, 128x128, batch 8
    python benchmarks/vision_train_step.py --backends jax --size 224 --batch 32 --steps 20
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PAIRS = {
    "resnet50": "ResNet50",
    "efficientnet_b0": "EfficientNetB0",
    "densenet121": "DenseNet121",
    "convnext_tiny": "ConvNeXtTiny",
}


def _measure(names, size, batch, steps, warmup):
    """Runs in the backend's own process; returns {name: {"kerakit": [s...], "keras": [s...]}}."""
    import keras
    import numpy as np

    import kerakit

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(batch, size, size, 3)).astype("float32")
    y = rng.integers(0, 1000, size=(batch,)).astype("int32")
    results = {}
    for name in names:
        keras.utils.set_random_seed(0)
        ours = kerakit.build(name, input_shape=(size, size, 3))
        theirs = getattr(keras.applications, PAIRS[name])(weights=None, input_shape=(size, size, 3),
                                                          classifier_activation=None)
        assert ours.count_params() == theirs.count_params(), (name, ours.count_params(), theirs.count_params())
        models = {"kerakit": ours, "keras": theirs}
        for model in models.values():
            model.compile(optimizer=keras.optimizers.SGD(1e-3),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            for _ in range(warmup):
                model.train_on_batch(x, y)
        times = {key: [] for key in models}
        for _ in range(steps):
            for key, model in models.items():
                started = time.perf_counter()
                loss = model.train_on_batch(x, y)
                float(np.asarray(loss))  # wait for the step to finish
                times[key].append(time.perf_counter() - started)
        results[name] = times
        del ours, theirs, models
        keras.backend.clear_session()
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--models", default=",".join(PAIRS))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = args.models.split(",")
    if args.child:
        print(json.dumps(_measure(names, args.size, args.batch, args.steps, args.warmup)))
        return None
    medians = {}
    print(f"{args.size}x{args.size}, batch {args.batch}, median of {args.steps} steps after {args.warmup} warmup steps")
    print(f"{'backend':<11} {'model':<16} {'kerakit s':>10} {'keras.app s':>12} {'ratio':>6}")
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, __file__, "--child", "--models", args.models, "--size", str(args.size),
                   "--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup)]
        output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        results = json.loads(output.strip().splitlines()[-1])
        for name, times in results.items():
            ours, theirs = statistics.median(times["kerakit"]), statistics.median(times["keras"])
            medians[(backend, name)] = ours
            print(f"{backend:<11} {name:<16} {ours:>10.3f} {theirs:>12.3f} {ours / theirs:>6.2f}")
    backends = args.backends.split(",")
    if {"tensorflow", "jax"} <= set(backends):
        for name in names:
            print(f"jax/tensorflow {name}: {medians[('jax', name)] / medians[('tensorflow', name)]:.2f}")
    return medians


if __name__ == "__main__":
    main()
