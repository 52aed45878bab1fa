"""Kimi Linear against transformers, single-item and MIS: Kimi delta attention (a decay per key dimension,
strong ones: its A_log starts up to log 16), multi-head latent attention without positions, DeepSeek-V3's
experts, in the layout the hub ships (which transformers saves); items after empty and short queries; as a
yes/no reranker."""

import pytest

from worker_batches import (
    assert_both_ways_equal_transformers,
    assert_empty_and_short_queries_equal_transformers,
    assert_yes_no_classifier_equals_transformers,
    worker,
)


@pytest.fixture(scope="module")
def kimi(tmp_path_factory):
    from make_tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("kimi_linear"), "kimi_linear", "causal")


def test_the_checkpoint_is_in_the_hub_layout(kimi):
    from safetensors.torch import load_file

    names = load_file(str(kimi / "model.safetensors")).keys()
    assert "model.layers.0.self_attn.q_conv1d.weight" in names and "model.layers.0.self_attn.f_a_proj.weight" in names
    assert "model.layers.1.block_sparse_moe.experts.7.w3.weight" in names


@pytest.mark.parametrize("chunk_size", [16, 3])
def test_kimi_linear_equals_transformers_single_item_and_mis(kimi, chunk_size):
    w = worker(kimi)
    deltas = [layer.self_attn for layer in w.model.model.layers if layer.linear]
    assert len(deltas) == 2
    for delta in deltas:  # 3: chunk borders inside the queries and items
        delta.chunk_size = chunk_size
    for seed in (0, 4):
        assert_both_ways_equal_transformers(kimi, "causal", seed=seed, w=w)


def test_items_after_empty_and_short_queries(kimi):
    assert_empty_and_short_queries_equal_transformers(kimi, [11, 12])


def test_converted_to_a_yes_no_reranker(kimi):
    assert_yes_no_classifier_equals_transformers(kimi, "KimiLinearForSequenceClassification")
