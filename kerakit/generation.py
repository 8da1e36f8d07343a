"""Text generation with decoder-only language models, on either backend, compiled, with a key/value cache.

```python
import kerakit
model = kerakit.build("gpt_nano", num_layers=1, width=32, num_heads=2)
text = kerakit.generate(model, "To be", max_new_tokens=8, sampler="top_k", seed=0)
len(text.encode()) >= 5  # True
```

The whole loop — prefill the prompt, then one step per new token — is one Keras model (`GenerationLoop`) run through
`predict_on_batch`, so Keras compiles it (XLA on TensorFlow, `jax.jit` on JAX) with no backend code here. With the
cache (`use_cache=True`) each new token runs the blocks on that token only, attending over cached keys and values;
without it every step re-runs the whole sequence (kept for comparison: `benchmarks/generation.py`).

Sampling draws one uniform number per token from NumPy (`seed`) and inverts the cumulative distribution of the
filtered probabilities, so a seed gives the same text on every run and on both backends.
"""

import functools
import numbers
import weakref

from kerakit import errors

SAMPLERS = ("greedy", "top_k", "top_p", "random")

_LOOPS = weakref.WeakKeyDictionary()  # decoder model -> {settings: compiled GenerationLoop}


def decoder_parts(model, owner="generate"):
    """The pieces of a decoder-only language model built from `kerakit.layers.sequence`.

    Returns `(embedding, blocks, final_norm)`: the `TokenAndPositionEmbedding` (also the tied output projection),
    the `TransformerDecoderBlock`s in order, and the final normalisation layer (or None). The model's layers must be:
    the embedding, dropout, decoder blocks without cross-attention, an optional final norm — as `gpt` builds.
    """
    import keras

    from kerakit.layers.sequence import TokenAndPositionEmbedding, TransformerDecoderBlock

    expected = "a decoder-only language model built from kerakit.layers.sequence (e.g. kerakit.build('gpt_nano'))"
    if not isinstance(model, keras.Model):
        raise errors.invalid(owner, "model", expected, type(model).__name__)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    blocks = [layer for layer in layers if isinstance(layer, TransformerDecoderBlock)]
    if not layers or not isinstance(layers[0], TokenAndPositionEmbedding) or not blocks:
        raise errors.invalid(owner, "model", expected, f"model {model.name!r}")
    final_norm = None
    for layer in layers[1:]:
        if isinstance(layer, TransformerDecoderBlock):
            if layer.cross_attention or final_norm is not None:
                raise errors.invalid(owner, "model", expected, f"model {model.name!r} (layer {layer.name!r})")
        elif isinstance(layer, (keras.layers.LayerNormalization, keras.layers.RMSNormalization)):
            final_norm = layer
        elif not isinstance(layer, keras.layers.Dropout):
            raise errors.invalid(owner, "model", expected, f"model {model.name!r} (layer {layer.name!r})")
    return layers[0], blocks, final_norm


def room_after(model, prompt_length):
    """How many tokens `model` can still add after a prompt of `prompt_length` (its position table's limit)."""
    embedding, _, _ = decoder_parts(model)
    return embedding.max_length - prompt_length if embedding.position != "none" else 2**31 - 1


def check_token_ids(owner, argument, ids, vocabulary_size):
    """Refuses token ids outside `[0, vocabulary_size)`, naming the first bad one and where it is."""
    import numpy as np

    ids = np.asarray(ids)
    bad = np.argwhere((ids < 0) | (ids >= vocabulary_size))
    if len(bad):
        where = tuple(int(i) for i in bad[0])
        raise errors.invalid(owner, argument, f"token ids in [0, {vocabulary_size}) (the model's vocabulary)",
                             f"id {int(ids[where])} at index {where}")
    return ids


