"""/v1/embeddings (OpenAI), /pooling (vLLM) and bi-encoder scoring over real HTTP.

The server is a tiny Qwen3 causal checkpoint served as ``Qwen3Model`` (last-token pooling,
normalised: Qwen3-Embedding style) with Matryoshka dimensions switched on by override; the
reference is ``transformers.AutoModel`` on the same checkpoint.
"""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest
import torch

requests = pytest.importorskip("requests")

from proc_utils import Server  # noqa: E402
from hf_reference import load_tokenizer  # noqa: E402

ATOL = 1e-4
TEXTS = ["the dog and the cat", "a red apple", "what is the capital of california"]


@pytest.fixture(scope="module")
def causal_dir(tiny_model):
    return tiny_model("qwen3", "causal")


@pytest.fixture(scope="module")
def embedder(causal_dir):
    overrides = {"architectures": ["Qwen3Model"], "matryoshka_dimensions": [16, 32]}
    server = Server(causal_dir, "--json-model-override-args", json.dumps(overrides), "--num-threads", "1")
    server.wait_ready()
    yield server
    assert server.stop() == 0


@torch.no_grad()
def reference_embeddings(model_dir, ids_list) -> np.ndarray:
    """transformers AutoModel, each input alone: last token's final hidden state, L2-normalised."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    out = [model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1] for ids in ids_list]
    return torch.nn.functional.normalize(torch.stack(out), dim=-1).numpy()


def post(server, path, body):
    return requests.post(server.url + path, json=body, timeout=60)


def test_embeddings_match_transformers(embedder, causal_dir):
    r = post(embedder, "/v1/embeddings", {"model": "emb", "input": TEXTS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list" and body["model"] == "emb"
    assert [d["index"] for d in body["data"]] == [0, 1, 2] and all(d["object"] == "embedding" for d in body["data"])
    tok = load_tokenizer(str(causal_dir))
    ids = [tok(t)["input_ids"] for t in TEXTS]
    got = np.array([d["embedding"] for d in body["data"]])
    np.testing.assert_allclose(got, reference_embeddings(causal_dir, ids), atol=ATOL)
    assert body["usage"]["prompt_tokens"] == sum(map(len, ids))


def test_base64_and_token_inputs(embedder, causal_dir):
    tok = load_tokenizer(str(causal_dir))
    ids = tok(TEXTS[0])["input_ids"]
    floats = post(embedder, "/v1/embeddings", {"input": TEXTS[0]}).json()["data"][0]["embedding"]
    b64 = post(embedder, "/v1/embeddings", {"input": [ids], "encoding_format": "base64"}).json()["data"][0]["embedding"]
    decoded = np.frombuffer(base64.b64decode(b64), dtype="<f4")
    np.testing.assert_allclose(decoded, floats, atol=1e-6)
    flat = post(embedder, "/v1/embeddings", {"input": ids}).json()["data"]
    assert len(flat) == 1 and np.allclose(flat[0]["embedding"], floats, atol=1e-6)


def test_sglang_encode(embedder, causal_dir):
    """SGLang's /encode (POST or PUT): ``text`` or ``input_ids``, one input -> one object, a list -> a list of
    ``{"embedding", "meta_info": {"id", "prompt_tokens", ...}}``; the values transformers gives."""
    tok = load_tokenizer(str(causal_dir))
    ids = [tok(t)["input_ids"] for t in TEXTS]
    expected = reference_embeddings(causal_dir, ids)
    one = post(embedder, "/encode", {"model": "any", "text": TEXTS[0]})
    assert one.status_code == 200, one.text
    np.testing.assert_allclose(one.json()["embedding"], expected[0], atol=ATOL)
    assert one.json()["meta_info"]["prompt_tokens"] == len(ids[0]) and one.json()["meta_info"]["id"]
    many = requests.put(embedder.url + "/encode", json={"text": TEXTS, "rid": ["a", "b", "c"]}, timeout=60).json()
    assert [m["meta_info"]["id"] for m in many] == ["a", "b", "c"]
    assert [m["meta_info"]["prompt_tokens"] for m in many] == list(map(len, ids))
    np.testing.assert_allclose([m["embedding"] for m in many], expected, atol=ATOL)
    by_ids = post(embedder, "/encode", {"input_ids": ids}).json()
    np.testing.assert_allclose([m["embedding"] for m in by_ids], expected, atol=ATOL)
    single_ids = post(embedder, "/encode", {"input_ids": ids[1]}).json()
    np.testing.assert_allclose(single_ids["embedding"], expected[1], atol=ATOL)
    cut = post(embedder, "/encode", {"text": TEXTS[0], "dimensions": 16}).json()["embedding"]
    assert len(cut) == 16 and abs(np.linalg.norm(cut) - 1) < 1e-5


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({}, "give either 'text' or 'input_ids'"),
        ({"text": "a", "input_ids": [1]}, "give either 'text' or 'input_ids'"),
        ({"text": []}, "the request has no input"),
        ({"text": ["a"], "rid": ["x", "y"]}, "'rid' has 2 ids for 1 inputs"),
        ({"text": [["query", "document"]]}, "text"),
        ({"input_ids": [10**9]}, "outside the vocabulary"),
    ],
)
def test_sglang_encode_errors(embedder, body, fragment):
    r = post(embedder, "/encode", body)
    assert r.status_code == 400 and fragment in r.json()["message"], r.text
    assert post(embedder, "/encode", {"text": "still serving"}).status_code == 200


def test_matryoshka_dimensions_cut_and_renormalise(embedder):
    full = np.array(post(embedder, "/v1/embeddings", {"input": TEXTS[1]}).json()["data"][0]["embedding"])
    cut = np.array(post(embedder, "/v1/embeddings", {"input": TEXTS[1], "dimensions": 16}).json()["data"][0]["embedding"])
    assert cut.shape == (16,)
    np.testing.assert_allclose(cut, full[:16] / np.linalg.norm(full[:16]), atol=1e-6)
    r = post(embedder, "/v1/embeddings", {"input": TEXTS[1], "dimensions": 20})
    assert r.status_code == 400 and "'dimensions' must be one of 16, 32" in r.json()["message"]


def test_pooling_route(embedder):
    emb = post(embedder, "/v1/embeddings", {"input": TEXTS}).json()["data"]
    r = post(embedder, "/pooling", {"model": "m", "input": TEXTS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"].startswith("pool-") and body["object"] == "list"
    for d, e in zip(body["data"], emb):
        assert d["object"] == "pooling"
        np.testing.assert_allclose(d["data"], e["embedding"], atol=1e-6)


def test_bi_encoder_rerank_and_score_are_cosines(embedder):
    docs = TEXTS[1:] + ["the dog"]
    vectors = np.array([d["embedding"] for d in post(embedder, "/v1/embeddings", {"input": [TEXTS[0]] + docs}).json()["data"]])
    expected = vectors[1:] @ vectors[0]
    results = post(embedder, "/rerank", {"query": TEXTS[0], "documents": docs}).json()["results"]
    assert [x["index"] for x in results] == list(np.argsort(-expected))
    for x in results:
        assert abs(x["relevance_score"] - expected[x["index"]]) <= 1e-5
    scores = post(embedder, "/score", {"text_1": TEXTS[0], "text_2": docs}).json()["data"]
    np.testing.assert_allclose([d["score"] for d in scores], expected, atol=1e-5)
    sglang = post(embedder, "/v1/score", {"query": TEXTS[0], "items": docs}).json()["scores"]
    np.testing.assert_allclose([row[0] for row in sglang], expected, atol=1e-5)


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"input": []}, "'input' must be a non-empty"),
        ({"input": ""}, "input 0 is empty"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x", "truncate_prompt_tokens": 10**6}, "truncate_prompt_tokens value is greater than max_model_len"),
    ],
)
def test_embedding_errors(embedder, body, fragment):
    r = post(embedder, "/v1/embeddings", body)
    assert r.status_code == 400 and fragment in r.json()["message"], r.text


def test_classify_on_an_embedding_model_is_400(embedder):
    r = post(embedder, "/classify", {"input": "the dog"})
    assert r.status_code == 400 and "use /v1/embeddings" in r.json()["message"]


def test_embeddings_from_a_classifier_is_400(tiny_model):
    """A classifier has no embedding path (checked in-process: same code as the route)."""
    from multiscore import Engine

    with Engine(str(tiny_model("qwen3", "seqcls", num_labels=3)), num_threads=1) as engine:
        with pytest.raises(ValueError, match="has no embedding output"):
            engine.embed(["the dog"])
        with pytest.raises(ValueError, match="does not support 'dimensions'|has no embedding output"):
            engine.embed(["the dog"], dimensions=8)


def test_dimensions_on_a_model_without_matryoshka_and_sglang_encode(causal_dir):
    from multiscore import Engine

    overrides = json.dumps({"architectures": ["Qwen3Model"]})
    with Engine(str(causal_dir), json_model_override_args=overrides, num_threads=1) as engine:
        assert len(engine.embed(["the dog"])[0]) == 64
        with pytest.raises(ValueError, match="does not support 'dimensions'"):
            engine.embed(["the dog"], dimensions=8)
        # SGLang's Engine.encode on the same engine: its dicts, the values of embed
        tok = load_tokenizer(str(causal_dir))
        vectors = engine.embed(TEXTS)
        one = engine.encode(TEXTS[0])
        assert one["meta_info"]["prompt_tokens"] == len(tok(TEXTS[0])["input_ids"])
        np.testing.assert_allclose(one["embedding"], vectors[0], atol=1e-6)
        many = engine.encode(TEXTS)
        np.testing.assert_allclose([m["embedding"] for m in many], vectors, atol=1e-6)
        by_ids = engine.encode(tok(TEXTS[2])["input_ids"])
        np.testing.assert_allclose(by_ids["embedding"], vectors[2], atol=1e-6)
        awaited = asyncio.run(engine.async_encode(TEXTS[1]))
        np.testing.assert_allclose(awaited["embedding"], vectors[1], atol=1e-6)
        for bad in (3.5, [1, "a"], []):
            with pytest.raises(ValueError):
                engine.encode(bad)
        # 300 texts are tokenized on the tokenizer thread, with its own tokenizer: the same vectors
        many = [f"sentence number {i} of the batch" for i in range(300)]
        assert not engine.tokenizer_manager._thread.used
        np.testing.assert_allclose(engine.embed(many)[:5], engine.embed(many[:5]), atol=1e-6)
        assert engine.tokenizer_manager._thread.used


def test_mis_delimiter_on_an_embedding_model_is_refused(causal_dir):
    from multiscore import Engine

    overrides = json.dumps({"architectures": ["Qwen3Model"]})
    with pytest.raises(ValueError, match="does not apply to Qwen3Model"):
        Engine(str(causal_dir), json_model_override_args=overrides, multi_item_scoring_delimiter=4)
