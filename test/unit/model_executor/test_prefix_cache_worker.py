"""The prefix cache across requests in the worker: scores with the cache equal scores without it
(fp32 <= 1e-5) for single-item and MIS requests, cold and warm, whole and partial prefixes, under
eviction and after a failed batch; models it cannot serve say why."""

import pytest
import torch

from multiscore.messages import PoolingParams, TokenizedScoreRequest
from multiscore.model_executor.prefix_cache import KVPool, RadixTree
from worker_batches import mixed_inputs, run_requests, worker

LABELS = [3, 9, 20]


def _request(rid, query, items, labels, mis):
    return TokenizedScoreRequest(rid=rid, query_ids=query, items_ids=items,
                                 pooling=PoolingParams(label_token_ids=labels), mis=mis)


def _assert_same(got, expected):
    assert got.keys() == expected.keys()
    for rid in got:
        torch.testing.assert_close(got[rid], expected[rid], atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch, head, kw", [
    ("qwen3", "causal", {}), ("llama", "seqcls", {}), ("qwen2", "seqcls", {}), ("gemma", "causal", {}),
    ("phi3", "seqcls", {}), ("gemma3", "seqcls", {}),  # gemma3: a 4-token window on layer 0
    ("gemma4", "causal", {}),  # its last two layers reuse the first two's keys, cached ones included
    ("qwen3_moe", "causal", {}), ("qwen2_moe", "seqcls", {}),  # experts routed per token
    ("gpt_oss", "causal", {}),  # sink logits on cached prefixes, a 4-token window on layer 0
    ("smollm3", "seqcls", {}),  # a NoPE layer's cached keys
    ("gpt2", "causal", {}),  # learned positions
    ("modernbert_decoder", "causal", {}),  # LayerNorms, a 3-position window on its local layers
    ("mistral", "causal", {"sliding_window": 3}), ("gemma2", "seqcls", {"sliding_window": 4, "attn_logit_softcapping": 0.5}),
])
@pytest.mark.parametrize("mis", [False, True], ids=["single-item", "mis"])
def test_cached_queries_score_as_uncached(tiny_model, arch, head, kw, mis):
    """Windows of 3-4 tokens against 9-token queries: cached keys fall out of the window too."""
    path = tiny_model(arch, head, **kw)
    labels = LABELS if head == "causal" else None
    on, off = worker(path), worker(path, disable_radix_cache=True)
    assert on.prefix_cache is not None and off.prefix_cache is None
    query, items = mixed_inputs(seed=1, n_items=6)
    requests = [_request("a", query, items, labels, mis), _request("one", query, items[:1], labels, mis),
                _request("tail", query[:5] + [77, 78], items, labels, mis)]  # shares 5 tokens with the others
    expected = run_requests(off, requests)
    for _ in range(2):  # cold, then warm
        _assert_same(run_requests(on, requests), expected)
    stats = on.prefix_cache.stats
    assert stats.hits > 0 and stats.hit_tokens > 0
    assert on.prefix_cache.cached_tokens == len(query) + 2  # the two queries, their 5 shared tokens once


def test_a_warm_query_skips_all_but_its_last_token(tiny_model):
    w = worker(tiny_model("qwen3", "causal"))
    query, items = mixed_inputs(seed=3)
    run_requests(w, [_request("a", query, items, LABELS, True)])
    before = w.prefix_cache.stats.hit_tokens
    run_requests(w, [_request("b", query, items, LABELS, True)])
    assert w.prefix_cache.stats.hit_tokens - before == len(query) - 1


def test_a_cache_too_small_evicts_and_still_scores_exactly(tiny_model):
    """Room for 12 tokens, queries of 9: each new query evicts the last one, and a query that
    finds no room beside one a running batch reads is simply not cached."""
    path = tiny_model("qwen3", "causal")
    on, off = worker(path), worker(path, disable_radix_cache=True)
    pool = on.prefix_cache.tree.pool
    on.prefix_cache.tree = RadixTree(KVPool(pool.layer_shapes, 12, pool.dtype, pool.device))
    reqs = [_request(f"r{seed}", *mixed_inputs(seed=seed, n_items=3), LABELS, seed == 0) for seed in range(2)]
    expected = {req.rid: run_requests(off, [req])[req.rid] for req in reqs}
    for order in ([0], [0], [1], [1], [0], [0, 1]):  # the last batch reads r0 (locked) and has no room for r1
        got = run_requests(on, [reqs[i] for i in order])
        _assert_same(got, {reqs[i].rid: expected[reqs[i].rid] for i in order})
        assert on.prefix_cache.tree.pool.num_free + on.prefix_cache.cached_tokens == 12  # no slot leaks
    assert on.prefix_cache.stats.hits == 3 and on.prefix_cache.stats.misses == 4
    assert on.prefix_cache.tree.match(reqs[0].query_ids).length == 9


def test_a_failed_batch_leaks_no_slot_and_no_lock(tiny_model, monkeypatch):
    w = worker(tiny_model("qwen3", "causal"))
    query, items = mixed_inputs(seed=5)
    run_requests(w, [_request("a", query, items, LABELS, True)])
    tree = w.prefix_cache.tree
    free, cached = tree.pool.num_free, tree.cached_tokens

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(w.model, "hidden_states", broken)
    with pytest.raises(RuntimeError, match="boom"):
        run_requests(w, [_request("b", query + [40, 41], items, LABELS, True)])  # a hit, and 2 new tokens to keep
    assert (tree.pool.num_free, tree.cached_tokens) == (free, cached)
    assert all(node.locks == 0 for node in tree._nodes())


def test_flush_empties_the_cache(tiny_model):
    w = worker(tiny_model("qwen3", "causal"))
    query, items = mixed_inputs(seed=6)
    run_requests(w, [_request("a", query, items, LABELS, True)])
    assert w.prefix_cache.cached_tokens == len(query)
    w.prefix_cache.flush()
    assert w.prefix_cache.cached_tokens == 0 and w.prefix_cache.tree.pool.num_free == w.prefix_cache.tree.pool.num_slots


@pytest.mark.parametrize("arch, head, kw, reason", [
    ("bert", "embed", {}, "encoder_embedding model has no query"),
    ("qwen3", "causal", {"json_model_override_args": '{"architectures": ["Qwen3Model"]}'}, "decoder_embedding model"),
])
def test_models_the_cache_cannot_serve_say_why(tiny_model, arch, head, kw, reason):
    w = worker(tiny_model(arch, head), **kw)
    assert w.prefix_cache is None and reason in w.prefix_cache_reason


def test_the_cache_is_off_when_asked_and_on_both_backends_otherwise(tiny_model):
    from multiscore.configs.model_config import ModelConfig
    from multiscore.model_executor.prefix_cache_runner import prefix_cache_problem
    from multiscore.server_args import ServerArgs

    path = tiny_model("qwen3", "causal")
    assert "--prefix-cache-size-mb 0" in worker(path, prefix_cache_size_mb=0).prefix_cache_reason
    args = ServerArgs(model_path=str(path), device="cpu")
    config = ModelConfig.from_server_args(args)
    assert prefix_cache_problem(args, config, "torch") is None
    assert prefix_cache_problem(args, config, "flashinfer") is None  # test_flashinfer_prefix_cache.py
    assert "other backend does not read cached keys" in prefix_cache_problem(args, config, "other")
    assert prefix_cache_problem(args.replace(disable_radix_cache=True), config, "torch") == "--disable-radix-cache"