def generate(model, prompt, max_new_tokens=64, *, sampler="greedy", temperature=1.0, top_k=40, top_p=0.9, seed=None,
             use_cache=True, tokenizer=None, stop_token_id=None):
    """Continues `prompt` with `max_new_tokens` tokens from a decoder-only language model.

    Args:
        model: keras.Model. A decoder-only language model (`gpt_nano`, `gpt2_small`, ... or one built the same way).
        prompt: str, list of str, or token ids: a list of ints, a list of lists (lengths may differ) or an int
            array `(batch, length)`. Strings need a `tokenizer` (a vocabulary of 256 uses bytes by default).
        max_new_tokens: int. Tokens to add to every prompt. Defaults to `64`.
        sampler: str. `"greedy"` (most likely token), `"random"` (the full distribution), `"top_k"` (the `top_k`
            most likely) or `"top_p"` (the smallest set holding probability `top_p`). Defaults to `"greedy"`.
        temperature: float. Divides the logits before sampling. Defaults to `1.0`.
        top_k: int. Candidates kept by `"top_k"`. Defaults to `40`.
        top_p: float in (0, 1]. Probability mass kept by `"top_p"`. Defaults to `0.9`.
        seed: int or None. The same seed gives the same tokens. Defaults to `None` (a fresh draw).
        use_cache: bool. Reuse the keys and values of earlier tokens (one step per token). Defaults to `True`.
        tokenizer: object with `encode(str)` and `decode(ids)`, or None. Defaults to bytes for a 256-token
            vocabulary.
        stop_token_id: int or None. Cut each output after this token. Defaults to `None`.

    Returns:
        The same kind as `prompt`: a str (prompt and continuation), a list of str, a list of token-id lists, or an
        int array `(batch, length + max_new_tokens)`.
    """
    import numpy as np

    owner = "generate"
    embedding, _, _ = decoder_parts(model, owner)
    max_new_tokens = errors.check_int(owner, "max_new_tokens", max_new_tokens)
    errors.check_choice(owner, "sampler", sampler, SAMPLERS)
    temperature = errors.check_positive_float(owner, "temperature", temperature)
    top_k = errors.check_int(owner, "top_k", top_k)
    if isinstance(top_p, bool) or not isinstance(top_p, numbers.Real) or not 0 < top_p <= 1:
        raise errors.invalid(owner, "top_p", "a number in (0, 1]", top_p)
    if seed is not None:
        seed = errors.check_int(owner, "seed", seed, minimum=0)
    if not isinstance(use_cache, bool):
        raise errors.invalid(owner, "use_cache", "True or False", use_cache)
    vocabulary_size = embedding.vocabulary_size
    if stop_token_id is not None:
        stop_token_id = errors.check_int(owner, "stop_token_id", stop_token_id, minimum=0)

    prompts, kind, tokenizer = _prompt_ids(owner, prompt, tokenizer, vocabulary_size)
    for row, ids in enumerate(prompts):
        check_token_ids(owner, "prompt", ids, vocabulary_size)
        if not len(ids):
            raise errors.invalid(owner, "prompt", "at least one token per prompt", f"an empty prompt at {row}")
    shortest, longest = min(map(len, prompts)), max(map(len, prompts))
    total = longest + max_new_tokens
    if embedding.position != "none" and total > embedding.max_length:
        raise errors.invalid(owner, "max_new_tokens", f"at most {embedding.max_length - longest} (the model takes "
                             f"{embedding.max_length} positions; the longest prompt has {longest} tokens)",
                             max_new_tokens)
    batch = len(prompts)
    tokens = np.zeros((batch, total), "int32")
    is_prompt = np.zeros((batch, total), "bool")
    for row, ids in enumerate(prompts):
        tokens[row, :len(ids)] = ids
        is_prompt[row, :len(ids)] = True
    noise = np.random.default_rng(seed).random((batch, total), dtype=np.float32)

    settings = (batch, shortest, total, sampler, temperature, min(top_k, vocabulary_size), float(top_p), use_cache)
    loops = _LOOPS.setdefault(model, {})
    if settings not in loops:
        loops[settings] = _loop_class()(model, shortest, sampler, temperature, min(top_k, vocabulary_size),
                                         float(top_p), use_cache)
    output = np.asarray(loops[settings].predict_on_batch({"tokens": tokens, "is_prompt": is_prompt, "noise": noise}))
    rows = [output[row, :len(ids) + max_new_tokens].tolist() for row, ids in enumerate(prompts)]
    if stop_token_id is not None:
        rows = [row[:len(ids) + row[len(ids):].index(stop_token_id) + 1] if stop_token_id in row[len(ids):] else row
                for row, ids in zip(rows, prompts)]
    if kind == "str":
        return tokenizer.decode(rows[0])
    if kind == "strs":
        return [tokenizer.decode(row) for row in rows]
    if kind == "array" and stop_token_id is None:
        return np.asarray(rows, dtype="int32")
    return rows


def _prompt_ids(owner, prompt, tokenizer, vocabulary_size):
    """`(list of token-id lists, kind of prompt, tokenizer)`."""
    import numpy as np

    if isinstance(prompt, str) or (isinstance(prompt, (list, tuple)) and prompt and
                                   all(isinstance(p, str) for p in prompt)):
        if tokenizer is None:
            if vocabulary_size != 256:
                raise errors.invalid(owner, "tokenizer", f"a tokenizer for text prompts (the model's vocabulary has "
                                     f"{vocabulary_size} tokens, not the 256 of bytes)", None)
            from kerakit.data import ByteTokenizer

            tokenizer = ByteTokenizer()
        texts = [prompt] if isinstance(prompt, str) else list(prompt)
        ids = [[int(i) for i in tokenizer.encode(text)] for text in texts]
        return ids, "str" if isinstance(prompt, str) else "strs", tokenizer
    if isinstance(prompt, np.ndarray) or hasattr(prompt, "shape"):
        array = np.asarray(prompt)
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
            raise errors.invalid(owner, "prompt", "an int array of shape (batch, length)",
                                 f"an array of shape {array.shape} and dtype {array.dtype}")
        return array.tolist(), "array", tokenizer
    if isinstance(prompt, (list, tuple)) and prompt:
        if all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in prompt):
            return [list(prompt)], "lists", tokenizer
        if all(isinstance(p, (list, tuple)) and all(isinstance(i, numbers.Integral) for i in p) for p in prompt):
            return [list(p) for p in prompt], "lists", tokenizer
    raise errors.invalid(owner, "prompt", "a str, a list of str, a list of token ids, a list of such lists or an "
                         "int array", prompt)


