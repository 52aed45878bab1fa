"""LFM2 against transformers: gated short-convolution layers (3 taps) around an attention layer with
per-head q/k norms; single-item and MIS (each item's convolution starts from its query's last two
inputs), an empty query and one shorter than the convolution, the bare model's embeddings, a
classifier by ``classifier_from_token``; the prefix cache off and saying why. LFM2-MoE: a dense
layer, then sparse ones routed by sigmoid scores plus an expert bias. LFM3: convolutions of 7 taps,
sliding and full attention layers with their own rotary, gates per head, sandwich norms."""

import json

import pytest
import torch

from hf_reference import hf_scores
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.models.lfm2 import Lfm2MoeBlock
from worker_batches import (
    assert_both_ways_equal_transformers,
    assert_empty_and_short_queries_equal_transformers,
    assert_yes_no_classifier_equals_transformers,
    mixed_inputs,
    score_both_ways,
    worker,
)

LABELS = [3, 9, 20]


@pytest.fixture(scope="module")
def checkpoint(tiny_model):
    return tiny_model("lfm2", "causal")


def _label_softmax(path, query, items):
    return torch.tensor(hf_scores(path, query, items, LABELS, apply_softmax=True))


@pytest.mark.parametrize("seed", [1, 3])
def test_the_causal_lm_equals_transformers_single_item_and_mis(checkpoint, seed):
    assert_both_ways_equal_transformers(checkpoint, "causal", seed)


def test_lfm2_moe_equals_transformers_and_its_expert_bias_counts(tiny_model):
    path = tiny_model("lfm2_moe", "causal")
    w = worker(path)
    blocks = [layer.mlp for layer in w.model.model.layers]
    assert [isinstance(b, Lfm2MoeBlock) for b in blocks] == [False, True, True]  # num_dense_layers=1
    reference = assert_both_ways_equal_transformers(path, "causal", seed=1, w=w)
    with torch.no_grad():
        for block in blocks[1:]:
            block.expert_bias.zero_()  # the bias only chooses experts: without it, other choices
    query, items = mixed_inputs(seed=1)
    unbiased, _ = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    assert (reference - torch.tensor(unbiased)).abs().max() > 1e-4


@pytest.mark.parametrize("arch", ["lfm2", "lfm3"])
def test_items_of_an_empty_query_or_a_short_one(tiny_model, arch):
    assert_empty_and_short_queries_equal_transformers(tiny_model(arch, "causal"), [11])  # the convolution keeps 2


def test_lfm3_equals_transformers_and_its_gates_and_sandwich_norms_count(tiny_model):
    path = tiny_model("lfm3", "causal")
    w = worker(path)
    windows = [getattr(getattr(layer, "self_attn", None), "window", None) for layer in w.model.model.layers]
    assert windows == [None, 4, None, None]  # conv, sliding, conv, full
    reference = assert_both_ways_equal_transformers(path, "causal", seed=1, w=w)
    query, items = mixed_inputs(seed=1)
    for change in ("gate", "sandwich"):
        for layer in w.model.model.layers:
            if change == "gate" and not layer.is_conv:
                layer.self_attn.g_proj, saved = None, layer.self_attn.g_proj
            if change == "sandwich":
                layer.sandwich = False
        moved, _ = score_both_ways(w, query, items, LABELS, apply_softmax=True)
        assert (torch.tensor(moved) - reference).abs().max() > 1e-4
        for layer in w.model.model.layers:
            if change == "gate" and not layer.is_conv:
                layer.self_attn.g_proj = saved


def test_the_bare_model_embeds_as_transformers(checkpoint):
    """``Lfm2Model`` over the causal checkpoint: the last token's final hidden state, normalised."""
    from transformers import AutoModel

    w = worker(checkpoint, json_model_override_args=json.dumps({"architectures": ["Lfm2Model"]}))
    hf = AutoModel.from_pretrained(str(checkpoint), dtype=torch.float32).eval()
    texts = [[5, 17, 33, 60, 2], [9], [44, 45, 46, 47, 48, 49, 50, 51]]
    pooling = PoolingParams(activation="default")  # the embedding model's normalisation
    got = w.forward([ScoreSequence(f"e{i}", ids, 0, 1, pooling) for i, ids in enumerate(texts)])
    for g, ids in zip(got, texts):
        with torch.no_grad():
            expected = torch.nn.functional.normalize(hf(input_ids=torch.tensor([ids])).last_hidden_state[0, -1], dim=-1)
        assert tuple(g.shape) == (1, 64)
        torch.testing.assert_close(g[0], expected, atol=1e-5, rtol=0)


def test_a_yes_no_classifier_by_classifier_from_token(checkpoint):
    assert_yes_no_classifier_equals_transformers(checkpoint, "Lfm2ForSequenceClassification")


def test_the_prefix_cache_is_off_and_says_why(checkpoint):
    w = worker(checkpoint)
    assert w.prefix_cache is None
    assert "convolution layers read each token's preceding inputs" in w.prefix_cache_reason
