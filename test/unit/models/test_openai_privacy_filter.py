"""OpenAI's privacy filter (``OpenAIPrivacyFilterForTokenClassification``): per-token label scores against
transformers on a tiny checkpoint (fp32), sequences long enough for its bidirectional sliding window, its
experts' clamps and its YaRN rotary to matter; and that each of those parts is in play."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import worker

LENGTHS = (40, 23, 3)  # several windows of 4 positions on either side, and one shorter than a window


@pytest.fixture(scope="module")
def checkpoint(tiny_model):
    return tiny_model("openai_privacy_filter", "tokcls", num_labels=5, seed=3)


def _reference(path, lengths, **config_changes):
    """Random token ids of ``lengths`` and transformers' logits [T, labels] for each sequence alone;
    ``config_changes`` made to its config first."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    config = AutoConfig.from_pretrained(str(path))
    for key, value in config_changes.items():
        setattr(config, key, value)
    model = AutoModelForTokenClassification.from_pretrained(str(path), config=config, dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(0)
    ids = [torch.randint(3, config.vocab_size, (n,), generator=gen).tolist() for n in lengths]
    with torch.no_grad():
        return ids, [model(input_ids=torch.tensor([x])).logits[0] for x in ids]


def test_token_scores_equal_transformers(checkpoint):
    ids, expected = _reference(checkpoint, LENGTHS)
    w = worker(checkpoint)
    assert w.model.kind is ModelKind.ENCODER_TOKEN_CLASSIFIER
    pooling = PoolingParams(activation="none", per_token=True, token_head="classify")
    got = w.forward([ScoreSequence(f"r{i}", x, 0, len(x), pooling) for i, x in enumerate(ids)])  # one packed batch
    for g, e, x in zip(got, expected, ids):
        assert tuple(g.shape) == (len(x), 5)
        np.testing.assert_allclose(g.numpy(), e.numpy(), atol=1e-5)


@pytest.mark.parametrize("change", [{"sliding_window": 64}, {"swiglu_limit": 100.0},
                                    {"rope_parameters": {"rope_type": "default", "rope_theta": 150000.0}}])
def test_the_window_the_clamps_and_yarn_are_in_play(checkpoint, change):
    """Each part moves transformers' own scores on these texts well past the tolerance above."""
    _, expected = _reference(checkpoint, LENGTHS[:1])
    _, changed = _reference(checkpoint, LENGTHS[:1], **change)
    assert (expected[0] - changed[0]).abs().max() > 1e-3


def test_the_sinks_take_their_share_of_each_softmax(checkpoint):
    """Without its sink logits (a sink of -inf takes nothing) the scores move: ours follow transformers' sinks."""
    ids, expected = _reference(checkpoint, LENGTHS[:1])
    w = worker(checkpoint)
    pooling = PoolingParams(activation="none", per_token=True, token_head="classify")
    seq = [ScoreSequence("r", ids[0], 0, len(ids[0]), pooling)]
    with torch.no_grad():
        for layer in w.model.model.layers:
            layer.self_attn.sinks.fill_(float("-inf"))
    assert (w.forward(seq)[0] - expected[0]).abs().max() > 1e-3


def test_flashinfer_is_refused_with_the_reason(checkpoint):
    with pytest.raises(ValueError, match="attention has sink logits, which the FlashInfer backend does not take"):
        worker(checkpoint, attention_backend="flashinfer")
