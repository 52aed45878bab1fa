"""A vLLM user's launch command, run unchanged: ``multiscore serve MODEL`` with vLLM's flags and
--pooler-config, against transformers on the same checkpoint (the reference we did not write)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests
import torch

from hf_reference import load_model, load_tokenizer
from multiscore import Engine
from proc_utils import ServerProcess
from st_files import write_sentence_transformers_files

TEXTS = ["the cat sat on the mat", "a quick brown fox jumps", "sacramento is the capital of california"]
ATOL = 1e-4


@pytest.fixture(scope="module")
def embedder_dir(tiny_model):
    """A BERT embedder whose files say CLS pooling, normalised, with Matryoshka dimensions."""
    path = tiny_model("bert", "embed", seed=21, matryoshka_dimensions=[16, 32, 64])
    write_sentence_transformers_files(path, pooling="cls", normalize=True, max_seq_length=256)
    return path


@pytest.fixture(scope="module")
def served(embedder_dir):
    """``multiscore serve MODEL`` with the flags of a vLLM command line: the pooler config asks for
    mean pooling, no normalisation by default, 32 dimensions by default, and inputs past the 128-token
    context split into chunks, up to 400 tokens."""
    pooler = {"pooling_type": "MEAN", "use_activation": False, "dimensions": 32, "enable_chunked_processing": True,
              "max_embed_len": 400}
    server = ServerProcess(
        ["--device", "cpu", "--num-threads", "1", "--max-model-len", "128", "--enforce-eager", "--gpu-memory-utilization",
         "0.5", "--served-model-name", "BAAI/bge-small-en-v1.5", "bge-small", "--pooler-config", json.dumps(pooler)],
        entry=("multiscore", "serve", embedder_dir),
    )
    try:
        server.wait_ready()
        yield server
    finally:
        assert server.stop() == 0, server.output()[-3000:]


def _mean_pooled(model_dir, texts, chunk: int = 10**9) -> np.ndarray:
    """transformers: each text's last hidden states averaged over its tokens [N, H]; a text longer
    than ``chunk`` tokens is run as consecutive chunks of its token ids, each its own sequence (so the
    chunk embeddings' mean weighted by token counts is the mean over all the chunks' token states)."""
    from transformers import AutoModel

    model, tok = AutoModel.from_pretrained(str(model_dir)).eval(), load_tokenizer(str(model_dir))
    rows = []
    with torch.no_grad():
        for text in texts:
            ids = tok(text)["input_ids"]
            states = [model(input_ids=torch.tensor([ids[i : i + chunk]])).last_hidden_state[0] for i in range(0, len(ids), chunk)]
            rows.append(torch.cat(states).mean(0).numpy())
    return np.stack(rows).astype(np.float64)


def test_pooler_config_sets_pooling_activation_and_dimensions(served, embedder_dir):
    expected = _mean_pooled(embedder_dir, TEXTS)[:, :32]
    body = requests.post(served.url + "/v1/embeddings", json={"input": TEXTS}, timeout=60).json()
    got = np.array([d["embedding"] for d in body["data"]])
    assert got.shape == (3, 32)
    np.testing.assert_allclose(got, expected, atol=ATOL)
    # a request's own use_activation and dimensions win over the server's defaults
    pooled = requests.post(served.url + "/pooling", json={"input": TEXTS, "use_activation": True, "dimensions": 16},
                           timeout=60).json()
    normalised = expected[:, :16] / np.linalg.norm(expected[:, :16], axis=1, keepdims=True)
    np.testing.assert_allclose(np.array([d["data"] for d in pooled["data"]]), normalised, atol=ATOL)


def test_max_model_len_and_served_names(served):
    """vLLM's --served-model-name with two names: both listed and accepted; answers carry the first."""
    models = requests.get(served.url + "/v1/models", timeout=10).json()["data"]
    assert [(m["id"], m["max_model_len"]) for m in models] == [("BAAI/bge-small-en-v1.5", 128), ("bge-small", 128)]
    assert requests.get(served.url + "/v1/models/bge-small", timeout=10).json()["id"] == "bge-small"
    for name in ("BAAI/bge-small-en-v1.5", "bge-small"):
        assert requests.post(served.url + "/tokenize", json={"model": name, "prompt": "hi"}, timeout=10).status_code == 200
    assert requests.post(served.url + "/tokenize", json={"model": "other", "prompt": "hi"}, timeout=10).status_code == 404
    body = requests.post(served.url + "/v1/embeddings", json={"model": "bge-small", "input": "hi"}, timeout=60).json()
    assert body["model"] == "bge-small"  # the request's name echoed, as before


