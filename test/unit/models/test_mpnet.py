"""MPNet beyond the shared encoder matrix (test_encoder_models.py, test_sentence_transformers_dense.py):
its relative-position buckets against transformers', a guard that the relative bias matters, and
a sequence long enough to reach the last (shared) bucket."""

import pytest
import torch

from multiscore.configs.model_kind import ModelKind
from multiscore.models.relative_bias import relative_buckets
from test_encoder_models import load_ours, load_reference, run_packed, run_reference


@pytest.mark.parametrize("num_buckets", [32, 16, 8])
def test_relative_buckets_equal_transformers(num_buckets):
    from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

    pos = torch.arange(300)
    relative = pos[None, :] - pos[:, None]  # key - query, as MPNet builds it
    expected = MPNetEncoder.relative_position_bucket(relative, num_buckets=num_buckets)
    assert torch.equal(relative_buckets(relative, num_buckets), expected)


def test_the_relative_bias_changes_the_states(tiny_model):
    """Guards the parity tests: the same weights without the bias give other states."""
    model = load_ours(tiny_model("mpnet", "embed"))
    seqs = [(list(range(5, 25)), [0] * 20)]
    with_bias, _ = run_packed(model, seqs)
    model.model.encoder.relative_attention_bias.weight.data.zero_()
    without, _ = run_packed(model, seqs)
    assert (with_bias - without).abs().max() > 1e-3


def test_past_the_last_bucket_equals_transformers(tiny_model):
    """300 tokens: distances past MPNet's 128 share the last bucket on both sides."""
    path = tiny_model("mpnet", "seqcls", num_labels=3)
    ours, ref = load_ours(path), load_reference(path, "seqcls")
    assert ours.kind is ModelKind.ENCODER_CLASSIFIER
    ids = [0] + [5 + i % 150 for i in range(298)] + [2]
    hidden, outputs = run_packed(ours, [(ids, [0] * len(ids))])
    expected = run_reference(ref, ids, [0] * len(ids))
    torch.testing.assert_close(hidden, expected.hidden_states[-1][0], atol=1e-4, rtol=0)
    torch.testing.assert_close(outputs[0][0], expected.logits[0], atol=1e-4, rtol=0)
