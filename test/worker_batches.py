"""In-process ModelWorker batches shared by the worker and backend tests: every single-item
sequence of a query and its items, plus one MIS sequence of them all, in one forward batch."""

from __future__ import annotations

import random

import torch

from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.model_executor.mis_layout import pack_mis
from multiscore.configs.model_config import ModelConfig
from multiscore.model_executor.model_worker import ModelWorker
from multiscore.server_args import ServerArgs

D = 4  # any id works as a delimiter: boundaries are metadata, never a scan for D


def worker(path, **kw) -> ModelWorker:
    args = ServerArgs(model_path=str(path), device="cpu", **kw)
    return ModelWorker(args, ModelConfig.from_server_args(args))


def mixed_inputs(seed=0, n_items=5):
    """(query [9 ids], items: n_items lists of 0..6 ids; item 1 holds the delimiter id)."""
    rng = random.Random(seed)
    query = [rng.randrange(5, 150) for _ in range(9)]
    items = [[rng.randrange(5, 150) for _ in range(rng.randrange(0, 7))] for _ in range(n_items)]
    items[1] = [7, D, 8]  # the delimiter id inside an item must not split it
    return query, items


def score_both_ways(worker, query, items, labels, apply_softmax=False):
    """One batch holding every single-item sequence and one MIS sequence of all items."""
    pooling = PoolingParams(label_token_ids=labels, activation="softmax" if apply_softmax else "none")
    singles = [ScoreSequence("s", query + it, i, 1, pooling) for i, it in enumerate(items)]
    mis = ScoreSequence(
        "m", pack_mis(query, items, D), 0, len(items), pooling, query_len=len(query), item_lens=[len(it) for it in items],
    )
    out = worker.forward(singles + [mis])
    return torch.cat(out[:-1]).tolist(), out[-1].tolist()


def assert_both_ways_match_transformers(w, path, labels, seeds=(0,)):
    """Single-item and MIS scores of ``w`` equal transformers scoring each item alone (fp32 <= 1e-4),
    over ``mixed_inputs`` of each seed. -> the last single-item scores."""
    from hf_reference import assert_scores_close, hf_scores

    for seed in seeds:
        query, items = mixed_inputs(seed=seed)
        single, mis = score_both_ways(w, query, items, labels)
        ref = hf_scores(path, query, items, labels)
        assert_scores_close(single, ref)
        assert_scores_close(mis, ref)
    return single


def run_requests(w, requests, share_query=True, max_prefill_tokens=4096):
    """All requests queued at once, batched by the scheduler's policy -> {rid: outputs [num_items, C]}."""
    from multiscore.scheduler.policy import SchedulePolicy

    policy = SchedulePolicy(max_prefill_tokens, 4096, delimiter=0, share_query=share_query)
    for req in requests:
        policy.add_request(req)
    done = []
    while policy.has_work():
        batch = policy.schedule()
        done += policy.process_output(batch, w.forward(batch))
    return {out.rid: torch.tensor(out.outputs) for out in done}


LABELS = [3, 9, 20]  # the label tokens a causal LM is read at


def assert_both_ways_equal_transformers(path, head: str, seed: int = 0, n_items: int = 5, w=None, reference=None):
    """Single-item and MIS scores of ``mixed_inputs(seed, n_items)`` (through ``w``, else a worker on
    ``path``) equal transformers scoring each item alone on ``reference`` (else ``path``), fp32 <= 1e-5:
    a causal LM's softmax over LABELS (``head`` "causal"), a classifier's logits. -> the reference [N, C]."""
    from hf_reference import hf_scores

    labels = LABELS if head == "causal" else None
    query, items = mixed_inputs(seed=seed, n_items=n_items)
    single, mis = score_both_ways(w or worker(path), query, items, labels, apply_softmax=labels is not None)
    ref = torch.tensor(hf_scores(reference or path, query, items, labels, apply_softmax=labels is not None))
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)
    return ref


