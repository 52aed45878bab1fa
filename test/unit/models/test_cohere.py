"""Cohere (Aya, Command R), Command R7B, Phi (the same parallel blocks), ERNIE 4.5 and GLM-4 (interleaved-pair rotary, GLM's on half of
each head; GLM-4-0414's sandwich norms) against transformers: parallel blocks on one LayerNorm,
rotary over interleaved pairs, logits times ``logit_scale``; Command R7B's sliding layer with rotary
beside a global one without. The causal LM read at label tokens, single-item and MIS, and a
classifier by ``classifier_from_token`` (which scales the LM head's rows the same)."""

import pytest

from worker_batches import assert_both_ways_equal_transformers, assert_yes_no_classifier_equals_transformers, worker


@pytest.mark.parametrize("arch", ["cohere", "cohere2"])
def test_cohere_equals_transformers_single_item_and_mis(tiny_model, arch):
    path = tiny_model(arch, "causal")
    if arch == "cohere2":
        assert [layer.self_attn.rotary for layer in worker(path).model.model.layers] == [True, False]
    assert_both_ways_equal_transformers(path, "causal", seed=2)


def test_a_yes_no_classifier_by_classifier_from_token(tiny_model):
    assert_yes_no_classifier_equals_transformers(tiny_model("cohere", "causal"), "CohereForSequenceClassification")


def test_qk_norm_checkpoints_are_refused_with_the_reason(tiny_model):
    with pytest.raises(ValueError, match="use_qk_norm"):
        worker(tiny_model("cohere", "causal", use_qk_norm=True))


def test_ernie4_5_equals_transformers_single_item_and_mis(tiny_model):
    assert_both_ways_equal_transformers(tiny_model("ernie4_5", "causal"), "causal", seed=4)


@pytest.mark.parametrize("arch, head", [("glm", "causal"), ("glm", "seqcls"), ("glm4", "causal"), ("glm4", "seqcls")])
def test_glm_equals_transformers_single_item_and_mis(tiny_model, arch, head):
    assert_both_ways_equal_transformers(tiny_model(arch, head), head, seed=5)


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_phi_equals_transformers_single_item_and_mis(tiny_model, head):
    assert_both_ways_equal_transformers(tiny_model("phi", head), head, seed=6)


def test_phis_biased_lm_head_refuses_the_classifier_conversion(tiny_model):
    import json

    overrides = {"architectures": ["PhiForSequenceClassification"], "classifier_from_token": ["a", "b"],
                 "method": "from_2_way_softmax"}
    with pytest.raises(ValueError, match="LM head has a bias"):
        worker(tiny_model("phi", "causal"), json_model_override_args=json.dumps(overrides))
