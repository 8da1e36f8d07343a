"""Test accuracy of vision blueprints trained by `kerakit train` on the bundled digits (resized as a family needs).

Each configuration is one `kerakit train` command in its own process, with its own run folder; the table gives the
test accuracy (270 held-out digits), the epochs trained and the wall time. The commands are printed so that any row
can be run again by hand.

    python benchmarks/digits_accuracy.py                     # TensorFlow, every configuration
    python benchmarks/digits_accuracy.py --backend jax --only resnet20
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# label -> `kerakit train` flags. Small configurations of each family; 8x8 digits resized where the
# architecture downsamples more than 8x.
CONFIGS = {
    "resnet20": ["--blueprint", "resnet20", "--epochs", "30"],
    "convnext (small)": ["--blueprint", "convnext_tiny", "--arg", "depths=(1,1,2,1)", "--arg", "widths=(16,32,64,128)",
                         "--arg", "drop_path_rate=0.05", "--data-arg", "image_size=(32,32)", "--epochs", "30",
                         "--optimizer", "adamw", "--lr", "2e-3"],
    "vit (small)": ["--blueprint", "vit_ti16", "--arg", "patch_size=2", "--arg", "hidden_dim=64", "--arg", "depth=4",
                    "--arg", "num_heads=4", "--arg", "mlp_dim=128", "--data-arg", "image_size=(8,8)",
                    "--epochs", "40", "--optimizer", "adamw", "--lr", "1e-3"],
}


def run(label, flags, backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as runs_root:
        command = [sys.executable, "-m", "kerakit.cli", "train", "--quiet", "--no-export", "--runs-root", runs_root,
                   *flags]
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        (run_dir,) = [p for p in Path(runs_root).iterdir() if p.is_dir()]
        metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"label": label, "accuracy": metrics["test"]["accuracy"], "epochs": metrics["epochs_trained"],
            "wall_s": wall, "command": "kerakit train " + " ".join(flags)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tensorflow")
    parser.add_argument("--only", default=None, help="comma-separated labels (default: all)")
    args = parser.parse_args(argv)
    labels = args.only.split(",") if args.only else list(CONFIGS)
    results = [run(label, CONFIGS[label], args.backend) for label in labels]
    print(f"backend {args.backend}")
    print(f"{'blueprint':<18} {'test acc':>8} {'epochs':>6} {'wall s':>7}  command")
    for r in results:
        print(f"{r['label']:<18} {r['accuracy']:>8.4f} {r['epochs']:>6} {r['wall_s']:>7.0f}  {r['command']}")
    return results


if __name__ == "__main__":
    main()
