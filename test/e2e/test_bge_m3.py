"""BGE-M3's three outputs (``BgeM3EmbeddingModel``, vLLM's name) against FlagEmbedding's
``BGEM3FlagModel`` on a tiny XLM-R checkpoint with seeded sparse_linear.pt and colbert_linear.pt,
over HTTP: the dense embedding (/v1/embeddings), the multi-vectors (/pooling token_embed), the
sparse weights (/pooling token_classify) and their lexical weights (TEI's /embed_sparse).
FlagEmbedding runs from the reference venv (test/reference_venv.py)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import requests
import torch

from multiscore import Engine
from proc_utils import Server
from reference_venv import reference_json

TEXTS = ["what is the capital of california?", "sacramento is the capital of california, the state.", "yes"]
ATOL = 1e-4
OVERRIDE = json.dumps({"architectures": ["BgeM3EmbeddingModel"]})


@pytest.fixture(scope="module")
def bge_m3(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("bge-m3") / "model"
    shutil.copytree(tiny_model("xlm_roberta", "embed"), path)
    gen = torch.Generator().manual_seed(0)
    h = 64
    # A bias that leaves some weights at zero after the relu, so the reductions have something to skip.
    torch.save({"weight": torch.randn(1, h, generator=gen) * 0.3, "bias": torch.tensor([0.05])}, path / "sparse_linear.pt")
    torch.save({"weight": torch.randn(h, h, generator=gen) * 0.1, "bias": torch.randn(h, generator=gen) * 0.1},
               path / "colbert_linear.pt")
    return path


@pytest.fixture(scope="module")
def reference(bge_m3):
    return reference_json("flagembedding_reference.py", "--model", bge_m3, "--texts", json.dumps(TEXTS))


@pytest.fixture(scope="module")
def server(bge_m3):
    server = Server(bge_m3, "--num-threads", "1", "--json-model-override-args", OVERRIDE)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _post(server, path, body):
    r = requests.post(server.url + path, json=body, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def _lexical(weights: dict) -> dict[int, float]:
    return {int(k): v for k, v in weights.items()}


def test_dense_and_multi_vectors_equal_flagembedding(server, reference):
    dense = [d["embedding"] for d in _post(server, "/v1/embeddings", {"input": TEXTS})["data"]]
    np.testing.assert_allclose(dense, reference["dense"], atol=ATOL, rtol=1e-5)
    vectors = [np.asarray(d["data"]) for d in _post(server, "/pooling", {"input": TEXTS, "task": "token_embed"})["data"]]
    for got, expected in zip(vectors, reference["colbert_vecs"]):
        assert got.shape == np.asarray(expected).shape  # every token but <s>
        np.testing.assert_allclose(got, expected, atol=ATOL, rtol=1e-5)
    # FlagEmbedding's colbert_score: MaxSim averaged over the query's vectors.
    q, d = vectors[0], vectors[1]
    assert abs((q @ d.T).max(axis=1).sum() / len(q) - reference["colbert_score_0_1"]) < ATOL


def test_sparse_weights_and_lexical_weights_equal_flagembedding(server, bge_m3, reference):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(bge_m3))
    unused = {tok.cls_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id}
    rows = _post(server, "/pooling", {"input": TEXTS, "task": "token_classify"})["data"]
    for text, row, expected in zip(TEXTS, rows, reference["lexical_weights"]):
        ids = tok(text)["input_ids"][1:-1]
        assert len(row["data"]) == len(ids)  # one weight per token but <s> and </s>
        best: dict[int, float] = {}
        for token, (w,) in zip(ids, row["data"]):
            if token not in unused and w > 0:
                best[token] = max(best.get(token, 0.0), w)
        assert best.keys() == _lexical(expected).keys()
        np.testing.assert_allclose([best[k] for k in sorted(best)], [_lexical(expected)[k] for k in sorted(best)], atol=ATOL)
    sparse = _post(server, "/embed_sparse", {"inputs": TEXTS})
    assert any(len(entries) < len(tok(t)["input_ids"]) - 2 for entries, t in zip(sparse, TEXTS))  # zero weights left out
    for entries, expected in zip(sparse, reference["lexical_weights"]):
        got = {e["index"]: e["value"] for e in entries}
        assert got.keys() == _lexical(expected).keys()
        np.testing.assert_allclose([got[k] for k in sorted(got)], [_lexical(expected)[k] for k in sorted(got)], atol=ATOL)
    q, d = ({e["index"]: e["value"] for e in entries} for entries in sparse[:2])
    assert abs(sum(w * d[t] for t, w in q.items() if t in d) - reference["lexical_score_0_1"]) < ATOL


def test_engine_pool_gives_the_same_token_outputs(bge_m3, reference):
    with Engine(str(bge_m3), num_threads=1, json_model_override_args=OVERRIDE) as engine:
        vectors = engine.pool(TEXTS[:1], task="token_embed")[0]
        weights = engine.pool(TEXTS[:1], task="token_classify")[0]
        with pytest.raises(ValueError, match="Unsupported task: 'classify'"):
            engine.pool(TEXTS[:1], task="classify")
    np.testing.assert_allclose(vectors, reference["colbert_vecs"][0], atol=ATOL, rtol=1e-5)
    assert np.asarray(weights).shape == (len(reference["colbert_vecs"][0]) - 1, 1)  # [tokens - 2, 1]


def test_missing_head_files_are_a_start_up_error(tiny_model):
    with pytest.raises((ValueError, RuntimeError), match="needs sparse_linear.pt beside the checkpoint"):
        Engine(str(tiny_model("xlm_roberta", "embed")), num_threads=1, json_model_override_args=OVERRIDE)
