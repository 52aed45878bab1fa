"""Qwen3-Next against transformers: Qwen3.5's layers (gated delta rule, gated attention, partial
rotary) whose linear-attention projections are fused per key head (``in_proj_qkvz``, ``in_proj_ba``:
2 value heads per key head here, so the row order matters), and sparse MLPs with a shared expert
except in its dense layer (``mlp_only_layers``); single-item and MIS, the causal LM and the classifier."""

import pytest
import torch

from hf_reference import hf_scores
from multiscore.models.gated_delta_net import Qwen3NextGatedDeltaNet
from multiscore.models.sparse_moe import SparseMoeBlock
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_qwen3_next_equals_transformers_single_item_and_mis(tiny_model, head):
    path = tiny_model("qwen3_next", head)
    w = worker(path)
    assert [type(layer.mlp) is SparseMoeBlock for layer in w.model.model.layers] == [True, False, True, True]
    assert sum(isinstance(m, Qwen3NextGatedDeltaNet) for m in w.model.modules()) == 2
    labels = LABELS if head == "causal" else None
    query, items = mixed_inputs(seed=1)
    single, mis = score_both_ways(w, query, items, labels, apply_softmax=head == "causal")
    ref = torch.tensor(hf_scores(path, query, items, labels, apply_softmax=head == "causal"))
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)
