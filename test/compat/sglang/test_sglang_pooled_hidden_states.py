"""Ports of SGLang's ``return_pooled_hidden_states`` tests (the pre-head hidden state of each item,
beside its scores, from ``Engine.score`` and ``POST /v1/score``).

Upstream file (sgl-project/sglang): test/registered/prefill_only/test_pooled_hidden_states.py
@ 22188c15f3162db1e0b25d9773f466c60a106756 — Qwen3-0.6B served as a 4-label
Qwen3ForSequenceClassification (json_model_override_args), single-item and ``enable_mis=True``;
Llama-3.2-1B-Instruct for the CausalLM rejection; a server for the HTTP round trip.

Engines / server (conftest.py): the Engine tests share ``seqcls_engine`` / ``seqcls_mis_engine``
(2 labels; upstream's 4 only sets the head's width, which no assertion here reads), the rejection
tests ``causal_engine``; the HTTP tests ``seqcls_server``, launched with upstream's flags (4 labels).
"""

from __future__ import annotations

import pytest
import requests
import torch

from sglang_reference import tokenizer

# ---- TestPooledHiddenStatesEngine -----------------------------------------------------------------


def test_phs_returned_when_requested(seqcls_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesEngine::test_phs_returned_when_requested.

    Upstream assertions: 5."""
    result = seqcls_engine.score(query="Rate each:", items=["Good", "Bad"], return_pooled_hidden_states=True)
    assert result.pooled_hidden_states is not None
    assert len(result.pooled_hidden_states) == 2
    for phs in result.pooled_hidden_states:
        assert isinstance(phs, torch.Tensor)
        assert phs.dim() == 1
        assert phs.shape[0] > 0


def test_phs_none_when_not_requested(seqcls_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesEngine::test_phs_none_when_not_requested.

    Upstream assertions: 1."""
    result = seqcls_engine.score(query="Rate each:", items=["Good", "Bad"], return_pooled_hidden_states=False)
    assert result.pooled_hidden_states is None


def test_phs_shape_is_consistent(seqcls_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesEngine::test_phs_shape_is_consistent.

    Upstream assertions: 3."""
    result = seqcls_engine.score(query="Evaluate:", items=["Alpha", "Beta", "Gamma"], return_pooled_hidden_states=True)
    assert result.pooled_hidden_states is not None
    dims = {phs.shape[0] for phs in result.pooled_hidden_states}
    assert len(dims) == 1
    assert dims.pop() > 0


@pytest.mark.parametrize("n", [1, 3, 5])
def test_phs_count_matches_items(seqcls_engine, n):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesEngine::test_phs_count_matches_items.

    Upstream assertions: 2."""
    result = seqcls_engine.score(query="Classify:", items=[f"Item {i}" for i in range(n)],
                                 return_pooled_hidden_states=True)
    assert result.pooled_hidden_states is not None
    assert len(result.pooled_hidden_states) == n


def test_phs_on_cpu(seqcls_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesEngine::test_phs_on_cpu.

    Upstream assertions: 1."""
    result = seqcls_engine.score(query="Check device:", items=["Test"], return_pooled_hidden_states=True)
    for phs in result.pooled_hidden_states:
        assert str(phs.device) == "cpu"


def test_phs_deterministic(seqcls_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesEngine::test_phs_deterministic.

    Upstream assertions: 1."""
    kwargs = dict(query="Evaluate:", items=["A", "B"], return_pooled_hidden_states=True)
    phs1 = seqcls_engine.score(**kwargs).pooled_hidden_states
    phs2 = seqcls_engine.score(**kwargs).pooled_hidden_states
    for t1, t2 in zip(phs1, phs2):
        assert torch.allclose(t1, t2, atol=1e-5)


def test_scores_unaffected_by_phs_flag(seqcls_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesEngine::test_scores_unaffected_by_phs_flag.

    Upstream assertions: 2 (places=2)."""
    kwargs = dict(query="Rate:", items=["X", "Y", "Z"], apply_softmax=True)
    without = seqcls_engine.score(**kwargs, return_pooled_hidden_states=False).scores
    with_phs = seqcls_engine.score(**kwargs, return_pooled_hidden_states=True).scores
    assert len(without) == len(with_phs)
    for row_a, row_b in zip(without, with_phs):
        for a, b in zip(row_a, row_b):
            assert round(a - b, 2) == 0


def test_phs_with_tokenized_inputs(seqcls_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesEngine::test_phs_with_tokenized_inputs.

    Upstream assertions: 2."""
    tok = tokenizer(seqcls_engine.server_args.model_path)
    result = seqcls_engine.score(query=tok.encode("Evaluate:"), items=[tok.encode(i) for i in ["Alpha", "Beta"]],
                                 return_pooled_hidden_states=True)
    assert result.pooled_hidden_states is not None
    assert len(result.pooled_hidden_states) == 2


# ---- TestPooledHiddenStatesMISEngine --------------------------------------------------------------


def test_mis_phs_count_matches_items(seqcls_mis_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesMISEngine::test_mis_phs_count_matches_items.

    Upstream assertions: 2."""
    items = ["Option A", "Option B", "Option C"]
    result = seqcls_mis_engine.score(query="Rate each:", items=items, return_pooled_hidden_states=True)
    assert result.pooled_hidden_states is not None
    assert len(result.pooled_hidden_states) == len(items)


def test_mis_phs_none_when_not_requested(seqcls_mis_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesMISEngine::test_mis_phs_none_when_not_requested.

    Upstream assertions: 1."""
    result = seqcls_mis_engine.score(query="Rate each:", items=["A", "B"], return_pooled_hidden_states=False)
    assert result.pooled_hidden_states is None


def test_mis_phs_are_tensors_on_cpu(seqcls_mis_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesMISEngine::test_mis_phs_are_tensors_on_cpu.

    Upstream assertions: 2."""
    result = seqcls_mis_engine.score(query="Classify:", items=["X", "Y"], return_pooled_hidden_states=True)
    for phs in result.pooled_hidden_states:
        assert isinstance(phs, torch.Tensor)
        assert str(phs.device) == "cpu"


def test_mis_phs_different_items_different_hidden_states(seqcls_mis_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesMISEngine::
    test_mis_phs_different_items_different_hidden_states.

    Upstream assertions: 1."""
    items = ["Option A is about cats", "Option B is about dogs", "Option C is about fish"]
    phs = seqcls_mis_engine.score(query="Classify:", items=items, return_pooled_hidden_states=True).pooled_hidden_states
    assert not all(torch.allclose(phs[0], p, atol=1e-6) for p in phs[1:]), "all MIS items returned the same state"


def test_mis_phs_single_item(seqcls_mis_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesMISEngine::test_mis_single_item.

    Upstream assertions: 2."""
    result = seqcls_mis_engine.score(query="Evaluate:", items=["Only one"], return_pooled_hidden_states=True)
    assert result.pooled_hidden_states is not None
    assert len(result.pooled_hidden_states) == 1


def test_mis_phs_many_items(seqcls_mis_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesMISEngine::test_mis_many_items.

    Upstream assertions: 3."""
    items = [f"Item {i}" for i in range(10)]
    result = seqcls_mis_engine.score(query="Classify:", items=items, return_pooled_hidden_states=True)
    assert result.pooled_hidden_states is not None
    assert len(result.pooled_hidden_states) == len(items)
    assert len({phs.shape for phs in result.pooled_hidden_states}) == 1


def test_mis_scores_unaffected_by_phs_flag(seqcls_mis_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesMISEngine::test_mis_scores_unaffected_by_phs_flag.

    Upstream assertions: 1 (places=2)."""
    kwargs = dict(query="Rate:", items=["Alpha", "Beta", "Gamma"], apply_softmax=True)
    without = seqcls_mis_engine.score(**kwargs, return_pooled_hidden_states=False).scores
    with_phs = seqcls_mis_engine.score(**kwargs, return_pooled_hidden_states=True).scores
    for row_a, row_b in zip(without, with_phs):
        for a, b in zip(row_a, row_b):
            assert round(a - b, 2) == 0


# ---- TestPooledHiddenStatesCausalLMRejection ------------------------------------------------------


def test_causal_lm_rejects_phs(causal_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesCausalLMRejection::test_causal_lm_rejects_phs.

    ValueError naming CausalLM. Upstream assertions: 2."""
    with pytest.raises(ValueError) as info:
        causal_engine.score(query="Test", items=["Item"], label_token_ids=[1, 2], return_pooled_hidden_states=True)
    assert "CausalLM" in str(info.value)


def test_causal_lm_without_phs_still_works(causal_engine):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesCausalLMRejection::test_causal_lm_without_phs_still_works.

    Upstream assertions: 2."""
    result = causal_engine.score(query="Test", items=["Item"], label_token_ids=[1, 2], apply_softmax=True,
                                 return_pooled_hidden_states=False)
    assert len(result.scores) == 1
    assert result.pooled_hidden_states is None


# ---- TestPooledHiddenStatesHTTP -------------------------------------------------------------------


def _post(server, payload):
    return requests.post(server.url + "/v1/score", json={**payload, "model": str(server.model_path)}, timeout=60)


def test_phs_in_response_json(seqcls_server):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesHTTP::test_phs_in_response_json.

    Upstream assertions: 6."""
    resp = _post(seqcls_server, {"query": "Rate each:", "items": ["Good", "Bad"], "return_pooled_hidden_states": True})
    assert resp.status_code == 200, resp.text
    phs = resp.json().get("pooled_hidden_states")
    assert phs is not None
    assert len(phs) == 2
    for item_phs in phs:
        assert isinstance(item_phs, list)
        assert len(item_phs) > 0
        assert all(isinstance(v, float) for v in item_phs)


def test_phs_absent_when_not_requested(seqcls_server):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesHTTP::test_phs_absent_when_not_requested.

    Upstream assertions: 2."""
    resp = _post(seqcls_server, {"query": "Rate each:", "items": ["Good"]})
    assert resp.status_code == 200, resp.text
    assert resp.json().get("pooled_hidden_states") is None


def test_phs_matches_item_count(seqcls_server):
    """Ports prefill_only/test_pooled_hidden_states.py::TestPooledHiddenStatesHTTP::test_phs_matches_item_count.

    Upstream assertions: 2."""
    items = ["A", "B", "C", "D"]
    resp = _post(seqcls_server, {"query": "Classify:", "items": items, "return_pooled_hidden_states": True})
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["pooled_hidden_states"]) == len(items)
