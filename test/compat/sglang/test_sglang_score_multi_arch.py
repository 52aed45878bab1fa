"""Ports of SGLang's scoring tests across model architectures.

Upstream file (sgl-project/sglang): test/registered/core/test_score_api_multi_arch.py
@ 5a9c2c78b38f9b7f85b4eaa1b76bdd64924d57d9. Upstream models -> tiny checkpoints (conftest.py):
Llama-3.2-1B-Instruct and Llama-3.2-1B (base) -> the tiny Llama (``causal_engine``; there is no
instruct/base distinction between random checkpoints), Qwen2.5-1.5B-Instruct -> the tiny Qwen2
(``qwen2_engine``), Qwen3-Reranker-0.6B (a Qwen3ForCausalLM checkpoint) -> the tiny Qwen3
(``qwen3_engine``). Upstream reads ``Engine.score`` as a list of rows (the API before
``ScoreResult``); the ports read ``.scores``.
"""

from __future__ import annotations

import pytest

from sglang_reference import assert_close, reference_scores, token_ids, vocab_size


def _path(engine):
    return engine.server_args.model_path


def _compare_scores(hf_scores, sglang_scores):
    """Upstream ``_compare_scores``: same shape and |HF - SGLang| <= 0.01 (here fp32: 1e-4)."""
    assert len(hf_scores) == len(sglang_scores)
    assert_close(sglang_scores, hf_scores)


def test_causallm_llama_basic_scoring(causal_engine):
    """Ports core/test_score_api_multi_arch.py::TestScoreAPIMultiArch::test_causallm_llama_basic_scoring.

    Upstream assertions: 3 (``_compare_scores``: count, row length, values)."""
    query, items = "The capital of France is", ["Paris", "London", "Berlin"]
    labels = token_ids(_path(causal_engine), ["Paris", "London"])
    sgl = causal_engine.score(query=query, items=items, label_token_ids=labels, apply_softmax=True).scores
    _compare_scores(reference_scores(_path(causal_engine), query, items, labels, apply_softmax=True), sgl)


def test_causallm_llama_base_basic_scoring(causal_engine):
    """Ports core/test_score_api_multi_arch.py::TestScoreAPIMultiArch::test_causallm_llama_base_basic_scoring.

    Upstream assertions: 3."""
    query, items = "The capital of France is", ["Paris", "London"]
    labels = token_ids(_path(causal_engine), ["Paris", "London"])
    sgl = causal_engine.score(query=query, items=items, label_token_ids=labels, apply_softmax=True).scores
    _compare_scores(reference_scores(_path(causal_engine), query, items, labels, apply_softmax=True), sgl)


def test_causallm_item_first(causal_lm):
    """Ports core/test_score_api_multi_arch.py::TestScoreAPIMultiArch::test_causallm_item_first.

    ``item_first=True`` matches transformers on ``item + query`` (upstream's reference tokenizes
    ``f"{item}{query}"``: a BOS stays first). On the tiny Llama "Tokyo" / "Japan" are both
    ``<unk>``; the Qwen2 run gives them distinct ids. Upstream assertions: 3."""
    query, items = " is a city", ["Tokyo", "Japan"]
    labels = token_ids(_path(causal_lm), ["Tokyo", "Japan"])
    sgl = causal_lm.score(query=query, items=items, label_token_ids=labels, apply_softmax=True,
                          item_first=True).scores
    hf = reference_scores(_path(causal_lm), query, items, labels, apply_softmax=True, item_first=True)
    _compare_scores(hf, sgl)


def test_causallm_without_softmax(causal_engine):
    """Ports core/test_score_api_multi_arch.py::TestScoreAPIMultiArch::test_causallm_without_softmax.

    Numeric scores of the right shape (upstream does not compare with HF because "the API may return
    logprobs"; SGLang returns ``exp(logprob)``, the labels' full-vocabulary probabilities, and so does
    multiscore: compared here too). Upstream assertions: 3."""
    query, items = "The answer is", ["Yes", "No"]
    labels = token_ids(_path(causal_engine), ["Yes", "No"])
    scores = causal_engine.score(query=query, items=items, label_token_ids=labels, apply_softmax=False).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == len(labels)
        assert all(isinstance(s, (int, float)) for s in row)
    assert_close(scores, reference_scores(_path(causal_engine), query, items, labels, apply_softmax=False))


