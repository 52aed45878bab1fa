"""A text-embeddings-inference launch command, run unchanged (``--model-id``, ``--pooling``,
``--auto-truncate``, ``--default-prompt-name``, its batch limits), against transformers on the same
checkpoint."""

from __future__ import annotations


import numpy as np
import pytest
import requests
import torch

from hf_reference import load_tokenizer
from proc_utils import ServerProcess
from st_files import prompted_embedder

TEXTS = ["a big dog", "the capital of the country"]
PROMPTS = {"query": "the question is ", "passage": "the answer is "}


@pytest.fixture(scope="module")
def model_dir(tiny_model, tmp_path_factory):
    """A BERT embedder whose files say mean pooling, normalised, with two prompts and no default one."""
    return prompted_embedder(tiny_model("bert", "embed", seed=4), tmp_path_factory.mktemp("tei") / "m", PROMPTS)


@pytest.fixture(scope="module")
def served(model_dir):
    server = ServerProcess(
        ["--device", "cpu", "--num-threads", "1", "--model-id", model_dir, "--pooling", "cls", "--auto-truncate",
         "--default-prompt-name", "query", "--max-client-batch-size", "4", "--max-batch-tokens", "2048",
         "--max-concurrent-requests", "64", "--tokenization-workers", "2", "--json-output"],
        entry=("multiscore", "serve"),
    )
    try:
        server.wait_ready()
        yield server
    finally:
        assert server.stop() == 0, server.output()[-3000:]


def _cls_normalised(model_dir, texts) -> np.ndarray:
    from transformers import AutoModel

    model, tok = AutoModel.from_pretrained(str(model_dir)).eval(), load_tokenizer(str(model_dir))
    with torch.no_grad():
        rows = [model(**tok(t, return_tensors="pt", truncation=True, max_length=128)).last_hidden_state[0, 0] for t in texts]
    vectors = torch.stack(rows).double().numpy()
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_pooling_and_default_prompt(served, model_dir):
    got = requests.post(served.url + "/embed", json={"inputs": TEXTS}, timeout=60).json()
    np.testing.assert_allclose(got, _cls_normalised(model_dir, [PROMPTS["query"] + t for t in TEXTS]), atol=1e-4)
    named = requests.post(served.url + "/embed", json={"inputs": TEXTS, "prompt_name": "passage"}, timeout=60).json()
    np.testing.assert_allclose(named, _cls_normalised(model_dir, [PROMPTS["passage"] + t for t in TEXTS]), atol=1e-4)


def test_auto_truncate_and_batch_limits(served, model_dir):
    long_text = "word " * 300
    cut = requests.post(served.url + "/embed", json={"inputs": [long_text]}, timeout=60)
    assert cut.status_code == 200, cut.text
    np.testing.assert_allclose(cut.json(), _cls_normalised(model_dir, [PROMPTS["query"] + long_text]), atol=1e-4)
    refused = requests.post(served.url + "/embed", json={"inputs": [long_text], "truncate": False}, timeout=60)
    assert refused.status_code == 400 and "context length of 128" in refused.json()["error"]["message"]
    too_many = requests.post(served.url + "/embed", json={"inputs": TEXTS * 3}, timeout=60)
    assert too_many.status_code == 400 and "--max-items-per-request=4" in too_many.json()["error"]["message"]
    info = requests.get(served.url + "/info", timeout=10).json()
    assert (info["auto_truncate"], info["max_client_batch_size"], info["max_batch_tokens"]) == (True, 4, 2048)
    assert (info["default_prompt_name"], info["default_prompt"], info["max_concurrent_requests"]) == ("query", PROMPTS["query"], 64)
