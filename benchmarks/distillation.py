"""Knowledge distillation on the bundled digits: a student that sees few labels, with and without a teacher.

The teacher (an MLP with 128 hidden units) trains on all 1,297 training digits; the student (16 hidden units) sees
`--labelled` of them (50 by default; 15 epochs of 4 passes each). The same student, from the same initial weights, trains once on the labels
alone and once through `kerakit.models.Distiller` (T=4, alpha=0.1); both are scored on 500 held-out digits. One line
per seed, then the means. The test suite runs seed 0 of this (tests/test_distiller.py).

    KERAS_BACKEND=jax python benchmarks/distillation.py --seeds 5
"""

import argparse
import time

import keras
import numpy as np

from kerakit.data._bundled import digits
from kerakit.models.distiller import Distiller


def mlp(hidden, seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Flatten()(inputs)
    for units in hidden:
        h = keras.layers.Dense(units, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--labelled", type=int, default=50)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.1)
    args = parser.parse_args()
    x, y, _ = digits()
    order = np.random.default_rng(0).permutation(len(x))
    x_train, y_train, x_test, y_test = x[order[500:]], y[order[500:]], x[order[:500]], y[order[:500]]
    crossentropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    teacher = mlp((128,), 0)
    teacher.compile(keras.optimizers.Adam(3e-3), crossentropy, metrics=["accuracy"])
    teacher.fit(x_train, y_train, epochs=15, batch_size=64, verbose=0)
    print(f"{keras.backend.backend()}: teacher test accuracy {teacher.evaluate(x_test, y_test, verbose=0)[1]:.3f}")
    alone, distilled = [], []
    for seed in range(args.seeds):
        started = time.perf_counter()
        few = np.tile(np.random.default_rng(seed + 1).choice(len(x_train), args.labelled, replace=False), 4)
        baseline = mlp((16,), seed)
        baseline.compile(keras.optimizers.Adam(1e-2), crossentropy, metrics=["accuracy"])
        baseline.fit(x_train[few], y_train[few], epochs=15, batch_size=32, verbose=0)
        distiller = Distiller(teacher, mlp((16,), seed), temperature=args.temperature, alpha=args.alpha)
        distiller.compile(keras.optimizers.Adam(1e-2))
        distiller.fit(x_train[few], y_train[few], epochs=15, batch_size=32, verbose=0)
        alone.append(baseline.evaluate(x_test, y_test, verbose=0)[1])
        distilled.append(distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"])
        print(f"seed {seed}: student alone {alone[-1]:.3f}, distilled {distilled[-1]:.3f} "
              f"({time.perf_counter() - started:.1f} s)")
    print(f"mean over {args.seeds} seeds: alone {np.mean(alone):.3f}, distilled {np.mean(distilled):.3f}")


if __name__ == "__main__":
    main()
