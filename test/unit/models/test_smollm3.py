"""SmolLM3 against transformers: Llama's block with a NoPE layer (no rotary in layer 1 of 2), the
causal LM read at label tokens and the classifier, single-item and MIS; the NoPE layer is in play."""

import pytest
import torch

from worker_batches import LABELS, assert_both_ways_equal_transformers, mixed_inputs, score_both_ways, worker


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_smollm3_equals_transformers_single_item_and_mis(tiny_model, head):
    path = tiny_model("smollm3", head)
    w = worker(path)
    assert [layer.self_attn.rotary for layer in w.model.model.layers] == [True, False]
    ref = assert_both_ways_equal_transformers(path, head, seed=2, w=w)
    for layer in w.model.model.layers:
        layer.self_attn.rotary = True  # rotary in the NoPE layer too: the scores move
    query, items = mixed_inputs(seed=2)
    moved, _ = score_both_ways(w, query, items, LABELS if head == "causal" else None, apply_softmax=head == "causal")
    assert (torch.tensor(moved) - ref).abs().max() > 1e-4
