"""Jina's embeddings API on /v1/embeddings, over real HTTP, served from jina-embeddings-v3 as published
(the remote code's XLMRobertaLoRA with its five task adapters): ``task`` per request (its instruction
and adapter, requests of different tasks batched together), ``{"text": ...}`` inputs, ``normalized``,
``embedding_type``, ``truncate`` and ``late_chunking``. The reference is transformers'
JinaEmbeddingsV3Model on the same weights with the task's adapter merged (what the original code's
``encode(texts, task=...)`` computes), each text alone.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

requests = pytest.importorskip("requests")

from hf_reference import load_tokenizer  # noqa: E402
from proc_utils import Server  # noqa: E402
from remote_code_checkpoints import (  # noqa: E402
    JINA_INSTRUCTIONS, JINA_TASKS, as_jina_v3_original, jina_v3_merged_deltas, jina_v3_transformers,
)

ATOL = 1e-4
TEXTS = ["the dog and the cat", "a red apple", "what is the capital of california"]


@pytest.fixture(scope="module")
def jina(tiny_model, tmp_path_factory):
    """(server, transformers-saved checkpoint, adapters)."""
    path = tiny_model("jina_embeddings_v3", "embed")
    original, adapters = as_jina_v3_original(path, tmp_path_factory.mktemp("jina") / "jina-v3", rank=4, alpha=2.0)
    server = Server(original, "--num-threads", "1", "--context-length", "256")
    server.wait_ready()
    yield server, path, adapters
    assert server.stop() == 0


def post(server, body):
    return requests.post(server.url + "/v1/embeddings", json=body, timeout=60)


@torch.no_grad()
def reference(path, adapters, task, texts, normalise=True) -> np.ndarray:
    """The original code's encode(texts, task): the instruction before each text, the task's weights, mean-pooled."""
    tok = load_tokenizer(str(path))
    model = jina_v3_transformers(path, None if task is None else jina_v3_merged_deltas(adapters, JINA_TASKS.index(task)))
    prefix = "" if task is None else JINA_INSTRUCTIONS[task]
    means = torch.stack([model(input_ids=torch.tensor([tok(prefix + t)["input_ids"]])).last_hidden_state[0].mean(0)
                         for t in texts])
    return (torch.nn.functional.normalize(means, dim=-1) if normalise else means).numpy()


def vectors(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [d["index"] for d in data] == list(range(len(data)))
    return np.array([d["embedding"] for d in data])


def test_each_request_runs_with_its_tasks_adapter_and_instruction(jina):
    """Requests of every task (and of none) sent together, so that they share forward passes."""
    server, path, adapters = jina
    tasks = [None, *JINA_TASKS, "retrieval.query", None]
    with ThreadPoolExecutor(len(tasks)) as pool:
        answers = list(pool.map(lambda t: post(server, {"model": "jina-embeddings-v3", "input": TEXTS,
                                                        **({} if t is None else {"task": t})}), tasks))
    for task, answer in zip(tasks, answers):
        np.testing.assert_allclose(vectors(answer), reference(path, adapters, task, TEXTS), atol=ATOL, err_msg=str(task))
    query, passage = vectors(answers[1]), vectors(answers[2])
    assert np.abs(query - passage).max() > 1e-2  # the two adapters (and instructions) differ


def test_text_objects_normalized_and_embedding_types(jina):
    server, path, adapters = jina
    body = {"input": [{"text": t} for t in TEXTS], "task": "retrieval.passage"}
    floats = vectors(post(server, body))
    np.testing.assert_allclose(floats, reference(path, adapters, "retrieval.passage", TEXTS), atol=ATOL)
    raw = vectors(post(server, {**body, "normalized": False}))
    np.testing.assert_allclose(raw, reference(path, adapters, "retrieval.passage", TEXTS, normalise=False), atol=ATOL)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    b64 = post(server, {**body, "embedding_type": "base64"}).json()["data"]
    np.testing.assert_allclose(np.stack([np.frombuffer(base64.b64decode(d["embedding"]), "<f4") for d in b64]), floats,
                               atol=1e-6)
    bits = np.packbits(floats > 0, axis=-1).astype(np.int16)  # sentence-transformers' quantize_embeddings
    assert vectors(post(server, {**body, "embedding_type": "ubinary"})).tolist() == bits.tolist()
    assert vectors(post(server, {**body, "embedding_type": "binary"})).tolist() == (bits - 128).tolist()


@torch.no_grad()
def test_late_chunking_embeds_the_chunks_in_one_pass(jina):
    """Each chunk: the mean of its own tokens' vectors, computed over <s> instruction chunk_1 ... chunk_n </s>."""
    server, path, adapters = jina
    got = vectors(post(server, {"input": TEXTS, "task": "retrieval.passage", "late_chunking": True}))
    tok = load_tokenizer(str(path))
    bare = [tok(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    lead = [tok.cls_token_id] + tok(JINA_INSTRUCTIONS["retrieval.passage"], add_special_tokens=False)["input_ids"]
    model = jina_v3_transformers(path, jina_v3_merged_deltas(adapters, JINA_TASKS.index("retrieval.passage")))
    hidden = model(input_ids=torch.tensor([lead + sum(bare, []) + [tok.sep_token_id]])).last_hidden_state[0]
    bounds = np.cumsum([len(lead)] + [len(b) for b in bare])
    means = torch.stack([hidden[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])
    np.testing.assert_allclose(got, torch.nn.functional.normalize(means, dim=-1).numpy(), atol=ATOL)
    alone = vectors(post(server, {"input": TEXTS, "task": "retrieval.passage"}))
    assert np.abs(got - alone).max() > 1e-2  # each chunk saw the others


def test_jina_errors_are_400s_with_the_reason(jina):
    server, path, _ = jina
    unknown = post(server, {"input": TEXTS, "task": "retrieval"})
    assert unknown.status_code == 400
    assert "Unsupported task 'retrieval'. Supported tasks are: retrieval.query, retrieval.passage" in unknown.text
    ids = load_tokenizer(str(path))(TEXTS[0])["input_ids"]
    tokens = post(server, {"input": [ids], "task": "retrieval.query"})
    assert tokens.status_code == 400 and "give texts, not token ids" in tokens.text
    assert post(server, {"input": [ids], "task": "text-matching"}).status_code == 200  # no instruction to add
    long_text = "word " * 60  # over the 256-token context
    assert post(server, {"input": [long_text]}).status_code == 400
    cut = post(server, {"input": [long_text, TEXTS[0]], "truncate": True})
    assert cut.status_code == 200 and len(cut.json()["data"]) == 2
    too_long = post(server, {"input": [long_text, long_text], "late_chunking": True})
    assert too_long.status_code == 400 and "late_chunking: the 2 chunks make" in too_long.text
    assert post(server, {"input": TEXTS}).status_code == 200  # still serving


def test_cohere_input_types_pick_the_matching_task(jina):
    """Cohere's SDK always sends an input_type: on jina-embeddings-v3 it is the task that means the same."""
    server, path, adapters = jina
    for input_type, task in (("search_query", "retrieval.query"), ("search_document", "retrieval.passage"),
                             ("clustering", "separation")):
        r = requests.post(server.url + "/v2/embed", json={"texts": TEXTS, "input_type": input_type,
                                                          "embedding_types": ["float"]}, timeout=60)
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(np.array(r.json()["embeddings"]["float"]), reference(path, adapters, task, TEXTS),
                                   atol=ATOL, err_msg=input_type)
