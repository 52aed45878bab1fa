"""OLMo 2 and OLMo 3 against transformers: norms on the attention and MLP outputs only, q/k norms
across heads; OLMo 3's 4-position sliding layer with its own rotary beside a linearly scaled full
one. The causal LM read at label tokens and the classifier (a reward model's head), single-item and MIS."""

import pytest
import torch

from hf_reference import hf_scores
from worker_batches import assert_both_ways_equal_transformers, mixed_inputs


@pytest.mark.parametrize("arch, head", [("olmo2", "causal"), ("olmo2", "seqcls"), ("olmo3", "causal"), ("olmo3", "seqcls")])
def test_olmo_equals_transformers_single_item_and_mis(tiny_model, arch, head):
    assert_both_ways_equal_transformers(tiny_model(arch, head), head, seed=3)


def test_olmo3s_window_and_per_type_rotary_are_in_play(tiny_model):
    query, items = mixed_inputs(seed=3)
    reference = torch.tensor(hf_scores(tiny_model("olmo3", "seqcls"), query, items))
    for change in ({"sliding_window": 64}, {"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 5e5},
                                                                 "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}}):
        changed = torch.tensor(hf_scores(tiny_model("olmo3", "seqcls", **change), query, items))
        assert (reference - changed).abs().max() > 1e-4
