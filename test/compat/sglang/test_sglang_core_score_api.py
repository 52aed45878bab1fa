"""Ports of SGLang's older Engine scoring tests. Most were carried over to
prefill_only/test_score_engine.py (ported in test_sglang_score_engine.py); they are ported here
too, from this file, since their assertions differ in details (row lengths, tolerances).

Upstream file (sgl-project/sglang): test/registered/core/test_score_api.py, read at
199f553c2a5b1bff21f8d34b2f754bd4810552e0 (31 kB, with the ``test_score_accuracy_*`` tests) and
b53daee8518f9fb93012444511bce21229d09108 (22 kB). Upstream runs every test on
``Engine(model_path=Llama-3.2-1B-Instruct)`` without MIS, and reads the result as a list of rows
(the API before ``ScoreResult``); the ports read ``.scores`` (SGLang's current ``Engine.score``).

Tests that compare with transformers run on two tiny CausalLMs (``causal_lm``): the Llama
(word-level tokenizer with a BOS, where upstream words outside its vocabulary become ``<unk>``)
and the Qwen2 (byte-level BPE: every upstream label word gets its own id).
"""

from __future__ import annotations

import pytest

from sglang_reference import assert_close, reference_scores, token_ids


def _path(engine):
    return engine.server_args.model_path


def _compare_scores(hf_scores, sglang_scores):
    """Upstream ``_compare_scores``: same shape, |HF - SGLang| within tolerance (upstream 0.01, here
    fp32 1e-4), every score in [0, 1], rows summing to 1 (places=6)."""
    assert len(hf_scores) == len(sglang_scores)
    assert_close(sglang_scores, hf_scores)
    for row in sglang_scores:
        assert all(0 <= s <= 1 for s in row)
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("query, items, item_first", [
    ("I pledge allegiance", ["", " to"], False),
    (" is a city", ["Tokyo", "Japan"], True),
], ids=["default", "item_first"])
def test_score_consistency(causal_lm, query, items, item_first):
    """Ports core/test_score_api.py::TestScoreAPI::test_score_consistency.

    Scores of " to" / " the" match transformers for ``query + item`` and, with ``item_first``,
    ``item + query`` (special tokens at the start: ``<bos> Tokyo is a city`` on the Llama).
    Upstream assertions: 6 (``_compare_scores``)."""
    label_token_ids = token_ids(_path(causal_lm), [" to", " the"])
    sgl = causal_lm.score(query=query, items=items, label_token_ids=label_token_ids, apply_softmax=True,
                          item_first=item_first).scores
    hf = reference_scores(_path(causal_lm), query, items, label_token_ids, apply_softmax=True, item_first=item_first)
    _compare_scores(hf, sgl)


@pytest.mark.parametrize("batch_size", [1, 2, 4, 8])
def test_score_batch_handling(causal_engine, batch_size):
    """Ports core/test_score_api.py::TestScoreAPI::test_score_batch_handling.

    Upstream assertions: 4."""
    label_token_ids = [1, 2, 3]
    scores = causal_engine.score(query="The test was", items=[f"test {i}" for i in range(batch_size)],
                                 label_token_ids=label_token_ids, apply_softmax=True).scores
    assert len(scores) == batch_size
    for row in scores:
        assert len(row) == len(label_token_ids)
        assert all(isinstance(v, float) for v in row)
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


