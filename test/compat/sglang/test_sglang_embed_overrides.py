"""Ports of SGLang's embedding-override and score-request validation tests.

Upstream file (sgl-project/sglang): test/registered/unit/managers/test_embed_overrides.py
@ 12ad6cb093e6ed24e01b4d4b5bc71e39b815c050 (the same tests as
test/registered/prefill_only/test_embed_overrides.py @ 05f70dc503324fcbc7cb999e78ab990f27a9597e).
Upstream unit-tests SGLang's private helpers (``_resolve_overrides_for_sequence``,
``_build_token_id_inputs``, ``score_request`` on a stub manager) by the input ids and override
positions they build. Here the same inputs go through the public ``Engine.score`` (SGLang's
signature: ``embed_override_token_id``, ``query_embed_overrides``, ``item_embed_overrides``), and a
position assertion becomes "the score equals transformers with the input embedding replaced at
that position" (each item alone, fp32, ≤ 1e-4). Upstream's vectors are ``torch.full((4,), v)``; here
they have the model's hidden size.

Tests of SGLang-internal containers (PositionalEmbeds, convert_embeds_to_tensors, the __getitem__
of GenerateReqInput / EmbeddingReqInput) have no public counterpart and are not ported; the HTTP
conversion of JSON float lists is ported in test_sglang_score_api_http.py.

Engines: ``causal_engine`` (tiny Llama, single-item) and ``causal_mis_engine`` (``enable_mis=True``).
"""

from __future__ import annotations

import pytest
import requests
import torch

from sglang_reference import assert_close, hidden_size, reference, sequences

LABELS = [5, 100]


def _vec(path, val: float = 1.0) -> torch.Tensor:
    """Upstream ``_vec``: a constant vector (of the model's hidden size here)."""
    return torch.full((hidden_size(path),), val, dtype=torch.float32)


def _path(engine):
    return engine.server_args.model_path


def _check(engine, query, items, overrides, **kwargs):
    """Score through the engine and compare with transformers; ``overrides[i]``: {position in the
    sequence query+item: vector} for item i."""
    path = _path(engine)
    scores = engine.score(query=query, items=items, label_token_ids=LABELS, **kwargs).scores
    assert_close(scores, reference(path, sequences(path, query, items), LABELS, overrides=overrides))
    return scores


# ---- TestResolveEmbedOverrides / TestResolveOverridesForSequence ----------------------------------


