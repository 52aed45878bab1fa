"""SmolLM3 against transformers: Llama's block with a NoPE layer (no rotary in layer 1 of 2), the
causal LM read at label tokens and the classifier, single-item and MIS; the NoPE layer is in play."""

import pytest
import torch

from hf_reference import hf_scores
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_smollm3_equals_transformers_single_item_and_mis(tiny_model, head):
    path = tiny_model("smollm3", head)
    labels = LABELS if head == "causal" else None
    query, items = mixed_inputs(seed=2)
    w = worker(path)
    assert [layer.self_attn.rotary for layer in w.model.model.layers] == [True, False]
    single, mis = score_both_ways(w, query, items, labels, apply_softmax=head == "causal")
    ref = torch.tensor(hf_scores(path, query, items, labels, apply_softmax=head == "causal"))
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)
    for layer in w.model.model.layers:
        layer.self_attn.rotary = True  # rotary in the NoPE layer too: the scores move
    moved, _ = score_both_ways(w, query, items, labels, apply_softmax=head == "causal")
    assert (torch.tensor(moved) - ref).abs().max() > 1e-4
