"""A cross-encoder's relevance activation, read from what sentence-transformers writes in config.json
(``sentence_transformers.activation_fn``, or ``sbert_ce_default_activation_function`` before v4),
and the classifier head applying it to ``score`` groups only."""

import logging

import pytest
import torch
from transformers import PretrainedConfig

from multiscore.layers.pooler import ClassifierHead, ReadoutGroup
from multiscore.layers.score_activation import configured_activation_path, score_activation
from multiscore.messages import PoolingParams

IDENTITY = "torch.nn.modules.linear.Identity"
TANH = "torch.nn.modules.activation.Tanh"


def _config(num_labels=1, **keys):
    return PretrainedConfig(num_labels=num_labels, **keys)


def test_no_configured_activation_keeps_the_classifier_rule():
    assert configured_activation_path(_config()) is None
    assert score_activation(_config(), "sigmoid") == ("sigmoid", None)


@pytest.mark.parametrize("keys", [
    {"sbert_ce_default_activation_function": IDENTITY},  # cross-encoder/ms-marco-MiniLM-L-6-v2
    {"sentence_transformers": {"activation_fn": IDENTITY, "version": "5.1.0"}},
])
def test_identity_in_either_form_means_raw_logits(keys):
    assert configured_activation_path(_config(**keys)) == IDENTITY
    assert score_activation(_config(**keys), "sigmoid") == ("none", None)


def test_the_v4_key_wins_over_the_legacy_one():
    cfg = _config(sentence_transformers={"activation_fn": TANH}, sbert_ce_default_activation_function=IDENTITY)
    assert configured_activation_path(cfg) == TANH


@pytest.mark.parametrize("name", ["Sigmoid", "Softmax"])
def test_sigmoid_or_softmax_mean_the_classifier_rule(name):
    """As vLLM reads them: sigmoid with one label, softmax over several."""
    path = f"torch.nn.modules.activation.{name}"
    assert score_activation(_config(sbert_ce_default_activation_function=path), "sigmoid") == ("sigmoid", None)
    assert score_activation(_config(3, sbert_ce_default_activation_function=path), "softmax") == ("softmax", None)


def test_another_torch_activation_is_built_and_called():
    kind, module = score_activation(_config(sentence_transformers={"activation_fn": TANH}), "sigmoid")
    assert kind == "module" and isinstance(module, torch.nn.Tanh)
    x = torch.tensor([[-2.0], [0.5]])
    assert torch.equal(module(x), torch.tanh(x))


def test_a_path_outside_torch_is_ignored_with_a_warning(caplog):
    cfg = _config(sentence_transformers={"activation_fn": "my_package.activations.Scaled"})
    with caplog.at_level(logging.WARNING, logger="multiscore.layers.score_activation"):
        assert score_activation(cfg, "sigmoid") == ("sigmoid", None)
    assert "my_package.activations.Scaled" in caplog.text and "ignored" in caplog.text


@pytest.mark.parametrize("path, message", [
    ("torch.nn.modules.activation.NoSuchThing", "which torch does not have"),
    ("torch.nn.modules.activation.F", "not a torch.nn.Module"),  # torch.nn.functional, a module
    ("torch.nn.modules.linear.Linear", "cannot be built without arguments"),
])
def test_a_bad_torch_path_is_a_clear_error(path, message):
    with pytest.raises(ValueError, match=message):
        score_activation(_config(sbert_ce_default_activation_function=path), "sigmoid")


def test_head_applies_the_configured_activation_to_score_groups_only():
    cfg = _config(sentence_transformers={"activation_fn": TANH})
    head = ClassifierHead(lambda x: x[:, :1], cfg)  # the first hidden value is the logit
    pooled = torch.tensor([[-3.0, 9.0], [0.25, 9.0], [1.5, 9.0], [4.0, 9.0]])
    groups = [ReadoutGroup(0, 1, PoolingParams(activation="score")), ReadoutGroup(1, 2, PoolingParams(activation="default")),
              ReadoutGroup(2, 3, PoolingParams(activation="none")), ReadoutGroup(3, 4, PoolingParams(activation="score"))]
    out = head(pooled, groups)
    assert torch.allclose(out[0], torch.tanh(torch.tensor([[-3.0]])))
    assert torch.allclose(out[1], torch.sigmoid(torch.tensor([[0.25]])))  # /classify keeps the classifier rule
    assert torch.equal(out[2], torch.tensor([[1.5]]))
    assert torch.allclose(out[3], torch.tanh(torch.tensor([[4.0]])))
    same = head(pooled, [ReadoutGroup(0, 4, PoolingParams(activation="score"))])  # one call for the batch
    assert torch.allclose(same[0], torch.tanh(pooled[:, :1]))


def test_head_without_a_configured_activation_scores_as_it_classifies():
    head = ClassifierHead(lambda x: x, _config(3))
    pooled = torch.tensor([[1.0, 2.0, 3.0]])
    score = head(pooled, [ReadoutGroup(0, 1, PoolingParams(activation="score"))])[0]
    assert torch.allclose(score, torch.softmax(pooled, -1))
