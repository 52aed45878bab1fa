"""Score templates: ports of vLLM's tests/entrypoints/pooling/scoring/test_qwen3_reranker_online.py
(at 630b628c) and scoring/test_max_tokens_per_doc.py (29fda794), and the template half of the MTEB
rerank tests that use vLLM's published templates (tests/models/language/pooling_mteb_test/
test_qwen3_reranker.py, test_bge_reranker_v2_gemma.py, test_mxbai_rerank.py, test_nemotron_rerank.py).

The templates are vLLM's examples/pooling/score/template/*.jinja (test/compat/vllm_templates/),
passed with ``--score-template`` (upstream: ``--chat-template``), with upstream's ``--hf-overrides``
as ``--json-model-override-args``, on tiny random checkpoints. vLLM renders a pair as
``tokenizer.apply_chat_template([{"role": "query", ...}, {"role": "document", ...}],
chat_template=T, tools=None, tokenize=False)`` and tokenizes that text with the special tokens
(scoring/io_processor.py ``get_score_prompt``). The MTEB runs need real weights and a data set; in
their place each score is compared with transformers on the model, run on exactly those token ids,
as the upstream HF runners score them, and ``usage.prompt_tokens`` with their count: token for token.
"""

from __future__ import annotations

import pytest

from hf_reference import bidirectional_llama_hidden
from compat_helpers import (
    causal_last_logits,
    load_tokenizer,
    ok,
    post,
    render_score_prompt,
    sigmoid,
    template_text,
)

QUERY = "What is the capital of France?"
DOCUMENT = "The capital of France is Paris."
DOCS = [
    "The capital of France is Paris.",
    "The capital of Brazil is Brasilia.",
    "the dog and the cat sat on the mat",
    "",
]

# server fixture name, template file, how upstream's HF runner scores the rendered prompt's ids
TEMPLATED = {
    "qwen3": ("qwen3_reranker_server", "qwen3_reranker.jinja"),
    "gemma": ("gemma_reranker_server", "bge-reranker-v2-gemma.jinja"),
    "mxbai": ("mxbai_reranker_server", "mxbai_rerank_v2.jinja"),
    "nemotron": ("nemotron_reranker_server", "nemotron-rerank.jinja"),
}


def reference_score(kind: str, model_dir, tok, ids: list[int]) -> float:
    if kind == "qwen3":  # Qwen3-Reranker: softmax over the [no, yes] next-token logits
        logits = causal_last_logits(model_dir, ids)
        return sigmoid(logits[tok.convert_tokens_to_ids("yes")] - logits[tok.convert_tokens_to_ids("no")])
    if kind == "gemma":  # GemmaRerankerHfRunner: sigmoid of the "Yes" logit
        return sigmoid(causal_last_logits(model_dir, ids)[tok.convert_tokens_to_ids("Yes")])
    if kind == "mxbai":  # MxbaiRerankerHfRunner: sigmoid("1" logit - "0" logit)
        logits = causal_last_logits(model_dir, ids)
        return sigmoid(logits[tok.convert_tokens_to_ids("1")] - logits[tok.convert_tokens_to_ids("0")])
    if kind == "nemotron":  # LlamaBidirectionalForSequenceClassification: sigmoid(score(mean of the tokens) / temperature)
        from safetensors.torch import load_file

        score = load_file(str(model_dir / "model.safetensors"))["score.weight"][0]  # [H]
        return sigmoid(float(bidirectional_llama_hidden(model_dir, ids).mean(0) @ score) / 1.0)  # temperature 1.0
    raise ValueError(kind)


@pytest.fixture(scope="module")
def templated(qwen3_reranker_server, gemma_reranker_server, mxbai_reranker_server, nemotron_reranker_server):
    servers = {
        "qwen3_reranker_server": qwen3_reranker_server, "gemma_reranker_server": gemma_reranker_server,
        "mxbai_reranker_server": mxbai_reranker_server, "nemotron_reranker_server": nemotron_reranker_server,
    }
    return {kind: servers[name] for kind, (name, _) in TEMPLATED.items()}


def rendered_ids(server, kind: str, query: str, document: str, **kwargs) -> tuple[str, list[int]]:
    tok = load_tokenizer(server.model_path)
    prompt = render_score_prompt(tok, template_text(TEMPLATED[kind][1]), query, document, **kwargs)
    return prompt, tok(prompt, add_special_tokens=True)["input_ids"]


# ---- scoring/test_qwen3_reranker_online.py ---------------------------------------------------------------


@pytest.fixture(scope="module")
def expected_template_token_count(qwen3_reranker_server):
    tokenizer = load_tokenizer(qwen3_reranker_server.model_path)
    prompt = render_score_prompt(tokenizer, template_text("qwen3_reranker.jinja"), QUERY, DOCUMENT)
    templated_tokens = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    no_template_tokens = tokenizer(text=QUERY, text_pair=DOCUMENT, add_special_tokens=True)["input_ids"]
    assert "<Instruct>:" in prompt
    assert len(templated_tokens) != len(no_template_tokens)
    return len(templated_tokens)