@functools.cache
def _loop_class():
    """`GenerationLoop`, defined on first use so that importing this module does not import Keras."""
    import keras
    from keras import ops

    class GenerationLoop(keras.Model):
        """The generation loop as a Keras model, so that `predict_on_batch` compiles it on either backend.

        Inputs: `tokens` `(batch, total)` (prompts, right-padded), `is_prompt` `(batch, total)` (where a prompt token
        must be kept), `noise` `(batch, total)` uniform numbers. Output: `tokens` with every non-prompt place filled.
        """

        def __init__(self, decoder, prompt_length, sampler, temperature, top_k, top_p, use_cache):
            super().__init__(name=f"{decoder.name}_generation")
            # The decoder's layers, not the decoder: `_LOOPS` holds this loop weakly keyed by the decoder, and a
            # reference back to it would keep every decoder (and its compiled loops) alive forever.
            self.embedding, self.blocks, self.final_norm = decoder_parts(decoder)
            self.prompt_length = prompt_length
            self.sampler, self.temperature, self.top_k, self.top_p = sampler, temperature, top_k, top_p
            self.use_cache = use_cache
            self.built = True  # nothing to build: predict_on_batch then compiles without an eager trial run
            self.jit_compile = True  # XLA on TensorFlow too (Keras's "auto" leaves it off on CPUs)

        def _forward(self, tokens, caches=None, start=0):
            """Logits of `tokens` at positions `start...`; with `caches` (one per block) attending over them and
            returning them updated, without them attending over `tokens` alone (causally)."""
            x = self.embedding(tokens, start_index=start)
            updated = []
            for index, block in enumerate(self.blocks):
                if caches is None:
                    x = block(x, training=False)
                else:
                    x, cache = block(x, cache=caches[index], cache_index=start, training=False)
                    updated.append(cache)
            if self.final_norm is not None:
                x = self.final_norm(x)
            return ops.cast(self.embedding(x, reverse=True), "float32"), tuple(updated)

        def _choose(self, logits, uniform):
            """The next token of each row from `logits` `(batch, vocab)` and one uniform number per row."""
            if self.sampler == "greedy":
                return ops.cast(ops.argmax(logits, axis=-1), "int32")
            logits = logits / self.temperature
            if self.sampler == "top_k":
                kth = ops.top_k(logits, self.top_k)[0][:, -1:]
                logits = ops.where(logits < kth, -1e9, logits)
            probabilities = ops.softmax(logits, axis=-1)
            if self.sampler == "top_p":
                descending = ops.flip(ops.sort(probabilities, axis=-1), axis=-1)
                before = ops.cumsum(descending, axis=-1) - descending  # mass of the likelier tokens
                smallest_kept = ops.min(ops.where(before < self.top_p, descending, 2.0), axis=-1, keepdims=True)
                probabilities = ops.where(probabilities >= smallest_kept, probabilities, 0.0)
            cumulative = ops.cumsum(probabilities, axis=-1)
            threshold = uniform[:, None] * cumulative[:, -1:]
            chosen = ops.sum(ops.cast(cumulative <= threshold, "int32"), axis=-1)
            return ops.minimum(chosen, ops.shape(logits)[-1] - 1)

        def _place(self, tokens, is_prompt, index, chosen):
            """Writes `chosen` at column `index`, except where a (longer) prompt already holds a token."""
            kept = ops.take(tokens, index, axis=1)
            token = ops.where(ops.take(is_prompt, index, axis=1), kept, chosen)
            return ops.slice_update(tokens, (0, index), ops.cast(token, tokens.dtype)[:, None]), token

        def call(self, inputs):
            tokens = ops.cast(inputs["tokens"], "int32")
            is_prompt = ops.cast(inputs["is_prompt"], "bool")
            noise = inputs["noise"]
            batch, total = ops.shape(tokens)[0], tokens.shape[1]

            if not self.use_cache:
                def step(index, tokens):
                    logits, _ = self._forward(tokens)
                    chosen = self._choose(ops.take(logits, index - 1, axis=1), ops.take(noise, index, axis=1))
                    return self._place(tokens, is_prompt, index, chosen)[0]

                return ops.fori_loop(self.prompt_length, total, step, tokens)

            caches = tuple(
                ops.zeros((batch, 2, total, block.num_heads, block.self_attention.key_dim), self.compute_dtype)
                for block in self.blocks)
            logits, caches = self._forward(tokens[:, :self.prompt_length], caches, 0)

            def step(index, state):
                tokens, caches, last_logits = state
                chosen = self._choose(last_logits, ops.take(noise, index, axis=1))
                tokens, token = self._place(tokens, is_prompt, index, chosen)
                logits, caches = self._forward(token[:, None], caches, index)
                return tokens, caches, logits[:, 0]

            tokens, _, _ = ops.fori_loop(self.prompt_length, total, step, (tokens, caches, logits[:, -1]))
            return tokens

    return GenerationLoop
