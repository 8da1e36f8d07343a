"""GPT blueprints, generation with and without the key/value cache, LoRA, and language-model training runs."""

import keras
import numpy as np
import pytest

import kerakit
from kerakit.errors import KerakitError
from kerakit.generation import generate

TINY = {"vocabulary_size": 32, "max_length": 24, "num_layers": 2, "width": 16, "num_heads": 2, "dropout": 0.0}


@pytest.fixture(scope="module")
def tiny_gpt():
    keras.utils.set_random_seed(3)
    return kerakit.build("gpt_nano", **TINY)


@pytest.mark.parametrize("name, expected", [("gpt2_small", 124_439_808), ("gpt2_medium", 354_823_168),
                                            ("gpt_nano", 858_880)])
def test_parameter_counts_match_gpt2(name, expected):
    # GPT-2 small: 50,257 x 768 tokens (tied with the output) + 1,024 x 768 positions + 12 blocks of 7,087,872
    # + the final norm's 1,536; Hugging Face's GPT2Model has the same 124,439,808.
    with keras.StatelessScope(initialize_variables=False):
        model = kerakit.build(name)
    assert model.count_params() == expected


def test_the_model_is_causal(tiny_gpt):
    ids = np.array([[1, 5, 9, 2, 7, 3]])
    changed = ids.copy()
    changed[0, 4] = 11
    before, after = tiny_gpt.predict(ids, verbose=0), tiny_gpt.predict(changed, verbose=0)
    np.testing.assert_allclose(after[0, :4], before[0, :4], atol=1e-5)
    assert np.abs(after[0, 4:] - before[0, 4:]).max() > 1e-4


def test_greedy_generation_is_the_same_with_and_without_the_cache(tiny_gpt):
    prompt = np.array([[1, 2, 3, 4], [9, 8, 7, 6]])
    cached = generate(tiny_gpt, prompt, max_new_tokens=12)
    uncached = generate(tiny_gpt, prompt, max_new_tokens=12, use_cache=False)
    assert cached.shape == (2, 16) and cached.dtype == np.int32
    np.testing.assert_array_equal(cached, uncached)
    np.testing.assert_array_equal(cached[:, :4], prompt)
    # Greedy decoding by hand: one full forward pass per token (over a fixed-size buffer: the model is causal).
    tokens = np.zeros((2, 16), "int32")
    tokens[:, :4] = prompt
    for index in range(4, 16):
        tokens[:, index] = tiny_gpt.predict(tokens, verbose=0)[:, index - 1].argmax(-1)
    np.testing.assert_array_equal(cached, tokens)


def test_sampling_is_repeatable_with_a_seed_and_top_k_of_one_is_greedy(tiny_gpt):
    prompt = [[1, 2, 3]]
    for sampler in ("random", "top_k", "top_p"):
        first = generate(tiny_gpt, prompt, 10, sampler=sampler, seed=5, temperature=2.0)
        assert first == generate(tiny_gpt, prompt, 10, sampler=sampler, seed=5, temperature=2.0)
    assert first == generate(tiny_gpt, prompt, 10, sampler="top_p", seed=5, temperature=2.0, use_cache=False)
    draws = {tuple(generate(tiny_gpt, prompt, 10, sampler="random", seed=s, temperature=2.0)[0]) for s in range(4)}
    assert len(draws) > 1
    assert generate(tiny_gpt, prompt, 10, sampler="top_k", top_k=1, seed=1) == generate(tiny_gpt, prompt, 10)


def test_prompts_of_different_lengths_keep_their_tokens_and_match_single_runs(tiny_gpt):
    rows = generate(tiny_gpt, [[1, 2], [3, 4, 5, 6]], max_new_tokens=5)
    assert [len(r) for r in rows] == [7, 9] and rows[1][:4] == [3, 4, 5, 6]
    assert rows[0] == generate(tiny_gpt, [1, 2], max_new_tokens=5)[0]
    assert rows[1] == generate(tiny_gpt, [3, 4, 5, 6], max_new_tokens=5)[0]


def test_text_prompts_use_bytes_and_a_stop_token():
    model = kerakit.build("gpt_nano", num_layers=1, width=16, num_heads=2, max_length=32)
    text = generate(model, "Hi", max_new_tokens=6, seed=0)
    assert isinstance(text, str) and text.startswith("Hi")
    ids = generate(model, [72, 105], max_new_tokens=6)[0]
    cut = generate(model, [72, 105], max_new_tokens=6, stop_token_id=ids[3])[0]
    assert cut == ids[:4]


