"""Falcon against transformers, single-item and MIS, in its three layouts: Falcon-40B's (q/k/v grouped per
key/value head, two LayerNorms feeding a parallel block; and Falcon2-11B's one), Falcon-7B's (multi-query,
one LayerNorm feeding both) and the sequential per-head one; biased projections; the token classifier;
ALiBi refused."""

import pytest

from worker_batches import assert_both_ways_equal_transformers, worker

LAYOUTS = {
    "40b": {},
    "11b": dict(num_ln_in_parallel_attn=1),
    "7b": dict(new_decoder_architecture=False, multi_query=True, bias=False),
    "sequential": dict(new_decoder_architecture=False, multi_query=False, parallel_attn=False, num_kv_heads=4),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_falcon_equals_transformers_single_item_and_mis(tiny_model, layout, head):
    path = tiny_model("falcon", head, **LAYOUTS[layout])
    w = worker(path)
    layer = w.model.model.layers[0]
    expected = {"40b": "TwoNormParallelLayer", "11b": "ParallelLayer", "7b": "ParallelLayer", "sequential": "SequentialLayer"}
    assert type(layer).__name__ == expected[layout]
    assert layer.self_attn.num_kv_heads == {"40b": 2, "11b": 2, "7b": 1, "sequential": 4}[layout]
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_alibi_falcon_is_refused(tiny_model):
    with pytest.raises(ValueError, match="Falcon with alibi .* is not supported"):
        worker(tiny_model("falcon", "causal", alibi=True, new_decoder_architecture=False, multi_query=False,
                          parallel_attn=False, num_kv_heads=4))
