"""/v1/embeddings (OpenAI), /pooling (vLLM) and bi-encoder scoring over real HTTP.

The server is a tiny Qwen3 causal checkpoint served as ``Qwen3Model`` (last-token pooling,
normalised: Qwen3-Embedding style) with Matryoshka dimensions switched on by override; the
reference is ``transformers.AutoModel`` on the same checkpoint.
"""

from __future__ import annotations

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


def test_dimensions_on_a_model_without_matryoshka(causal_dir):
    from multiscore import Engine

    overrides = json.dumps({"architectures": ["Qwen3Model"]})
    with Engine(str(causal_dir), json_model_override_args=overrides, num_threads=1) as engine:
        assert len(engine.embed(["the dog"])[0]) == 64
        with pytest.raises(ValueError, match="does not support 'dimensions'"):
            engine.embed(["the dog"], dimensions=8)


def test_mis_delimiter_on_an_embedding_model_is_refused(causal_dir):
    from multiscore import Engine

    overrides = json.dumps({"architectures": ["Qwen3Model"]})
    with pytest.raises(ValueError, match="does not apply to Qwen3Model"):
        Engine(str(causal_dir), json_model_override_args=overrides, multi_item_scoring_delimiter=4)