def assert_empty_and_short_queries_equal_transformers(path, short_query: list[int]) -> None:
    """Models with convolutions or recurrent state (Mamba, LFM2, ...): an MIS sequence of three items
    after an empty query (no state or history to start from), then after ``short_query`` (fewer inputs
    than the convolution's history), each item's label softmax equal to transformers' alone, <= 1e-5."""
    from hf_reference import hf_scores

    w = worker(path)
    pooling = PoolingParams(label_token_ids=LABELS, activation="softmax")
    for query in ([], short_query):
        items = [[13, 14, 15], [16], [17, 18, 19, 20, 21]]
        seq = ScoreSequence("m", pack_mis(query, items, D), 0, 3, pooling, query_len=len(query),
                            item_lens=[len(i) for i in items])
        expected = torch.tensor(hf_scores(path, query, items, LABELS, apply_softmax=True))
        torch.testing.assert_close(w.forward([seq])[0], expected, atol=1e-5, rtol=0)


def assert_yes_no_classifier_equals_transformers(path, architecture: str, seed: int = 4) -> None:
    """Our ``architecture`` made from two LM-head rows by ``classifier_from_token`` (from_2_way_softmax):
    single-item and MIS, logit(p_yes / (p_yes + p_no)), the logit difference transformers' causal LM gives."""
    import json

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokens = AutoTokenizer.from_pretrained(str(path)).convert_ids_to_tokens(LABELS[:2])
    overrides = {"architectures": [architecture], "classifier_from_token": tokens, "method": "from_2_way_softmax"}
    query, items = mixed_inputs(seed=seed)
    single, mis = score_both_ways(worker(path, json_model_override_args=json.dumps(overrides)), query, items, None)
    hf = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    with torch.no_grad():
        logits = torch.stack([hf(input_ids=torch.tensor([query + item])).logits[0, -1] for item in items])[:, LABELS[:2]]
    expected = (logits[:, 1] - logits[:, 0])[:, None]
    torch.testing.assert_close(torch.tensor(single), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), expected, atol=1e-5, rtol=0)


def templated_both_ways(w, query: str, documents: list[str], template: str, instruction=None):
    """(query, each document) as the score template ``template`` (a built-in name) renders and splits
    them: each pair alone and all in one MIS sequence, raw scores -> (single [N], mis [N])."""
    from multiscore.tokenizer.pair_tokenizer import PairTokenizer
    from multiscore.tokenizer.score_template import ScoreTemplate

    tokenizer = w.model_config.load_tokenizer()
    pairs = PairTokenizer(tokenizer, ScoreTemplate.load(template, tokenizer))
    q, items = pairs.decoder_pairs(query, documents, template_vars={"instruction": instruction} if instruction else None)
    raw = PoolingParams(activation="none")
    singles = [ScoreSequence(str(i), q + item, i, 1, raw) for i, item in enumerate(items)]
    mis = ScoreSequence("m", pack_mis(q, items, D), 0, len(items), raw, query_len=len(q), item_lens=[len(it) for it in items])
    out = w.forward(singles + [mis])
    return torch.cat(out[:-1]).flatten(), out[-1].flatten()


def assert_prefix_cache_scores_as_uncached(path, layer_shapes) -> None:
    """An MIS request scored cold and then warm with the prefix cache on equals a worker without the
    cache (fp32 <= 1e-5), with hits; the cache's per-layer (kv heads, key width) are ``layer_shapes``."""
    from multiscore.messages import TokenizedScoreRequest

    on, off = worker(path), worker(path, disable_radix_cache=True)
    assert on.prefix_cache.tree.pool.layer_shapes == layer_shapes
    query, items = mixed_inputs(seed=2, n_items=4)
    request = lambda rid: TokenizedScoreRequest(rid=rid, query_ids=query, items_ids=items, pooling=PoolingParams(), mis=True)  # noqa: E731
    expected = run_requests(off, [request("cold")])["cold"]
    for rid in ("cold", "warm"):
        torch.testing.assert_close(run_requests(on, [request(rid)])[rid], expected, atol=1e-5, rtol=0)
    assert on.prefix_cache.stats.hits > 0
