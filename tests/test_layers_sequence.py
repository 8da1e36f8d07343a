"""kerakit.layers.sequence: embeddings, cached attention, T5's relative bias, encoder and decoder blocks."""

import math

import keras
import numpy as np
import pytest

from kerakit.errors import KerakitError
from kerakit.layers.sequence import (
    RelativePositionBias,
    TokenAndPositionEmbedding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
    causal_mask,
    rotate,
    sinusoidal_positions,
)
from tests.helpers import run_layer_test


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("layer_class, kwargs", [
    (TransformerEncoderBlock, {"num_heads": 2, "intermediate_dim": 8, "norm": "rms", "use_bias": False}),
    (TransformerDecoderBlock, {"num_heads": 2, "intermediate_dim": 8, "norm_first": True,
                               "rotary_max_wavelength": 100.0}),
])
def test_blocks_pass_the_shared_layer_test(layer_class, kwargs, tmp_path):
    run_layer_test(layer_class, kwargs, (2, 5, 8), (2, 5, 8), tmp_path)


def test_token_and_position_embedding_passes_the_shared_layer_test(tmp_path):
    run_layer_test(TokenAndPositionEmbedding, {"vocabulary_size": 7, "max_length": 6, "width": 4,
                                               "position": "sinusoidal", "scale": True},
                   (2, 5), (2, 5, 4), tmp_path, input_dtype="int32")


def test_sinusoidal_positions_follow_vaswani_et_al():
    table = np.asarray(sinusoidal_positions(5, 6))
    position, pair = np.arange(5)[:, None], np.arange(3)[None, :]
    angle = position / 10000 ** (2 * pair / 6)
    np.testing.assert_allclose(table[:, 0::2], np.sin(angle), atol=1e-6)
    np.testing.assert_allclose(table[:, 1::2], np.cos(angle), atol=1e-6)


def test_embedding_adds_the_positions_from_start_index_and_ties_the_output_projection():
    layer = TokenAndPositionEmbedding(vocabulary_size=9, max_length=8, width=4)
    ids = np.array([[3, 1, 4]])
    full = np.asarray(layer(np.array([[0, 0, 3, 1, 4]])))
    np.testing.assert_allclose(np.asarray(layer(ids, start_index=2)), full[:, 2:], atol=1e-6)
    tokens = np.asarray(layer.token_embedding.embeddings)
    hidden = _x((1, 2, 4))
    np.testing.assert_allclose(np.asarray(layer(hidden, reverse=True)), hidden @ tokens.T, atol=1e-5)


def test_rotary_scores_depend_only_on_the_distance():
    q, k = _x((1, 1, 1, 8), 1), _x((1, 1, 1, 8), 2)

    def score(i, j):
        return float(np.sum(np.asarray(rotate(q, np.array([i]))) * np.asarray(rotate(k, np.array([j])))))

    assert score(3, 1) == pytest.approx(score(7, 5), abs=1e-5)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)


def test_t5_buckets_match_the_reference_rule():
    def reference(relative, bidirectional, num_buckets=32, max_distance=128):  # Raffel et al.'s rule, transcribed
        bucket = 0
        if bidirectional:
            num_buckets //= 2
            bucket += (relative > 0) * num_buckets
            relative = abs(relative)
        else:
            relative = -min(relative, 0)
        exact = num_buckets // 2
        if relative < exact:
            return bucket + relative
        large = exact + int(math.log(relative / exact) / math.log(max_distance / exact) * (num_buckets - exact))
        return bucket + min(large, num_buckets - 1)

    distances = np.arange(-300, 301)
    for bidirectional in (True, False):
        layer = RelativePositionBias(num_heads=2, bidirectional=bidirectional)
        expected = [reference(int(d), bidirectional) for d in distances]
        assert np.asarray(layer.buckets(distances)).tolist() == expected
    bias = RelativePositionBias(num_heads=3, num_buckets=8, max_distance=16)
    assert tuple(bias(_x((2, 4, 6))).shape) == (1, 3, 4, 4)


def test_encoder_padding_really_masks():
    block = TransformerEncoderBlock(num_heads=2, intermediate_dim=16)
    x, mask = _x((2, 6, 8)), np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    changed = x.copy()
    changed[0, 4:] = 100.0
    before, after = np.asarray(block(x, padding_mask=mask)), np.asarray(block(changed, padding_mask=mask))
    np.testing.assert_allclose(after[0, :4], before[0, :4], atol=1e-5)
    np.testing.assert_allclose(after[1], before[1], atol=1e-5)
    unmasked = np.asarray(block(changed))
    assert np.abs(unmasked[0, :4] - before[0, :4]).max() > 1e-3  # without the mask the padding leaks in