def test_score_and_rerank_use_qwen3_reranker_template(qwen3_reranker_server, expected_template_token_count):
    """scoring/test_qwen3_reranker_online.py::test_score_and_rerank_use_qwen3_reranker_template, plus the
    score of the causal model on the rendered ids (in place of the real model)."""
    server = qwen3_reranker_server
    score = ok(post(server, "score", {"model": "Qwen/Qwen3-Reranker-0.6B", "queries": QUERY, "documents": DOCUMENT}),
               "score")
    rerank = ok(post(server, "rerank", {"model": "Qwen/Qwen3-Reranker-0.6B", "query": QUERY, "documents": [DOCUMENT]}),
                "rerank")

    assert score["usage"]["prompt_tokens"] == expected_template_token_count
    assert rerank["usage"]["prompt_tokens"] == expected_template_token_count
    assert len(score["data"]) == 1
    assert len(rerank["results"]) == 1
    assert score["data"][0]["score"] == pytest.approx(rerank["results"][0]["relevance_score"], rel=0.01)

    _, ids = rendered_ids(server, "qwen3", QUERY, DOCUMENT)
    expected = reference_score("qwen3", server.model_path, load_tokenizer(server.model_path), ids)
    assert score["data"][0]["score"] == pytest.approx(expected, abs=1e-4)


# ---- the published templates, token for token (pooling_mteb_test/test_*rerank*.py, without MTEB) ----------


@pytest.mark.parametrize("kind", list(TEMPLATED))
@pytest.mark.parametrize("route", ["rerank", "score"])
def test_published_template_renders_like_vllm(templated, kind, route):
    """pooling_mteb_test/test_qwen3_reranker.py, test_bge_reranker_v2_gemma.py, test_mxbai_rerank.py,
    test_nemotron_rerank.py::test_rerank_models_mteb, template half: each (query, document) is the
    template rendered as vLLM renders it, tokenized with the special tokens; the upstream HF runners'
    scoring on those ids is the reference (MTEB's data set and real weights are not available here)."""
    server = templated[kind]
    tok = load_tokenizer(server.model_path)
    pairs = [rendered_ids(server, kind, QUERY, doc) for doc in DOCS]
    expected = [reference_score(kind, server.model_path, tok, ids) for _, ids in pairs]

    if route == "rerank":
        body = ok(post(server, "rerank", {"query": QUERY, "documents": DOCS}), "rerank")
        got = {r["index"]: r["relevance_score"] for r in body["results"]}
    else:
        body = ok(post(server, "score", {"queries": QUERY, "documents": DOCS}), "score")
        got = {d["index"]: d["score"] for d in body["data"]}
    assert body["usage"]["prompt_tokens"] == sum(len(ids) for _, ids in pairs)
    for i, e in enumerate(expected):
        assert got[i] == pytest.approx(e, abs=1e-4), (kind, i, pairs[i][0])


def test_qwen3_template_instruction(qwen3_reranker_server):
    """Not an upstream test: vLLM's scoring protocol (scoring/protocol.py) folds the request's
    ``instruction`` into ``chat_template_kwargs``, which qwen3_reranker.jinja reads; both bodies render
    the instruction as vLLM does."""
    server = qwen3_reranker_server
    tok = load_tokenizer(server.model_path)
    instruction = "Given a question, find the city that answers it"
    _, ids = rendered_ids(server, "qwen3", QUERY, DOCUMENT, instruction=instruction)
    expected = reference_score("qwen3", server.model_path, tok, ids)
    for extra in ({"instruction": instruction}, {"chat_template_kwargs": {"instruction": instruction}}):
        body = ok(post(server, "rerank", {"query": QUERY, "documents": [DOCUMENT], **extra}), "rerank")
        assert body["usage"]["prompt_tokens"] == len(ids), extra
        assert body["results"][0]["relevance_score"] == pytest.approx(expected, abs=1e-4), extra


# ---- scoring/test_max_tokens_per_doc.py ----------------------------------------------------------------------

MAX_TOKENS_SERVERS = {
    "jina": ("jina_reranker_server", "jinaai/jina-reranker-v2-base-multilingual"),
    "gemma": ("gemma_reranker_server", "BAAI/bge-reranker-v2-gemma"),
    "qwen": ("qwen3_reranker_server", "Qwen/Qwen3-Reranker-0.6B"),
}


@pytest.fixture(scope="module")
def max_tokens_servers(jina_reranker_server, gemma_reranker_server, qwen3_reranker_server):
    return {"jina": jina_reranker_server, "gemma": gemma_reranker_server, "qwen": qwen3_reranker_server}


@pytest.mark.parametrize("which", list(MAX_TOKENS_SERVERS))
def test_max_tokens_per_doc(max_tokens_servers, which):
    """scoring/test_max_tokens_per_doc.py::test_jina_max_tokens_per_doc, test_gemma_max_tokens_per_doc,
    test_qwen_max_tokens_per_doc"""
    server, model = max_tokens_servers[which], MAX_TOKENS_SERVERS[which][1]
    rerank = ok(post(server, "rerank", {"model": model, "query": "What is the capital of France?",
                                        "documents": ["The capital of France is Paris. " * 20],
                                        "max_tokens_per_doc": 10}), "rerank")
    assert rerank["id"] is not None
    assert rerank["results"] is not None
    assert len(rerank["results"]) == 1
    assert rerank["usage"]["prompt_tokens"] > 0


@pytest.mark.parametrize("which", list(MAX_TOKENS_SERVERS))
def test_max_tokens_per_doc_reduces_tokens(max_tokens_servers, which):
    """scoring/test_max_tokens_per_doc.py::test_jina_max_tokens_per_doc_reduces_tokens,
    test_gemma_max_tokens_per_doc_reduces_tokens, test_qwen_max_tokens_per_doc_reduces_tokens"""
    server, model = max_tokens_servers[which], MAX_TOKENS_SERVERS[which][1]
    body = {"model": model, "query": "What is the capital of France?", "documents": ["The capital of France is Paris. " * 5]}
    no_limit = ok(post(server, "rerank", body), "rerank")
    with_limit = ok(post(server, "rerank", {**body, "max_tokens_per_doc": 5}), "rerank")
    assert with_limit["usage"]["prompt_tokens"] < no_limit["usage"]["prompt_tokens"]
