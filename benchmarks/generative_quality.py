"""Sample quality of the generative blueprints on the bundled digits, scored offline by a digits classifier.

The score of a set of images: a `convnet` trained by the kit on the digits classifies them; `confidence` is the mean
probability of the predicted class, `evenness` the entropy of the predicted-class histogram divided by ln(10) (1.0 when
all ten digits appear equally often), and `score = confidence * evenness`. The 270 real test digits, scored the same
way, are the ceiling: each model's row gives its score as a fraction of the real one (goals: >= 0.8 for `ddpm` and
`conv_vae`, >= 0.7 for a GAN). Each model is trained by `kerakit train` in its own process; 1,000 samples are drawn
with a fixed seed, and a grid of the first 64 is written to `benchmarks/figures/<model>.png`.

    python benchmarks/generative_quality.py                       # every model, TensorFlow
    python benchmarks/generative_quality.py --backend jax --only conv_vae,dcgan
"""

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
NUM_CLASSES = 10
SAMPLES = 1000

# model -> `kerakit train` flags (the run's defaults otherwise: Adam, warmup + cosine).
CONFIGS = {
    "conv_vae": ["--blueprint", "conv_vae", "--epochs", "60", "--lr", "2e-3"],
    # Radford et al.'s Adam settings for GANs: 2e-4, beta_1 = 0.5 (with Keras's 0.9 the dcgan collapsed to a few modes).
    "dcgan": ["--blueprint", "dcgan", "--epochs", "60", "--lr", "2e-4", "--schedule", "constant",
              "--optimizer-arg", "beta_1=0.5"],
    "conditional_gan": ["--blueprint", "conditional_gan", "--epochs", "60", "--lr", "2e-4", "--schedule", "constant",
                        "--optimizer-arg", "beta_1=0.5"],
    "ddpm": ["--blueprint", "ddpm", "--epochs", "100", "--lr", "1e-3"],
}

_CLASSIFIER = {}


def digits_classifier(seed=0, epochs=20):
    """A `convnet` trained by `kerakit.train` on the digits (cached per process): images in [0, 1] -> logits."""
    if seed not in _CLASSIFIER:
        import kerakit

        with tempfile.TemporaryDirectory() as root:
            result = kerakit.train("convnet", "digits", epochs=epochs, seed=seed, export=False, verbose=0,
                                   runs_root=root)
        _CLASSIFIER[seed] = (result.model, result.test_metrics["accuracy"])
    return _CLASSIFIER[seed][0]


def score_images(images, classifier=None):
    """`{"confidence", "evenness", "score", "histogram"}` of images `(n, 8, 8, 1)` in [0, 1] (see the module doc)."""
    import keras

    classifier = classifier or digits_classifier()
    logits = classifier.predict(np.asarray(images, "float32"), batch_size=256, verbose=0)
    probabilities = np.asarray(keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1)))
    predicted = probabilities.argmax(-1)
    histogram = np.bincount(predicted, minlength=NUM_CLASSES) / len(predicted)
    present = histogram[histogram > 0]
    evenness = float(-(present * np.log(present)).sum() / math.log(NUM_CLASSES))
    confidence = float(probabilities.max(-1).mean())
    return {"confidence": confidence, "evenness": evenness, "score": confidence * evenness,
            "histogram": histogram.round(3).tolist()}


def real_score(classifier=None):
    """The score of the real test digits: the ceiling."""
    import kerakit

    bundle = kerakit.data.load("digits", batch_size=512, seed=0)
    images = np.concatenate([np.asarray(x) for x, _ in bundle.test])
    return score_images(images, classifier)


def quality_score(images, classifier=None):
    """`score_images` plus `real_score` and `fraction_of_real` (the images' score over the real test digits')."""
    scores = score_images(images, classifier)
    ceiling = real_score(classifier)["score"]
    return {**scores, "real_score": ceiling, "fraction_of_real": scores["score"] / ceiling}


def train_and_sample(name, flags, backend, runs_root, seed=0):
    """Trains `name` with `kerakit train` in a fresh process; returns its 1,000 samples and the training time."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    run_dir = Path(runs_root) / name
    command = [sys.executable, "-m", "kerakit.cli", "train", "--quiet", "--no-export", "--sample-every", "0",
               "--run-dir", str(run_dir), "--seed", str(seed), *flags]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    train_seconds = time.perf_counter() - started
    from kerakit.export import load_keras_model

    model = load_keras_model(run_dir / "model.keras")
    started = time.perf_counter()
    images = model.generate(SAMPLES, seed=seed)
    return images, train_seconds, time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--only", default=None, help=f"comma-separated models (default: {','.join(CONFIGS)})")
    parser.add_argument("--figures", default=str(HERE / "figures"), help="where the sample grids go")
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    names = args.only.split(",") if args.only else list(CONFIGS)
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown:
        sys.exit(f"unknown model(s) {unknown}; known: {sorted(CONFIGS)}")
    from kerakit.plots import save_image_grid

    Path(args.figures).mkdir(parents=True, exist_ok=True)
    classifier = digits_classifier()
    ceiling = real_score(classifier)
    print(f"backend {args.backend}; classifier test accuracy {_CLASSIFIER[0][1]:.4f}")
    print(f"{'images':<16} {'confidence':>10} {'evenness':>8} {'score':>6} {'of real':>7} {'train s':>7} "
          f"{'sample s':>8}")
    print(f"{'real test':<16} {ceiling['confidence']:>10.3f} {ceiling['evenness']:>8.3f} {ceiling['score']:>6.3f} "
          f"{1.0:>7.2f}")
    rows = []
    with tempfile.TemporaryDirectory() as runs_root:
        for name in names:
            images, train_seconds, sample_seconds = train_and_sample(name, CONFIGS[name], args.backend, runs_root)
            scores = score_images(images, classifier)
            fraction = scores["score"] / ceiling["score"]
            save_image_grid(images[:64], Path(args.figures) / f"{name}.png", title=f"{name} ({args.backend})")
            print(f"{name:<16} {scores['confidence']:>10.3f} {scores['evenness']:>8.3f} {scores['score']:>6.3f} "
                  f"{fraction:>7.2f} {train_seconds:>7.0f} {sample_seconds:>8.1f}", flush=True)
            rows.append({"model": name, **scores, "fraction_of_real": fraction, "train_seconds": train_seconds,
                         "sample_seconds": sample_seconds, "command": "kerakit train " + " ".join(CONFIGS[name])})
    return rows


if __name__ == "__main__":
    main()
