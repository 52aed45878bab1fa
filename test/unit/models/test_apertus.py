"""Apertus against transformers, single-item and MIS: per-head q/k norms, its own norm names, and the
xIELU MLP with learned scalars (perturbed from their initial values in the tiny checkpoint)."""

import pytest
import torch

from multiscore.configs.model_config import ModelConfig
from multiscore.server_args import ServerArgs
from worker_batches import assert_both_ways_equal_transformers, assert_yes_no_classifier_equals_transformers


def test_apertus_equals_transformers_single_item_and_mis(tiny_model):
    assert_both_ways_equal_transformers(tiny_model("apertus", "causal"), "causal", seed=5)


def test_apertus_as_a_yes_no_classifier_by_classifier_from_token(tiny_model):
    """ApertusForSequenceClassification is ours (transformers has none): the converted causal LM."""
    assert_yes_no_classifier_equals_transformers(tiny_model("apertus", "causal"), "ApertusForSequenceClassification")


def test_xielu_equals_transformers_on_both_sides_of_zero():
    from transformers.activations import XIELUActivation

    from multiscore.models.apertus import XIELU

    theirs = XIELUActivation(dtype=torch.float32)
    with torch.no_grad():
        theirs.alpha_p.add_(0.3)
        theirs.alpha_n.sub_(0.2)
    ours = XIELU()
    ours.load_state_dict({k: v.clone() for k, v in theirs.state_dict().items()})
    x = torch.linspace(-6, 6, 97)  # negatives, zero, positives
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-6, rtol=0)


def test_another_activation_is_refused(tiny_model):
    with pytest.raises(ValueError, match="its MLP is xIELU"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(tiny_model("apertus", "causal")),
                                                json_model_override_args='{"hidden_act": "silu"}'))


def test_apertus1p5_with_a_pruned_lm_head_equals_transformers(tiny_model):
    """Apertus 1.5: the LM head keeps 160 rows of the vocabulary; a label token id past them is refused."""
    from multiscore.tokenizer.inputs import check_label_token_ids

    path = tiny_model("apertus1p5", "causal")
    assert_both_ways_equal_transformers(path, "causal", seed=5)
    config = ModelConfig.from_server_args(ServerArgs(model_path=str(path)))
    assert config.label_vocab_size == 160 and config.vocab_size > 160
    with pytest.raises(ValueError, match=r"token id 170, outside the vocabulary \[0, 160\)"):
        check_label_token_ids([3, 170], config.label_vocab_size, causal_lm=True)
