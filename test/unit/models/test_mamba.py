"""Mamba, FalconMamba and Mamba2 against transformers: Mamba (v1) layers only (FalconMamba's with unit
RMSNorms on dt, B and C; the LM head tied to the embeddings), or Mamba2's (an untied LM head); single-item and MIS (each item from its query's
state and convolution tail), an empty query and one shorter than the convolution, a classifier by
``classifier_from_token`` from the tied embeddings, the bare model's last-token embeddings."""

import json

import pytest
import torch

from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import (
    assert_both_ways_equal_transformers,
    assert_empty_and_short_queries_equal_transformers,
    assert_yes_no_classifier_equals_transformers,
    worker,
)

ARCHS = {"mamba": "Mamba", "falcon_mamba": "FalconMamba", "mamba2": "Mamba2"}


@pytest.mark.parametrize("arch", ARCHS)
def test_the_causal_lm_equals_transformers_single_item_and_mis(tiny_model, arch):
    path = tiny_model(arch, "causal")
    w = worker(path)
    norms = {"mamba": [None] * 3, "falcon_mamba": ["unit"] * 3, "mamba2": [None] * 3}[arch]
    assert [getattr(layer.mixer, "dt_bc_norms", None) for layer in w.model.model.layers] == norms
    assert_both_ways_equal_transformers(path, "causal", seed=1, w=w)


def test_items_of_an_empty_query_or_a_short_one(tiny_model):
    assert_empty_and_short_queries_equal_transformers(tiny_model("falcon_mamba", "causal"), [11, 12])


@pytest.mark.parametrize("arch", ARCHS)
def test_a_yes_no_classifier_from_the_tied_embeddings(tiny_model, arch):
    assert_yes_no_classifier_equals_transformers(tiny_model(arch, "causal"), ARCHS[arch] + "ForSequenceClassification")


def test_the_bare_model_embeds_as_transformers(tiny_model):
    from transformers import AutoModel

    path = tiny_model("mamba", "causal")
    w = worker(path, json_model_override_args=json.dumps({"architectures": ["MambaModel"]}))
    hf = AutoModel.from_pretrained(str(path), dtype=torch.float32).eval()
    texts = [[5, 17, 33, 60, 2], [9], [44, 45, 46, 47, 48, 49, 50, 51]]
    got = w.forward([ScoreSequence(f"e{i}", ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(texts)])
    for g, ids in zip(got, texts):
        with torch.no_grad():
            expected = torch.nn.functional.normalize(hf(input_ids=torch.tensor([ids])).last_hidden_state[0, -1], dim=-1)
        torch.testing.assert_close(g[0], expected, atol=1e-5, rtol=0)


def test_the_prefix_cache_is_off_and_says_why(tiny_model):
    w = worker(tiny_model("mamba", "causal"))
    assert w.prefix_cache is None
    assert "Mamba layers keep a recurrent state" in w.prefix_cache_reason