def test_long_inputs_are_embedded_in_chunks(served, embedder_dir):
    """enable_chunked_processing: 299 tokens run as chunks of 128, 128 and 43 tokens, averaged by
    token count; past max_embed_len an input is refused; token tasks are never chunked."""
    long_text = " ".join(["the cat sat on the mat and looked at the dog"] * 27)
    texts = [long_text, TEXTS[0]]
    expected = _mean_pooled(embedder_dir, texts, chunk=128)[:, :32]
    body = requests.post(served.url + "/v1/embeddings", json={"input": texts}, timeout=60).json()
    lengths = [len(ids) for ids in load_tokenizer(str(embedder_dir))(texts)["input_ids"]]
    assert 2 * 128 < lengths[0] < 3 * 128 and body["usage"]["prompt_tokens"] == sum(lengths)
    np.testing.assert_allclose([d["embedding"] for d in body["data"]], expected, atol=ATOL)
    too_long = requests.post(served.url + "/v1/embeddings", json={"input": long_text + long_text}, timeout=60)
    assert too_long.status_code == 400
    assert "more than the maximum embedding input length of 400 tokens" in too_long.json()["error"]["message"]
    per_token = requests.post(served.url + "/pooling", json={"input": long_text, "task": "token_embed"}, timeout=60)
    assert per_token.status_code == 400 and "context length of 128" in per_token.json()["error"]["message"]


def test_input_type_is_for_colbert_models(served):
    r = requests.post(served.url + "/pooling", json={"input": "x", "input_type": "query", "task": "token_embed"}, timeout=60)
    assert r.status_code == 400 and r.json()["message"] == "input_type is only supported for ColBERT models."


def test_a_bad_pooler_config_stops_start_up_with_the_reason(embedder_dir):
    server = ServerProcess(["--device", "cpu", "--pooler-config", '{"dimensions": 48}'],
                           entry=("multiscore", "serve", embedder_dir))
    assert server.proc.wait(120) == 1
    assert "'dimensions' must be one of 16, 32, 64, got 48" in server.output()
    server.stop()


def test_classifier_calibration_and_default_task_in_process(tiny_model):
    """Engine(pooler_config=...): the logits become (logit - mean) / sigma before the activation, on
    /classify and on every token of the default task (token_classify, vLLM's pooling_task)."""
    path = tiny_model("qwen3", "seqcls", num_labels=2, seed=22)
    pooler = {"logit_mean": 0.5, "logit_sigma": 2.0, "task": "token_classify"}
    with Engine(str(path), num_threads=1, pooler_config=pooler) as engine:
        probs = [c.probs for c in engine.classify(TEXTS)]
        raw = [c.probs for c in engine.classify(TEXTS, use_activation=False)]
        per_token = engine.pool(TEXTS[0])
    model, tok = load_model(str(path)), load_tokenizer(str(path))
    with torch.no_grad():
        logits = [model.score(model.model(**tok(t, return_tensors="pt")).last_hidden_state)[0] for t in TEXTS]
    calibrated = [(x - 0.5) / 2.0 for x in logits]  # [T, 2] per text
    np.testing.assert_allclose(raw, [x[-1].numpy() for x in calibrated], atol=ATOL)
    np.testing.assert_allclose(probs, [torch.softmax(x[-1], -1).numpy() for x in calibrated], atol=ATOL)
    np.testing.assert_allclose(np.array(per_token[0]), torch.softmax(calibrated[0], -1).numpy(), atol=ATOL)