def test_multi_item_scoring_basic(causal_engine):
    """Ports core/test_score_api.py::TestScoreAPI::test_multi_item_scoring_basic.

    Upstream label ids 9454 / 2753 are Llama-3's "Yes" / "No". Upstream assertions: 4."""
    items = ["Sacramento", "San Jose", "San Francisco"]
    label_token_ids = token_ids(_path(causal_engine), ["Yes", "No"])
    scores = causal_engine.score(
        query="What is the capital of California? Answer Yes or No for each of the following options:",
        items=items, label_token_ids=label_token_ids, apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == len(label_token_ids)
        assert sum(row) == pytest.approx(1.0, abs=1e-6)
        assert all(s >= 0 for s in row)


def test_multi_item_scoring_consistency(causal_engine):
    """Ports core/test_score_api.py::TestScoreAPI::test_multi_item_scoring_consistency.

    The same request twice gives identical scores (places=6). Upstream assertions: 3."""
    kwargs = dict(query="Choose the best option:", items=["Option A", "Option B", "Option C"],
                  label_token_ids=[1, 2, 3], apply_softmax=True)
    scores1 = causal_engine.score(**kwargs).scores
    scores2 = causal_engine.score(**kwargs).scores
    assert len(scores1) == len(scores2)
    for s1, s2 in zip(scores1, scores2):
        assert len(s1) == len(s2)
        for a, b in zip(s1, s2):
            assert round(a - b, 6) == 0


@pytest.mark.parametrize("items", [
    ["Single item"], ["Item 1", "Item 2"], ["A", "B", "C", "D"], ["X", "Y", "Z", "W", "V", "U"],
], ids=lambda items: f"n{len(items)}")
def test_multi_item_scoring_different_sizes(causal_engine, items):
    """Ports core/test_score_api.py::TestScoreAPI::test_multi_item_scoring_different_sizes.

    Upstream assertions: 3."""
    label_token_ids = [1, 2, 3, 4, 5]
    scores = causal_engine.score(query="Rate each option:", items=items, label_token_ids=label_token_ids,
                                 apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == len(label_token_ids)
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


def test_multi_item_scoring_empty_items(causal_engine):
    """Ports core/test_score_api.py::TestScoreAPI::test_multi_item_scoring_empty_items.

    Upstream assertions: 1."""
    scores = causal_engine.score(query="Test query", items=[], label_token_ids=[1, 2], apply_softmax=True).scores
    assert len(scores) == 0


def test_multi_item_scoring_single_item(causal_engine):
    """Ports core/test_score_api.py::TestScoreAPI::test_multi_item_scoring_single_item.

    Upstream assertions: 3."""
    label_token_ids = [1, 2, 3]
    scores = causal_engine.score(query="Complete this sentence: The capital of France is", items=["Paris"],
                                 label_token_ids=label_token_ids, apply_softmax=True).scores
    assert len(scores) == 1
    assert len(scores[0]) == len(label_token_ids)
    assert sum(scores[0]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("query", [
    "Is this true?", "Choose the correct answer:", "What is the best option?", "Select all that apply:", "",
])
def test_multi_item_scoring_different_queries(causal_engine, query):
    """Ports core/test_score_api.py::TestScoreAPI::test_multi_item_scoring_different_queries.

    Including the empty query. Upstream assertions: 3."""
    items, label_token_ids = ["Yes", "No"], [1, 2]
    scores = causal_engine.score(query=query, items=items, label_token_ids=label_token_ids,
                                 apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == len(label_token_ids)
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("label_token_ids", [[1, 2], [1, 2, 3, 4], [1], [1, 2, 3, 4, 5, 6, 7, 8]],
                         ids=lambda ids: f"{len(ids)}_labels")
def test_multi_item_scoring_different_label_tokens(causal_engine, label_token_ids):
    """Ports core/test_score_api.py::TestScoreAPI::test_multi_item_scoring_different_label_tokens.

    Upstream assertions: 3."""
    items = ["Option A", "Option B"]
    scores = causal_engine.score(query="Choose the best option:", items=items, label_token_ids=label_token_ids,
                                 apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == len(label_token_ids)
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


def test_multi_item_scoring_without_softmax(causal_engine):
    """Ports core/test_score_api.py::TestScoreAPI::test_multi_item_scoring_without_softmax.

    Upstream assertions: 3."""
    items, label_token_ids = ["Good", "Bad", "Neutral"], [1, 2, 3]
    scores = causal_engine.score(query="Rate each option:", items=items, label_token_ids=label_token_ids,
                                 apply_softmax=False).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == len(label_token_ids)
        assert all(isinstance(s, (int, float)) for s in row)


def test_multi_item_scoring_large_batch(causal_engine):
    """Ports core/test_score_api.py::TestScoreAPI::test_multi_item_scoring_large_batch.

    Upstream assertions: 3."""
    items = [f"Item {i}" for i in range(20)]
    scores = causal_engine.score(query="Classify each item:", items=items, label_token_ids=[1, 2, 3],
                                 apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == 3
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


def test_multi_item_scoring_unicode(causal_engine):
    """Ports core/test_score_api.py::TestScoreAPI::test_multi_item_scoring_unicode.

    Upstream assertions: 3."""
    items, label_token_ids = ["选项A", "选项B", "选项C"], [1, 2, 3]
    scores = causal_engine.score(query="选择最佳选项：", items=items, label_token_ids=label_token_ids,
                                 apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == len(label_token_ids)
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


def test_multi_item_scoring_error_handling(causal_engine):
    """Ports core/test_score_api.py::TestScoreAPI::test_multi_item_scoring_error_handling.

    ``label_token_ids="invalid"`` and ``items=None`` raise ValueError or TypeError. Upstream assertions: 2."""
    with pytest.raises((ValueError, TypeError)):
        causal_engine.score(query="Test query", items=["Item 1", "Item 2"], label_token_ids="invalid",
                            apply_softmax=True)
    with pytest.raises((ValueError, TypeError)):
        causal_engine.score(query="Test query", items=None, label_token_ids=[1, 2], apply_softmax=True)


@pytest.mark.parametrize("case", [
    {"query": "The capital of France is", "items": ["Paris", "London", "Berlin"], "tokens": ["Paris", "London"]},
    {"query": "The movie was", "items": ["great", "terrible", "okay"], "tokens": ["great", "terrible"]},
    {"query": "In the context of machine learning, " * 10 + "the term 'overfitting' means",
     "items": ["the model performs well on training data but poorly on test data"], "tokens": ["the", "model"]},
], ids=["simple_completion", "sentiment_analysis", "long_context"])
def test_score_accuracy_causallm_comprehensive(causal_lm, case):
    """Ports core/test_score_api.py::TestScoreAPI::test_score_accuracy_causallm_comprehensive.

    Upstream assertions: 6 (``_compare_scores``)."""
    label_token_ids = token_ids(_path(causal_lm), case["tokens"])
    sgl = causal_lm.score(query=case["query"], items=case["items"], label_token_ids=label_token_ids,
                          apply_softmax=True).scores
    _compare_scores(reference_scores(_path(causal_lm), case["query"], case["items"], label_token_ids, True), sgl)


@pytest.mark.parametrize("case", [
    {"query": "", "items": ["test"], "tokens": ["test", "item"]},
    {"query": "The answer is", "items": ["A", "B", "C"], "tokens": ["A", "B"]},
    {"query": "The symbol for", "items": ["@", "#", "$"], "tokens": ["@", "#"]},
    {"query": "中文的意思是", "items": ["你好", "世界"], "tokens": ["你好", "世界"]},
], ids=["empty_query", "single_char_items", "special_characters", "unicode_text"])
def test_score_accuracy_causallm_edge_cases(causal_lm, case):
    """Ports core/test_score_api.py::TestScoreAPI::test_score_accuracy_causallm_edge_cases.

    Upstream skips a case whose text cannot be tokenized; every case tokenizes here, none is skipped.
    Upstream assertions: 6 (``_compare_scores``)."""
    path = _path(causal_lm)
    label_token_ids = token_ids(path, case["tokens"])
    sgl = causal_lm.score(query=case["query"], items=case["items"], label_token_ids=label_token_ids,
                          apply_softmax=True).scores
    _compare_scores(reference_scores(path, case["query"], case["items"], label_token_ids, True), sgl)


@pytest.mark.parametrize("items", [
    ["test"], ["item1", "item2"], [f"item{i}" for i in range(5)], [f"item{i}" for i in range(10)],
], ids=["single_item", "small_batch", "medium_batch", "large_batch"])
def test_score_accuracy_causallm_batch_variations(causal_lm, items):
    """Ports core/test_score_api.py::TestScoreAPI::test_score_accuracy_causallm_batch_variations.

    Upstream assertions: 6 (``_compare_scores``)."""
    label_token_ids = token_ids(_path(causal_lm), ["Yes", "No"])
    sgl = causal_lm.score(query="The answer is", items=items, label_token_ids=label_token_ids,
                          apply_softmax=True).scores
    _compare_scores(reference_scores(_path(causal_lm), "The answer is", items, label_token_ids, True), sgl)


def _assert_reproducible(runs):
    """Upstream's reproducibility check: each run equals run 0 within 10 % relative (or 1e-6 absolute
    for values under 1e-6)."""
    for run in runs[1:]:
        for s1, s2 in zip(runs[0], run):
            for a, b in zip(s1, s2):
                avg = (abs(a) + abs(b)) / 2
                if avg > 1e-6:
                    assert abs(a - b) / avg <= 0.10
                else:
                    assert abs(a - b) <= 1e-6


def test_score_accuracy_reproducibility(causal_lm):
    """Ports core/test_score_api.py::TestScoreAPI::test_score_accuracy_reproducibility.

    Three runs of SGLang and of transformers are each reproducible, and run 0 matches.
    Upstream assertions: 10 (2 + 2 reproducibility, 6 ``_compare_scores``)."""
    path = _path(causal_lm)
    query, items = "The answer is", ["Yes", "No", "Maybe"]
    label_token_ids = token_ids(path, ["Yes", "No"])
    sgl_runs, hf_runs = [], []
    for _ in range(3):
        sgl_runs.append(causal_lm.score(query=query, items=items, label_token_ids=label_token_ids,
                                        apply_softmax=True).scores)
        hf_runs.append(reference_scores(path, query, items, label_token_ids, apply_softmax=True))
    _assert_reproducible(sgl_runs)
    _assert_reproducible(hf_runs)
    _compare_scores(hf_runs[0], sgl_runs[0])