def test_causallm_large_batch(causal_engine):
    """Ports core/test_score_api_multi_arch.py::TestScoreAPIMultiArch::test_causallm_large_batch.

    Upstream assertions: 3."""
    items = [f"Item {i}" for i in range(20)]
    labels = token_ids(_path(causal_engine), ["A", "B", "C"])
    scores = causal_engine.score(query="Classify:", items=items, label_token_ids=labels, apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == len(labels)
        assert sum(row) == pytest.approx(1.0, abs=1e-4)


def test_consistency_across_architectures(causal_engine, qwen2_engine):
    """Ports core/test_score_api_multi_arch.py::TestScoreAPIMultiArch::test_consistency_across_architectures.

    Two checkpoints (upstream: Llama instruct and base; here the tiny Llama and the tiny Qwen2) both
    give valid distributions of the same shape for the same label ids. Upstream assertions: 3."""
    query, items = "The answer is", ["Yes", "No"]
    labels = token_ids(_path(causal_engine), ["Yes", "No"])
    llama = causal_engine.score(query=query, items=items, label_token_ids=labels, apply_softmax=True).scores
    other = qwen2_engine.score(query=query, items=items, label_token_ids=labels, apply_softmax=True).scores
    assert len(llama) == len(other)
    assert len(llama[0]) == len(other[0])
    for row in llama + other:
        assert sum(row) == pytest.approx(1.0, abs=1e-4)


def test_invalid_label_token_ids(causal_engine):
    """Ports core/test_score_api_multi_arch.py::TestScoreAPIMultiArch::test_invalid_label_token_ids.

    Label ids outside the vocabulary raise ValueError (or IndexError). Upstream takes
    ``tokenizer.vocab_size + 1``; the tiny tokenizer has fewer tokens than the model's embedding
    rows, so "outside the vocabulary" here is past the model's vocabulary. Upstream assertions: 1."""
    size = vocab_size(_path(causal_engine))
    with pytest.raises((ValueError, IndexError)):
        causal_engine.score(query="Test", items=["Item"], label_token_ids=[size + 1, size + 2], apply_softmax=True)


def test_empty_query(causal_engine):
    """Ports core/test_score_api_multi_arch.py::TestScoreAPIMultiArch::test_empty_query.

    Upstream assertions: 2."""
    labels = token_ids(_path(causal_engine), ["Item"])
    scores = causal_engine.score(query="", items=["Item"], label_token_ids=labels, apply_softmax=True).scores
    assert len(scores) == 1
    assert len(scores[0]) == len(labels)


def test_single_item(causal_engine):
    """Ports core/test_score_api_multi_arch.py::TestScoreAPIMultiArch::test_single_item.

    Upstream assertions: 3."""
    labels = token_ids(_path(causal_engine), ["Paris", "London"])
    scores = causal_engine.score(query="The capital is", items=["Paris"], label_token_ids=labels,
                                 apply_softmax=True).scores
    assert len(scores) == 1
    assert len(scores[0]) == len(labels)
    assert sum(scores[0]) == pytest.approx(1.0, abs=1e-4)


def test_single_label_token(causal_engine):
    """Ports core/test_score_api_multi_arch.py::TestScoreAPIMultiArch::test_single_label_token.

    A softmax over one label is 1.0. Upstream assertions: 3."""
    labels = token_ids(_path(causal_engine), ["Yes"])
    scores = causal_engine.score(query="The answer is", items=["Yes", "No"], label_token_ids=labels,
                                 apply_softmax=True).scores
    assert len(scores) == 2
    for row in scores:
        assert len(row) == 1
        assert row[0] == pytest.approx(1.0, abs=1e-4)


def test_many_label_tokens(causal_engine):
    """Ports core/test_score_api_multi_arch.py::TestScoreAPIMultiArch::test_many_label_tokens.

    Upstream assertions: 3."""
    labels = token_ids(_path(causal_engine), ["A", "B", "C", "D", "E", "F", "G", "H"])
    scores = causal_engine.score(query="Choose:", items=["A", "B"], label_token_ids=labels, apply_softmax=True).scores
    assert len(scores) == 2
    for row in scores:
        assert len(row) == len(labels)
        assert sum(row) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("engine_name", ["causal_engine", "causal_engine", "qwen2_engine", "qwen3_engine"],
                         ids=["causallm_llama", "causallm_llama_base", "causallm_qwen", "sequence_classification_qwen3"])
def test_architecture(runtimes, engine_name):
    """Ports core/test_score_api_multi_arch.py::create_parameterized_tests (test_architecture_<model>).

    Upstream's ``sequence_classification_qwen3`` model is Qwen/Qwen3-Reranker-0.6B, a
    Qwen3ForCausalLM checkpoint scored with label ids (one score per label). Upstream assertions: 3."""
    engine = runtimes.get(engine_name)
    labels = token_ids(_path(engine), ["Paris", "London"])
    scores = engine.score(query="The capital of France is", items=["Paris", "London"], label_token_ids=labels,
                          apply_softmax=True).scores
    assert len(scores) == 2
    for row in scores:
        assert len(row) == len(labels)
        assert sum(row) == pytest.approx(1.0, abs=1e-4)
