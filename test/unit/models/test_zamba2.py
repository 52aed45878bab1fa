"""Zamba2 against transformers: Mamba2 layers, and before the hybrid ones a shared transformer block on
[hidden | embeddings] with rotary and each hybrid layer's own low-rank adapters, its output added to
the Mamba layer's input; the causal LM and the classifier, single-item and MIS (each item's Mamba
layers start from its query's state), an empty query and one shorter than the convolution; a
checkpoint that stores the shared block once."""

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from multiscore.models.mamba2 import Mamba2Mixer
from multiscore.models.zamba2 import HybridLayer
from worker_batches import (
    assert_both_ways_equal_transformers,
    assert_empty_and_short_queries_equal_transformers,
    assert_yes_no_classifier_equals_transformers,
    mixed_inputs,
    score_both_ways,
    worker,
)


@pytest.fixture(scope="module")
def checkpoint(tiny_model):
    return tiny_model("zamba2", "causal")


@pytest.mark.parametrize("seed", [1, 3])
def test_the_causal_lm_equals_transformers_single_item_and_mis(checkpoint, seed):
    w = worker(checkpoint)
    layers = w.model.model.layers
    assert [isinstance(layer, HybridLayer) for layer in layers] == [False, True, False, True]
    assert layers[1].shared_transformer is layers[3].shared_transformer  # one block, two hybrid layers
    assert isinstance(layers[3].mamba_decoder.mamba, Mamba2Mixer) and layers[3].mamba_decoder.mamba.time_step_limit[0] == 0.3
    assert_both_ways_equal_transformers(checkpoint, "causal", seed, w=w)


def test_the_classifier_equals_transformers_single_item_and_mis(tiny_model):
    assert_both_ways_equal_transformers(tiny_model("zamba2", "seqcls"), "seqcls", seed=2)


def test_items_of_an_empty_query_or_a_short_one(checkpoint):
    assert_empty_and_short_queries_equal_transformers(checkpoint, [11, 12])  # the convolution keeps 3 inputs


def test_a_yes_no_classifier_by_classifier_from_token(checkpoint):
    assert_yes_no_classifier_equals_transformers(checkpoint, "Zamba2ForSequenceClassification")


def test_a_checkpoint_with_each_shared_block_stored_once(checkpoint, tmp_path):
    """Only the first hybrid layer's copy of the block: the same scores."""
    once = tmp_path / "once"
    shutil.copytree(checkpoint, once)
    tensors = load_file(str(checkpoint / "model.safetensors"))
    save_file({k: v for k, v in tensors.items() if "layers.3.shared_transformer" not in k}, str(once / "model.safetensors"))
    query, items = mixed_inputs(seed=5)
    labels = [3, 9, 40]
    both, other = score_both_ways(worker(checkpoint), query, items, labels), score_both_ways(worker(once), query, items, labels)
    for a, b in zip(both, other):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=0, rtol=0)
