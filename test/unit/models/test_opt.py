"""OPT against transformers: learned positions at an offset of 2, LayerNorms before each part or
after each residual add (opt-350m), embeddings of another width projected in and out
(``word_embed_proj_dim``); the causal LM read at label tokens and the classifier, single-item and MIS."""

import pytest
import torch

from hf_reference import hf_scores
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]


@pytest.mark.parametrize("head, kw", [("causal", {}), ("seqcls", {}), ("causal", {"do_layer_norm_before": False}),
                                      ("seqcls", {"word_embed_proj_dim": 32})])
def test_opt_equals_transformers_single_item_and_mis(tiny_model, head, kw):
    path = tiny_model("opt", head, **kw)
    labels = LABELS if head == "causal" else None
    query, items = mixed_inputs(seed=6)
    single, mis = score_both_ways(worker(path), query, items, labels, apply_softmax=head == "causal")
    ref = torch.tensor(hf_scores(path, query, items, labels, apply_softmax=head == "causal"))
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)