def test_generation_refuses_bad_input(tiny_gpt):
    with pytest.raises(KerakitError, match=r"`prompt` must be token ids in \[0, 32\).*Received: prompt='id 40 at "
                                           r"index \(1,\)'"):
        generate(tiny_gpt, [1, 40], 3)
    with pytest.raises(KerakitError, match=r"`max_new_tokens` must be at most 21 \(the model takes 24 positions"):
        generate(tiny_gpt, [1, 2, 3], 22)
    with pytest.raises(KerakitError, match=r"`sampler` must be one of \['greedy', 'top_k', 'top_p', 'random'\]"):
        generate(tiny_gpt, [1], 3, sampler="beam")
    with pytest.raises(KerakitError, match=r"`tokenizer` must be a tokenizer for text prompts"):
        generate(tiny_gpt, "hello", 3)
    with pytest.raises(KerakitError, match=r"`model` must be a decoder-only language model"):
        generate(kerakit.build("mlp", input_shape=(4,), hidden_units=(4,)), [1], 3)
    with pytest.raises(KerakitError, match=r"`top_p` must be a number in \(0, 1\]. Received: top_p=0"):
        generate(tiny_gpt, [1], 3, top_p=0)


def test_blueprint_arguments_are_checked_first():
    with pytest.raises(KerakitError, match=r"gpt_nano: `num_heads` must be a divisor of the width 32. Received: "
                                           r"num_heads=3"):
        kerakit.build("gpt_nano", width=32, num_heads=3)
    with pytest.raises(KerakitError, match=r"`sequence_length` must be None or at most max_length=16"):
        kerakit.build("gpt_nano", max_length=16, sequence_length=20)
    with pytest.raises(KerakitError, match=r"`position` must be one of \['learned', 'sinusoidal', 'rotary'\]"):
        kerakit.build("gpt_nano", position="alibi")


@pytest.mark.parametrize("position", ["sinusoidal", "rotary"])
def test_other_positions_generate_the_same_with_the_cache(position):
    model = kerakit.build("gpt_nano", **{**TINY, "position": position})
    prompt = np.array([[3, 1, 4, 1]])
    np.testing.assert_array_equal(generate(model, prompt, 6), generate(model, prompt, 6, use_cache=False))


def test_a_run_trains_a_language_model_then_lora_trains_only_its_own_weights(tmp_path):
    arguments = {"blueprint_args": {"num_layers": 1, "width": 32, "num_heads": 2, "max_length": 32},
                 "data_args": {"sequence_length": 32}, "epochs": 2, "verbose": 0, "export": False,
                 "learning_rate": 1e-2, "batch_size": 128}
    result = kerakit.train("gpt_nano", "text", run_dir=tmp_path / "base", **arguments)
    losses = result.history["val_loss"]
    assert losses[-1] < losses[0] < np.log(256)  # below a uniform guess over bytes, and falling
    assert result.test_metrics["perplexity"] == pytest.approx(np.exp(result.test_metrics["loss"]), rel=1e-6)
    sample = (tmp_path / "base" / "sample.txt").read_text()
    prompt, generated = sample.rstrip("\n").split("|>>")
    assert len(prompt) == 16 and len(generated) >= 8  # half the 32 positions as prompt, the other half generated

    tuned = kerakit.train("gpt_nano", "text", run_dir=tmp_path / "lora", init_from=tmp_path / "base", lora_rank=2,
                          **{**arguments, "epochs": 1})
    names = {w.path.split("/")[-1] for w in tuned.model.trainable_weights}
    assert names == {"lora_kernel_a", "lora_kernel_b"}
    base = {w.path: np.asarray(w) for w in result.model.weights}
    for weight in tuned.model.weights:
        if "lora" not in weight.path and "seed_generator" not in weight.path:
            np.testing.assert_array_equal(np.asarray(weight), base[weight.path], err_msg=weight.path)
    with pytest.raises(KerakitError, match=r"`lora_rank` must be None with freeze_epochs"):
        kerakit.train("gpt_nano", "text", lora_rank=2, freeze_epochs=1, epochs=2)
    with pytest.raises(KerakitError, match=r"`vocabulary_size` must be at least 256"):
        kerakit.train("gpt_nano", "text", blueprint_args={"vocabulary_size": 100}, epochs=1,
                      run_dir=tmp_path / "small")
