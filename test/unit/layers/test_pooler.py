"""The pooler's heads and pooling methods on hand-made tensors, and vLLM's activation rule."""

import pytest
import torch
from transformers import PretrainedConfig

from multiscore.layers.pooler import (
    ClassifierHead,
    EmbeddingHead,
    LabelProbabilityHead,
    Pooler,
    PoolingMetadata,
    PoolingMethod,
    ReadoutGroup,
    activate,
    config_activation,
)
from multiscore.messages import PoolingParams


def _hidden():
    torch.manual_seed(0)
    return torch.randn(6, 4)  # T=6 rows, H=4


def _group(start, end, labels=None, activation="none"):
    return ReadoutGroup(start, end, PoolingParams(label_token_ids=labels, activation=activation))


def _linear(weight):
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    layer.weight.data.copy_(weight)
    return layer


def _meta(seq_lens, item_last_rows=None):
    lens = torch.tensor(seq_lens)
    rows = item_last_rows if item_last_rows is not None else torch.cumsum(lens, 0) - 1
    return PoolingMetadata(seq_lens, torch.cumsum(lens, 0) - lens, rows, groups=[])


def test_last_pooling_reads_only_the_readout_rows():
    hidden, weight = _hidden(), torch.randn(3, 4)  # C=3 classes
    rows = torch.tensor([1, 5])
    meta = _meta([2, 4], item_last_rows=rows)
    assert PoolingMethod.LAST.rows(meta).tolist() == [1, 5]
    head = ClassifierHead(lambda x: x @ weight.T, PretrainedConfig(num_labels=3))
    (out,) = head(hidden.index_select(0, PoolingMethod.LAST.rows(meta)), [_group(0, 2)])
    assert out.shape == (2, 3)
    torch.testing.assert_close(out, hidden[[1, 5]] @ weight.T)


def test_classification_activation_per_group():
    hidden, weight = _hidden(), torch.randn(3, 4)
    head = ClassifierHead(lambda x: x @ weight.T, PretrainedConfig(num_labels=3))
    raw, soft = head(hidden[[0, 2, 4]], [_group(0, 1), _group(1, 3, activation="softmax")])
    torch.testing.assert_close(raw, hidden[[0]] @ weight.T)
    torch.testing.assert_close(soft, torch.softmax(hidden[[2, 4]] @ weight.T, -1))
    torch.testing.assert_close(soft.sum(-1), torch.ones(2))


def test_default_activation_is_the_configs():
    hidden, weight = _hidden(), torch.randn(1, 4)
    head = ClassifierHead(lambda x: x @ weight.T, PretrainedConfig(num_labels=1))  # one label: sigmoid
    (out,) = head(hidden, [_group(0, 6, activation="default")])
    torch.testing.assert_close(out, torch.sigmoid(hidden @ weight.T))


def test_causal_lm_full_vocab_probabilities_of_labels():
    hidden, lm_head = _hidden(), torch.randn(10, 4)  # V=10
    (out,) = LabelProbabilityHead(_linear(lm_head))(hidden[[3]], [_group(0, 1, [2, 7])])
    probs = torch.softmax(hidden[3] @ lm_head.T, -1)
    torch.testing.assert_close(out, probs[[2, 7]][None])
    assert out.sum() < 1  # a share of the full vocabulary, not renormalised


def test_causal_lm_apply_softmax_over_labels_only():
    hidden, lm_head = _hidden(), torch.randn(10, 4)
    (out,) = LabelProbabilityHead(_linear(lm_head))(hidden[[3, 4]], [_group(0, 2, [2, 7, 9], "softmax")])
    logits = hidden[[3, 4]] @ lm_head.T
    torch.testing.assert_close(out, torch.softmax(logits[:, [2, 7, 9]], -1))


def test_causal_lm_groups_with_different_labels_and_many_rows():
    torch.manual_seed(1)
    hidden, lm_head = torch.randn(300, 4), torch.randn(10, 4)  # more rows than one LM-head chunk
    a, b = LabelProbabilityHead(_linear(lm_head))(hidden, [_group(0, 200, [1]), _group(200, 300, [4, 5])])
    assert a.shape == (200, 1) and b.shape == (100, 2)
    probs = torch.softmax(hidden @ lm_head.T, -1)
    torch.testing.assert_close(a, probs[:200, [1]])
    torch.testing.assert_close(b, probs[200:, [4, 5]])


