"""Qwen3-Next against transformers: Qwen3.5's layers (gated delta rule, gated attention, partial
rotary) whose linear-attention projections are fused per key head (``in_proj_qkvz``, ``in_proj_ba``:
2 value heads per key head here, so the row order matters), and sparse MLPs with a shared expert
except in its dense layer (``mlp_only_layers``); single-item and MIS, the causal LM and the classifier."""

import torch

from multiscore.models.gated_delta_net import Qwen3NextGatedDeltaNet
from multiscore.models.sparse_moe import SparseMoeBlock
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]


def _hf(path, cls_name):
    import transformers

    return getattr(transformers, cls_name).from_pretrained(str(path), dtype=torch.float32).eval()


def test_the_causal_lm_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("qwen3_next", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert [type(layer.mlp) is SparseMoeBlock for layer in layers] == [True, False, True, True]
    assert sum(isinstance(m, Qwen3NextGatedDeltaNet) for m in w.model.modules()) == 2
    query, items = mixed_inputs(seed=1)
    single, mis = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    hf = _hf(path, "Qwen3NextForCausalLM")
    with torch.no_grad():
        logits = torch.stack([hf(input_ids=torch.tensor([query + item])).logits[0, -1] for item in items])
    ref = torch.softmax(logits[:, LABELS], -1)
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


def test_the_classifier_equals_transformers(tiny_model):
    path = tiny_model("qwen3_next", "seqcls")
    query, items = mixed_inputs(seed=2)
    single, mis = score_both_ways(worker(path), query, items, None)
    hf = _hf(path, "Qwen3NextForSequenceClassification")
    with torch.no_grad():
        ref = torch.cat([hf(input_ids=torch.tensor([query + item])).logits for item in items])
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)
