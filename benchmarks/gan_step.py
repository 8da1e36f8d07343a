"""GAN train-step time on each backend: `dcgan` and `wgan_gp` (default sizes) on the digits, batch 64, Adam.

Each backend runs in its own process (a process has one Keras backend); each times whole epochs of `fit` on the
same 1,257 training digits (20 steps an epoch) after a warm-up epoch that compiles, and reports the median
milliseconds per step and the JAX / TensorFlow ratio. `wgan_gp` takes 5 critic steps per generator step, each with a
gradient penalty (double backpropagation).

    python benchmarks/gan_step.py                       # dcgan and wgan_gp, both backends
    python benchmarks/gan_step.py --models dcgan --epochs 4
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _child(name, epochs):
    import keras

    import kerakit

    keras.utils.set_random_seed(0)
    bundle = kerakit.data.load("digits", batch_size=64, seed=0)
    model = kerakit.build(name)
    model.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    seconds = []

    class _Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.started)

    model.fit(bundle.train, epochs=epochs + 1, verbose=0, callbacks=[_Timer()])
    steps = bundle.steps_per_epoch
    return {"ms_per_step": [1000 * s / steps for s in seconds[1:]], "first_epoch_s": seconds[0]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="dcgan,wgan_gp")
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs after the warm-up one")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.epochs)))
        return None
    rows = {}
    for name in args.models.split(","):
        for backend in args.backends.split(","):
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            command = [sys.executable, __file__, "--child", name, "--epochs", str(args.epochs)]
            output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            rows[name, backend] = json.loads(output.strip().splitlines()[-1])
    print(f"{'model':<8} {'backend':<10} {'median ms/step':>14} {'first epoch s':>13}")
    for (name, backend), row in rows.items():
        print(f"{name:<8} {backend:<10} {statistics.median(row['ms_per_step']):>14.1f} {row['first_epoch_s']:>13.1f}")
    for name in args.models.split(","):
        if (name, "jax") in rows and (name, "tensorflow") in rows:
            ratio = statistics.median(rows[name, "jax"]["ms_per_step"]) / statistics.median(
                rows[name, "tensorflow"]["ms_per_step"])
            print(f"{name}: JAX / TensorFlow = {ratio:.2f}")
    return rows


if __name__ == "__main__":
    main()
