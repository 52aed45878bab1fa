"""Ports of SGLang's multi-item scoring (MIS) tests.

Upstream file (sgl-project/sglang): test/registered/prefill_only/test_multi_item_scoring.py
@ 03cbf56c9e60beb07dec3aed09c37f78b1b04cdc. Upstream turns MIS on with ``enable_mis=True`` (plus
``disable_radix_cache=True, chunked_prefill_size=-1, attention_backend="flashinfer",
mem_fraction_static=0.15``) on Llama-3.2-1B-Instruct, on tomaarsen/Qwen3-Reranker-0.6B-seq-cls and
on a tiny LlamaForSequenceClassification; here the tiny Llama (``causal_mis_engine``), a tiny
one-label Qwen3 classifier with a stored head (``reranker_mis_engine``) and a tiny two-label Llama
classifier (``llama_cls_mis_engine``), all on the CPU torch backend (conftest.py).

Parity: upstream holds MIS to single-item scoring at ``places=1`` (or 8 % relative), because its
MIS inserts delimiter tokens into each item's attention context. multiscore's MIS is exact
(DESIGN.md §4), so every parity assertion here is ≤ 1e-4 in fp32, and each score is also checked
against transformers on that item alone.
"""

from __future__ import annotations

import asyncio
import math

import pytest
import torch

import hf_reference as hf
from sglang_reference import assert_close, reference, reference_scores, sequences, tokenizer, token_ids


def _path(engine):
    return engine.server_args.model_path


# ---- TestMISServerArgsValidation ------------------------------------------------------------------


def test_enable_mis_default():
    """Ports prefill_only/test_multi_item_scoring.py::TestMISServerArgsValidation::test_enable_mis_default.

    ``ServerArgs.enable_mis`` (SGLang's MIS switch) defaults to False. Upstream assertions: 1."""
    from multiscore.server_args import ServerArgs

    assert ServerArgs.enable_mis is False


# ---- TestMultiItemScoringOptimization (generation model) ------------------------------------------