def test_causal_lm_without_labels_is_an_error():
    with pytest.raises(ValueError, match="label_token_ids"):
        LabelProbabilityHead(_linear(torch.randn(10, 4)))(_hidden()[[0]], [_group(0, 1)])


def test_embedding_pooling_values():
    hidden = torch.arange(12, dtype=torch.float32).reshape(6, 2)  # two sequences: 2 and 4 tokens
    meta = _meta([2, 4])
    meta.groups = [_group(0, 1, activation="default"), _group(1, 2, activation="default")]
    assert PoolingMethod.CLS.rows(meta).tolist() == [0, 2]
    assert PoolingMethod.LAST.rows(meta).tolist() == [1, 5]
    assert PoolingMethod.MEAN.rows(meta) is None  # every row
    mean = torch.cat(Pooler(PoolingMethod.MEAN, EmbeddingHead(normalize=False))(hidden, meta))
    torch.testing.assert_close(mean, torch.tensor([[1.0, 2.0], [7.0, 8.0]]))
    last = torch.cat(Pooler(PoolingMethod.LAST, EmbeddingHead(normalize=True))(hidden[[1, 5]], meta))
    torch.testing.assert_close(last.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(last[0], torch.tensor([2.0, 3.0]) / 13**0.5)


def test_matryoshka_dimensions_cut_then_renormalise():
    pooled = torch.tensor([[3.0, 4.0, 12.0], [1.0, 0.0, 0.0]])
    cut, whole = EmbeddingHead(normalize=True)(
        pooled, [ReadoutGroup(0, 1, PoolingParams(activation="default", dimensions=2)), _group(1, 2, activation="default")]
    )
    torch.testing.assert_close(cut, torch.tensor([[0.6, 0.8]]))
    torch.testing.assert_close(whole, torch.tensor([[1.0, 0.0, 0.0]]))
    (raw,) = EmbeddingHead(normalize=True)(pooled, [_group(0, 2)])  # use_activation: false
    torch.testing.assert_close(raw, pooled)


def test_token_tasks_run_the_head_on_every_token():
    hidden, weight = _hidden(), torch.randn(3, 4)
    meta = _meta([2, 4])
    meta.per_token, meta.groups = True, [_group(0, 2, activation="softmax"), _group(2, 6, activation="softmax")]
    pooler = Pooler(PoolingMethod.LAST, ClassifierHead(lambda x: x @ weight.T, PretrainedConfig(num_labels=3)))
    assert pooler.rows(meta) is None  # the last layer runs on every row
    first, second = pooler(hidden, meta)
    assert first.shape == (2, 3) and second.shape == (4, 3)
    torch.testing.assert_close(second, torch.softmax(hidden[2:] @ weight.T, -1))


@pytest.mark.parametrize(
    "problem_type, num_labels, expected",
    [
        (None, 3, "softmax"),
        (None, 1, "sigmoid"),
        ("single_label_classification", 4, "softmax"),
        ("multi_label_classification", 4, "sigmoid"),
        ("regression", 1, "none"),
        ("regression", 2, "none"),
    ],
)
def test_activation_follows_problem_type(problem_type, num_labels, expected):
    config = PretrainedConfig(num_labels=num_labels, problem_type=problem_type)
    assert config_activation(config) == expected


def test_activate_values():
    logits = torch.tensor([[0.0, torch.log(torch.tensor(3.0))], [1000.0, -1000.0]])
    torch.testing.assert_close(activate(logits, "softmax"), torch.tensor([[0.25, 0.75], [1.0, 0.0]]), atol=1e-7, rtol=0)
    torch.testing.assert_close(activate(logits, "sigmoid")[0], torch.tensor([0.5, 0.75]), atol=1e-7, rtol=0)
    assert torch.equal(activate(logits, "none"), logits)
    with pytest.raises(ValueError, match="unknown activation"):
        activate(logits, "tanh")
