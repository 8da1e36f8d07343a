"""Sequence models: generation with the key/value cache against without it, and BERT-base's train step on each backend.

generation: `kerakit.generate` continues a 16-token prompt by 256 tokens (batch 1, greedy) with `use_cache=True`
(prefill, then one step per token) and `use_cache=False` (every step re-runs the whole sequence), alternating, after
one warm-up call of each (compilation). Prints the median tokens/second of each and the ratio (goal: >= 5x at 256
new tokens). The greedy outputs of the two must agree.

bert: `bert_base` (110M parameters) with a classification head, batch 8 x 128 tokens, AdamW, sparse cross-entropy;
median train-step time on each backend (each in its own process) and the JAX / TensorFlow ratio.

    python benchmarks/sequence.py                                   # both parts, both backends
    python benchmarks/sequence.py --parts generation --model gpt2_small --new-tokens 128
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _generation(model_name, prompt_length, new_tokens, repeats):
    import keras
    import numpy as np

    import kerakit
    from kerakit.generation import generate

    keras.utils.set_random_seed(0)
    model = kerakit.build(model_name, max_length=prompt_length + new_tokens, dropout=0.0)
    vocabulary = model.output_shape[-1]
    prompt = np.random.default_rng(0).integers(0, vocabulary, size=(1, prompt_length)).astype("int32")
    outputs, times = {}, {True: [], False: []}
    for use_cache in (True, False):  # warm-up: compile each loop once
        outputs[use_cache] = generate(model, prompt, new_tokens, use_cache=use_cache)
    same = bool((outputs[True] == outputs[False]).all())
    for _ in range(repeats):
        for use_cache in (True, False):
            started = time.perf_counter()
            generate(model, prompt, new_tokens, use_cache=use_cache)
            times[use_cache].append(time.perf_counter() - started)
    return {"cached": times[True], "uncached": times[False], "same_tokens": same,
            "parameters": model.count_params()}


def _bert_step(batch, length, steps, warmup):
    import keras
    import numpy as np

    import kerakit

    keras.utils.set_random_seed(0)
    model = kerakit.build("bert_base", sequence_length=length, num_classes=2)
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1, 30522, size=(batch, length)).astype("int32"),
         "segment_ids": np.zeros((batch, length), "int32"),
         "padding_mask": np.ones((batch, length), "int32")}
    y = rng.integers(0, 2, size=(batch,)).astype("int32")
    model.compile(optimizer=keras.optimizers.AdamW(1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    for _ in range(warmup):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        float(np.asarray(model.train_on_batch(x, y)))
        times.append(time.perf_counter() - started)
    return {"bert": times, "parameters": model.count_params()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--parts", default="generation,bert")
    parser.add_argument("--model", default="gpt_nano", help="decoder for the generation part")
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "generation":
        print(json.dumps(_generation(args.model, args.prompt_tokens, args.new_tokens, args.repeats)))
        return None
    if args.child == "bert":
        print(json.dumps(_bert_step(args.batch, args.length, args.steps, warmup=2)))
        return None
    parts, backends = args.parts.split(","), args.backends.split(",")
    results = {}
    for part in parts:
        for backend in backends:
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            command = [sys.executable, __file__, "--child", part, "--model", args.model, "--prompt-tokens",
                       str(args.prompt_tokens), "--new-tokens", str(args.new_tokens), "--repeats", str(args.repeats),
                       "--batch", str(args.batch), "--length", str(args.length), "--steps", str(args.steps)]
            output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            results[(part, backend)] = json.loads(output.strip().splitlines()[-1])
    if "generation" in parts:
        print(f"generation: {args.model}, prompt {args.prompt_tokens} tokens + {args.new_tokens} new, batch 1, "
              f"greedy, median of {args.repeats}")
        print(f"{'backend':<11} {'cache tok/s':>12} {'no cache tok/s':>15} {'speed-up':>9} {'same tokens':>12}")
        for backend in backends:
            r = results[("generation", backend)]
            cached = args.new_tokens / statistics.median(r["cached"])
            uncached = args.new_tokens / statistics.median(r["uncached"])
            print(f"{backend:<11} {cached:>12.1f} {uncached:>15.1f} {cached / uncached:>8.1f}x {r['same_tokens']!s:>12}")
    if "bert" in parts:
        print(f"bert_base train step: batch {args.batch} x {args.length} tokens, AdamW, median of {args.steps} steps")
        medians = {}
        for backend in backends:
            medians[backend] = statistics.median(results[("bert", backend)]["bert"])
            print(f"{backend:<11} {medians[backend]:.3f} s/step")
        if {"tensorflow", "jax"} <= set(backends):
            print(f"jax/tensorflow: {medians['jax'] / medians['tensorflow']:.2f}")
    return results


if __name__ == "__main__":
    main()
