"""BERT and DistilBERT masked LMs served as SPLADE, against sentence-transformers' ``SparseEncoder`` on the same
tiny checkpoint (its modules.json: Transformer fill-mask + SpladePooling): the Engine's embeddings
(max and sum pooling), and over HTTP TEI's /embed_sparse (the non-zero entries), /v1/embeddings
(the vocabulary-sized vector) and the routes a SPLADE model refuses."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import requests

from multiscore import Engine
from proc_utils import Server

TEXTS = ["the dog sat on the mat", "what is the capital of california", "yes"]
ATOL = 1e-4


def splade_checkpoint(src, dst, strategy: str):
    """A copy of the tiny BertForMaskedLM ``src`` at ``dst``, saved by sentence-transformers as a SparseEncoder."""
    from sentence_transformers import SparseEncoder
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    shutil.copytree(src, dst)
    SparseEncoder(modules=[Transformer(str(dst), transformer_task="fill-mask"), SpladePooling(strategy)]).save(str(dst))
    return dst


def reference(path) -> np.ndarray:
    from sentence_transformers import SparseEncoder

    return SparseEncoder(str(path), device="cpu").encode(TEXTS).to_dense().numpy()  # [N, V]


@pytest.fixture(scope="module")
def splade_max(tiny_model, tmp_path_factory):
    return splade_checkpoint(tiny_model("bert", "mlm"), tmp_path_factory.mktemp("splade") / "max", "max")


@pytest.mark.parametrize("arch, strategy, tied", [("bert", "max", True), ("bert", "sum", True), ("bert", "max", False),
                                                  ("distilbert", "max", True), ("distilbert", "max", False)])
def test_engine_embeddings_equal_sentence_transformers(tiny_model, tmp_path, splade_max, arch, strategy, tied):
    """Max and sum pooling; a vocabulary projection tied to the word embeddings or its own."""
    if (arch, strategy, tied) == ("bert", "max", True):
        path = splade_max
    else:
        src = tiny_model(arch, "mlm", **({} if tied else {"tie_word_embeddings": False}))
        path = splade_checkpoint(src, tmp_path / f"{arch}-{strategy}-{tied}", strategy)
    expected = reference(path)
    with Engine(str(path), num_threads=1) as engine:
        got = np.asarray(engine.embed(TEXTS))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=1e-5)
    assert (got == 0).any()  # log(1 + relu): entries no token predicts are exactly zero


def test_http_embed_sparse_and_embeddings(splade_max):
    expected = reference(splade_max)
    server = Server(splade_max, "--num-threads", "1")
    try:
        server.wait_ready()
        r = requests.post(server.url + "/embed_sparse", json={"inputs": TEXTS}, timeout=60)
        assert r.status_code == 200, r.text
        for entries, row in zip(r.json(), expected):
            assert [e["index"] for e in entries] == np.flatnonzero(row).tolist()
            np.testing.assert_allclose([e["value"] for e in entries], row[row != 0], atol=ATOL, rtol=1e-5)
        r = requests.post(server.url + "/v1/embeddings", json={"input": TEXTS[0]}, timeout=60)
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["data"][0]["embedding"], expected[0], atol=ATOL, rtol=1e-5)
        info = requests.get(server.url + "/info", timeout=60).json()
        assert info["model_type"] == {"embedding": {"pooling": "splade"}}
        for path, body in (("/rerank", {"query": "q", "documents": ["d"]}), ("/v1/score", {"query": "q", "items": ["d"]})):
            r = requests.post(server.url + path, json=body, timeout=60)
            assert r.status_code == 400 and "not served for a SPLADE model" in r.json()["message"], (path, r.text)
        r = requests.post(server.url + "/v1/embeddings", json={"input": "x", "dimensions": 8}, timeout=60)
        assert r.status_code == 400, r.text
    finally:
        server.stop()


def test_vllm_override_name_serves_the_same_model(splade_max):
    """vLLM serves naver/splade-v3 with hf_overrides architectures ["BertSpladeSparseEmbeddingModel"]."""
    override = '{"architectures": ["BertSpladeSparseEmbeddingModel"]}'
    with Engine(str(splade_max), num_threads=1, json_model_override_args=override) as engine:
        got = np.asarray(engine.embed(TEXTS))
    np.testing.assert_allclose(got, reference(splade_max), atol=ATOL, rtol=1e-5)
