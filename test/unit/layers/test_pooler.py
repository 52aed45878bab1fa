"""score_and_pool on hand-made tensors."""

import pytest
import torch

from multiscore.layers.pooler import ReadoutGroup, score_and_pool


def _hidden():
    torch.manual_seed(0)
    return torch.randn(6, 4)  # T=6 rows, H=4


def test_classification_head_runs_only_on_readout_rows():
    hidden, weight = _hidden(), torch.randn(3, 4)  # C=3 classes
    rows = torch.tensor([1, 5])
    out = score_and_pool(hidden, rows, [ReadoutGroup(0, 2, None, False)], weight)
    assert len(out) == 1 and out[0].shape == (2, 3)
    torch.testing.assert_close(out[0], hidden[[1, 5]] @ weight.T)


def test_classification_softmax_per_group():
    hidden, weight = _hidden(), torch.randn(3, 4)
    rows = torch.tensor([0, 2, 4])
    raw, soft = score_and_pool(hidden, rows, [ReadoutGroup(0, 1, None, False), ReadoutGroup(1, 3, None, True)], weight)
    torch.testing.assert_close(raw, hidden[[0]] @ weight.T)
    torch.testing.assert_close(soft, torch.softmax(hidden[[2, 4]] @ weight.T, -1))
    torch.testing.assert_close(soft.sum(-1), torch.ones(2))


def test_causal_lm_full_vocab_probabilities_of_labels():
    hidden, lm_head = _hidden(), torch.randn(10, 4)  # V=10
    rows = torch.tensor([3])
    (out,) = score_and_pool(hidden, rows, [ReadoutGroup(0, 1, [2, 7], False)], lm_head, causal_lm=True)
    probs = torch.softmax(hidden[3] @ lm_head.T, -1)
    torch.testing.assert_close(out, probs[[2, 7]][None])
    assert out.sum() < 1  # a share of the full vocabulary, not renormalised


def test_causal_lm_apply_softmax_over_labels_only():
    hidden, lm_head = _hidden(), torch.randn(10, 4)
    rows = torch.tensor([3, 4])
    (out,) = score_and_pool(hidden, rows, [ReadoutGroup(0, 2, [2, 7, 9], True)], lm_head, causal_lm=True)
    logits = hidden[[3, 4]] @ lm_head.T
    torch.testing.assert_close(out, torch.softmax(logits[:, [2, 7, 9]], -1))


def test_causal_lm_groups_with_different_labels_and_many_rows():
    torch.manual_seed(1)
    hidden, lm_head = torch.randn(300, 4), torch.randn(10, 4)
    rows = torch.arange(300)  # more rows than one LM-head chunk
    a, b = score_and_pool(
        hidden, rows, [ReadoutGroup(0, 200, [1], False), ReadoutGroup(200, 300, [4, 5], False)], lm_head, causal_lm=True
    )
    assert a.shape == (200, 1) and b.shape == (100, 2)
    probs = torch.softmax(hidden @ lm_head.T, -1)
    torch.testing.assert_close(a, probs[:200, [1]])
    torch.testing.assert_close(b, probs[200:, [4, 5]])


def test_causal_lm_without_labels_is_an_error():
    with pytest.raises(ValueError, match="label_token_ids"):
        score_and_pool(_hidden(), torch.tensor([0]), [ReadoutGroup(0, 1, None, False)], torch.randn(10, 4), causal_lm=True)


def test_prepooled_hidden_states_skip_the_gather():
    hidden, weight = _hidden(), torch.randn(3, 4)
    (out,) = score_and_pool(hidden[[2, 3]], None, [ReadoutGroup(0, 2, None, False)], weight)
    torch.testing.assert_close(out, hidden[[2, 3]] @ weight.T)
