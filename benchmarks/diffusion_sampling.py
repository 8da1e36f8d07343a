"""DDIM with 50 steps against DDPM with 1,000 steps on the same trained `ddpm`: time, images/second and quality.

Per backend, in one process: trains `ddpm` (T = 1000, linear schedule, the default U-Net) on the bundled digits
(images only; Adam with warmup and cosine decay, EMA of the weights), then samples with DDIM (50 steps, eta = 0) and
DDPM (all 1,000 steps) from the same model: one warm-up call of each (compilation), then the median wall time of
`--repeats` calls on `--timing-samples` images. The ratio DDIM / DDPM is the speed-up's inverse (goal: <= 0.06;
50 / 1000 = 0.05 is the ideal, when a step costs the same in both). Quality: `--quality-samples` images from each
sampler, scored by `benchmarks.generative_quality.quality_score` (a digits classifier's confidence times the evenness
of its predicted classes, as a fraction of the real test digits' score; goal >= 0.8).

The default training (30 epochs, about 600 steps) takes a few minutes of CPU; `--epochs 100` gives better samples.

    python benchmarks/diffusion_sampling.py                          # TensorFlow and JAX, each in its own process
    python benchmarks/diffusion_sampling.py --backends jax --epochs 100 --figures benchmarks/figures
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def _child(args):
    """Trains, times and scores on the current backend; returns a JSON-able dict."""
    import keras
    import numpy as np

    import blueprints.generative.diffusion  # noqa: F401  (registers ddpm)
    import kerakit
    import kerakit.data

    keras.utils.set_random_seed(args.seed)
    bundle = kerakit.data.load("digits", batch_size=args.batch_size, seed=args.seed)
    images = bundle.train.map(lambda x, y: x)  # unconditional: images alone
    model = kerakit.build("ddpm", ema=args.ema, seed=args.seed)
    total = args.epochs * bundle.steps_per_epoch
    warmup = min(total // 10, 100)
    rate = keras.optimizers.schedules.CosineDecay(0.0, max(total - warmup, 1), warmup_target=args.lr,
                                                  warmup_steps=warmup)
    model.compile(optimizer=keras.optimizers.Adam(rate))
    started = time.perf_counter()
    history = model.fit(images, epochs=args.epochs, verbose=0)
    train_seconds = time.perf_counter() - started

    samplers = {"ddim50": {"sampler": "ddim", "steps": 50}, "ddpm1000": {"sampler": "ddpm"}}
    times = {name: [] for name in samplers}
    for name, options in samplers.items():  # warm-up: compile each sampler's step once
        model.generate(args.timing_samples, seed=0, **options)
    for repeat in range(args.repeats):
        for name, options in samplers.items():
            started = time.perf_counter()
            model.generate(args.timing_samples, seed=repeat, **options)
            times[name].append(time.perf_counter() - started)

    quality = {}
    try:
        from benchmarks.generative_quality import quality_score
    except ImportError as error:
        print(f"quality column skipped: benchmarks.generative_quality.quality_score is not available ({error})",
              file=sys.stderr)
        quality_score = None
    for name, options in samplers.items():
        samples = model.generate(args.quality_samples, seed=args.seed, **options)
        if args.figures:
            from kerakit.plots import save_image_grid

            backend = keras.backend.backend()
            save_image_grid(samples[:64], Path(args.figures) / f"ddpm_{name}_{backend}.png",
                            title=f"ddpm, {name} ({backend}, {args.epochs} epochs)")
        if quality_score is not None:
            scores = quality_score(samples)
            quality[name] = {"fraction_of_real": scores["fraction_of_real"], "confidence": scores["confidence"],
                             "evenness": scores["evenness"]}
    return {"train_seconds": train_seconds, "final_loss": float(history.history["loss"][-1]),
            "parameters": model.denoiser.count_params(), "times": times, "quality": quality,
            "samples_finite": bool(np.isfinite(samples).all())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--ema", type=float, default=0.995, help="EMA momentum (0.999 suits longer runs)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--timing-samples", type=int, default=64, help="images per timed generate call")
    parser.add_argument("--quality-samples", type=int, default=500, help="images scored per sampler")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figures", default=None, help="folder for sample grids (none written by default)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args)))
        return None
    backends = args.backends.split(",")
    forwarded = ["--epochs", str(args.epochs), "--lr", str(args.lr), "--ema", str(args.ema), "--batch-size",
                 str(args.batch_size), "--timing-samples", str(args.timing_samples), "--quality-samples",
                 str(args.quality_samples), "--repeats", str(args.repeats), "--seed", str(args.seed)]
    if args.figures:
        forwarded += ["--figures", str(Path(args.figures).resolve())]
    results = {}
    for backend in backends:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")])))
        completed = subprocess.run([sys.executable, __file__, "--child", *forwarded], env=env, check=True,
                                   stdout=subprocess.PIPE, text=True)
        results[backend] = json.loads(completed.stdout.strip().splitlines()[-1])

    print(f"ddpm on the digits: T=1000 linear, {results[backends[0]]['parameters']:,} parameters, {args.epochs} "
          f"epochs; sampling {args.timing_samples} images, median of {args.repeats}")
    print(f"{'backend':<11} {'train s':>7} {'loss':>6} {'DDIM-50 s':>9} {'DDPM-1000 s':>11} {'ratio':>6} "
          f"{'DDIM img/s':>10} {'DDPM img/s':>10} {'DDIM quality':>12} {'DDPM quality':>12}")
    for backend in backends:
        r = results[backend]
        ddim, ddpm = statistics.median(r["times"]["ddim50"]), statistics.median(r["times"]["ddpm1000"])
        quality = [f"{r['quality'][k]['fraction_of_real']:.2f}" if k in r["quality"] else "skipped"
                   for k in ("ddim50", "ddpm1000")]
        print(f"{backend:<11} {r['train_seconds']:>7.0f} {r['final_loss']:>6.3f} {ddim:>9.2f} {ddpm:>11.2f} "
              f"{ddim / ddpm:>6.3f} {args.timing_samples / ddim:>10.1f} {args.timing_samples / ddpm:>10.1f} "
              f"{quality[0]:>12} {quality[1]:>12}")
    return results


if __name__ == "__main__":
    main()