def test_basic_resolution(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestResolveEmbedOverrides::test_basic_resolution and
    ::TestResolveOverridesForSequence::test_basic_resolution.

    Every placeholder occurrence takes the next vector, in order (upstream: ids ``[10, 50, 20, 50, 30]``
    -> positions ``[1, 3]``; ``[50, 10, 50]`` -> ``[0, 2]``). Upstream assertions: 4 (positions and
    count, twice)."""
    p = _path(causal_engine)
    e1, e2 = _vec(p, 1), _vec(p, 2)
    _check(causal_engine, [10], [[50, 20, 50, 30]], [{1: e1, 3: e2}],
           embed_override_token_id=50, item_embed_overrides=[[e1, e2]])
    _check(causal_engine, [], [[50, 10, 50]], [{0: e1, 2: e2}],
           embed_override_token_id=50, item_embed_overrides=[[e1, e2]])


def test_no_placeholders_raises(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestResolveEmbedOverrides::test_no_placeholders_raises.

    Vectors given for a sequence without the placeholder: ValueError. Upstream assertions: 1."""
    with pytest.raises(ValueError):
        causal_engine.score(query=[10, 20], items=[[30]], label_token_ids=LABELS, embed_override_token_id=50,
                            item_embed_overrides=[[_vec(_path(causal_engine))]])


@pytest.mark.parametrize("item, n_vectors", [([10, 50, 20], 2), ([50, 50], 1)], ids=["more_vectors", "fewer_vectors"])
def test_count_mismatch_raises(causal_engine, item, n_vectors):
    """Ports unit/managers/test_embed_overrides.py::TestResolveEmbedOverrides::test_count_mismatch_raises and
    ::TestResolveOverridesForSequence::test_count_mismatch_raises.

    As many vectors as placeholders, or ValueError. Upstream assertions: 1 (each)."""
    vecs = [_vec(_path(causal_engine), i) for i in range(n_vectors)]
    with pytest.raises(ValueError):
        causal_engine.score(query=[10], items=[item], label_token_ids=LABELS, embed_override_token_id=50,
                            item_embed_overrides=[vecs])


def test_none_embeds_returns_empty(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestResolveOverridesForSequence::test_none_embeds_returns_empty and
    ::TestResolveEmbedOverridesForRequest::test_no_overrides_returns_none and
    ::TestBuildTokenIdInputs::test_single_item_no_override_positions_returns_none_injection.

    A ``None`` entry (or no overrides at all) means "no override": the placeholder token keeps its
    own embedding. Upstream assertions: 4."""
    _check(causal_engine, [10, 20], [[10, 50, 20]], [None], embed_override_token_id=50, item_embed_overrides=[None])
    _check(causal_engine, [10, 20], [[30, 40]], [None], embed_override_token_id=50)
    _check(causal_engine, [10, 20], [[30, 40]], [None], embed_override_token_id=50, item_embed_overrides=[None])


def test_with_offset(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestResolveOverridesForSequence::test_with_offset and
    ::TestResolveEmbedOverridesForRequest::test_item_only_overrides and
    ::TestBuildTokenIdInputs::test_single_item_item_embeds.

    An item's placeholder is at (query length + its index in the item). Upstream assertions: 5."""
    p = _path(causal_engine)
    e = _vec(p, 2)
    _check(causal_engine, [10, 20], [[50, 30]], [{2: e}], embed_override_token_id=50, item_embed_overrides=[[e]])
    _check(causal_engine, [10, 20, 30], [[10, 50]], [{4: e}], embed_override_token_id=50, item_embed_overrides=[[e]])


def test_empty_embeds_list(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestResolveOverridesForSequence::test_empty_embeds_list.

    No placeholder and an empty list of vectors: scored unchanged. Upstream assertions: 2."""
    _check(causal_engine, [10], [[10, 20]], [None], embed_override_token_id=50, item_embed_overrides=[[]])


# ---- TestResolveEmbedOverridesForRequest / TestBuildTokenIdInputs (single-item) --------------------


def test_query_only_overrides(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestResolveEmbedOverridesForRequest::test_query_only_overrides and
    ::TestBuildTokenIdInputs::test_single_item_query_embeds.

    The query's placeholder takes ``query_embed_overrides`` in every item's sequence (upstream:
    ``[50, 10] + [20, 30]`` and ``[50, 10] + [40, 50]``, override at 0 for both; item 1's own 50 is not
    overridden: only the query's vectors were given). Upstream assertions: 7."""
    e = _vec(_path(causal_engine), 1)
    _check(causal_engine, [50, 10], [[20, 30], [40, 50]], [{0: e}, {0: e}],
           embed_override_token_id=50, query_embed_overrides=[e])


def test_query_and_item_overrides(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestResolveEmbedOverridesForRequest::test_query_and_item_overrides and
    ::TestBuildTokenIdInputs::test_single_item_query_and_item_embeds.

    Query override at 0 and item override at 3 (query length 2 + index 1). Upstream assertions: 6."""
    p = _path(causal_engine)
    eq, ei = _vec(p, 1), _vec(p, 2)
    _check(causal_engine, [50, 10], [[20, 50]], [{0: eq, 3: ei}],
           embed_override_token_id=50, query_embed_overrides=[eq], item_embed_overrides=[[ei]])


def test_single_item_empty_query(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestBuildTokenIdInputs::test_single_item_empty_query.

    Empty query, the item's placeholder at absolute position 0. Upstream assertions: 3."""
    e = _vec(_path(causal_engine), 1)
    _check(causal_engine, [], [[50, 10]], [{0: e}], embed_override_token_id=50, item_embed_overrides=[[e]])


def test_single_item_no_embeds(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestBuildTokenIdInputs::test_single_item_no_embeds and
    ::test_single_item_no_embeds_item_first.

    Token inputs are scored as ``query + item`` (``[1, 2, 3, 4]``, ``[1, 2, 5, 6]``), and with
    ``item_first`` as ``item + query`` (``[3, 4, 1, 2]``). Upstream assertions: 4."""
    _check(causal_engine, [1, 2], [[3, 4], [5, 6]], [None, None])
    path = _path(causal_engine)
    scores = causal_engine.score(query=[1, 2], items=[[3, 4]], label_token_ids=LABELS, item_first=True).scores
    assert_close(scores, reference(path, [[3, 4, 1, 2]], LABELS))


# ---- TestBuildTokenIdInputs (multi-item) ----------------------------------------------------------


def test_multi_item_no_embeds(causal_mis_engine):
    """Ports unit/managers/test_embed_overrides.py::TestBuildTokenIdInputs::test_multi_item_no_embeds.

    Upstream checks the packed ids ``query D item1 D item2 D``; the public meaning is that each item
    of the packed pass scores as ``query + item`` alone. Upstream assertions: 2."""
    _check(causal_mis_engine, [1, 2], [[3, 4], [5, 6]], [None, None])


def test_multi_item_with_query_and_item_embeds(causal_mis_engine):
    """Ports unit/managers/test_embed_overrides.py::TestBuildTokenIdInputs::test_multi_item_with_query_and_item_embeds.

    MIS resolves the query override once and item overrides per item (``[[v], None]``): each item
    equals its single-item sequence with those embeddings replaced. Upstream assertions: 5."""
    p = _path(causal_mis_engine)
    eq, ei = _vec(p, 1), _vec(p, 2)
    _check(causal_mis_engine, [50, 10], [[20, 50], [30, 40]], [{0: eq, 3: ei}, {0: eq}],
           embed_override_token_id=50, query_embed_overrides=[eq], item_embed_overrides=[[ei], None])


# ---- TestScoreRequestValidation -------------------------------------------------------------------
# Upstream matches SGLang's wording (assertRaisesRegex); the ports require the ValueError and that
# its message names the field at fault.


def _raises(engine, field, **kwargs):
    with pytest.raises(ValueError) as info:
        engine.score(**kwargs)
    assert field in str(info.value), str(info.value)


def test_generation_requires_label_token_ids(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestScoreRequestValidation::test_generation_requires_label_token_ids.

    Upstream assertions: 1."""
    _raises(causal_engine, "label_token_ids", query=[1, 2], items=[[3, 4]], label_token_ids=None)


def test_seq_classification_allows_none_label_token_ids(reranker_engine):
    """Ports unit/managers/test_embed_overrides.py::TestScoreRequestValidation::test_seq_classification_allows_none_label_token_ids.

    A SequenceClassification model scores without label_token_ids. Upstream assertions: 2."""
    result = reranker_engine.score(query=[1, 2], items=[[3, 4]], label_token_ids=None)
    assert len(result.scores) == 1


def test_items_none_raises(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestScoreRequestValidation::test_items_none_raises.

    Upstream assertions: 1."""
    _raises(causal_engine, "items", query=[1, 2], items=None, label_token_ids=[100])


def test_empty_items_returns_empty(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestScoreRequestValidation::test_empty_items_returns_empty.

    Upstream assertions: 2."""
    result = causal_engine.score(query=[1, 2], items=[], label_token_ids=[100])
    assert result.scores == []
    assert result.prompt_tokens == 0


@pytest.mark.parametrize("which", ["query", "item"])
def test_embed_override_token_id_required(causal_engine, which):
    """Ports unit/managers/test_embed_overrides.py::TestScoreRequestValidation::
    test_embed_override_token_id_required_with_query_embeds and ::..._with_item_embeds.

    Upstream assertions: 1 (each)."""
    e = _vec(_path(causal_engine), 1)
    overrides = {"query_embed_overrides": [e]} if which == "query" else {"item_embed_overrides": [[e]]}
    _raises(causal_engine, "embed_override_token_id", query=[1, 2], items=[[3, 4]], label_token_ids=[100],
            embed_override_token_id=None, **overrides)


def test_item_first_with_embeds_raises(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestScoreRequestValidation::test_item_first_with_embeds_raises.

    Upstream assertions: 1."""
    _raises(causal_engine, "item_first", query=[1, 2], items=[[3, 4]], label_token_ids=[100], item_first=True,
            embed_override_token_id=50, query_embed_overrides=[_vec(_path(causal_engine), 1)])


def test_item_embed_overrides_length_mismatch_raises(causal_engine):
    """Ports unit/managers/test_embed_overrides.py::TestScoreRequestValidation::test_item_embed_overrides_length_mismatch_raises.

    One entry of ``item_embed_overrides`` per item. Upstream assertions: 1."""
    _raises(causal_engine, "item_embed_overrides", query=[1, 2], items=[[3, 4], [5, 6]], label_token_ids=[100],
            embed_override_token_id=50, item_embed_overrides=[[_vec(_path(causal_engine), 1)]])


# ---- the requirement (no upstream assertion, not counted) ---------------------------------


def test_wrong_vector_size_is_value_error(causal_engine):
    """No upstream assertion: the issue requires a vector whose size is not the hidden size to be a
    ValueError on ``Engine.score``."""
    with pytest.raises(ValueError):
        causal_engine.score(query=[10], items=[[50]], label_token_ids=LABELS, embed_override_token_id=50,
                            item_embed_overrides=[[torch.ones(hidden_size(_path(causal_engine)) + 1)]])


def test_wrong_vector_size_is_400(causal_server):
    """No upstream assertion: the issue requires a vector whose size is not the hidden size to be a
    400 over HTTP (lists of floats), in the error envelope."""
    size = hidden_size(causal_server.model_path) - 1
    resp = requests.post(causal_server.url + "/v1/score", timeout=60, json={
        "query": [10], "items": [[50]], "label_token_ids": LABELS, "embed_override_token_id": 50,
        "item_embed_overrides": [[[0.5] * size]],
    })
    assert resp.status_code == 400, resp.text
    assert resp.json()["object"] == "error"
