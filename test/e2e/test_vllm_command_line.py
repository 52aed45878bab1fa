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
    mean pooling, no normalisation by default, and 32 dimensions by default."""
    pooler = {"pooling_type": "MEAN", "use_activation": False, "dimensions": 32}
    server = ServerProcess(
        ["--device", "cpu", "--num-threads", "1", "--max-model-len", "128", "--enforce-eager", "--gpu-memory-utilization",
         "0.5", "--served-model-name", "BAAI/bge-small-en-v1.5", "--pooler-config", json.dumps(pooler)],
        entry=("multiscore", "serve", embedder_dir),
    )
    try:
        server.wait_ready()
        yield server
    finally:
        assert server.stop() == 0, server.output()[-3000:]


def _mean_pooled(model_dir, texts) -> np.ndarray:
    """transformers: each text's last hidden states averaged over its tokens [N, H] (no padding: one at a time)."""
    from transformers import AutoModel

    model, tok = AutoModel.from_pretrained(str(model_dir)).eval(), load_tokenizer(str(model_dir))
    rows = []
    with torch.no_grad():
        for text in texts:
            enc = tok(text, return_tensors="pt")
            rows.append(model(**enc).last_hidden_state[0].mean(0).numpy())
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


def test_max_model_len_and_served_name(served):
    models = requests.get(served.url + "/v1/models", timeout=10).json()["data"]
    assert [(m["id"], m["max_model_len"]) for m in models] == [("BAAI/bge-small-en-v1.5", 128)]
    too_long = requests.post(served.url + "/v1/embeddings", json={"input": "word " * 200}, timeout=60)
    assert too_long.status_code == 400 and "128" in too_long.json()["error"]["message"]


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