def test_decoder_is_causal_and_its_cache_gives_the_full_computation():
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=16, norm_first=True, rotary_max_wavelength=1e4)
    x = _x((2, 6, 8))
    full = np.asarray(block(x))
    changed = x.copy()
    changed[:, 4] += 3.0
    np.testing.assert_allclose(np.asarray(block(changed))[:, :4], full[:, :4], atol=1e-6)
    cache = np.zeros((2, 2, 6, 2, 4), "float32")
    prefix, cache = block(x[:, :3], cache=cache, cache_index=0)
    steps = [np.asarray(prefix)]
    for i in range(3, 6):
        out, cache = block(x[:, i:i + 1], cache=cache, cache_index=i)
        steps.append(np.asarray(out))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_decoder_cross_attention_uses_the_encoder_and_its_padding_mask():
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=8, cross_attention=True)
    x, source = _x((1, 3, 8)), _x((1, 4, 8), 1)
    mask = np.array([[1, 1, 0, 0]])
    out = np.asarray(block(x, encoder_outputs=source, encoder_padding_mask=mask))
    changed = source.copy()
    changed[0, 2:] = 50.0
    np.testing.assert_allclose(np.asarray(block(x, encoder_outputs=changed, encoder_padding_mask=mask)), out,
                               atol=1e-5)
    changed[0, 0] += 1.0
    assert np.abs(np.asarray(block(x, encoder_outputs=changed, encoder_padding_mask=mask)) - out).max() > 1e-4
    with pytest.raises(KerakitError, match="`encoder_outputs` must be the encoder's outputs"):
        block(x)


def test_causal_mask_lets_each_query_see_its_past():
    assert np.asarray(causal_mask(2, 4, start_index=1)).astype(int).tolist() == [[[1, 1, 0, 0], [1, 1, 1, 0]]]


def test_bad_inputs_get_clear_errors():
    with pytest.raises(KerakitError, match=r"sequences of at most 4 tokens .*Received: inputs='5 tokens"):
        TokenAndPositionEmbedding(9, 4, 8)(np.zeros((1, 5), "int32"))
    with pytest.raises(KerakitError, match=r"`num_heads` must be a divisor of the width 8. Received: num_heads=3"):
        TransformerEncoderBlock(num_heads=3, intermediate_dim=8)(_x((1, 2, 8)))
    with pytest.raises(KerakitError, match=r"`padding_mask` must be a \(batch, length\) mask matching the "
                                           r"sequence's shape \(2, 6\). Received: padding_mask='a tensor of shape "
                                           r"\(2, 5\)'"):
        TransformerEncoderBlock(num_heads=2, intermediate_dim=8)(_x((2, 6, 8)), padding_mask=np.ones((2, 5)))
    with pytest.raises(KerakitError, match=r"`position` must be one of \['learned', 'sinusoidal', 'none'\]"):
        TokenAndPositionEmbedding(9, 4, 8, position="rope")
    with pytest.raises(KerakitError, match=r"`norm` must be one of \['layer', 'rms'\]"):
        TransformerEncoderBlock(num_heads=2, intermediate_dim=8, norm="batch")
    with pytest.raises(KerakitError, match=r"`dropout` must be a float in \[0, 1\)"):
        TransformerDecoderBlock(num_heads=2, intermediate_dim=8, dropout=1.0)


def test_a_functional_model_of_blocks_round_trips_through_keras_files(tmp_path):
    tokens = keras.Input((None,), dtype="int32")
    embedding = TokenAndPositionEmbedding(11, 8, 8)
    x = TransformerDecoderBlock(2, 16, norm_first=True)(embedding(tokens))
    model = keras.Model(tokens, embedding(x, reverse=True))
    ids = np.array([[1, 2, 3, 4]])
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(restored(ids)), np.asarray(model(ids)), atol=1e-6)
    assert model.count_params() == 11 * 8 + 8 * 8 + (4 * (8 * 8 + 8) + 2 * 8) + (8 * 16 + 16 + 16 * 8 + 8) + 2 * 8