def test_mis_basic(causal_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringOptimization::test_mis_basic.

    Upstream label ids 9454 / 2753 are Llama-3's "Yes" / "No". Upstream assertions: 5."""
    items = ["Option A", "Option B", "Option C"]
    labels = token_ids(_path(causal_mis_engine), ["Yes", "No"])
    scores = causal_mis_engine.score(query="Rate each option:", items=items, label_token_ids=labels,
                                     apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == len(labels)
        assert sum(row) == pytest.approx(1.0, abs=1e-5)
        assert all(s >= 0 for s in row)
        assert all(s <= 1 for s in row)


def test_mis_consistency_with_single_item(causal_mis_engine, causal_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringOptimization::test_mis_consistency_with_single_item.

    MIS with one item matches the non-MIS engine (upstream: 8 % relative; here 1e-4, and both equal
    transformers). Upstream assertions: 3."""
    query, items = "Is this a fact?\n", [" The sun rises in the east"]
    labels = token_ids(_path(causal_mis_engine), ["Yes", "No"])
    mis = causal_mis_engine.score(query=query, items=items, label_token_ids=labels, apply_softmax=True).scores
    non_mis = causal_engine.score(query=query, items=items, label_token_ids=labels, apply_softmax=True).scores
    assert len(mis) == 1
    assert len(non_mis) == 1
    assert_close(mis, non_mis)
    assert_close(mis, reference_scores(_path(causal_mis_engine), query, items, labels, apply_softmax=True))


def test_mis_empty_query(causal_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringOptimization::test_mis_empty_query.

    An empty query (the items start right after it). Upstream assertions: 3."""
    labels = token_ids(_path(causal_mis_engine), ["Yes", "No"])
    scores = causal_mis_engine.score(query="", items=["alpha", "beta"], label_token_ids=labels,
                                     apply_softmax=True).scores
    assert len(scores) == 2
    for row in scores:
        assert len(row) == len(labels)
        assert sum(row) == pytest.approx(1.0, abs=1e-5)


# ---- TestMultiItemScoringClassification -----------------------------------------------------------

NUM_LABELS = 1  # Qwen3-Reranker-0.6B-seq-cls: one label


def test_classification_mis_basic(reranker_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringClassification::test_classification_mis_basic.

    Upstream assertions: 5."""
    items = ["Option A", "Option B", "Option C"]
    scores = reranker_mis_engine.score(query="Rate each option:", items=items, apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == NUM_LABELS
        assert sum(row) == pytest.approx(1.0, abs=1e-5)
        assert all(s >= 0 for s in row)
        assert all(s <= 1 for s in row)


def test_classification_mis_tokenized_input(reranker_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringClassification::test_classification_mis_tokenized_input.

    Upstream assertions: 3."""
    tok = tokenizer(_path(reranker_mis_engine))
    query_ids = tok.encode("Rate each option:", add_special_tokens=False)
    items_ids = [tok.encode(item, add_special_tokens=False) for item in ["Option A", "Option B"]]
    scores = reranker_mis_engine.score(query=query_ids, items=items_ids, apply_softmax=True).scores
    assert len(scores) == len(items_ids)
    for row in scores:
        assert len(row) == NUM_LABELS
        assert sum(row) == pytest.approx(1.0, abs=1e-5)


def test_classification_non_mis_fallback(reranker_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringClassification::test_classification_non_mis_fallback.

    The classifier without ``enable_mis``. Upstream assertions: 3."""
    scores = reranker_engine.score(query="Test:", items=["A", "B"], apply_softmax=True).scores
    assert len(scores) == 2
    for row in scores:
        assert len(row) == NUM_LABELS
        assert sum(row) == pytest.approx(1.0, abs=1e-5)


# ---- TestMultiItemScoringParity (generation model: MIS engine vs single-item engine) ---------------


def _compare_mis_single(single_engine, mis_engine, query, items, label_token_ids=None, apply_softmax=True):
    """Upstream ``_compare_scores``: same count and row length, MIS == single (upstream places=1;
    here 1e-4), and (added) both equal transformers on each item alone."""
    single = single_engine.score(query=query, items=items, label_token_ids=label_token_ids,
                                 apply_softmax=apply_softmax).scores
    mis = mis_engine.score(query=query, items=items, label_token_ids=label_token_ids,
                           apply_softmax=apply_softmax).scores
    assert len(mis) == len(single)
    assert [len(r) for r in mis] == [len(r) for r in single]
    assert_close(mis, single)
    path = _path(mis_engine)
    assert_close(mis, reference(path, sequences(path, query, items), label_token_ids, apply_softmax))
    return mis


def test_parity_basic(causal_engine, causal_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringParity::test_parity_basic.

    Upstream assertions: 3."""
    labels = token_ids(_path(causal_mis_engine), [" good", " bad"])
    _compare_mis_single(causal_engine, causal_mis_engine, "Rate this option:", [" Option A", " Option B", " Option C"],
                        labels)


def test_parity_tokenized_inputs(causal_engine, causal_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringParity::test_parity_tokenized_inputs.

    Upstream assertions: 3."""
    path = _path(causal_mis_engine)
    tok = tokenizer(path)
    query_ids = tok.encode("Rate this option:", add_special_tokens=False)
    items_ids = [tok.encode(i, add_special_tokens=False) for i in [" Option X", " Option Y"]]
    _compare_mis_single(causal_engine, causal_mis_engine, query_ids, items_ids, token_ids(path, [" good", " bad"]))


def test_parity_without_softmax(causal_engine, causal_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringParity::test_parity_without_softmax.

    Upstream assertions: 3."""
    labels = token_ids(_path(causal_mis_engine), [" nice", " bad"])
    _compare_mis_single(causal_engine, causal_mis_engine, "The weather today is", [" sunny", " cloudy", " rainy"],
                        labels, apply_softmax=False)


def test_parity_many_items(causal_engine, causal_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringParity::test_parity_many_items.

    Upstream assertions: 3."""
    labels = token_ids(_path(causal_mis_engine), [" 1", " 2", " 3", " 4", " 5"])
    _compare_mis_single(causal_engine, causal_mis_engine, "Rate this option from 1 to 5:",
                        [f" Option {i}" for i in range(10)], labels)


# ---- TestMultiItemScoringClassificationParity (batched MIS vs one MIS call per item) ---------------


def _assert_batched_mis_matches_single_items(engine, query, items, *, apply_softmax=True,
                                             embed_override_token_id=None, item_embed_overrides=None):
    """Upstream ``_assert_batched_mis_matches_single_items``: score each item in its own MIS call and
    all items in one packed call; same count, same row lengths, equal values (upstream places=1;
    here 1e-4)."""
    if item_embed_overrides is not None:
        assert len(item_embed_overrides) == len(items)
    single = []
    for i, item in enumerate(items):
        kwargs = {}
        if item_embed_overrides is not None:
            kwargs = {"embed_override_token_id": embed_override_token_id,
                      "item_embed_overrides": [item_embed_overrides[i]]}
        single.append(engine.score(query=query, items=[item], apply_softmax=apply_softmax, **kwargs).scores[0])
    kwargs = {}
    if item_embed_overrides is not None:
        kwargs = {"embed_override_token_id": embed_override_token_id, "item_embed_overrides": item_embed_overrides}
    batched = engine.score(query=query, items=items, apply_softmax=apply_softmax, **kwargs).scores
    assert len(batched) == len(single)
    assert [len(r) for r in batched] == [len(r) for r in single]
    assert_close(batched, single)
    return batched


def test_cls_parity_basic(reranker_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringClassificationParity::test_parity_basic.

    Added: each score equals transformers (the stored head) on that item alone. Upstream assertions: 3."""
    query, items = "Rate this option:", [" Option A", " Option B", " Option C"]
    batched = _assert_batched_mis_matches_single_items(reranker_mis_engine, query, items)
    assert_close(batched, reference_scores(_path(reranker_mis_engine), query, items, apply_softmax=True))


def test_cls_parity_tokenized_inputs(reranker_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringClassificationParity::test_parity_tokenized_inputs.

    Upstream assertions: 3."""
    path = _path(reranker_mis_engine)
    tok = tokenizer(path)
    query_ids = tok.encode("Rate this option:", add_special_tokens=False)
    items_ids = [tok.encode(item, add_special_tokens=False) for item in [" Option X", " Option Y"]]
    batched = _assert_batched_mis_matches_single_items(reranker_mis_engine, query_ids, items_ids)
    assert_close(batched, reference(path, sequences(path, query_ids, items_ids), apply_softmax=True))


def test_cls_parity_without_softmax(reranker_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringClassificationParity::test_parity_without_softmax.

    Upstream assertions: 3."""
    query, items = "The weather today is", [" sunny", " cloudy", " rainy"]
    batched = _assert_batched_mis_matches_single_items(reranker_mis_engine, query, items, apply_softmax=False)
    assert_close(batched, reference_scores(_path(reranker_mis_engine), query, items))


def test_cls_parity_many_items(reranker_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringClassificationParity::test_parity_many_items.

    Upstream assertions: 3."""
    query, items = "Classify this option:", [f" Option {i}" for i in range(10)]
    batched = _assert_batched_mis_matches_single_items(reranker_mis_engine, query, items)
    assert_close(batched, reference_scores(_path(reranker_mis_engine), query, items, apply_softmax=True))


# ---- TestMultiItemScoringLlamaClassificationParity (item embedding overrides) ----------------------

PLACEHOLDER_ID = 0


def test_parity_tokenized_query_with_item_embed_overrides(llama_cls_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringLlamaClassificationParity::
    test_parity_tokenized_query_with_item_embed_overrides.

    Each item is the placeholder token 0 alone, given as a vector (``item_embed_overrides``, torch
    tensors of the hidden size, ``initializer_range``-scaled as upstream); packed MIS equals one MIS
    call per item; scores are finite, differ between documents, have ``num_labels`` entries, and
    (added) equal transformers with the placeholder's input embedding replaced. Upstream assertions:
    8 (4 in the helper, 4 here)."""
    path = _path(llama_cls_mis_engine)
    tok = tokenizer(path)
    query_ids = tok.encode("Rate whether each document is relevant:", add_special_tokens=False)
    config = hf.load_model(str(path)).config
    generator = torch.Generator().manual_seed(42)
    scale = getattr(config, "initializer_range", 0.02)
    overrides = [[torch.randn(config.hidden_size, generator=generator) * scale] for _ in range(3)]
    items = [[PLACEHOLDER_ID] for _ in overrides]

    batched = _assert_batched_mis_matches_single_items(
        llama_cls_mis_engine, query_ids, items, apply_softmax=False,
        embed_override_token_id=PLACEHOLDER_ID, item_embed_overrides=overrides)

    assert len(batched) == len(items)
    assert all(math.isfinite(v) for row in batched for v in row)
    assert len({tuple(row) for row in batched}) > 1, "different document embeddings returned identical scores"
    for row in batched:
        assert len(row) == config.num_labels
    seqs = sequences(path, query_ids, items)
    expected = reference(path, seqs, overrides=[{len(query_ids): vecs[0]} for vecs in overrides])
    assert_close(batched, expected)


# ---- TestMultiItemScoringClassificationMISvsNonMIS ------------------------------------------------


def test_mis_single_vs_non_mis(reranker_engine, reranker_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringClassificationMISvsNonMIS::test_mis_single_vs_non_mis.

    Upstream: MIS approximates non-MIS (places=1, MIS perturbs hidden states with delimiters); here
    they are equal (1e-4). Upstream assertions: 3."""
    query, items = "Rate this option:", [" Option A", " Option B", " Option C"]
    non_mis = reranker_engine.score(query=query, items=items, apply_softmax=True).scores
    mis = reranker_mis_engine.score(query=query, items=items, apply_softmax=True).scores
    assert len(mis) == len(non_mis)
    assert [len(r) for r in mis] == [len(r) for r in non_mis]
    assert_close(mis, non_mis)


# ---- TestMultiItemScoringClassificationAdvanced ---------------------------------------------------


def test_cls_items_produce_distinct_scores(reranker_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringClassificationAdvanced::test_items_produce_distinct_scores.

    Upstream assertions: 2."""
    items = ["Option A is about cats", "Option B is about dogs", "Option C is about fish"]
    scores = reranker_mis_engine.score(query="Rate each option:", items=items).scores
    assert len(scores) == len(items)
    assert not all(scores[0] == s for s in scores[1:]), f"all items scored {scores[0]}"


def test_cls_many_items_distinct(reranker_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringClassificationAdvanced::test_many_items_distinct.

    Upstream assertions: 3."""
    items = [f"City {i}" for i in range(15)]
    scores = reranker_mis_engine.score(query="Classify each city:", items=items).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == NUM_LABELS
    assert len({tuple(s) for s in scores}) > 1, "all 15 items returned identical scores"


def test_cls_deterministic(reranker_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringClassificationAdvanced::test_deterministic.

    Upstream assertions: 1."""
    kwargs = dict(query="Evaluate:", items=["alpha", "beta", "gamma"])
    assert reranker_mis_engine.score(**kwargs).scores == reranker_mis_engine.score(**kwargs).scores


def test_cls_concurrent_requests(reranker_mis_engine):
    """Ports prefill_only/test_multi_item_scoring.py::TestMultiItemScoringClassificationAdvanced::test_concurrent_requests.

    Concurrent MIS requests (``engine.async_score`` gathered on ``engine.loop``, as upstream runs
    them) score as the same requests one by one (upstream places=1; here 1e-4). Upstream
    assertions: 3."""
    cases = [
        {"query": "Is this a fruit?", "items": ["apple", "car", "banana"]},
        {"query": "Is this an animal?", "items": ["dog", "table"]},
        {"query": "Is this a country?", "items": ["France", "pizza", "Japan", "chair"]},
        {"query": "Is this a color?", "items": ["red"]},
    ]
    sequential = [reranker_mis_engine.score(query=c["query"], items=c["items"]).scores for c in cases]

    async def _gather():
        return await asyncio.gather(*(reranker_mis_engine.async_score(query=c["query"], items=c["items"])
                                      for c in cases))

    concurrent = reranker_mis_engine.loop.run_until_complete(_gather())
    for seq, conc in zip(sequential, concurrent):
        assert len(conc.scores) == len(seq)
        assert [len(r) for r in conc.scores] == [len(r) for r in seq]
        assert_close(conc.scores, seq)
