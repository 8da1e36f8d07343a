"""The learning-rate range test on the bundled digits, and how runs at the rates it points to do.

`kerakit lr-find` sweeps the rate for the convnet (Adam, batch 32, 1e-6 to 1, 200 steps at most), writes
`benchmarks/figures/lr_find_convnet_digits.png`, and prints its suggestion (steepest descent of the smoothed loss)
and the rate of the lowest smoothed loss. Then the default `kerakit train` run (30 epochs, warmup + cosine) trains
at the suggestion, at a tenth of the lowest-loss rate, and at the run's default 3e-3, each in its own process.

    python benchmarks/lr_finder.py                  # TensorFlow
    python benchmarks/lr_finder.py --backend jax
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIGURE = Path(__file__).parent / "figures" / "lr_find_convnet_digits.png"


def sweep(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    code = ("import json, kerakit.lr_finder as f; r = f.find_learning_rate('convnet', 'digits', plot=%r); "
            "print(json.dumps({'suggestion': r.suggestion, 'min_loss_lr': r.min_loss_lr, 'steps': len(r.lrs)}))"
            % str(FIGURE))
    started = time.perf_counter()
    output = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    result = json.loads(output.stdout.strip().splitlines()[-1])
    result["seconds"] = time.perf_counter() - started
    return result


def train(rate, backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as runs_root:
        command = [sys.executable, "-m", "kerakit.cli", "train", "--quiet", "--no-export", "--runs-root", runs_root,
                   "--lr", f"{rate:.3g}"]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        metrics = json.loads((Path(runs_root) / "convnet-digits" / "metrics.json").read_text())
    return metrics["test"], metrics["epochs_trained"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tensorflow", choices=("tensorflow", "jax"))
    args = parser.parse_args()
    found = sweep(args.backend)
    print(f"sweep: {found['steps']} steps in {found['seconds']:.1f} s; suggestion {found['suggestion']:.3g}, lowest "
          f"smoothed loss at {found['min_loss_lr']:.3g}; figure: {FIGURE}")
    print("| rate | chosen as | test accuracy | test loss | epochs |")
    print("|---|---|---|---|---|")
    for rate, label in ((found["suggestion"], "the suggestion (steepest descent)"),
                        (found["min_loss_lr"] / 10, "a tenth of the lowest-loss rate"), (3e-3, "the run's default")):
        test, epochs = train(rate, args.backend)
        print(f"| {rate:.3g} | {label} | {test['accuracy']:.4f} | {test['loss']:.4f} | {epochs} |")


if __name__ == "__main__":
    main()
