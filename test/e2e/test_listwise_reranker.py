"""jina-reranker-v3 (``JinaForRanking``, read without its remote code) over real HTTP: /rerank and SGLang's
/v1/score against the model card's algorithm run on transformers' Qwen3 with the same weights — the
block prompt, the projected vectors at the markers, cosines, and the blocks' query vectors averaged
by their best (1 + cosine) / 2 when the documents fill more than one block of 125.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

requests = pytest.importorskip("requests")

from hf_reference import load_tokenizer  # noqa: E402
from proc_utils import Server  # noqa: E402
from remote_code_checkpoints import as_jina_reranker_v3  # noqa: E402

ATOL = 1e-4
QUERY = "what is the capital of california"
DOCS = ["the capital of california is sacramento", "a red apple", "the dog and the cat", "what is the capital",
        "sacramento is a city"]


@pytest.fixture(scope="module")
def reranker(tiny_model, tmp_path_factory):
    path = as_jina_reranker_v3(tiny_model("qwen3", "causal"), tmp_path_factory.mktemp("jina-rr") / "jina-reranker-v3")
    server = Server(path, "--num-threads", "1")
    server.wait_ready()
    yield server, path
    assert server.stop() == 0


def card_prompt(query, docs, instruction=None):
    """The model card's prompt (its ``format_docs_prompts_func``), written here apart from the server's."""
    system = ("You are a search relevance expert who can determine a ranking of the passages based on how relevant "
              "they are to the query. If the query is a question, how relevant a passage is depends on how well it "
              "answers the question. If not, try to analyze the intent of the query and assess how well each passage "
              "satisfies the intent. If an instruction is provided, you should follow the instruction when "
              "determining the ranking.")
    body = (f"I will provide you with {len(docs)} passages, each indicated by a numerical identifier. Rank the passages "
            f"based on their relevance to query: {query}\n")
    if instruction:
        body += f"<instruct>\n{instruction}\n</instruct>\n"
    body += "\n".join(f'<passage id="{i}">\n{d}<|embed_token|>\n</passage>' for i, d in enumerate(docs)) + "\n"
    body += f"<query>\n{query}<|rerank_token|>\n</query>"
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{body}<|im_end|>\n<|im_start|>assistant\n"
            "<think>\n\n</think>\n\n")


@torch.no_grad()
def reference(path, query, docs, instruction=None, block=125):
    """The model card's rerank (one block per 125 documents at this context): transformers' Qwen3 body,
    its final hidden states at the markers through the projector, cosines, blocks combined."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    tok, config = load_tokenizer(str(path)), AutoConfig.from_pretrained(str(path))
    body = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval().model
    weights = load_file(str(path / "model.safetensors"))
    p0, p2 = weights["projector.0.weight"], weights["projector.2.weight"]
    doc_vectors, query_vectors, block_weights = [], [], []
    for start in range(0, len(docs), block):
        ids = torch.tensor([tok(card_prompt(query, docs[start:start + block], instruction))["input_ids"]])
        hidden = body(input_ids=ids).last_hidden_state[0]
        projected = torch.relu(hidden @ p0.T) @ p2.T  # [T, 512]
        d = projected[ids[0] == config.doc_embed_token_id]
        q = projected[ids[0] == config.query_embed_token_id][0]
        doc_vectors.append(d)
        query_vectors.append(q)
        block_weights.append(((1 + torch.nn.functional.cosine_similarity(d, q[None])) / 2).max())
    q = (torch.stack(query_vectors) * torch.stack(block_weights)[:, None]).sum(0) / torch.stack(block_weights).sum()
    return torch.nn.functional.cosine_similarity(torch.cat(doc_vectors), q[None]).numpy()


def post(server, path, body):
    return requests.post(server.url + path, json=body, timeout=120)


def test_rerank_equals_the_model_cards_scores(reranker):
    server, path = reranker
    r = post(server, "/rerank", {"query": QUERY, "documents": DOCS, "return_documents": True})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    expected = reference(path, QUERY, DOCS)
    assert [x["index"] for x in results] == list(np.argsort(-expected, kind="stable"))
    np.testing.assert_allclose([x["relevance_score"] for x in sorted(results, key=lambda x: x["index"])], expected,
                               atol=ATOL)
    assert results[0]["document"]["text"] == DOCS[int(np.argmax(expected))]
    with_instruction = post(server, "/rerank", {"query": QUERY, "documents": DOCS, "instruction": "prefer cities"})
    np.testing.assert_allclose([x["relevance_score"] for x in sorted(with_instruction.json()["results"],
                                                                      key=lambda x: x["index"])],
                               reference(path, QUERY, DOCS, instruction="prefer cities"), atol=ATOL)


def test_more_documents_than_a_block_combine_the_blocks_query_vectors(reranker):
    server, path = reranker
    docs = [f"{DOCS[i % len(DOCS)]} {i}" for i in range(130)]  # blocks of 125 and 5
    r = post(server, "/v1/score", {"query": QUERY, "items": docs})  # SGLang's body
    assert r.status_code == 200, r.text
    got = np.array(r.json()["scores"])[:, 0]
    expected = reference(path, QUERY, docs)
    np.testing.assert_allclose(got, expected, atol=ATOL)
    one_block = np.concatenate([reference(path, QUERY, docs[:125]), reference(path, QUERY, docs[125:])])
    assert np.abs(one_block - expected).max() > 1e-4  # the blocks' query vectors are averaged, not kept apart


def test_what_a_listwise_reranker_refuses(reranker):
    server, _ = reranker
    r = post(server, "/v1/score", {"query": QUERY, "items": DOCS, "label_token_ids": [1, 2]})
    assert r.status_code == 400 and "a listwise reranker's score is a cosine similarity" in r.text
    r = post(server, "/v1/embeddings", {"input": DOCS})
    assert r.status_code == 400 and "is a listwise reranker: it scores documents against a query" in r.text
    assert post(server, "/rerank", {"query": QUERY, "documents": DOCS}).status_code == 200  # still serving
