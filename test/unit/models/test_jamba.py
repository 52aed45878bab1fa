"""Jamba against transformers: Mamba (v1) layers (a selective scan per channel, RMSNorms on dt, B and C)
between attention layers with no positions, experts (softmax top-k, unnormalised) in every other layer;
the reward model's classifier and the causal LM, single-item and MIS (each item's Mamba layers start
from its query's state and convolution tail), an empty query and one shorter than the convolution; the
prefix cache off and saying why. Bamba: the same layout with Mamba2 mixers and rotary attention."""

import pytest

from multiscore.models.sparse_moe import SparseMoeBlock
from worker_batches import (
    assert_both_ways_equal_transformers,
    assert_empty_and_short_queries_equal_transformers,
    assert_yes_no_classifier_equals_transformers,
    worker,
)


@pytest.fixture(scope="module")
def checkpoint(tiny_model):
    return tiny_model("jamba", "causal")


def test_the_reward_classifier_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("jamba", "seqcls", num_labels=1, mamba_proj_bias=True)  # biased in/out projections too
    w = worker(path)
    layers = w.model.model.layers
    assert [layer.is_mamba for layer in layers] == [True, False, True, False]
    assert [isinstance(layer.mlp, SparseMoeBlock) for layer in layers] == [False, True, False, True]
    assert_both_ways_equal_transformers(path, "seqcls", seed=2, w=w)


@pytest.mark.parametrize("seed", [1, 3])
def test_the_causal_lm_equals_transformers_single_item_and_mis(checkpoint, seed):
    assert_both_ways_equal_transformers(checkpoint, "causal", seed)


def test_items_of_an_empty_query_or_a_short_one(checkpoint):
    assert_empty_and_short_queries_equal_transformers(checkpoint, [11, 12])  # the convolution keeps 3 inputs


def test_a_yes_no_classifier_by_classifier_from_token(checkpoint):
    assert_yes_no_classifier_equals_transformers(checkpoint, "JambaForSequenceClassification")


def test_the_prefix_cache_is_off_and_says_why(checkpoint):
    w = worker(checkpoint)
    assert w.prefix_cache is None
    assert "Mamba layers keep a recurrent state" in w.prefix_cache_reason


def test_bamba_equals_transformers_single_item_and_mis(tiny_model):
    """Bamba: the same layer layout with Mamba2 mixers and attention rotating half of each head."""
    from multiscore.models.mamba2 import Mamba2Mixer

    path = tiny_model("bamba", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert [isinstance(getattr(layer, "mamba", None), Mamba2Mixer) for layer in layers] == [True, False, True]
    assert_both_ways_equal_transformers(path, "causal", seed=1, w=w)
    assert_yes_no_classifier_equals_transformers(path, "BambaForSequenceClassification")
